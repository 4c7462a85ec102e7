-- Find Osiris documents whose indexed fields equal the given values, in creation order.
-- KEYS: schema, ids
-- ARGV: prefix, offset, limit, then field, value-json pairs (all must match)
-- Returns {'ok', total, doc, ...} (each doc a flat field, value-json list) | {'unindexed', field}.
local schema_key, ids_key = KEYS[1], KEYS[2]
local prefix, offset, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local kinds = {}
local schema = redis.call('HGETALL', schema_key)
for i = 1, #schema, 2 do
    kinds[schema[i]] = schema[i + 1]
end

local function matching(field, value)
    local kind = kinds[field]
    if kind == 'unique' then
        local owner = redis.call('HGET', prefix .. ':unique:' .. field, value)
        return owner and {owner} or {}
    end
    local found = {}
    local members = redis.call('ZRANGEBYLEX', prefix .. ':index:' .. field, '[' .. value .. '\0', '(' .. value .. '\1')
    for _, member in ipairs(members) do
        found[#found + 1] = string.sub(member, #value + 2)
    end
    return found
end

for i = 4, #ARGV, 2 do
    if not kinds[ARGV[i]] then
        return {'unindexed', ARGV[i]}
    end
end

local candidates = nil
for i = 4, #ARGV, 2 do
    local found = matching(ARGV[i], ARGV[i + 1])
    if candidates then
        local both = {}
        for _, id in ipairs(found) do
            if candidates[id] then
                both[id] = true
            end
        end
        candidates = both
    else
        candidates = {}
        for _, id in ipairs(found) do
            candidates[id] = true
        end
    end
end

local ordered = {}
for id in pairs(candidates or {}) do
    local seq = redis.call('ZSCORE', ids_key, id)
    if seq then
        ordered[#ordered + 1] = {tonumber(seq), id}
    end
end
table.sort(ordered, function(a, b) return a[1] < b[1] end)

local reply = {'ok', #ordered}
for i = offset + 1, math.min(offset + limit, #ordered) do
    reply[#reply + 1] = redis.call('HGETALL', prefix .. ':doc:' .. ordered[i][2])
end
return reply
