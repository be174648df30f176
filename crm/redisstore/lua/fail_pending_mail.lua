-- Records that the delivery of a pending email failed for good (the mail sweep then leaves it to an
-- operator), unless it is no longer pending (delivered and acknowledged meanwhile). The first
-- failure since the email was written or retried writes the audit entry "mail_failed" (its id only).
-- KEYS[1] -> crm:{<tenant>}:mail:pending
-- KEYS[2] -> crm:{<tenant>}:mail:pending:state
-- KEYS[3] -> crm:{<tenant>}:audit
-- ARGV[1] -> mail id
-- ARGV[2] -> the failure (JSON: at, reason)
-- ARGV[3] -> now (unix ms)
-- ARGV[4] -> audit stream max length
-- Returns 1 if recorded, 0 if the email is not pending.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HSET', KEYS[2], 'failed:' .. ARGV[1], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'action', 'mail_failed', 'by', 'system',
    'mail_id', ARGV[1], 'at', ARGV[3])
end
return 1
