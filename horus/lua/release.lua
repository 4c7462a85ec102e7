-- Move a runner's due scheduled jobs into its queue; whoever runs it first moves them, once.
-- KEYS[1] the runner's scheduled set   KEYS[2] its queue
-- ARGV[1] and ARGV[2]: what goes before and after a job id in its hash key   ARGV[3] at most
-- this many jobs per call   ARGV[4] the events stream's cap ('0': events off)   ARGV[5] the
-- runner id
-- A job still 'scheduled' becomes 'dispatched' and is queued by its priority (queue_job), a
-- 'dispatched' event in the runner's events stream; one that is not any more (cancelled,
-- deleted) just leaves the set.
-- Returns {jobs moved, ms until the next is due: 0 when more are due now, -1 when none is left}.
--! include queue_lib
--! include events_lib
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local maxlen = ARGV[4]
local stream = maxlen ~= '0' and runner_key(KEYS[2], 'events')
local moved = 0
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local hash = ARGV[1] .. id .. ARGV[2]
  local state = redis.call('HMGET', hash, 'status', 'priority')
  if state[1] == 'scheduled' then
    redis.call('HSET', hash, 'status', 'dispatched')
    redis.call('HDEL', hash, 'due_at')
    queue_job(KEYS[2], id, tonumber(state[2]) or 0)
    moved = moved + 1
    if stream then
      emit(stream, maxlen, 'event', 'dispatched', 'job_id', id, 'runner_id', ARGV[5], 'at', now)
    end
  end
end
local next = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if not next[1] then
  return {moved, -1}
end
return {moved, math.max(tonumber(next[2]) - now, 0)}
