-- Store signed schedules, all or none.
-- KEYS[1] schedules (defs)   KEYS[2] due   KEYS[3] paused
-- ARGV[1] '1' to replace schedules of the same name, else '0'
-- then for each schedule: name, signed schedule JSON, its next occurrence (ms), '1' when it
-- starts paused (enabled: false) else '0'.
-- A replaced schedule keeps its latest firing record (the fired hash); its due time is the new
-- one's. Returns 0, or (not replacing) the 1-based position of the first name already stored.
local replace, per = ARGV[1] == '1', 4
local n = (#ARGV - 1) / per
if not replace then
  for i = 0, n - 1 do
    if redis.call('HEXISTS', KEYS[1], ARGV[2 + i * per]) == 1 then
      return i + 1
    end
  end
end
for i = 0, n - 1 do
  local a = 2 + i * per
  local name = ARGV[a]
  redis.call('HSET', KEYS[1], name, ARGV[a + 1])
  if ARGV[a + 3] == '1' then
    redis.call('ZREM', KEYS[2], name)
    redis.call('SADD', KEYS[3], name)
  else
    redis.call('ZADD', KEYS[2], ARGV[a + 2], name)
    redis.call('SREM', KEYS[3], name)
  end
end
return 0
