-- Put dead-lettered jobs back in their runner's queue as fresh deliveries (by their priority).
-- KEYS[1] dead-letter list   KEYS[2] runner queue, then for each job: its hash, spec, result
--         list, log stream
-- ARGV[1] 'ids': every job must be retriable, else nothing changes; 'all': a job that is not
--         is skipped   ARGV[2] the events stream's cap ('0': events off)   ARGV[3] the runner id
--         ARGV[4..] the job ids (same order as their keys)
-- Each job queued again is a 'dispatched' event in the runner's events stream.
-- A job is retriable when its id is in the dead-letter list, its records are still there and
-- its failure has been stored. Why one is not: 'not_dead' (not in the list), 'expired' (its
-- records expired) or 'ending' (dead-lettered, its failure not stored yet).
-- Returns {retried ids, skipped (id, why) pairs flat}; in 'ids' mode a refusal returns no
-- retried id and the first refused pair, having changed nothing.
--! include queue_lib
--! include events_lib
local retriable, skipped = {}, {}
for i = 4, #ARGV do
  local id, base = ARGV[i], 3 + (i - 4) * 4
  local why = nil
  if not redis.call('LPOS', KEYS[1], id) then
    why = 'not_dead'
  else
    local status = redis.call('HGET', KEYS[base], 'status')
    if not status or redis.call('EXISTS', KEYS[base + 1]) == 0 then
      why = 'expired'
    elseif status ~= 'completed' and status ~= 'failed' and status ~= 'timeout' and status ~= 'cancelled' then
      why = 'ending'
    end
  end
  if why then
    if ARGV[1] == 'ids' then
      return {{}, {id, why}}
    end
    skipped[#skipped + 1] = id
    skipped[#skipped + 1] = why
  else
    retriable[#retriable + 1] = i
  end
end
local retried = {}
local maxlen = ARGV[2]
local stream, at = maxlen ~= '0' and runner_key(KEYS[2], 'events'), nil
if stream and #retriable > 0 then
  at = event_clock()
end
for _, i in ipairs(retriable) do
  local id, base = ARGV[i], 3 + (i - 4) * 4
  local hash, spec = KEYS[base], KEYS[base + 1]
  redis.call('LREM', KEYS[1], 0, id)
  redis.call('HSET', hash, 'status', 'dispatched', 'deliveries', 0)
  redis.call('HDEL', hash, 'worker', 'started_at', 'dead_at', 'cancel', 'deliveries_before', 'progress')
  -- Queued jobs never expire; the end of the new run sets the TTLs again.
  redis.call('PERSIST', hash)
  redis.call('PERSIST', spec)
  -- The old result and log go, so waiters and followers wait for the new ending.
  redis.call('DEL', KEYS[base + 2], KEYS[base + 3])
  queue_job(KEYS[2], id, tonumber(redis.call('HGET', hash, 'priority')) or 0)
  retried[#retried + 1] = id
  if stream then
    emit(stream, maxlen, 'event', 'dispatched', 'job_id', id, 'runner_id', ARGV[3], 'at', at)
  end
end
return {retried, skipped}
