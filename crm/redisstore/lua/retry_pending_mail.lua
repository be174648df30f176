-- Clears the failure of a pending email so that the mail sweep enqueues it again, counts the retry
-- (the new task's id names it, apart from the failed task kept in the queue's archive) and writes
-- the audit entry "mail_retried".
-- KEYS[1] -> crm:{<tenant>}:mail:pending
-- KEYS[2] -> crm:{<tenant>}:mail:pending:state
-- KEYS[3] -> crm:{<tenant>}:audit
-- ARGV[1] -> mail id
-- ARGV[2] -> who asked
-- ARGV[3] -> now (unix ms)
-- ARGV[4] -> audit stream max length
-- Returns the email's number of retries, this one included; -1 if the email is not pending, -2 if
-- its delivery has not failed.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
if redis.call('HDEL', KEYS[2], 'failed:' .. ARGV[1]) == 0 then return -2 end
local n = redis.call('HINCRBY', KEYS[2], 'retries:' .. ARGV[1], 1)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'action', 'mail_retried', 'by', ARGV[2],
  'mail_id', ARGV[1], 'at', ARGV[3])
return n
