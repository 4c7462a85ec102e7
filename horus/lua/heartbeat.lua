-- Refresh the heartbeat deadline of a set of workers (one master's children).
-- KEYS[1] workers sorted set   KEYS[2] (a master's call only) the runner's masters hash
-- ARGV[1] ttl (ms)   ARGV[2..] worker ids; with KEYS[2]: ARGV[2] the master's id, ARGV[3] its
-- record (a JSON object), ARGV[4..] worker ids
-- A master's record is stored with its heartbeat time (ms, Redis clock) and ttl appended, so
-- readers can tell a live master from a dead one's leftover: one HSET, no decoding.
-- Returns the ids of workers in the set whose deadline has passed (candidates for reaping).
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now_ms + tonumber(ARGV[1])
local first = 2
if KEYS[2] then
  local record = string.sub(ARGV[3], 1, -2)
  redis.call('HSET', KEYS[2], ARGV[2],
    string.format('%s,"heartbeat_ms":%d,"ttl_ms":%d}', record, now_ms, tonumber(ARGV[1])))
  first = 4
end
for i = first, #ARGV do
  redis.call('ZADD', KEYS[1], deadline, ARGV[i])
end
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms)
