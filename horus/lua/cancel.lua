-- Cancel a job: a queued or scheduled one leaves its queue (or set) and ends with the given
-- result; a reserved or running one is flagged and its runner's workers are told to kill it.
-- KEYS[1] job hash   KEYS[2] runner queue   KEYS[3] result list   KEYS[4] log stream
-- KEYS[5] control channel   KEYS[6] job spec   KEYS[7] the runner's scheduled set
-- KEYS[8] the runner's priority set   KEYS[9] the runner's events stream   KEYS[10] its stats hash
-- ARGV[1] job id   ARGV[2] result JSON for a job cancelled while queued   ARGV[3] result ttl (s)
-- ARGV[4] log max length   ARGV[5] result JSON for a job cancelled while scheduled
-- ARGV[6] the events stream's cap ('0': events off)   ARGV[7] the runner id
-- A job ended here is a 'cancelled' event, counted in the stats hash (it did not run: no
-- duration); a running one's event comes from its finish.
--! include events_lib
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
local result = ARGV[2]
if status == 'scheduled' then
  redis.call('ZREM', KEYS[7], ARGV[1])
  result = ARGV[5]
elseif redis.call('ZREM', KEYS[8], ARGV[1]) == 1 then
  -- Queued with a priority: one token less in the queue (any one: they are all alike).
  redis.call('LREM', KEYS[2], -1, '!priority')
elseif redis.call('LREM', KEYS[2], 0, ARGV[1]) == 0 then
  -- Reserved by a worker but not started: start.lua sees the flag and cancels it.
  return 'cancelling'
end
redis.call('HSET', KEYS[1], 'status', 'cancelled')
redis.call('HDEL', KEYS[1], 'due_at')
redis.call('RPUSH', KEYS[3], result)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'eof', 'cancelled')
local ttl = tonumber(ARGV[3])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[6], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('EXPIRE', KEYS[4], ttl)
if ARGV[6] ~= '0' then
  emit(KEYS[9], ARGV[6], 'event', 'cancelled', 'job_id', ARGV[1], 'runner_id', ARGV[7], 'at', (event_clock()))
  redis.call('HINCRBY', KEYS[10], 'ended:cancelled', 1)
end
return 'cancelled'
