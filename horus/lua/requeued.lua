-- Mark a job taken back from a dead worker as waiting again, unless another worker already
-- picked it up.
-- KEYS[1] job hash   ARGV[1] the dead worker's id
local state = redis.call('HMGET', KEYS[1], 'status', 'worker')
if state[1] == 'running' and state[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'status', 'dispatched', 'worker', '')
  -- The attempt starts over: what the lost delivery reported is not its progress.
  redis.call('HDEL', KEYS[1], 'progress')
  return 1
end
return 0
