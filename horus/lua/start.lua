-- A worker takes reserved jobs: count each delivery, mark it running, hand out the job.
-- KEYS[1] worker in-flight list   KEYS[2] dead-letter list   KEYS[3] the runner's priority set
-- KEYS[4] the runner's events stream   KEYS[5] its stats hash, then for each job its hash and spec
-- ARGV[1] worker id   ARGV[2] max deliveries   ARGV[3], ARGV[4]: what goes before and after a
-- job id in its hash key, ARGV[5]: what follows the hash key in its spec key   ARGV[6] the
-- events stream's cap ('0': events off)   ARGV[7] the runner id   ARGV[8..] the job ids (same
-- order)
-- Head mode (KEYS[1] to KEYS[5] only): the job is the in-flight list's only id, sent right
-- after a BLMOVE into an empty list, the one it moved. With no id or several there, it starts
-- nothing and returns {}.
-- A priority token (an id of '!priority') is traded for the best job of the priority set (the
-- in-flight list then holds that id instead); with none left it is dropped and skipped.
-- Returns, per job, six elements: job id, verdict, job JSON, deliveries, attempts ended before
-- this one, and their history (JSON, or false). The verdict is 'run'; 'cancelled' or 'dead' for
-- a job the worker must end without running (with finish.lua, as any job); or 'skip' for a job
-- already ended, scheduled or unknown, which is acknowledged here.
-- A job is dead-lettered when delivered more than max deliveries times in one attempt: the
-- deliveries of ended attempts (its hash's deliveries_before) do not count against it.
-- A job marked running is a 'started' event, one dead-lettered a 'dead-lettered' event (and
-- counted in the stats' dead_lettered); a cancelled one's event comes from its finish.
local ids, hashes, specs = {}, {}, {}
if #KEYS == 5 then
  if redis.call('LLEN', KEYS[1]) ~= 1 then
    return {}
  end
  ids[1] = redis.call('LINDEX', KEYS[1], 0)
else
  for i = 0, (#KEYS - 5) / 2 - 1 do
    ids[i + 1], hashes[i + 1], specs[i + 1] = ARGV[8 + i], KEYS[6 + i * 2], KEYS[7 + i * 2]
  end
end
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local maxlen = ARGV[6]
local events = maxlen ~= '0'
local at = events and t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
local out = {}
for i, id in ipairs(ids) do
  if id == '!priority' then
    local best = redis.call('ZPOPMIN', KEYS[3])
    redis.call('LREM', KEYS[1], 1, id)
    if best[1] then
      id = best[1]
      redis.call('LPUSH', KEYS[1], id)
    end
    hashes[i] = nil
  end
  if not hashes[i] then
    hashes[i] = ARGV[3] .. id .. ARGV[4]
    specs[i] = hashes[i] .. ARGV[5]
  end
  local hash, spec = hashes[i], specs[i]
  local state = redis.call('HMGET', hash, 'status', 'cancel', 'attempts')
  local status = state[1]
  local ended, history, before = 0, false, 0
  if state[3] then  -- only a retried job has these
    local more = redis.call('HMGET', hash, 'history', 'deliveries_before')
    ended, history, before = tonumber(state[3]), more[1] or false, tonumber(more[2]) or 0
  end
  out[#out + 1] = id
  if id == '!priority' or not status
      or (status ~= 'dispatched' and status ~= 'running' and status ~= 'pending') then
    redis.call('LREM', KEYS[1], 1, id)
    out[#out + 1] = 'skip'
    out[#out + 1] = ''
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = false
  else
    local deliveries = redis.call('HINCRBY', hash, 'deliveries', 1)
    redis.call('HSET', hash, 'status', 'running', 'worker', ARGV[1], 'started_at', now)
    local verdict = 'run'
    if state[2] == '1' then
      verdict = 'cancelled'
    elseif deliveries - before > tonumber(ARGV[2]) then
      -- Once only: a worker lost while storing the failure leaves the job to be started again.
      redis.call('LREM', KEYS[2], 0, id)
      redis.call('LPUSH', KEYS[2], id)
      redis.call('HSET', hash, 'dead_at', now)
      verdict = 'dead'
      if events then
        redis.call('XADD', KEYS[4], 'MAXLEN', '~', maxlen, '*', 'event', 'dead-lettered', 'job_id', id,
          'runner_id', ARGV[7], 'at', at, 'worker', ARGV[1], 'attempt', ended + 1, 'deliveries', deliveries)
        redis.call('HINCRBY', KEYS[5], 'dead_lettered', 1)
      end
    elseif events then
      redis.call('XADD', KEYS[4], 'MAXLEN', '~', maxlen, '*', 'event', 'started', 'job_id', id,
        'runner_id', ARGV[7], 'at', at, 'worker', ARGV[1], 'attempt', ended == 0 and '1' or ended + 1)
    end
    out[#out + 1] = verdict
    out[#out + 1] = redis.call('GET', spec)
    out[#out + 1] = deliveries
    out[#out + 1] = ended
    out[#out + 1] = history
  end
end
return out
