-- Record a new call, unless one with this id exists (a put repeated with its idempotency key).
--
-- KEYS[1] P:{c|<id>}
-- ARGV[1] seconds the record may live   ARGV[2 ..] field, value pairs
-- Returns 1 if created, 0 if the call existed.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
