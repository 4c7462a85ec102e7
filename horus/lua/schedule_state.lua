-- Remove, pause or resume one schedule.
-- KEYS[1] schedules (defs)   KEYS[2] due   KEYS[3] paused   KEYS[4] fired
-- ARGV[1] 'remove', 'pause' or 'resume'   ARGV[2] name   ARGV[3] (resume) next occurrence (ms)
-- Resuming a schedule that is not paused changes nothing.
-- Returns 0 when no schedule has that name, else 1.
local op, name = ARGV[1], ARGV[2]
if redis.call('HEXISTS', KEYS[1], name) == 0 then
  return 0
end
if op == 'remove' then
  redis.call('HDEL', KEYS[1], name)
  redis.call('ZREM', KEYS[2], name)
  redis.call('SREM', KEYS[3], name)
  redis.call('HDEL', KEYS[4], name)
elseif op == 'pause' then
  redis.call('ZREM', KEYS[2], name)
  redis.call('SADD', KEYS[3], name)
elseif op == 'resume' then
  if redis.call('SREM', KEYS[3], name) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[3], name)
  end
else
  return redis.error_reply('unknown operation ' .. op)
end
return 1
