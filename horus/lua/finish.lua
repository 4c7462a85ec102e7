-- Store jobs' results and acknowledge them, atomically; for each job the first finisher wins.
-- KEYS[1] worker in-flight list, then for each job: its hash, spec, result list, log stream
-- ARGV[1] worker id   ARGV[2] result ttl (s)   ARGV[3] log max length
-- then for each job: id, status, result JSON
-- Returns, per job, 1 when stored or 0 when it had already ended or belongs to another worker.
local ttl = tonumber(ARGV[2])
local out = {}
for i = 0, (#KEYS - 1) / 4 - 1 do
  local hash, spec, results, log = KEYS[2 + i * 4], KEYS[3 + i * 4], KEYS[4 + i * 4], KEYS[5 + i * 4]
  local id, status, result = ARGV[4 + i * 3], ARGV[5 + i * 3], ARGV[6 + i * 3]
  redis.call('LREM', KEYS[1], 1, id)
  local state = redis.call('HMGET', hash, 'status', 'worker')
  if state[1] ~= 'running' or state[2] ~= ARGV[1] then
    out[#out + 1] = 0
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
