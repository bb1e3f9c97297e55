-- Take over a call whose host is gone (its alive key lapsed), or that its own host no longer
-- runs (its runner gave up on a Redis failure).
--
-- KEYS[1] P:{c|<id>}
-- ARGV[1] the host seen by the caller   ARGV[2] the adopting host
-- ARGV[3] "1" if that host's alive key existed when the caller looked just before (another slot)
-- Returns the call's stage if adopted, else false.
local st = redis.call('HMGET', KEYS[1], 'state', 'host', 'stage')
if st[1] == false or st[1] == 'done' or st[2] ~= ARGV[1] then return false end
if ARGV[1] ~= ARGV[2] and ARGV[3] == '1' then return false end
redis.call('HSET', KEYS[1], 'host', ARGV[2], 'adopted', '1')
return st[3]
