-- Record a transaction's decision, once: the durable point after which its outcome is fixed.
--
-- KEYS[1] P:{tx|<id>}
-- ARGV[1] "commit", "abort", or "putting": a one-phase put hands the decision to its single
--         provider just before sending it the PUT; from then on only that provider's answer
--         decides (commit or abort), and a cancel can no longer abort it.
-- Returns the state after the call: ARGV[1] if the transition was allowed, else the state
-- found (the decision made before).
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'preparing' or (state == 'putting' and ARGV[1] ~= 'putting') then
  redis.call('HSET', KEYS[1], 'state', ARGV[1])
  return ARGV[1]
end
return state
