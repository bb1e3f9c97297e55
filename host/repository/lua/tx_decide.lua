-- Record a transaction's decision, once: the durable point after which its outcome is fixed.
--
-- KEYS[1] P:{tx|<id>}   ARGV[1] "commit" or "abort"
-- Returns the state after the call: ARGV[1] if it was "preparing", else the decision made before.
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'preparing' then
  redis.call('HSET', KEYS[1], 'state', ARGV[1])
  return ARGV[1]
end
return state
