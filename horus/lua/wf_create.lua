-- Store a validated, signed workflow and make its first steps ready, all or nothing.
-- KEYS[1] meta hash  KEYS[2] steps hash  KEYS[3] spec  KEYS[4] ready list  KEYS[5] active index
-- KEYS[6] workflow index  KEYS[7] event stream  KEYS[8] lease
-- ARGV[1] workflow id  ARGV[2] digest  ARGV[3] signed workflow JSON  ARGV[4] created_at (s)
-- ARGV[5] name  ARGV[6] policy  ARGV[7] submitter public key  ARGV[8] number of steps
-- ARGV[9] the receiving coordinator ('' for none), which takes the lease  ARGV[10] lease ttl (ms)
-- then for each step: id, state JSON, 1 when it has no dependency
-- Returns {1, digest} when stored, or {0, digest already stored under this id}.
local existing = redis.call('HGET', KEYS[1], 'digest')
if existing then
  return {0, existing}
end
local n = tonumber(ARGV[8])
redis.call('HSET', KEYS[1], 'name', ARGV[5], 'policy', ARGV[6], 'status', 'running', 'created_at', ARGV[4],
  'digest', ARGV[2], 'submitter', ARGV[7], 'steps', n, 'open', n, 'failed', 0)
redis.call('SET', KEYS[3], ARGV[3])
for i = 0, n - 1 do
  local id = ARGV[11 + i * 3]
  redis.call('HSET', KEYS[2], id, ARGV[12 + i * 3])
  if ARGV[13 + i * 3] == '1' then
    redis.call('RPUSH', KEYS[4], id)
  end
end
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1])
-- The coordinator that received the workflow drives it (so a load balancer spreads workflows
-- over coordinators); if it dies before adopting it, the lease expires and another one does.
if ARGV[9] ~= '' then
  redis.call('SET', KEYS[8], ARGV[9], 'PX', ARGV[10])
end
redis.call('XADD', KEYS[7], 'MAXLEN', '~', 1000, '*', 'workflow', ARGV[1], 'event', 'submitted', 'by', ARGV[9])
return {1, ARGV[2]}
