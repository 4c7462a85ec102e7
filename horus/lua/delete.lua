-- Delete an ended job's records; a job still queued or running is left alone (cancel it first).
-- KEYS[1] job hash   KEYS[2] spec   KEYS[3] result list   KEYS[4] log stream
-- Returns 'deleted', the status of a job that has not ended, or false when there is no job.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return false
end
if status ~= 'completed' and status ~= 'failed' and status ~= 'timeout' and status ~= 'cancelled' then
  return status
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return 'deleted'
