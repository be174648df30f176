-- Adds a user to an existing tenant and writes the audit entry of it.
-- KEYS[1] -> crm:{<tenant>}:tenant
-- KEYS[2] -> crm:{<tenant>}:user:<email>
-- KEYS[3] -> crm:{<tenant>}:users
-- KEYS[4] -> crm:{<tenant>}:audit
-- ARGV[1] -> email
-- ARGV[2] -> perms (comma-separated)
-- ARGV[3] -> created_at (unix ms)
-- ARGV[4] -> by (the acting admin)
-- ARGV[5] -> audit stream max length
-- Returns 1 if created, 0 if the user exists, -1 if the tenant does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[2], 'perms', ARGV[2], 'created_at', ARGV[3])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'action', 'user_create', 'user', ARGV[1],
  'perms', ARGV[2], 'by', ARGV[4], 'at', ARGV[3])
return 1
