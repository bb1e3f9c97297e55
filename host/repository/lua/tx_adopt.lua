-- Take over a transaction whose coordinating host is gone (its alive key lapsed), that its
-- coordinator gave up driving (owner ""), or that the adopting host owns but no longer drives
-- (its coordinator hit a Redis failure it could not even record).
--
-- KEYS[1] P:{tx|<id>}
-- ARGV[1] the owner seen by the caller   ARGV[2] the adopting host
-- ARGV[3] "1" if that owner's alive key existed when the caller looked just before (another
--         slot: read apart; an owner that was only slow keeps fencing itself out through the
--         owner field, which it checks at each step)
-- Returns the transaction's state if adopted, else false.
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner == false or owner ~= ARGV[1] then return false end
if owner ~= '' and owner ~= ARGV[2] and ARGV[3] == '1' then return false end
redis.call('HSET', KEYS[1], 'owner', ARGV[2])
return redis.call('HGET', KEYS[1], 'state')
