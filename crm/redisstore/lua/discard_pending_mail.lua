-- Forgets a pending email whose delivery failed for good, with the audit entry "mail_discarded".
-- KEYS[1] -> crm:{<tenant>}:mail:pending
-- KEYS[2] -> crm:{<tenant>}:mail:pending:state
-- KEYS[3] -> crm:{<tenant>}:audit
-- ARGV[1] -> mail id
-- ARGV[2] -> who asked
-- ARGV[3] -> now (unix ms)
-- ARGV[4] -> audit stream max length
-- Returns 1 if discarded, -1 if the email is not pending, -2 if its delivery has not failed.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
if redis.call('HEXISTS', KEYS[2], 'failed:' .. ARGV[1]) == 0 then return -2 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], 'failed:' .. ARGV[1], 'retries:' .. ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'action', 'mail_discarded', 'by', ARGV[2],
  'mail_id', ARGV[1], 'at', ARGV[3])
return 1
