-- Write one instance record, atomically, honouring the put flags.
--
-- KEYS[1] P:{i|ns|dynasty|b}:obj      identity -> record
-- KEYS[2] P:{i|ns|dynasty|b}:ver      identity -> "<version>:<class>:<token of the last writer>"
-- KEYS[3] P:{i|ns|dynasty|b}:cls:<c>  identities of class c in the bucket
-- KEYS[4] P:{i|ns|dynasty|b}:schema   the bucket's "epoch" and "fence" (keys.py)
-- KEYS[5] P:{i|ns|dynasty|b}:lock:<identity>   a transaction holding the object (provider puts)
-- KEYS[6] optional P:{i|ns|dynasty|b}:receipt:<call>: set (for a day) when the write applies, so
--         a host that adopts a crashed asynchronous call can tell whether its write happened
-- ARGV[1] identity   ARGV[2] class (lower)   ARGV[3] record bytes
-- ARGV[4] mode: "create" (CREATE_ONLY), "update" (UPDATE_ONLY), "upsert" (CREATE_OR_UPDATE)
-- ARGV[5] expected record version, or "" for any (partial updates read, merge, then write)
-- ARGV[6] schema version the record was validated against
-- ARGV[7] the call's token: a retry of a write that already applied (its reply was lost) is
--         recognised and answered OK instead of being applied, or refused, a second time
-- ARGV[8..] the classes of the derivation (lower): with them the write is checked against the
--         dynasty's class changes (none since ARGV[6], none under way); without (a decided
--         transaction's commit) it is not
-- Returns {"OK", created 0|1, version} or {error, detail}; LOCKED while a transaction holds the
-- object, FENCED while a class change of the dynasty is under way, FENCE_EXPIRED when one
-- stopped half-way (the caller settles it: host/repository/fences.py).
if #ARGV >= 8 then
  local view = redis.call('HMGET', KEYS[4], 'fence', 'epoch')
  if view[1] then
    local a = string.find(view[1], '|', 1, true)
    local b = string.find(view[1], '|', a + 1, true)
    local t = redis.call('TIME')
    if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) < tonumber(string.sub(view[1], a + 1, b - 1)) then
      return {'FENCED', view[1]}
    end
    return {'FENCE_EXPIRED', view[1]}
  end
  if view[2] and tonumber(view[2]) > tonumber(ARGV[6]) then
    return {'SCHEMA', view[2]}
  end
end
local holder = redis.call('GET', KEYS[5])
if holder and holder ~= ARGV[7] then
  return {'LOCKED', holder}
end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
local version, owner, token = 0, nil, nil
if cur then
  local a = string.find(cur, ':', 1, true)
  local b = string.find(cur, ':', a + 1, true)
  version = tonumber(string.sub(cur, 1, a - 1))
  owner = string.sub(cur, a + 1, b - 1)
  token = string.sub(cur, b + 1)
end
if token == ARGV[7] then
  if KEYS[6] then redis.call('SET', KEYS[6], '1', 'EX', 86400) end
  return {'OK', 0, version}
end
if owner and owner ~= ARGV[2] then
  return {'MOVED', owner}
end
if ARGV[4] == 'create' and owner then
  return {'EXISTS', owner}
end
if ARGV[4] == 'update' and not owner then
  return {'NOTFOUND', ''}
end
if ARGV[5] ~= '' and tonumber(ARGV[5]) ~= version then
  return {'CONFLICT', tostring(version)}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], tostring(version + 1) .. ':' .. ARGV[2] .. ':' .. ARGV[7])
redis.call('SADD', KEYS[3], ARGV[1])
local created = 0
if not owner then created = 1 end
if KEYS[6] then redis.call('SET', KEYS[6], '1', 'EX', 86400) end
return {'OK', created, version + 1}
