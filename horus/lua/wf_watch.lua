-- Give step jobs an (empty) log stream, so the runner's finish appends its 'eof' entry there and
-- a coordinator blocked on the streams wakes; and say each job's status at that instant, so a
-- job that ended before its stream existed is not missed.
-- KEYS: for each job, its log stream and its hash   ARGV: for each job, the stream's ttl (s)
-- Returns each job's status, '' for a job Redis does not have.
local out = {}
for i = 0, #KEYS / 2 - 1 do
  local stream, hash = KEYS[1 + i * 2], KEYS[2 + i * 2]
  if redis.call('EXISTS', stream) == 0 then
    -- An entry trimmed away at once: the stream exists, and shows no line.
    redis.call('XADD', stream, 'MAXLEN', 0, '*', 'created', '1')
    redis.call('EXPIRE', stream, ARGV[1 + i])
  end
  out[#out + 1] = redis.call('HGET', hash, 'status') or ''
end
return out
