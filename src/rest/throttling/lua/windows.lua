-- Sliding-window counter for large rates: two fixed windows, the previous one weighted by its
-- overlap with the sliding window. The same arithmetic, in the same order, as memory.rs.
-- It also leases and settles local allowances (lease.rs has the design and its exactness
-- argument): a lease of n slots counts n requests at once, and its holder later gives back
-- the ones it did not use.
-- KEYS[1]: a hash {start, current, previous, leased, lease_until}.
-- ARGV: num_requests, duration (s), now (s), record ('1' counts the request, '0' only asks),
--   want (slots asked for, 1 for the request alone), lease ttl (s), grace (s),
--   settled window start ('' when nothing is settled), settled unused, settled granted.
-- Returns {1, granted, window start, lease end} when allowed, {0, wait} when refused,
-- {2, wait} when the answer depends on leases that are still out (wait, then ask again).
-- Numbers travel as '%.17g' strings: the doubles are the ones memory.rs computes.
local limit = tonumber(ARGV[1])
local d = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local record = ARGV[4] == '1'
local want = tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
local grace = tonumber(ARGV[7])
local state = redis.call('HMGET', KEYS[1], 'start', 'current', 'previous', 'leased', 'lease_until')
local start = tonumber(state[1]) or 0
local current = tonumber(state[2]) or 0
local previous = tonumber(state[3]) or 0
local leased = tonumber(state[4]) or 0
local lease_until = tonumber(state[5]) or 0
local changed = record
local window = math.floor(now / d) * d
if window > start then
  if window - start <= d then previous = current else previous = 0 end
  current = 0
  start = window
end
if ARGV[8] ~= '' then
  -- A lease comes back: its unused slots leave the window they were counted in.
  local counted_in = tonumber(ARGV[8])
  local unused = tonumber(ARGV[9])
  if counted_in == start then
    current = math.max(current - unused, 0)
  elseif counted_in == start - d then
    previous = math.max(previous - unused, 0)
  end
  leased = math.max(leased - tonumber(ARGV[10]), 0)
  changed = true
end
if leased > 0 and lease_until + grace <= now then
  -- A holder that never settled (it stopped): its unused slots stay counted, on the safe side.
  leased = 0
  changed = true
end
local elapsed = now - start
local estimate = previous * (1.0 - elapsed / d) + current
local result
if estimate < limit then
  if record then
    local granted = 1
    -- Leases only far from the limit: they leave the counter at half of it at most.
    local room = math.floor(limit / 2 - estimate)
    if want > 1 and room >= 2 then
      granted = math.min(want, room)
      leased = leased + granted
      lease_until = math.max(lease_until, math.min(now + ttl, start + d))
    end
    current = current + granted
    result = {1, granted, string.format('%.17g', start),
      string.format('%.17g', math.min(now + ttl, start + d))}
  else
    result = {1}
  end
elseif leased > 0 then
  -- Some counted slots may be unused leases: only a settled count may refuse.
  result = {2, string.format('%.17g', lease_until + grace - now)}
else
  local wait
  if current < limit and previous > 0 then
    wait = d * (1.0 - (limit - current) / previous) - elapsed
  else
    wait = (d - elapsed) + d * (1.0 - limit / math.max(current, 1))
  end
  result = {0, string.format('%.17g', math.max(wait, 0.001))}
end
if changed then
  redis.call('HSET', KEYS[1], 'start', string.format('%.17g', start),
    'current', current, 'previous', previous,
    'leased', leased, 'lease_until', string.format('%.17g', lease_until))
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * d * 1000))
end
return result
