-- Take ready steps (and retries whose backoff has passed) for dispatch, only for the lease holder.
-- KEYS[1] meta hash  KEYS[2] steps hash  KEYS[3] ready list  KEYS[4] retry timers  KEYS[5] lease
-- ARGV[1] coordinator id  ARGV[2] now (ms)  ARGV[3] most steps to take
-- Returns {'lost'} without the lease, {'idle', next} for a workflow no longer running, else
-- {'ok', next retry due (ms) or -1, step id, attempt, step id, attempt, ...}. Each step taken is
-- marked dispatched with its attempt counted: the job id WORKFLOW.STEP.ATTEMPT follows from it.
if redis.call('GET', KEYS[5]) ~= ARGV[1] then
  return {'lost'}
end
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then
  return {'idle', -1}
end
local now = tonumber(ARGV[2])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)) do
  redis.call('ZREM', KEYS[4], id)
  redis.call('RPUSH', KEYS[3], id)
end
local out = {'ok', -1}
local taken, max = 0, tonumber(ARGV[3])
while taken < max do
  local id = redis.call('LPOP', KEYS[3])
  if not id then
    break
  end
  local state = cjson.decode(redis.call('HGET', KEYS[2], id))
  if state.status == 'ready' or state.status == 'retrying' then
    state.status = 'dispatched'
    state.attempt = state.attempt + 1
    state.started_ms = now
    state.ended_ms = nil
    redis.call('HSET', KEYS[2], id, cjson.encode(state))
    out[#out + 1] = id
    out[#out + 1] = state.attempt
    taken = taken + 1
  end
end
local nxt = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
if nxt[2] then
  out[2] = tonumber(nxt[2])
end
return out
