-- Cancel a running workflow: steps not dispatched yet end 'cancelled' at once; the dispatched
-- ones are returned so their jobs are cancelled (their steps end when the jobs do).
-- KEYS[1] meta  KEYS[2] steps  KEYS[3] ready list  KEYS[4] retry timers  KEYS[5] done list
-- KEYS[6] active index  KEYS[7] lease  KEYS[8] spec  KEYS[9] results  KEYS[10] event stream
-- ARGV[1] workflow id  ARGV[2] now (ms)  ARGV[3] retention (s)
-- Returns false for an unknown workflow, {status} for one that had already ended, else
-- {'cancelled', step id, attempt, ...} for the dispatched steps.
--! include wf_lib
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
stop_open_steps(KEYS[1], KEYS[2], 'cancelled', now, out)
end_if_done(KEYS[1], KEYS[6], KEYS[5], KEYS[7], ARGV[1], now, tonumber(ARGV[3]),
  {KEYS[1], KEYS[2], KEYS[5], KEYS[8], KEYS[9]})
redis.call('XADD', KEYS[10], 'MAXLEN', '~', 1000, '*', 'workflow', ARGV[1], 'event', 'cancelled')
return out
