-- Store a running task's latest progress report, only while the job's hash says it runs on this
-- worker: a report never lands after the job ended, nor from a delivery that is no longer its own.
-- KEYS[1] job hash   ARGV[1] worker id   ARGV[2] the report, JSON {"percent", "message", "attempt"}
local state = redis.call('HMGET', KEYS[1], 'status', 'worker')
if state[1] == 'running' and state[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'progress', ARGV[2])
  return 1
end
return 0
