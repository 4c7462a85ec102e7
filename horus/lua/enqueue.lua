-- Create jobs and queue them, all or none: any id used before refuses the whole batch.
-- KEYS: for each job, its hash, its spec (the signed job), its runner's queue and (single
--       Redis) its id index; on a Cluster the index is claimed beforehand by claim.lua and
--       left out.
-- ARGV[1] keys per job (4, or 3 on a Cluster)   ARGV[2] index ttl (s)
-- then for each job: id, job JSON, created_at (s), runner id, owner (the submitting caller's
-- identity, supervisor metadata; '' for none)
-- Returns 0 when every job was queued, else the 1-based position of the first replayed id.
local per = tonumber(ARGV[1])
local jobs = #KEYS / per
for i = 0, jobs - 1 do
  local k, a = i * per, 2 + i * 5
  local fresh
  if per == 4 then
    -- The index outlives the job's records (ARGV[2] >= their ttl): claiming it is the guard.
    fresh = redis.call('SET', KEYS[k + 4], ARGV[a + 4], 'NX', 'EX', ARGV[2])
  else
    fresh = redis.call('EXISTS', KEYS[k + 1]) == 0
  end
  if not fresh then
    if per == 4 then
      for j = 0, i - 1 do
        redis.call('DEL', KEYS[j * per + 4])
      end
    end
    return i + 1
  end
end
for i = 0, jobs - 1 do
  local k, a = i * per, 2 + i * 5
  redis.call('HSET', KEYS[k + 1], 'status', 'dispatched', 'deliveries', 0, 'created_at', ARGV[a + 3])
  if ARGV[a + 5] ~= '' then
    redis.call('HSET', KEYS[k + 1], 'owner', ARGV[a + 5])
  end
  redis.call('SET', KEYS[k + 2], ARGV[a + 2])
  redis.call('LPUSH', KEYS[k + 3], ARGV[a + 1])
end
return 0
