-- Settle a fenced class change whose fence outlived its lease: if it has not committed, it
-- never will (its commit script sees "cancel" and gives up).
--
-- KEYS[1] P:{s|ns}:change:<token>
-- Returns "commit:<version>" or "cancel".
local d = redis.call('GET', KEYS[1])
if d then
  return d
end
redis.call('SET', KEYS[1], 'cancel', 'EX', 86400)
return 'cancel'
