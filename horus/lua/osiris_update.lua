-- Merge changes into one Osiris document and move its index entries, all or nothing.
-- KEYS: schema, doc
-- ARGV: prefix, id, count of set pairs, then that many field, value-json pairs, then the
--       fields to remove
-- Returns {'ok', {field, value-json, ...}} (the whole document after the change)
--       | {'missing', id} | {'unique', field, value, owner}.
local schema_key, doc_key = KEYS[1], KEYS[2]
local prefix, id, nset = ARGV[1], ARGV[2], tonumber(ARGV[3])

if redis.call('EXISTS', doc_key) == 0 then
    return {'missing', id}
end

-- field -> new value, or false to remove it
local changes, order = {}, {}
local last_set = 3 + 2 * nset
for i = 4, last_set, 2 do
    changes[ARGV[i]] = ARGV[i + 1]
    order[#order + 1] = ARGV[i]
end
for i = last_set + 1, #ARGV do
    changes[ARGV[i]] = false
    order[#order + 1] = ARGV[i]
end

local kinds = {}
local schema = redis.call('HGETALL', schema_key)
for i = 1, #schema, 2 do
    kinds[schema[i]] = schema[i + 1]
end

for _, field in ipairs(order) do
    local value = changes[field]
    if value and kinds[field] == 'unique' then
        local owner = redis.call('HGET', prefix .. ':unique:' .. field, value)
        if owner and owner ~= id then
            return {'unique', field, value, owner}
        end
    end
end

for _, field in ipairs(order) do
    local value = changes[field]
    local kind = kinds[field]
    local old = redis.call('HGET', doc_key, field)
    if kind and old ~= value then
        if kind == 'unique' then
            local unique_key = prefix .. ':unique:' .. field
            if old and redis.call('HGET', unique_key, old) == id then
                redis.call('HDEL', unique_key, old)
            end
            if value then
                redis.call('HSET', unique_key, value, id)
            end
        else
            local index_key = prefix .. ':index:' .. field
            if old then
                redis.call('ZREM', index_key, old .. '\0' .. id)
            end
            if value then
                redis.call('ZADD', index_key, 0, value .. '\0' .. id)
            end
        end
    end
    if value then
        redis.call('HSET', doc_key, field, value)
    else
        redis.call('HDEL', doc_key, field)
    end
end
redis.call('HSET', doc_key, 'updated_at', redis.call('TIME')[1])
return {'ok', redis.call('HGETALL', doc_key)}
