-- Removes a protection rule and writes the audit entry of it.
-- KEYS[1] -> crm:{<tenant>}:protection
-- KEYS[2] -> crm:{<tenant>}:audit
-- KEYS[3] -> crm:{<tenant>}:protection:version, incremented
-- ARGV[1] -> rule name
-- ARGV[2] -> now (unix ms)
-- ARGV[3] -> by (the acting user)
-- ARGV[4] -> audit stream max length
-- Returns 1 if the rule was removed, 0 if there was no such rule.
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if not prev then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'action', 'protection_delete', 'rule', ARGV[1],
  'object_type', cjson.decode(prev).object_type, 'by', ARGV[3], 'via', 'api', 'at', ARGV[2])
return 1
