-- Forget dead-lettered jobs: their records and their entries in the dead-letter list.
-- KEYS[1] dead-letter list, then for each job: its hash, spec, result list, log stream
-- ARGV: the job ids (same order as their keys)
-- A job no longer in the list (retried meanwhile) or whose failure is not stored yet is left
-- alone. Returns the ids left alone.
local left = {}
for i = 1, #ARGV do
  local id, base = ARGV[i], 2 + (i - 1) * 4
  local status = redis.call('HGET', KEYS[base], 'status')
  local ended = not status or status == 'completed' or status == 'failed' or status == 'timeout'
    or status == 'cancelled'
  if redis.call('LPOS', KEYS[1], id) and ended then
    redis.call('LREM', KEYS[1], 0, id)
    redis.call('DEL', KEYS[base], KEYS[base + 1], KEYS[base + 2], KEYS[base + 3])
  else
    left[#left + 1] = id
  end
end
return left
