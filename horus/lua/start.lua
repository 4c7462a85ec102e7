-- A worker takes reserved jobs: count each delivery, mark it running, hand out the job.
-- KEYS[1] worker in-flight list   KEYS[2] dead-letter list, then for each job its hash and spec
-- ARGV[1] worker id   ARGV[2] max deliveries   ARGV[3..] the job ids (same order)
-- Returns, per job, three elements: verdict, job JSON, deliveries. The verdict is 'run';
-- 'cancelled' or 'dead' for a job the worker must end without running (with finish.lua, as
-- any job); or 'skip' for a job already ended or unknown, which is acknowledged here.
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local out = {}
for i = 0, (#KEYS - 2) / 2 - 1 do
  local id, hash, spec = ARGV[3 + i], KEYS[3 + i * 2], KEYS[4 + i * 2]
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
      redis.call('LPUSH', KEYS[2], id)
      verdict = 'dead'
    end
    out[#out + 1] = verdict
    out[#out + 1] = redis.call('GET', spec)
    out[#out + 1] = deliveries
  end
end
return out
