-- Takes back one request counted at ARGV[2] (exactly the `now` the counting call sent).
-- KEYS[1]: the key of either kind. ARGV: kind ('log' or 'win'), at (s), duration (s).
-- A request that has left the window is gone already: nothing to do.
if ARGV[1] == 'log' then
  local members = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2], 'LIMIT', 0, 1)
  if members[1] then
    redis.call('ZREM', KEYS[1], members[1])
  end
  return {1}
end
local at = tonumber(ARGV[2])
local d = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'start', 'current', 'previous')
local start = tonumber(state[1])
if not start then
  return {1}
end
if at >= start then
  if (tonumber(state[2]) or 0) > 0 then redis.call('HINCRBY', KEYS[1], 'current', -1) end
elseif at >= start - d then
  if (tonumber(state[3]) or 0) > 0 then redis.call('HINCRBY', KEYS[1], 'previous', -1) end
end
return {1}
