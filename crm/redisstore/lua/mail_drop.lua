-- A shared function of the scripts that may find a notification's record gone. With KEYS[r]
-- and KEYS[r+1] the record's live and bin keys, drop_if_gone writes the audit entry "mail_dropped"
-- (ids and the workflow's name only) and marks the email as done in its ledger, when neither exists.
local function drop_if_gone(r, a, ledger, ttl, now, otype, rid, workflow, mailid, maxlen)
  if not KEYS[r] or KEYS[r] == '' then return false end
  if redis.call('EXISTS', KEYS[r], KEYS[r+1]) > 0 then return false end
  redis.call('XADD', KEYS[a], 'MAXLEN', '~', maxlen, '*', 'action', 'mail_dropped', 'object_type', otype,
    'record_ids', rid, 'count', 1, 'by', 'system', 'via', 'workflow', 'ref', workflow, 'mail_id', mailid,
    'reason', 'record_gone', 'at', now)
  redis.call('SET', ledger, 'dropped', 'PX', ttl)
  return true
end
