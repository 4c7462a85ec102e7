-- Move one workflow from the layout before buckets (NS:wf:{ID}...) to its bucket, once: its keys
-- renamed (TTLs kept), its index entries moved, its lease dropped so a coordinator of this version
-- adopts it at once (one of the old version still running sees the lease gone and lets it go).
-- Only on one Redis: the old layout never ran on a cluster, and RENAME spans slots there.
-- KEYS[1..8] old meta, spec, steps, results, ready, timers, done, lease
-- KEYS[9..16] the same in the bucket  KEYS[17] old active index  KEYS[18] old stored index
-- KEYS[19] the bucket's active index  KEYS[20] the bucket's stored index
-- ARGV[1] workflow id
-- Returns 1 when the workflow was moved, 0 when there was nothing (left) to move.
local id = ARGV[1]
local active = redis.call('ZSCORE', KEYS[17], id)
local stored = redis.call('ZSCORE', KEYS[18], id)
local moved = 0
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('EXISTS', KEYS[9]) == 0 then
  for i = 1, 7 do
    if redis.call('EXISTS', KEYS[i]) == 1 then
      redis.call('RENAME', KEYS[i], KEYS[8 + i])
    end
  end
  moved = 1
end
redis.call('DEL', KEYS[8])
if redis.call('EXISTS', KEYS[9]) == 1 then
  if active then
    redis.call('ZADD', KEYS[19], active, id)
  end
  if stored then
    redis.call('ZADD', KEYS[20], stored, id)
  end
end
redis.call('ZREM', KEYS[17], id)
redis.call('ZREM', KEYS[18], id)
return moved
