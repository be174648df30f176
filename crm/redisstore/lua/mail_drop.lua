-- Shared functions of the scripts that drop a workflow's notification instead of delivering or
-- keeping it.

-- drop_mail writes the audit entry "mail_dropped" of a notification (ids, the workflow's name and
-- the reason only; user, when not '', names the recipient) to KEYS[a], and marks the email as done
-- in its ledger.
local function drop_mail(a, ledger, ttl, now, otype, rid, workflow, mailid, maxlen, reason, user)
  local entry = {'action', 'mail_dropped', 'object_type', otype, 'record_ids', rid, 'count', 1, 'by', 'system',
    'via', 'workflow', 'ref', workflow, 'mail_id', mailid}
  if user and user ~= '' then
    entry[#entry+1] = 'user'; entry[#entry+1] = user
  end
  entry[#entry+1] = 'reason'; entry[#entry+1] = reason
  entry[#entry+1] = 'at'; entry[#entry+1] = now
  redis.call('XADD', KEYS[a], 'MAXLEN', '~', maxlen, '*', unpack(entry))
  redis.call('SET', ledger, 'dropped', 'PX', ttl)
end

-- drop_if_gone drops the notification (drop_mail, reason "record_gone") when neither KEYS[r] nor
-- KEYS[r+1], the record's live and bin keys, exists, and tells whether it did.
local function drop_if_gone(r, a, ledger, ttl, now, otype, rid, workflow, mailid, maxlen)
  if not KEYS[r] or KEYS[r] == '' then return false end
  if redis.call('EXISTS', KEYS[r], KEYS[r+1]) > 0 then return false end
  drop_mail(a, ledger, ttl, now, otype, rid, workflow, mailid, maxlen, 'record_gone', '')
  return true
end

-- flow_stopped tells why the workflow whose hash is flow may send no notification queued under its
-- activation activation (its activated_at, unix ms), or returns nil when it may: "workflow_inactive"
-- when it is no longer active (paused, or removed), "workflow_reactivated" when it is active under
-- another activation (paused and activated again, or activated again while active, a new revision
-- say: an email queued before a pause never goes out). An activation of '' is that of an email
-- queued by a version that did not record it: it is taken to be the current one, so that such an
-- email is not dropped for lack of it. It also returns the workflow's activated_by.
local function flow_stopped(flow, activation)
  local f = redis.call('HMGET', flow, 'state', 'activated_by', 'activated_at')
  if f[1] ~= 'active' then return 'workflow_inactive', f[2] end
  if activation and activation ~= '' and f[3] ~= activation then return 'workflow_reactivated', f[2] end
  return nil, f[2]
end
