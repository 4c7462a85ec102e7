-- Trade a priority token a worker reserved for the best job of the priority set, before its
-- rate-limit permit is asked (start.lua trades tokens itself on the unlimited path).
-- KEYS[1] the worker's in-flight list   KEYS[2] the runner's priority set
-- Returns the job id now in the in-flight list in the token's place, or false when none was
-- left (the token is dropped).
local best = redis.call('ZPOPMIN', KEYS[2])
redis.call('LREM', KEYS[1], 1, '!priority')
if not best[1] then
  return false
end
redis.call('LPUSH', KEYS[1], best[1])
return best[1]
