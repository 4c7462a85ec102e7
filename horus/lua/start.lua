-- A worker takes a reserved job: count the delivery, mark it running, hand out the job.
-- KEYS[1] job hash   KEYS[2] worker in-flight list   KEYS[3] dead-letter list
-- KEYS[4] result list   KEYS[5] log stream
-- ARGV[1] job id   ARGV[2] worker id   ARGV[3] max deliveries   ARGV[4] result ttl (s)
-- ARGV[5] log max length
-- Returns {'run', job_json, deliveries} or {'skip', reason}; a skipped job is acknowledged.
local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function close(status, err)
  local ts = string.format('%.6f', now_s())
  redis.call('HSET', KEYS[1], 'status', status, 'error', err, 'completed_at', ts)
  redis.call('LREM', KEYS[2], 1, ARGV[1])
  redis.call('RPUSH', KEYS[4], status)
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'eof', status)
  local ttl = tonumber(ARGV[4])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[4], ttl)
  redis.call('EXPIRE', KEYS[5], ttl)
end

local state = redis.call('HMGET', KEYS[1], 'status', 'cancel', 'job')
local status = state[1]
if not status then
  redis.call('LREM', KEYS[2], 1, ARGV[1])
  return {'skip', 'missing'}
end
if status ~= 'dispatched' and status ~= 'running' and status ~= 'pending' then
  redis.call('LREM', KEYS[2], 1, ARGV[1])
  return {'skip', status}
end
if state[2] == '1' then
  close('cancelled', 'cancelled before it started')
  return {'skip', 'cancelled'}
end
local deliveries = redis.call('HINCRBY', KEYS[1], 'deliveries', 1)
if deliveries > tonumber(ARGV[3]) then
  close('failed', 'dead-lettered: delivered ' .. (deliveries - 1) ..
        ' times without finishing (worker lost each time)')
  redis.call('LPUSH', KEYS[3], ARGV[1])
  return {'skip', 'dead'}
end
redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[2],
           'started_at', string.format('%.6f', now_s()))
return {'run', state[3], deliveries}
