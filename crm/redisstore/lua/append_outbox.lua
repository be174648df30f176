-- Keeps an email in the outbox unless its idempotency key was already delivered, and first removes
-- the expired entries (at most 100 a call). A workflow's notification is checked as at an SMTP
-- delivery (claim_mail.lua), in the same order and with the same drops: one about a record that
-- no longer exists, live or in the bin, is dropped (audit entry "mail_dropped", reason
-- "record_gone") instead of kept, and so is one whose recipient is no longer an enabled user of the
-- tenant ("recipient_gone": reading the outbox renders the text from the record, so no record data
-- is kept for a user without access), whose workflow is no longer active or is active under
-- another activation than the one its step ran under ("workflow_inactive",
-- "workflow_reactivated"), or whose workflow's activator no longer holds the read permission a
-- text showing the record's data needs ("activator_lacks_read") (drop_if_refused, mail_drop.lua).
-- An email dropped before is not dropped again, while the copy of another activation than a copy
-- dropped for its workflow is kept as any other (see claim_mail.lua). Past the outbox's cap, it
-- then drops the expiring entries (workflow notifications) nearest their expiry, the oldest, at
-- most 100 a call, and counts them in KEYS[5]; an entry that does not expire is never dropped, so
-- the outbox may pass its cap with those alone.
-- KEYS[1] -> crm:{<tenant>}:outbox
-- KEYS[2] -> crm:{<tenant>}:mailsent:<id>
-- KEYS[3] -> crm:{<tenant>}:outbox:expiry
-- KEYS[4] -> crm:{<tenant>}:audit
-- KEYS[5] -> crm:{<tenant>}:outbox:dropped
-- KEYS[6] -> crm:{<tenant>}:obj:<type>:<id>, the record the email is about (only with a reference)
-- KEYS[7] -> crm:{<tenant>}:bin:<type>:<id>, that record in the bin (only with a reference)
-- KEYS[8] -> crm:{<tenant>}:user:<email>, the recipient (only with a reference)
-- KEYS[9] -> crm:{<tenant>}:flow:<name>, the workflow of the reference (only with a reference
--   naming its workflow)
-- ARGV[1] -> the message (JSON)
-- ARGV[2] -> how long a delivered email's key is kept (ms)
-- ARGV[3] -> now (unix ms)
-- ARGV[4] -> expires at (unix ms), 0 for never
-- ARGV[5] -> object type of the reference
-- ARGV[6] -> record id of the reference
-- ARGV[7] -> workflow of the reference
-- ARGV[8] -> mail id
-- ARGV[9] -> audit stream max length
-- ARGV[10] -> the most entries the outbox keeps
-- ARGV[11] -> the workflow's activation the email was queued under (its activated_at, unix ms), or
--   '' for an email queued by a version that did not record it (taken as the current activation)
-- ARGV[12] -> that activation's number (the workflow's activation counter), or '' when the email
--   does not carry one
-- ARGV[13] -> the recipient's address (only with a reference): the audit entry of a drop for the
--   recipient names it as its user
-- ARGV[14] -> "1" when the text shows the record's data (the activator then needs read)
-- ARGV[15] -> the user key prefix ("crm:{<tenant>}:user:"): with the workflow's activated_by, the
--   activator's key
-- Returns {status, dropped}: status 1 if appended, 0 if the id was already sent, kept or dropped, -1 if a
-- delivery holds the lease, 2 if dropped for its record, 3 if dropped for its workflow or its
-- activator's read, 4 if dropped for its recipient; dropped the number of entries removed for the
-- cap.
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[3], 'LIMIT', 0, 100)
for _, m in ipairs(old) do redis.call('LREM', KEYS[1], 1, m) end
if #old > 0 then redis.call('ZREM', KEYS[3], unpack(old)) end
local at, seq = ARGV[11] or '', ARGV[12] or ''
local v = redis.call('GET', KEYS[2])
if v and ledger_state(v, at, seq) ~= 'free' then
  if string.sub(v, 1, 6) == 'lease:' then return {-1, 0} end
  return {0, 0}
end
if drop_if_gone(6, 4, KEYS[2], ARGV[2], ARGV[3], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]) then return {2, 0} end
if KEYS[8] then
  local refused = drop_if_refused(4, KEYS[2], ARGV[2], ARGV[3], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9],
    {recipient = KEYS[8], to = ARGV[13], flow = KEYS[9], at = at, seq = seq, shows = ARGV[14] == '1', users = ARGV[15]})
  if refused == 'recipient_gone' then return {4, 0} end
  if refused then return {3, 0} end
end
redis.call('SET', KEYS[2], 'outbox', 'PX', ARGV[2])
redis.call('RPUSH', KEYS[1], ARGV[1])
if tonumber(ARGV[4]) > 0 then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1]) end
local over = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[10])
if over <= 0 then return {1, 0} end
local gone = redis.call('ZRANGE', KEYS[3], 0, math.min(over, 100) - 1)
for _, m in ipairs(gone) do redis.call('LREM', KEYS[1], 1, m) end
if #gone > 0 then
  redis.call('ZREM', KEYS[3], unpack(gone))
  redis.call('HINCRBY', KEYS[5], 'count', #gone)
  redis.call('HSET', KEYS[5], 'last_at', ARGV[3])
end
return {1, #gone}
