-- Finish a fenced class change in one bucket, once: delete the instances of the classes it
-- doomed (if it committed), raise the bucket's epoch, lift the fence.
--
-- KEYS[1] P:{i|ns|dynasty|b}:schema   KEYS[2 ..] triples (obj, ver, cls) whose instances are deleted
-- ARGV[1] the change's token   ARGV[2] "commit" or "cancel"   ARGV[3] the epoch (schema version)
-- Returns {"OK", instances deleted}, or {"GONE", 0} if the fence is not this change's (finished already).
local cur = redis.call('HGET', KEYS[1], 'fence')
if not cur or string.sub(cur, 1, string.find(cur, '|', 1, true) - 1) ~= ARGV[1] then
  return {'GONE', 0}
end
local deleted = 0
if ARGV[2] == 'commit' then
  for t = 2, #KEYS, 3 do
    local obj, ver, cls = KEYS[t], KEYS[t + 1], KEYS[t + 2]
    local ids = redis.call('SMEMBERS', cls)
    for _, id in ipairs(ids) do
      redis.call('HDEL', obj, id)
      redis.call('HDEL', ver, id)
    end
    deleted = deleted + #ids
    redis.call('DEL', cls)
  end
  local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
  if tonumber(ARGV[3]) > epoch then
    redis.call('HSET', KEYS[1], 'epoch', ARGV[3])
  end
end
redis.call('HDEL', KEYS[1], 'fence')
return {'OK', deleted}
