-- A worker takes reserved jobs: count each delivery, mark it running, hand out the job.
-- KEYS[1] worker in-flight list   KEYS[2] dead-letter list, then for each job its hash and spec
-- ARGV[1] worker id   ARGV[2] max deliveries   ARGV[3..] the job ids (same order)
-- Head mode (KEYS[1] and KEYS[2] only): ARGV[3] and ARGV[4] are what goes before and after a
-- job id in its hash key, ARGV[5] what follows the hash key in its spec key. The job is the
-- in-flight list's only id: sent right after a BLMOVE into an empty list, the one it moved.
-- With no id or several there, it starts nothing and returns {}; else the id comes first.
-- Returns, per job, three elements: verdict, job JSON, deliveries. The verdict is 'run';
-- 'cancelled' or 'dead' for a job the worker must end without running (with finish.lua, as
-- any job); or 'skip' for a job already ended or unknown, which is acknowledged here.
local ids, hashes, specs = {}, {}, {}
if #KEYS == 2 then
  if redis.call('LLEN', KEYS[1]) ~= 1 then
    return {}
  end
  local id = redis.call('LINDEX', KEYS[1], 0)
  ids[1], hashes[1] = id, ARGV[3] .. id .. ARGV[4]
  specs[1] = hashes[1] .. ARGV[5]
else
  for i = 0, (#KEYS - 2) / 2 - 1 do
    ids[i + 1], hashes[i + 1], specs[i + 1] = ARGV[3 + i], KEYS[3 + i * 2], KEYS[4 + i * 2]
  end
end
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local out = {}
if #KEYS == 2 then
  out[1] = ids[1]
end
for i, id in ipairs(ids) do
  local hash, spec = hashes[i], specs[i]
  local state = redis.call('HMGET', hash, 'status', 'cancel')
  local status = state[1]
  if not status or (status ~= 'dispatched' and status ~= 'running' and status ~= 'pending') then
    redis.call('LREM', KEYS[1], 1, id)
    out[#out + 1] = 'skip'
    out[#out + 1] = ''
    out[#out + 1] = 0
  else
    local deliveries = redis.call('HINCRBY', hash, 'deliveries', 1)
    redis.call('HSET', hash, 'status', 'running', 'worker', ARGV[1], 'started_at', now)
    local verdict = 'run'
    if state[2] == '1' then
      verdict = 'cancelled'
    elseif deliveries > tonumber(ARGV[2]) then
      -- Once only: a worker lost while storing the failure leaves the job to be started again.
      redis.call('LREM', KEYS[2], 0, id)
      redis.call('LPUSH', KEYS[2], id)
      redis.call('HSET', hash, 'dead_at', now)
      verdict = 'dead'
    end
    out[#out + 1] = verdict
    out[#out + 1] = redis.call('GET', spec)
    out[#out + 1] = deliveries
  end
end
return out
