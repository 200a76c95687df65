-- Sliding-window counter for large rates: two fixed windows, the previous one weighted by its
-- overlap with the sliding window. The same arithmetic, in the same order, as memory.rs.
-- KEYS[1]: a hash {start, current, previous}. ARGV: num_requests, duration (s), now (s),
-- record ('1' counts the request, '0' only asks).
-- Returns {1} when allowed, {0, wait} when refused (wait as a '%.17g' string).
local limit = tonumber(ARGV[1])
local d = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'start', 'current', 'previous')
local start = tonumber(state[1]) or 0
local current = tonumber(state[2]) or 0
local previous = tonumber(state[3]) or 0
local window = math.floor(now / d) * d
if window > start then
  if window - start <= d then previous = current else previous = 0 end
  current = 0
  start = window
end
local elapsed = now - start
local estimate = previous * (1.0 - elapsed / d) + current
local record = ARGV[4] == '1'
local result
if estimate < limit then
  if not record then
    return {1}
  end
  current = current + 1
  result = {1}
else
  local wait
  if current < limit and previous > 0 then
    wait = d * (1.0 - (limit - current) / previous) - elapsed
  else
    wait = (d - elapsed) + d * (1.0 - limit / math.max(current, 1))
  end
  result = {0, string.format('%.17g', math.max(wait, 0.001))}
end
redis.call('HSET', KEYS[1], 'start', string.format('%.17g', start),
  'current', current, 'previous', previous)
redis.call('PEXPIRE', KEYS[1], math.ceil(2 * d * 1000))
return result
