-- Forget the records of worker masters that stopped heartbeating (a master killed before it
-- could remove its own): readers skip them anyway, this keeps the hash from growing.
-- KEYS[1] the runner's masters hash
-- Returns the ids of the masters forgotten.
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dropped = {}
local records = redis.call('HGETALL', KEYS[1])
for i = 1, #records, 2 do
  local ok, record = pcall(cjson.decode, records[i + 1])
  local live = ok and type(record) == 'table' and tonumber(record.heartbeat_ms) and tonumber(record.ttl_ms)
    and tonumber(record.heartbeat_ms) + tonumber(record.ttl_ms) > now_ms
  if not live then
    redis.call('HDEL', KEYS[1], records[i])
    dropped[#dropped + 1] = records[i]
  end
end
return dropped
