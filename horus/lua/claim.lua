-- Claim a job id for a runner (Redis Cluster: the index lives in the job id's slot, so the
-- claim is a step of its own before enqueue.lua).
-- KEYS[1] job index   ARGV[1] runner id   ARGV[2] ttl (s)
-- Returns 1 when the id is (now) this runner's, 0 when another runner owns it.
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
