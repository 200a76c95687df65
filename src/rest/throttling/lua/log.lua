-- DRF's exact history for one key, as a sorted set of request times (score = time).
-- KEYS[1]: the set. ARGV: num_requests, duration (s), now (s), record ('1' counts the request,
-- '0' only asks), a unique member for this request.
-- Returns {1} when allowed, {0, wait} when refused; numbers travel as '%.17g' strings so that
-- the doubles are the ones the in-process store computes, bit for bit.
local limit = tonumber(ARGV[1])
local duration = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now - duration))
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
  return {0, string.format('%.17g', duration - (now - oldest))}
end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[5])
  redis.call('PEXPIRE', KEYS[1], math.ceil(duration * 1000))
end
return {1}
