-- Pass a call's gate before a step that cannot be undone, recording the step so that a host
-- adopting the call after a crash knows what may have happened.
--
-- KEYS[1] P:{c|<id>}
-- ARGV[1] the host running the call   ARGV[2] stage: "committing" or "tx"
-- ARGV[3] transaction id   ARGV[4] receipt key   ARGV[5] result path
-- Returns "ok", or "cancelled", "lost" (another host owns it), "done", "gone".
local st = redis.call('HMGET', KEYS[1], 'state', 'host', 'cancel')
if st[1] == false then return 'gone' end
if st[1] == 'done' then return 'done' end
if st[2] ~= ARGV[1] then return 'lost' end
if st[3] == '1' then return 'cancelled' end
redis.call('HSET', KEYS[1], 'stage', ARGV[2], 'tx', ARGV[3], 'receipt', ARGV[4], 'path', ARGV[5])
return 'ok'
