-- Delete one instance record if it is still the one the caller looked up.
--
-- KEYS[1] P:{i|ns|dynasty|b}:obj   KEYS[2] P:{i|ns|dynasty|b}:ver   KEYS[3] P:{i|ns|dynasty|b}:cls:<c>
-- KEYS[4] P:{i|ns|dynasty|b}:lock:<identity>
-- ARGV[1] identity   ARGV[2] the version stamp the caller read ("<version>:<class>:<token>")
-- Returns {"OK"} / {"NOTFOUND"} / {"CONFLICT"} (changed meanwhile: look up again) / {"LOCKED"}.
if redis.call('EXISTS', KEYS[4]) == 1 then return {'LOCKED'} end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return {'NOTFOUND'} end
if cur ~= ARGV[2] then return {'CONFLICT'} end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
return {'OK'}
