-- Replaces the permissions of an existing user and writes the audit entry of it.
-- KEYS[1] -> crm:{<tenant>}:user:<email>
-- KEYS[2] -> crm:{<tenant>}:audit
-- ARGV[1] -> email
-- ARGV[2] -> perms (comma-separated)
-- ARGV[3] -> now (unix ms)
-- ARGV[4] -> by (the acting admin)
-- ARGV[5] -> audit stream max length
-- Returns the previous perms, or false if the user does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local prev = redis.call('HGET', KEYS[1], 'perms') or ''
redis.call('HSET', KEYS[1], 'perms', ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'action', 'user_set_perms', 'user', ARGV[1],
  'perms', ARGV[2], 'prev_perms', prev, 'by', ARGV[4], 'at', ARGV[3])
return prev
