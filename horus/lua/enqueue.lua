-- Create a job and queue it, atomically.
-- KEYS[1] job hash   KEYS[2] runner queue
-- ARGV[1] job id   ARGV[2] job JSON   ARGV[3] created_at (s)
-- Returns 1 when queued, 0 when a job with that id already exists.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'job', ARGV[2], 'status', 'dispatched', 'deliveries', 0,
           'created_at', ARGV[3])
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
