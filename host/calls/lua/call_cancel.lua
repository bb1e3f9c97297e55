-- CancelAsyncCall: mark a call cancelled if nothing irreversible has started.
--
-- KEYS[1] P:{c|<id>}   ARGV[1] the caller's principal (must own the call)
-- Returns {"cancelled"}, {"tx", id} (the transaction's decision settles it), {"committing"}
-- (a repository write is under way: too late), {"done"}, {"gone"} or {"denied"}.
local st = redis.call('HMGET', KEYS[1], 'state', 'stage', 'tx', 'owner')
if st[1] == false then return {'gone'} end
if st[4] ~= ARGV[1] then return {'denied'} end
if st[1] == 'done' then return {'done'} end
if st[2] == 'tx' then return {'tx', st[3]} end
if st[2] == 'committing' then return {'committing'} end
redis.call('HSET', KEYS[1], 'cancel', '1')
return {'cancelled'}
