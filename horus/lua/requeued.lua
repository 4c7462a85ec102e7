-- Mark a job taken back from a dead worker as waiting again, unless another worker already
-- picked it up; a 'requeued' event in the runner's events stream.
-- KEYS[1] job hash   KEYS[2] the runner's events stream
-- ARGV[1] the dead worker's id   ARGV[2] the events stream's cap ('0': events off)   ARGV[3] the
-- runner id   ARGV[4] the job id
--! include events_lib
local state = redis.call('HMGET', KEYS[1], 'status', 'worker', 'attempts')
if state[1] == 'running' and state[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'status', 'dispatched', 'worker', '')
  -- The attempt starts over: what the lost delivery reported is not its progress.
  redis.call('HDEL', KEYS[1], 'progress')
  if ARGV[2] ~= '0' then
    emit(KEYS[2], ARGV[2], 'event', 'requeued', 'job_id', ARGV[4], 'runner_id', ARGV[3], 'at', (event_clock()),
      'worker', ARGV[1], 'attempt', (tonumber(state[3]) or 0) + 1)
  end
  return 1
end
return 0
