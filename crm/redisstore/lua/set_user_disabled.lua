-- Disables or enables an existing user and writes the audit entry of the change.
-- KEYS[1] -> crm:{<tenant>}:user:<email>
-- KEYS[2] -> crm:{<tenant>}:audit
-- ARGV[1] -> email
-- ARGV[2] -> 1 to disable, 0 to enable
-- ARGV[3] -> now (unix ms)
-- ARGV[4] -> by (the acting admin)
-- ARGV[5] -> audit stream max length
-- Returns 1 if changed, 0 if the user already was in that state (no audit entry), -1 if the user
-- does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local was = redis.call('HGET', KEYS[1], 'disabled') == '1'
local want = ARGV[2] == '1'
if was == want then return 0 end
local action = 'user_enable'
if want then
  redis.call('HSET', KEYS[1], 'disabled', '1')
  action = 'user_disable'
else
  redis.call('HDEL', KEYS[1], 'disabled')
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'action', action, 'user', ARGV[1],
  'by', ARGV[4], 'at', ARGV[3])
return 1
