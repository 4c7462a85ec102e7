-- Return a dead worker's reserved jobs to the front of the queue and forget the worker.
-- KEYS[1] workers sorted set   KEYS[2] the worker's in-flight list   KEYS[3] runner queue
-- ARGV[1] worker id   ARGV[2] '1' to reap even if its heartbeat is fresh (its master saw it die)
-- Returns the ids returned to the queue, or false when the worker is alive.
if ARGV[2] ~= '1' then
  local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if deadline and tonumber(deadline) > now_ms then
    return false
  end
end
local moved = {}
while true do
  local id = redis.call('LMOVE', KEYS[2], KEYS[3], 'RIGHT', 'RIGHT')
  if not id then break end
  moved[#moved + 1] = id
end
redis.call('ZREM', KEYS[1], ARGV[1])
return moved
