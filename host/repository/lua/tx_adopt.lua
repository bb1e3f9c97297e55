-- Take over a transaction whose coordinating host is gone (its alive key lapsed) or that its
-- coordinator gave up driving (owner "").
--
-- KEYS[1] P:{tx|<id>}   KEYS[2] P:{h|<owner>}:alive of the owner seen by the caller
-- ARGV[1] the owner seen by the caller   ARGV[2] the adopting host
-- Returns the transaction's state if adopted, else false.
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner == false or owner ~= ARGV[1] then return false end
if owner ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then return false end
redis.call('HSET', KEYS[1], 'owner', ARGV[2])
return redis.call('HGET', KEYS[1], 'state')
