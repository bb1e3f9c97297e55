-- Write or delete class definitions as one atomic step, in the schema's slot. Instance checks
-- and deletions a change needs are done around it, under fences (host/repository/fences.py).
--
-- KEYS[1] P:{s|ns}:classes   KEYS[2] P:{s|ns}:version   KEYS[3] P:{s|ns}:changed
-- KEYS[4]   with ARGV[2] = "1": P:{s|ns}:change:<token>, the decision of a fenced change
-- KEYS[4 or 5] optional P:{s|ns}:receipt:<call>: set (for a day) when the change applies, so a
--           host adopting a crashed asynchronous call can tell
-- ARGV[1] the schema version the change was planned against ("" = do not check)
-- ARGV[2] "1" if KEYS[4] is the decision key, else "0"
-- ARGV[3 ..] pairs (class lower, definition bytes, or "" to delete the class)
-- Returns {"OK", new version} / {"STALE", current} / {"CANCELLED", current}.
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
local fenced = ARGV[2] == '1'
if fenced then
  local d = redis.call('GET', KEYS[4])
  if d == 'cancel' then
    return {'CANCELLED', current}
  end
  if d then  -- applied already (a retry after a lost reply): the same answer
    return {'OK', tonumber(string.sub(d, 8))}
  end
end
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then
  return {'STALE', current}
end
local version = redis.call('INCR', KEYS[2])
for i = 3, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  redis.call('ZADD', KEYS[3], version, ARGV[i])
end
local receipt = KEYS[4]
if fenced then
  redis.call('SET', KEYS[4], 'commit:' .. version, 'EX', 86400)
  receipt = KEYS[5]
end
if receipt then redis.call('SET', receipt, '1', 'EX', 86400) end
return {'OK', version}
