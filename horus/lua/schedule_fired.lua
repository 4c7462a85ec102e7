-- Record what a beat's pass fired, if that beat still leads.
-- KEYS[1] lease   KEYS[2] schedules (defs)   KEYS[3] due   KEYS[4] fired
-- ARGV[1] the beat's id, then for each schedule: name, the due time the pass read (ms), its
-- next occurrence (ms), and the JSON of its latest firing ('' when the pass fired none).
-- A schedule paused, removed or replaced during the pass (its due entry no longer the one read)
-- keeps what that did; a removed one gets no firing record.
-- Returns how many due times moved, or -1 when another beat leads (nothing written: its passes
-- decide, and the firings already sent are refused as replays if it sends them again).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local per, moved = 4, 0
for a = 2, #ARGV, per do
  local name = ARGV[a]
  local due = redis.call('ZSCORE', KEYS[3], name)
  if due and tonumber(due) == tonumber(ARGV[a + 1]) then
    redis.call('ZADD', KEYS[3], ARGV[a + 2], name)
    moved = moved + 1
  end
  if ARGV[a + 3] ~= '' and redis.call('HEXISTS', KEYS[2], name) == 1 then
    redis.call('HSET', KEYS[4], name, ARGV[a + 3])
  end
end
return moved
