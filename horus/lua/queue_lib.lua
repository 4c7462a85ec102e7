-- Shared by the scripts that queue a job (pasted in where a script includes queue_lib).
-- A runner's other keys are named from its queue key: the queue's name less 'jobs' plus
-- 'scheduled', 'priority', 'priority_seq' or 'control' (horus/keys.py).
local function runner_key(queue, name)
  return string.sub(queue, 1, -5) .. name
end

-- Queue a job id: a plain job on the left of the list (first in, first out), a job with a
-- priority in the priority set (lowest score first: highest priority, then first come) with a
-- token on the right of the list, which the next worker to take it trades for the best job.
local function queue_job(queue, id, priority)
  if priority > 0 then
    local seq = redis.call('INCR', runner_key(queue, 'priority_seq'))
    local score = string.format('%d', (9 - priority) * 281474976710656 + seq)
    redis.call('ZADD', runner_key(queue, 'priority'), score, id)
    redis.call('RPUSH', queue, '!priority')
  else
    redis.call('LPUSH', queue, id)
  end
end

-- Redis's clock in ms.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
