-- A page of an Osiris collection's documents in creation order, read in one step.
-- KEYS: ids
-- ARGV: prefix, offset, limit
-- Returns {total, doc, ...} (each doc a flat field, value-json list).
local ids_key = KEYS[1]
local prefix, offset, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local reply = {redis.call('ZCARD', ids_key)}
if limit > 0 then
    for _, id in ipairs(redis.call('ZRANGE', ids_key, offset, offset + limit - 1)) do
        reply[#reply + 1] = redis.call('HGETALL', prefix .. ':doc:' .. id)
    end
end
return reply
