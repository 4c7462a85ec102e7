-- Create one Osiris document: check unique fields, then store it and its index entries.
-- KEYS: schema, seq, ids, doc
-- ARGV: prefix, id, then field, value-json pairs (the id field included; no timestamps)
-- Returns {'ok', now} | {'exists', id} | {'unique', field, value, owner}. Nothing is written
-- unless the reply is 'ok'.
local schema_key, seq_key, ids_key, doc_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix, id = ARGV[1], ARGV[2]

if redis.call('EXISTS', doc_key) == 1 then
    return {'exists', id}
end

local values = {}
for i = 3, #ARGV, 2 do
    values[ARGV[i]] = ARGV[i + 1]
end

local schema = redis.call('HGETALL', schema_key)
for i = 1, #schema, 2 do
    local field, kind = schema[i], schema[i + 1]
    local value = values[field]
    if kind == 'unique' and value then
        local owner = redis.call('HGET', prefix .. ':unique:' .. field, value)
        if owner then
            return {'unique', field, value, owner}
        end
    end
end

local now = redis.call('TIME')[1]
redis.call('HSET', doc_key, 'created_at', now, 'updated_at', now)
for i = 3, #ARGV, 2 do
    redis.call('HSET', doc_key, ARGV[i], ARGV[i + 1])
end
redis.call('ZADD', ids_key, redis.call('INCR', seq_key), id)

for i = 1, #schema, 2 do
    local field, kind = schema[i], schema[i + 1]
    local value = values[field]
    if value then
        if kind == 'unique' then
            redis.call('HSET', prefix .. ':unique:' .. field, value, id)
        else
            redis.call('ZADD', prefix .. ':index:' .. field, 0, value .. '\0' .. id)
        end
    end
end
return {'ok', now}
