-- Cancel a job: a queued one leaves its queue and ends with the given result; a reserved or
-- running one is flagged and its runner's workers are told to kill it.
-- KEYS[1] job hash   KEYS[2] runner queue   KEYS[3] result list   KEYS[4] log stream
-- KEYS[5] control channel   KEYS[6] job spec
-- ARGV[1] job id   ARGV[2] result JSON for a job cancelled while queued   ARGV[3] result ttl (s)
-- ARGV[4] log max length
-- Returns the job's status after the call ('cancelled', 'cancelling', a terminal status)
-- or false when the job does not exist.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return false
end
if status == 'completed' or status == 'failed' or status == 'timeout' or status == 'cancelled' then
  return status
end
redis.call('HSET', KEYS[1], 'cancel', '1')
if status == 'running' then
  redis.call('PUBLISH', KEYS[5], 'cancel ' .. ARGV[1])
  return 'cancelling'
end
if redis.call('LREM', KEYS[2], 0, ARGV[1]) == 0 then
  -- Reserved by a worker but not started: start.lua sees the flag and cancels it.
  return 'cancelling'
end
redis.call('HSET', KEYS[1], 'status', 'cancelled')
redis.call('RPUSH', KEYS[3], ARGV[2])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'eof', 'cancelled')
local ttl = tonumber(ARGV[3])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[6], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('EXPIRE', KEYS[4], ttl)
return 'cancelled'
