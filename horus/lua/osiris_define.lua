-- Set which fields of an Osiris collection are indexed or unique, building or dropping their
-- entries for the documents already stored. All or nothing: if existing documents share a value
-- of a field about to become unique, nothing changes.
-- KEYS: schema, ids
-- ARGV: prefix, then field, kind pairs (kind: 'index' or 'unique') — the whole new schema
-- Returns {'same'} | {'changed'} | {'unique', field, value, owner}.
local schema_key, ids_key = KEYS[1], KEYS[2]
local prefix = ARGV[1]

local wanted, current = {}, {}
for i = 2, #ARGV, 2 do
    wanted[ARGV[i]] = ARGV[i + 1]
end
local schema = redis.call('HGETALL', schema_key)
for i = 1, #schema, 2 do
    current[schema[i]] = schema[i + 1]
end

local changed = {}
for field, kind in pairs(wanted) do
    if current[field] ~= kind then
        changed[#changed + 1] = field
    end
end
for field in pairs(current) do
    if not wanted[field] then
        changed[#changed + 1] = field
    end
end
if #changed == 0 then
    return {'same'}
end

local ids = redis.call('ZRANGE', ids_key, 0, -1)
local function value_of(id, field)
    return redis.call('HGET', prefix .. ':doc:' .. id, field)
end

-- Check every new unique field before writing anything.
for _, field in ipairs(changed) do
    if wanted[field] == 'unique' then
        local seen = {}
        for _, id in ipairs(ids) do
            local value = value_of(id, field)
            if value then
                if seen[value] then
                    return {'unique', field, value, seen[value]}
                end
                seen[value] = id
            end
        end
    end
end

for _, field in ipairs(changed) do
    local index_key, unique_key = prefix .. ':index:' .. field, prefix .. ':unique:' .. field
    redis.call('DEL', index_key, unique_key)
    local kind = wanted[field]
    if kind then
        for _, id in ipairs(ids) do
            local value = value_of(id, field)
            if value then
                if kind == 'unique' then
                    redis.call('HSET', unique_key, value, id)
                else
                    redis.call('ZADD', index_key, 0, value .. '\0' .. id)
                end
            end
        end
    end
end

redis.call('DEL', schema_key)
for field, kind in pairs(wanted) do
    redis.call('HSET', schema_key, field, kind)
end
return {'changed'}
