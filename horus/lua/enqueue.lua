-- Create jobs and queue them, all or none: any id used before refuses the whole batch.
-- KEYS: for each job, its hash, its spec (the signed job), its runner's queue and (single
--       Redis) its id index; on a Cluster the index is claimed beforehand by claim.lua and
--       left out; then (single Redis) the namespace's runners set, last.
-- ARGV[1] keys per job (4, or 3 on a Cluster)   ARGV[2] index ttl (s)   ARGV[3] the events
-- stream's cap ('0': events off; on, each job's runner joins the runners set, single Redis)
-- then for each job: id, job JSON, created_at (s), runner id, owner (the submitting caller's
-- identity, supervisor metadata; '' for none), options: '' for a job at the defaults, else
-- "NOT_BEFORE_MS PRIORITY INDEX_TTL" (NOT_BEFORE_MS 0 for none; INDEX_TTL replaces ARGV[2]:
-- a job due later keeps its id claimed that much longer).
-- A job whose not_before is still ahead (Redis's clock) is 'scheduled' in the runner's
-- scheduled set and its runner's workers are told when it is due ("due MS" on the control
-- channel); any other is 'dispatched' into the queue (queue_job). Either is an event in the
-- runner's events stream (named from its queue key).
-- Returns 0 when every job was queued, else the 1-based position of the first replayed id.
--! include queue_lib
--! include events_lib
local per, argc = tonumber(ARGV[1]), 6
local jobs = math.floor(#KEYS / per)
local maxlen = ARGV[3]
local events = maxlen ~= '0'
local options = {}
for i = 0, jobs - 1 do
  local k, a = i * per, 3 + i * argc
  local fresh
  local opt = ARGV[a + 6]
  local ttl = ARGV[2]
  if opt ~= '' then
    local due, priority, index_ttl = string.match(opt, '^(%d+) (%d) (%d+)$')
    options[i] = {tonumber(due), tonumber(priority)}
    ttl = index_ttl
  end
  if per == 4 then
    -- The index outlives the job's records (its ttl >= theirs): claiming it is the guard.
    fresh = redis.call('SET', KEYS[k + 4], ARGV[a + 4], 'NX', 'EX', ttl)
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
local now
local at, registered
if events then
  at = event_clock()
  registered = {}
end
for i = 0, jobs - 1 do
  local k, a = i * per, 3 + i * argc
  local hash, queue, id = KEYS[k + 1], KEYS[k + 3], ARGV[a + 1]
  local event, due_at = 'dispatched', nil
  redis.call('HSET', hash, 'status', 'dispatched', 'deliveries', 0, 'created_at', ARGV[a + 3])
  if ARGV[a + 5] ~= '' then
    redis.call('HSET', hash, 'owner', ARGV[a + 5])
  end
  redis.call('SET', KEYS[k + 2], ARGV[a + 2])
  local opt = options[i]
  if not opt then
    redis.call('LPUSH', queue, id)
  else
    local due, priority = opt[1], opt[2]
    if priority > 0 then
      redis.call('HSET', hash, 'priority', priority)
    end
    now = now or now_ms()
    if due > now then
      redis.call('HSET', hash, 'status', 'scheduled', 'due_at', string.format('%.3f', due / 1000))
      redis.call('ZADD', runner_key(queue, 'scheduled'), due, id)
      redis.call('PUBLISH', runner_key(queue, 'control'), 'due ' .. (due - now))
      event, due_at = 'scheduled', due
    else
      queue_job(queue, id, priority)
    end
  end
  if events then
    local runner = ARGV[a + 4]
    local stream = runner_key(queue, 'events')
    if due_at then
      emit(stream, maxlen, 'event', event, 'job_id', id, 'runner_id', runner, 'at', at, 'due_at', due_at)
    else
      emit(stream, maxlen, 'event', event, 'job_id', id, 'runner_id', runner, 'at', at)
    end
    if per == 4 and not registered[runner] then
      registered[runner] = true
      redis.call('SADD', KEYS[#KEYS], runner)
    end
  end
end
return 0
