-- Takes the lease on the delivery of an email unless it was delivered, or drops a workflow's
-- notification when the record it is about no longer exists, live or in the bin; when its
-- recipient is no longer an enabled user of the tenant (the text is rendered from the record at
-- delivery: no record data goes to a user without access); when its workflow is no longer active
-- (a paused workflow sends no more emails), or is active under another activation than the one its
-- step ran under (an email queued before a pause never goes out, even once the workflow is
-- activated again); or when the workflow's activator no longer holds the read permission a text
-- showing the record's data needs. Each drop writes the audit entry "mail_dropped" with its reason
-- and marks the email done in its ledger, once: the same email claimed again after its drop is
-- answered "already_dropped" and writes nothing. A drop for the workflow marks only the copy of
-- the email queued under that activation (drop_tag): the same email queued under another
-- activation, whose step ran again under it, is claimed as any other.
-- KEYS[1] -> crm:{<tenant>}:mailsent:<id>
-- KEYS[2] -> crm:{<tenant>}:audit
-- KEYS[3] -> crm:{<tenant>}:obj:<type>:<id>, the record the email is about (only with a reference)
-- KEYS[4] -> crm:{<tenant>}:bin:<type>:<id>, that record in the bin (only with a reference)
-- KEYS[5] -> crm:{<tenant>}:user:<email>, the recipient (only with a reference)
-- KEYS[6] -> crm:{<tenant>}:flow:<name>, the workflow of the reference (only with a reference)
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
-- ARGV[11] -> "1" when the text shows the record's data (the activator then needs read)
-- ARGV[12] -> the user key prefix ("crm:{<tenant>}:user:"): with the workflow's activated_by, the
--   activator's key
-- ARGV[13] -> the workflow's activation the email was queued under (its activated_at, unix ms), or
--   '' for an email queued by a version that did not record it (taken as the current activation)
-- ARGV[14] -> that activation's number (the workflow's activation counter), or '' when the email
--   does not carry one
-- Returns "claimed" (also when the caller already holds this lease), "busy", "done",
-- "already_dropped" (dropped before: nothing is written), "dropped" (the record is gone),
-- "recipient_gone" or "workflow_stopped".
local at, seq = ARGV[13] or '', ARGV[14] or ''
local v = redis.call('GET', KEYS[1])
if v then
  local d = ledger_state(v, at, seq)
  if d == 'dropped' then return 'already_dropped' end
  if d == nil then
    if string.sub(v, 1, 6) == 'lease:' and v ~= ARGV[1] then return 'busy' end
    if string.sub(v, 1, 6) ~= 'lease:' then return 'done' end
  end
end
if drop_if_gone(3, 2, KEYS[1], ARGV[9], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]) then return 'dropped' end
if KEYS[5] then
  local refused = drop_if_refused(2, KEYS[1], ARGV[9], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8],
    {recipient = KEYS[5], to = ARGV[10], flow = KEYS[6], at = at, seq = seq, shows = ARGV[11] == '1', users = ARGV[12]})
  if refused then return refused end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'claimed'
