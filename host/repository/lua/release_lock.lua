-- Release an object lock if this transaction still holds it.
-- KEYS[1] P:{i|ns|dynasty|b}:lock:<identity>   ARGV[1] transaction id
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
