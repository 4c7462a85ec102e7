-- Take a permit to start one job, from a sliding-window log of the runner's job starts.
-- KEYS[1] the runner's rate-limit sorted set   KEYS[2] the job's hash
-- ARGV[1] starts allowed in any window   ARGV[2] the window (ms)   ARGV[3] a suffix unique to
-- the asking worker's request (its worker id and a counter)   ARGV[4] max deliveries
-- Returns 0 when the job may start: its start is recorded (score: Redis's clock in ms, member
-- "ms:suffix"; the job hash's admitted_at: the same time in seconds), or nothing is recorded for
-- a job start.lua will not run (ended or unknown, cancelled, or to be dead-lettered): those are
-- not starts. Else, with the window full, the ms until its oldest start leaves it (1 or more),
-- and nothing is recorded. Entries older than the window are dropped first; the key expires a
-- window after the last start, when none of its entries counts any more.
local state = redis.call('HMGET', KEYS[2], 'status', 'cancel', 'deliveries', 'deliveries_before')
local status = state[1]
if (status ~= 'pending' and status ~= 'dispatched' and status ~= 'running') or state[2] == '1'
    or (tonumber(state[3]) or 0) - (tonumber(state[4]) or 0) + 1 > tonumber(ARGV[4]) then
  return 0
end
local t = redis.call('TIME')
local ms = math.floor(tonumber(t[2]) / 1000)
local now = tonumber(t[1]) * 1000 + ms
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(tonumber(oldest[2]) + window - now, 1)
end
redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('HSET', KEYS[2], 'admitted_at', t[1] .. '.' .. string.format('%03d', ms))
return 0
