-- Creates or replaces a protection rule and writes the audit entry of it.
-- KEYS[1] -> crm:{<tenant>}:protection
-- KEYS[2] -> crm:{<tenant>}:audit
-- KEYS[3] -> crm:{<tenant>}:protection:version, incremented
-- ARGV[1] -> rule name
-- ARGV[2] -> object type
-- ARGV[3] -> when (the expression)
-- ARGV[4] -> now (unix ms)
-- ARGV[5] -> by (the acting user)
-- ARGV[6] -> audit stream max length
-- ARGV[7] -> the most rules a tenant may hold
-- Returns {1, rule JSON} for a new rule, {0, rule JSON} for a replaced one, or {-1} when the
-- tenant already holds the most rules it may.
local prev = redis.call('HGET', KEYS[1], ARGV[1])
local created = ARGV[4]
if prev then
  created = cjson.decode(prev).created_at
elseif redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[7]) then
  return {-1}
end
local v = cjson.encode({object_type = ARGV[2], when = ARGV[3], created_at = created,
  updated_at = ARGV[4], updated_by = ARGV[5]})
redis.call('HSET', KEYS[1], ARGV[1], v)
redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'action', 'protection_put', 'rule', ARGV[1],
  'object_type', ARGV[2], 'by', ARGV[5], 'via', 'api', 'at', ARGV[4])
if prev then return {0, v} end
return {1, v}
