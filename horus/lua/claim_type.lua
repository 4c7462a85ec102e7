-- A worker master claims a runner id for its runner type, unless a live master of another type
-- serves it. A master is live while any of its workers' heartbeat deadlines is in the future,
-- or for its own heartbeat ttl after its claim (before its children's first heartbeat); dead
-- claims are dropped.
-- KEYS[1] worker types hash (master id -> {"type", "at_ms", "ttl_ms"})   KEYS[2] workers sorted set
-- ARGV[1] this master's id (host:pid)   ARGV[2] its runner type   ARGV[3] ttl (ms)
-- Returns {} and records the claim, or {master id, type, ...} of the live masters of other types.
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local alive = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now_ms, '+inf')
local conflicts = {}
local claims = redis.call('HGETALL', KEYS[1])
for i = 1, #claims, 2 do
  local master, claim = claims[i], cjson.decode(claims[i + 1])
  if master ~= ARGV[1] then
    local live = tonumber(claim.at_ms) + tonumber(claim.ttl_ms or ttl) > now_ms
    local prefix = master .. ':'
    for _, worker in ipairs(alive) do
      if not live and string.sub(worker, 1, #prefix) == prefix then
        live = true
      end
    end
    if not live then
      redis.call('HDEL', KEYS[1], master)
    elseif claim.type ~= ARGV[2] then
      table.insert(conflicts, master)
      table.insert(conflicts, claim.type)
    end
  end
end
if #conflicts == 0 then
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({type = ARGV[2], at_ms = now_ms, ttl_ms = ttl}))
end
return conflicts
