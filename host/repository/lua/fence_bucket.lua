-- Fence one bucket of a dynasty for a class change: puts of the bucket wait until the change
-- lifts the fence (finish_bucket.lua), or until its lease ends. Checked in the same step: the
-- classes that must have no instance have none here.
--
-- KEYS[1] P:{i|ns|dynasty|b}:schema   KEYS[2 ..] member sets that must be empty
-- ARGV[1] the change's token   ARGV[2] lease (ms)   ARGV[3] the classes whose instances the change
--         deletes ("c1,c2"; recorded so that whoever settles an expired fence can finish it)
-- Returns {"OK"} (fenced, or already ours), {"BUSY", fence} (another change holds it),
-- {"EXPIRED", fence} (another change's fence outlived its lease), {"INSTANCES", key}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = redis.call('HGET', KEYS[1], 'fence')
if cur then
  local a = string.find(cur, '|', 1, true)
  if string.sub(cur, 1, a - 1) ~= ARGV[1] then
    local b = string.find(cur, '|', a + 1, true)
    if now < tonumber(string.sub(cur, a + 1, b - 1)) then
      return {'BUSY', cur}
    end
    return {'EXPIRED', cur}
  end
end
for i = 2, #KEYS do
  if redis.call('SCARD', KEYS[i]) > 0 then
    return {'INSTANCES', KEYS[i]}
  end
end
redis.call('HSET', KEYS[1], 'fence', ARGV[1] .. '|' .. tostring(now + tonumber(ARGV[2])) .. '|' .. ARGV[3])
return {'OK'}
