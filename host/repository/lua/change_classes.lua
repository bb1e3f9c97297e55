-- Write or delete class definitions as one atomic step, with the instance checks and
-- deletions the change needs (PutClass update modes, DeleteClass).
--
-- KEYS[1] P:{s|ns}:classes   KEYS[2] P:{s|ns}:version   KEYS[3] P:{s|ns}:changed
-- KEYS[4 .. 3+nc]            member sets that must be empty (no instances allowed)
-- KEYS[4+nc .. 3+nc+3nt]     triples (obj, ver, cls) whose instances are deleted
-- KEYS[4+nc+3nt]             optional P:{s|ns}:receipt:<call>: set (for a day) when the change
--                            applies, so a host adopting a crashed asynchronous call can tell
-- ARGV[1] the schema version the change was planned against ("" = do not check)
-- ARGV[2] nc   ARGV[3] number of triples
-- ARGV[4 ..] pairs (class lower, definition bytes, or "" to delete the class)
-- Returns {"OK", new version, instances deleted} / {"STALE", current} / {"INSTANCES", key}.
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then
  return {'STALE', current}
end
local nc = tonumber(ARGV[2])
local nt = tonumber(ARGV[3])
for i = 4, 3 + nc do
  if redis.call('SCARD', KEYS[i]) > 0 then
    return {'INSTANCES', KEYS[i]}
  end
end
local deleted = 0
for t = 0, nt - 1 do
  local obj, ver, cls = KEYS[4 + nc + 3 * t], KEYS[5 + nc + 3 * t], KEYS[6 + nc + 3 * t]
  local ids = redis.call('SMEMBERS', cls)
  for _, id in ipairs(ids) do
    redis.call('HDEL', obj, id)
    redis.call('HDEL', ver, id)
  end
  deleted = deleted + #ids
  redis.call('DEL', cls)
end
local version = redis.call('INCR', KEYS[2])
for i = 4, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  redis.call('ZADD', KEYS[3], version, ARGV[i])
end
local receipt = KEYS[4 + nc + 3 * nt]
if receipt then redis.call('SET', receipt, '1', 'EX', 86400) end
return {'OK', version, deleted}
