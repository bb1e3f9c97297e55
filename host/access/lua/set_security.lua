-- Replace a namespace's security descriptor, optionally only if its version is still the one
-- the caller read. KEYS: security hash, version hash. ARGV: namespace (lower), descriptor bytes
-- ("" removes it), expected version ("" = whatever it is).
-- Returns {1, new version} or {0, current version}.
local current = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if ARGV[3] ~= '' and tonumber(ARGV[3]) ~= current then
  return {0, current}
end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return {1, redis.call('HINCRBY', KEYS[2], ARGV[1], 1)}
