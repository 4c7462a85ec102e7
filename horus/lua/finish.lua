-- Store jobs' results and acknowledge them, atomically; for each job the first finisher wins.
-- KEYS[1] worker in-flight list   KEYS[2] the runner's scheduled set, then for each job: its
-- hash, spec, result list, log stream
-- ARGV[1] worker id   ARGV[2] result ttl (s)   ARGV[3] log max length   ARGV[4] the runner's
-- control channel, then for each job: id, status, result JSON, retry delay (ms; '' for none),
-- history (JSON array of the attempts so far, with this one; '' for none)
-- A job given a retry delay is scheduled for its next attempt instead of ending ('scheduled',
-- due after the delay on Redis's clock, its workers told on the control channel), unless a
-- cancel was asked for meanwhile: then the result is stored as its last.
-- Returns, per job, 1 when stored (or scheduled) or 0 when it had already ended or belongs to
-- another worker.
local ttl = tonumber(ARGV[2])
local out = {}
for i = 0, (#KEYS - 2) / 4 - 1 do
  local hash, spec, results, log = KEYS[3 + i * 4], KEYS[4 + i * 4], KEYS[5 + i * 4], KEYS[6 + i * 4]
  local a = 5 + i * 5
  local id, status, result, delay = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  redis.call('LREM', KEYS[1], 1, id)
  local state = redis.call('HMGET', hash, 'status', 'worker')
  if state[1] ~= 'running' or state[2] ~= ARGV[1] then
    out[#out + 1] = 0
  elseif delay ~= '' and redis.call('HGET', hash, 'cancel') ~= '1' then
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
    out[#out + 1] = 1
  end
end
return out
