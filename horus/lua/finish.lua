-- Store a job's result and acknowledge it, atomically; first finisher wins.
-- KEYS[1] job hash   KEYS[2] worker in-flight list   KEYS[3] result list   KEYS[4] log stream
-- ARGV[1] job id   ARGV[2] worker id   ARGV[3] status   ARGV[4] output   ARGV[5] error
-- ARGV[6] exit code ('' for none)   ARGV[7] value JSON ('' for none)   ARGV[8] result ttl (s)
-- ARGV[9] log max length
-- Returns 1 when stored, 0 when the job had already ended or belongs to another worker.
redis.call('LREM', KEYS[2], 1, ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'status', 'worker')
if state[1] ~= 'running' or state[2] ~= ARGV[2] then
  return 0
end
local t = redis.call('TIME')
local ts = string.format('%.6f', tonumber(t[1]) + tonumber(t[2]) / 1000000)
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'output', ARGV[4], 'error', ARGV[5],
           'exit_code', ARGV[6], 'value', ARGV[7], 'completed_at', ts)
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], '*', 'eof', ARGV[3])
local ttl = tonumber(ARGV[8])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('EXPIRE', KEYS[4], ttl)
return 1
