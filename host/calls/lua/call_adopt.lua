-- Take over a call whose host is gone (its alive key lapsed), or that its own host no longer
-- runs (its runner gave up on a Redis failure).
--
-- KEYS[1] P:{c|<id>}   KEYS[2] P:{h|<host>}:alive of the host seen by the caller
-- ARGV[1] the host seen by the caller   ARGV[2] the adopting host
-- Returns the call's stage if adopted, else false.
local st = redis.call('HMGET', KEYS[1], 'state', 'host', 'stage')
if st[1] == false or st[1] == 'done' or st[2] ~= ARGV[1] then return false end
if ARGV[1] ~= ARGV[2] and redis.call('EXISTS', KEYS[2]) == 1 then return false end
redis.call('HSET', KEYS[1], 'host', ARGV[2], 'adopted', '1')
return st[3]
