-- Append events to a call's stream, in order; the last may be the call's final event, which
-- is written at most once: after it, nothing more is appended.
--
-- KEYS[1] P:{c|<id>}   KEYS[2] P:{c|<id>}:events
-- ARGV[1] the host emitting: it must still own the call (not adopted by another)
-- ARGV[2] "1" if the last event is final   ARGV[3] seconds a finished call is kept
-- ARGV[4] pub/sub channel   ARGV[5] call id (published)
-- ARGV[6] final HRESULT   ARGV[7] final result string (path)   ARGV[8] error object bytes
-- ARGV[9 ..] events (SinkEvent bytes without their sequence, which is the entry id "<seq>-0")
-- Returns the sequence of the last event, or -1 (already final), -2 (no such call),
-- -3 (owned by another host).
local st = redis.call('HMGET', KEYS[1], 'state', 'host')
if st[1] == false then return -2 end
if st[1] == 'done' then return -1 end
if st[2] ~= ARGV[1] then return -3 end
local seq = 0
for i = 9, #ARGV do
  seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  redis.call('XADD', KEYS[2], seq .. '-0', 'e', ARGV[i])
end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'state', 'done', 'stage', 'done', 'hresult', ARGV[6], 'result', ARGV[7],
             'error', ARGV[8], 'done_ms', redis.call('TIME')[1] * 1000)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return seq
