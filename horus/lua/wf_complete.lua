-- Record the end of one step attempt, once: a second call for the same attempt is 'stale'.
-- KEYS[1] meta  KEYS[2] steps  KEYS[3] results  KEYS[4] ready list  KEYS[5] retry timers
-- KEYS[6] lease  KEYS[7] done list  KEYS[8] active index  KEYS[9] spec
-- ARGV[1] coordinator id  ARGV[2] step id  ARGV[3] attempt  ARGV[4] job status
-- ARGV[5] result JSON  ARGV[6] now (ms)  ARGV[7] error text  ARGV[8] retention (s)  ARGV[9] workflow id
-- Returns {outcome, '1' when steps became ready, final workflow status or '', retry due (ms) or '',
--          then step id, attempt of each dispatched step to cancel (fail-fast)}.
-- outcome: 'lost' (not the lease holder), 'stale' (not this attempt), 'retry', 'done', 'ended'.
--! include wf_lib
if redis.call('GET', KEYS[6]) ~= ARGV[1] then
  return {'lost', '0', '', ''}
end
local step = ARGV[2]
local raw = redis.call('HGET', KEYS[2], step)
if not raw then
  return {'stale', '0', '', ''}
end
local state = cjson.decode(raw)
if state.status ~= 'dispatched' or state.attempt ~= tonumber(ARGV[3]) then
  return {'stale', '0', '', ''}
end
local now = tonumber(ARGV[6])
local running = redis.call('HGET', KEYS[1], 'status') == 'running'
local out = {'done', '0', '', ''}

local function close(id, st, status)
  close_step(KEYS[1], KEYS[2], id, st, status, now)
end

redis.call('HSET', KEYS[3], step, ARGV[5])
if ARGV[4] == 'completed' then
  state.error = nil
  close(step, state, 'completed')
  for _, id in ipairs(state.dependants) do
    local dep = cjson.decode(redis.call('HGET', KEYS[2], id))
    dep.waiting = dep.waiting - 1
    if dep.waiting == 0 and dep.status == 'waiting' and running then
      dep.status = 'ready'
      redis.call('RPUSH', KEYS[4], id)
      out[2] = '1'
    end
    redis.call('HSET', KEYS[2], id, cjson.encode(dep))
  end
else
  state.error = ARGV[7]
  if ARGV[4] ~= 'cancelled' and running and state.attempt <= state.retries then
    local due = now + math.floor(math.min(state.backoff_ms * 2 ^ (state.attempt - 1), 3600000))
    state.status = 'retrying'
    redis.call('HSET', KEYS[2], step, cjson.encode(state))
    redis.call('ZADD', KEYS[5], due, step)
    return {'retry', '0', '', tostring(due)}
  end
  close(step, state, ARGV[4] == 'cancelled' and 'cancelled' or 'failed')
  if running and redis.call('HGET', KEYS[1], 'policy') == 'fail_fast' then
    redis.call('HSET', KEYS[1], 'status', 'failed')
    redis.call('DEL', KEYS[4], KEYS[5])
    stop_open_steps(KEYS[1], KEYS[2], 'skipped', now, out)
  elseif running then
    -- continue: only what depends on the failed step, directly or not, is skipped
    local todo = state.dependants
    while #todo > 0 do
      local id = table.remove(todo)
      local st = cjson.decode(redis.call('HGET', KEYS[2], id))
      if st.status == 'waiting' then
        close(id, st, 'skipped')
        for _, next_id in ipairs(st.dependants) do
          todo[#todo + 1] = next_id
        end
      end
    end
  end
end

local final = end_if_done(KEYS[1], KEYS[8], KEYS[7], KEYS[6], ARGV[9], now, tonumber(ARGV[8]),
  {KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7], KEYS[9]})
if final then
  out[1] = 'ended'
  out[3] = final
end
return out
