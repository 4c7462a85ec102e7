-- Step and workflow endings shared by wf_complete.lua and wf_cancel.lua (included, never run on
-- its own). Each script passes its own key names: their KEYS orders differ.
local TERMINAL = {completed = true, failed = true, skipped = true, cancelled = true}

-- End one step with `status`, keeping the workflow's open and failed counts.
local function close_step(meta, steps, id, st, status, now)
  st.status = status
  st.ended_ms = now
  redis.call('HSET', steps, id, cjson.encode(st))
  redis.call('HINCRBY', meta, 'open', -1)
  if status ~= 'completed' then
    redis.call('HINCRBY', meta, 'failed', 1)
  end
end

-- Every step not ended yet: a dispatched one is appended to `out` (id, attempt) so its job is
-- cancelled and it ends when the job does; the others end now with `status`.
local function stop_open_steps(meta, steps, status, now, out)
  local all = redis.call('HGETALL', steps)
  for i = 1, #all, 2 do
    local st = cjson.decode(all[i + 1])
    if st.status == 'dispatched' then
      out[#out + 1] = all[i]
      out[#out + 1] = st.attempt
    elseif not TERMINAL[st.status] then
      close_step(meta, steps, all[i], st, status, now)
    end
  end
end

-- Once no step is open, end the workflow: its final status (a running one completed, or failed
-- if any step did), the done signal, the lease released and `expiring` keys given `ttl`.
-- Returns the final status, or nil while steps are open.
local function end_if_done(meta, active, done, lease, workflow_id, now, ttl, expiring)
  if tonumber(redis.call('HGET', meta, 'open')) ~= 0 then
    return nil
  end
  local final = redis.call('HGET', meta, 'status')
  if final == 'running' then
    final = tonumber(redis.call('HGET', meta, 'failed')) > 0 and 'failed' or 'completed'
    redis.call('HSET', meta, 'status', final)
  end
  redis.call('HSET', meta, 'ended_ms', now)
  redis.call('ZREM', active, workflow_id)
  redis.call('RPUSH', done, final)
  redis.call('DEL', lease)
  for _, key in ipairs(expiring) do
    redis.call('EXPIRE', key, ttl)
  end
  return final
end
