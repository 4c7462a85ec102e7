-- Shared by the scripts that record job events and counters (pasted in where a script includes
-- events_lib). A script is passed the events stream's cap as an argument: '0' means events and
-- counters are off (HORUS_EVENTS=off), and then none of these is called.

-- The duration histogram's upper bounds: microseconds and the label a stats field carries
-- (seconds, as Prometheus writes a bucket's "le"). horus/events.py holds the same list.
local EVENT_BUCKETS = {
  {5000, '0.005'}, {10000, '0.01'}, {25000, '0.025'}, {50000, '0.05'}, {100000, '0.1'},
  {250000, '0.25'}, {500000, '0.5'}, {1000000, '1'}, {2500000, '2.5'}, {5000000, '5'},
  {10000000, '10'}, {30000000, '30'}, {60000000, '60'}, {120000000, '120'}, {300000000, '300'},
}

-- Redis's clock: the time in ms (a string, for an event's 'at') and in microseconds.
local function event_clock()
  local t = redis.call('TIME')
  local ms = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
  return ms, tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- Append one event: the stream, its cap, then field, value, ... pairs.
local function emit(stream, maxlen, ...)
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', ...)
end

-- Microseconds from a job's started_at (Unix seconds with microseconds, Redis's clock) to now_us;
-- nil for a job that never started.
local function ran_us(started, now_us)
  local at = tonumber(started)
  if not at then
    return nil
  end
  return math.max(now_us - math.floor(at * 1000000 + 0.5), 0)
end

-- Count an ended job by its final status in a tally of the call's counts (tally_flush writes
-- them): one that ran in its status's duration histogram, one bucket per job (the first whose
-- bound holds it; readers add the buckets up into the status's count and Prometheus's
-- cumulative form) and in the sum of durations; one that never ran in ended:STATUS.
-- Field names are built once per call and status (names: status -> bucket index -> field).
local function tally_ended(tally, status, us, names)
  local field
  if us then
    local i = #EVENT_BUCKETS + 1
    for j, bucket in ipairs(EVENT_BUCKETS) do
      if us <= bucket[1] then
        i = j
        break
      end
    end
    local mine = names[status]
    if not mine then
      mine = {}
      names[status] = mine
    end
    field = mine[i]
    if not field then
      local bound = EVENT_BUCKETS[i]
      field = 'bucket:' .. status .. ':' .. (bound and bound[2] or '+Inf')
      mine[i] = field
    end
    tally['duration_sum_us'] = (tally['duration_sum_us'] or 0) + us
  else
    field = 'ended:' .. status
  end
  tally[field] = (tally[field] or 0) + 1
end

-- Write a tally into the stats hash: one HINCRBY per field for the whole call, so a batch of
-- jobs that end alike (a drain) costs two commands, not two per job.
local function tally_flush(stats, tally)
  for field, n in pairs(tally) do
    redis.call('HINCRBY', stats, field, n)
  end
end
