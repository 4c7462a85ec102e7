-- Take, keep or give up the beats' lease.
-- KEYS[1] lease   ARGV[1] this beat's id   ARGV[2] ttl (ms)   ARGV[3] 'release' to give it up
-- Returns {1 when this beat leads after the call else 0, Redis time (ms), the leader's id or ''}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holder = redis.call('GET', KEYS[1])
if ARGV[3] == 'release' then
  if holder == ARGV[1] then
    redis.call('DEL', KEYS[1])
  end
  return {0, now, ''}
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, now, ARGV[1]}
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, now, holder}
end
return {0, now, holder}
