-- Delete one Osiris document with its index entries.
-- KEYS: schema, ids, doc
-- ARGV: prefix, id
-- Returns 1 when the document existed, else 0.
local schema_key, ids_key, doc_key = KEYS[1], KEYS[2], KEYS[3]
local prefix, id = ARGV[1], ARGV[2]

if redis.call('EXISTS', doc_key) == 0 then
    return 0
end
local schema = redis.call('HGETALL', schema_key)
for i = 1, #schema, 2 do
    local field, kind = schema[i], schema[i + 1]
    local value = redis.call('HGET', doc_key, field)
    if value then
        if kind == 'unique' then
            local unique_key = prefix .. ':unique:' .. field
            if redis.call('HGET', unique_key, value) == id then
                redis.call('HDEL', unique_key, value)
            end
        else
            redis.call('ZREM', prefix .. ':index:' .. field, value .. '\0' .. id)
        end
    end
end
redis.call('DEL', doc_key)
redis.call('ZREM', ids_key, id)
return 1
