-- CancelAsyncCall of a call whose put is a provider transaction: abort it if undecided.
--
-- KEYS[1] P:{tx|<id>}
-- Returns "cancelled" if this cancel decided it (state "abort") (the transaction is marked cancelled), else the
-- state found: "commit", "abort" (a refusal decided first), "putting" (a one-phase put
-- already handed to its provider), or false if the record is gone.
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'preparing' then
  redis.call('HSET', KEYS[1], 'state', 'abort', 'cancelled', '1')
  return 'cancelled'
end
return state
