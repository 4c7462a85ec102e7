-- Refresh the heartbeat deadline of a set of workers (one master's children).
-- KEYS[1] workers sorted set
-- ARGV[1] ttl (ms)   ARGV[2..] worker ids
-- Returns the ids of workers in the set whose deadline has passed (candidates for reaping).
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now_ms + tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], deadline, ARGV[i])
end
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms)
