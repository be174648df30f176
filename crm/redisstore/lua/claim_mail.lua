-- Takes the lease on the delivery of an email unless it was delivered, or drops it when the record
-- it is about no longer exists, live or in the bin, or when its recipient is no longer an enabled
-- user of the tenant (the text is rendered from the record at delivery: no record data goes to a
-- user without access).
-- KEYS[1] -> crm:{<tenant>}:mailsent:<id>
-- KEYS[2] -> crm:{<tenant>}:audit
-- KEYS[3] -> crm:{<tenant>}:obj:<type>:<id>, the record the email is about (only with a reference)
-- KEYS[4] -> crm:{<tenant>}:bin:<type>:<id>, that record in the bin (only with a reference)
-- KEYS[5] -> crm:{<tenant>}:user:<email>, the recipient (only with a reference)
-- ARGV[1] -> "lease:<token>"
-- ARGV[2] -> lease (ms)
-- ARGV[3] -> now (unix ms)
-- ARGV[4] -> object type of the reference
-- ARGV[5] -> record id of the reference
-- ARGV[6] -> workflow of the reference
-- ARGV[7] -> mail id
-- ARGV[8] -> audit stream max length
-- ARGV[9] -> how long a delivered email's key is kept (ms)
-- ARGV[10] -> the recipient's address (only with a reference): the audit entry of a drop for the
--   recipient names it as its user
-- Returns "claimed" (also when the caller already holds this lease), "busy", "done", "dropped"
-- (the record is gone) or "recipient_gone".
local v = redis.call('GET', KEYS[1])
if v == 'dropped' then return 'dropped' end
if v and string.sub(v, 1, 6) == 'lease:' and v ~= ARGV[1] then return 'busy' end
if v and string.sub(v, 1, 6) ~= 'lease:' then return 'done' end
if drop_if_gone(3, 2, KEYS[1], ARGV[9], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]) then return 'dropped' end
if KEYS[5] and (redis.call('EXISTS', KEYS[5]) == 0 or redis.call('HGET', KEYS[5], 'disabled') == '1') then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], '*', 'action', 'mail_dropped', 'object_type', ARGV[4],
    'record_ids', ARGV[5], 'count', 1, 'by', 'system', 'via', 'workflow', 'ref', ARGV[6], 'mail_id', ARGV[7],
    'user', ARGV[10], 'at', ARGV[3])
  redis.call('SET', KEYS[1], 'dropped', 'PX', ARGV[9])
  return 'recipient_gone'
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'claimed'
