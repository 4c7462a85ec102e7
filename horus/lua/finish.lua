-- Store jobs' results and acknowledge them, atomically; for each job the first finisher wins.
-- KEYS[1] worker in-flight list   KEYS[2] the runner's scheduled set   KEYS[3] the runner's
-- events stream   KEYS[4] its stats hash, then for each job: its hash, spec, result list, log
-- stream
-- ARGV[1] worker id   ARGV[2] result ttl (s)   ARGV[3] log max length   ARGV[4] the runner's
-- control channel   ARGV[5] the events stream's cap ('0': events off)   ARGV[6] the runner id,
-- then for each job: id, status, result JSON, retry delay (ms; '' for none), history (JSON array
-- of the attempts so far, with this one; '' for none)
-- A job given a retry delay is scheduled for its next attempt instead of ending ('scheduled',
-- due after the delay on Redis's clock, its workers told on the control channel), unless a
-- cancel was asked for meanwhile: then the result is stored as its last.
-- Each is an event: 'retried' (with the attempt's status), or the status it ended with, counted
-- in the stats hash by status and by how long it ran (started_at to now, Redis's clock).
-- Returns, per job, 1 when stored (or scheduled) or 0 when it had already ended or belongs to
-- another worker.
--! include events_lib
local ttl = tonumber(ARGV[2])
local maxlen = ARGV[5]
local events = maxlen ~= '0'
local at, now_us
local tally, names = {}, {}
local out = {}
for i = 0, (#KEYS - 4) / 4 - 1 do
  local hash, spec, results, log = KEYS[5 + i * 4], KEYS[6 + i * 4], KEYS[7 + i * 4], KEYS[8 + i * 4]
  local a = 7 + i * 5
  local id, status, result, delay = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  redis.call('LREM', KEYS[1], 1, id)
  local state = redis.call('HMGET', hash, 'status', 'worker', 'started_at', 'attempts')
  if state[1] ~= 'running' or state[2] ~= ARGV[1] then
    out[#out + 1] = 0
  else
    local us
    if events then
      if not at then
        at, now_us = event_clock()
      end
      us = ran_us(state[3], now_us)
    end
    -- A string for a first attempt: no number to format on the common path.
    local attempt = state[4] and tonumber(state[4]) + 1 or '1'
    if delay ~= '' and redis.call('HGET', hash, 'cancel') ~= '1' then
      local t = redis.call('TIME')
      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      local due = now + tonumber(delay)
      local deliveries = redis.call('HGET', hash, 'deliveries')
      redis.call('HSET', hash, 'status', 'scheduled', 'due_at', string.format('%.3f', due / 1000),
        'history', ARGV[a + 4], 'deliveries_before', deliveries, 'worker', '')
      redis.call('HINCRBY', hash, 'attempts', 1)
      redis.call('ZADD', KEYS[2], due, id)
      redis.call('PUBLISH', ARGV[4], 'due ' .. delay)
      -- Followers read on through the next attempt's lines; this entry marks where they begin.
      if redis.call('EXISTS', log) == 1 then
        redis.call('XADD', log, 'MAXLEN', '~', ARGV[3], '*', 'attempt', redis.call('HGET', hash, 'attempts'))
      end
      if events then
        emit(KEYS[3], maxlen, 'event', 'retried', 'job_id', id, 'runner_id', ARGV[6], 'at', at,
          'worker', ARGV[1], 'attempt', attempt, 'duration_ms', (us or 0) / 1000,
          'status', status, 'due_at', due)
        tally['retried'] = (tally['retried'] or 0) + 1
      end
      out[#out + 1] = 1
    else
      -- The result lives on its notice list only: a hash holding it would lose its compact encoding.
      redis.call('HSET', hash, 'status', status)
      redis.call('EXPIRE', hash, ttl)
      redis.call('EXPIRE', spec, ttl)
      redis.call('RPUSH', results, result)
      redis.call('EXPIRE', results, ttl)
      -- Only a job that printed has a log stream (with its TTL); followers of a silent job
      -- learn the end from its status.
      if redis.call('EXISTS', log) == 1 then
        redis.call('XADD', log, 'MAXLEN', '~', ARGV[3], '*', 'eof', status)
      end
      if events then
        if us then
          emit(KEYS[3], maxlen, 'event', status, 'job_id', id, 'runner_id', ARGV[6], 'at', at,
            'worker', ARGV[1], 'attempt', attempt, 'duration_ms', us / 1000)
        else
          emit(KEYS[3], maxlen, 'event', status, 'job_id', id, 'runner_id', ARGV[6], 'at', at,
            'worker', ARGV[1], 'attempt', attempt)
        end
        tally_ended(tally, status, us, names)
      end
      out[#out + 1] = 1
    end
  end
end
tally_flush(KEYS[4], tally)
return out
