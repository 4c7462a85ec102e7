-- Cancel a running workflow: steps not dispatched yet end 'cancelled' at once; the dispatched
-- ones are returned so their jobs are cancelled (their steps end when the jobs do).
-- KEYS[1] meta  KEYS[2] steps  KEYS[3] ready list  KEYS[4] retry timers  KEYS[5] done list
-- KEYS[6] active index  KEYS[7] lease  KEYS[8] spec  KEYS[9] results  KEYS[10] event stream
-- ARGV[1] workflow id  ARGV[2] now (ms)  ARGV[3] retention (s)
-- Returns false for an unknown workflow, {status} for one that had already ended, else
-- {'cancelled', step id, attempt, ...} for the dispatched steps.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return false
end
if status ~= 'running' then
  return {status}
end
local now = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'status', 'cancelled')
redis.call('DEL', KEYS[3], KEYS[4])
local out = {'cancelled'}
local terminal = {completed = true, failed = true, skipped = true, cancelled = true}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local st = cjson.decode(all[i + 1])
  if st.status == 'dispatched' then
    out[#out + 1] = all[i]
    out[#out + 1] = st.attempt
  elseif not terminal[st.status] then
    st.status = 'cancelled'
    st.ended_ms = now
    redis.call('HSET', KEYS[2], all[i], cjson.encode(st))
    redis.call('HINCRBY', KEYS[1], 'open', -1)
    redis.call('HINCRBY', KEYS[1], 'failed', 1)
  end
end
if tonumber(redis.call('HGET', KEYS[1], 'open')) == 0 then
  redis.call('HSET', KEYS[1], 'ended_ms', now)
  redis.call('ZREM', KEYS[6], ARGV[1])
  redis.call('RPUSH', KEYS[5], 'cancelled')
  redis.call('DEL', KEYS[7])
  local ttl = tonumber(ARGV[3])
  for _, i in ipairs({1, 2, 5, 8, 9}) do
    redis.call('EXPIRE', KEYS[i], ttl)
  end
end
redis.call('XADD', KEYS[10], 'MAXLEN', '~', 1000, '*', 'workflow', ARGV[1], 'event', 'cancelled')
return out
