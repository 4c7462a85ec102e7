-- Renew (ARGV[2] > 0) or release (ARGV[2] = 0) workflow leases, only where this coordinator holds them.
-- KEYS: lease keys  ARGV[1] coordinator id  ARGV[2] lease ttl (ms)
-- Returns, per key, 1 when held (and renewed or released), 0 when another coordinator holds it or none.
local out = {}
local ttl = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    if ttl > 0 then
      redis.call('PEXPIRE', key, ttl)
    else
      redis.call('DEL', key)
    end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
