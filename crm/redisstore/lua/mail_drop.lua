-- Shared functions of the scripts that drop a workflow's notification instead of delivering or
-- keeping it.
--
-- An activation is named by at, its activated_at (unix ms), and seq, its number (the flow's
-- "activation" counter, activate_flow.lua), either '' when the email or the workflow does not
-- carry it (written by a version that did not record it).

-- drop_tag is the ledger value of a notification queued under the activation (at, seq) and
-- dropped for its workflow: "dropped:<at>:<seq>". A copy of the same email queued under another
-- activation (its step ran again under that activation, the first copy's result being lost) is
-- not held back by it (ledger_state).
local function drop_tag(at, seq)
  return 'dropped:' .. at .. ':' .. seq
end

-- ledger_state tells what the ledger value v of an email means for its copy queued under the
-- activation (at, seq): "dropped" when that copy (or every copy: a drop for its record or its
-- recipient) was dropped already, "free" when only a copy of another activation was dropped for
-- its workflow, nil when v is no drop. A copy that names no activation counts every drop as its
-- own.
local function ledger_state(v, at, seq)
  if v == 'dropped' then return 'dropped' end
  if string.sub(v, 1, 8) ~= 'dropped:' then return nil end
  if at == '' or v == drop_tag(at, seq) then return 'dropped' end
  return 'free'
end

-- drop_mail writes the audit entry "mail_dropped" of a notification (ids, the workflow's name and
-- the reason only; user, when not '', names the recipient) to KEYS[a], and marks the email as done
-- in its ledger: "dropped", or tag when given (drop_tag: a drop for the workflow of one
-- activation's copy).
local function drop_mail(a, ledger, ttl, now, otype, rid, workflow, mailid, maxlen, reason, user, tag)
  local entry = {'action', 'mail_dropped', 'object_type', otype, 'record_ids', rid, 'count', 1, 'by', 'system',
    'via', 'workflow', 'ref', workflow, 'mail_id', mailid}
  if user and user ~= '' then
    entry[#entry+1] = 'user'; entry[#entry+1] = user
  end
  entry[#entry+1] = 'reason'; entry[#entry+1] = reason
  entry[#entry+1] = 'at'; entry[#entry+1] = now
  redis.call('XADD', KEYS[a], 'MAXLEN', '~', maxlen, '*', unpack(entry))
  redis.call('SET', ledger, tag or 'dropped', 'PX', ttl)
end

-- drop_if_gone drops the notification (drop_mail, reason "record_gone") when neither KEYS[r] nor
-- KEYS[r+1], the record's live and bin keys, exists, and tells whether it did.
local function drop_if_gone(r, a, ledger, ttl, now, otype, rid, workflow, mailid, maxlen)
  if not KEYS[r] or KEYS[r] == '' then return false end
  if redis.call('EXISTS', KEYS[r], KEYS[r+1]) > 0 then return false end
  drop_mail(a, ledger, ttl, now, otype, rid, workflow, mailid, maxlen, 'record_gone', '')
  return true
end

-- flow_stopped tells why the workflow whose hash is flow may send no notification queued under the
-- activation (at, seq), or returns nil when it may: "workflow_inactive" when it is no longer
-- active (paused, or removed), "workflow_reactivated" when it is active under another activation
-- (paused and activated again, or activated again while active, a new revision say: an email
-- queued before a pause never goes out). The activation is another one when its activated_at
-- differs, or when both it and the workflow carry a number and the numbers differ (two
-- activations in the same millisecond). An at of '' is that of an email queued by a version that
-- did not record it: it is taken to be the current one, so that such an email is not dropped for
-- lack of it. It also returns the workflow's activated_by.
local function flow_stopped(flow, at, seq)
  local f = redis.call('HMGET', flow, 'state', 'activated_by', 'activated_at', 'activation')
  if f[1] ~= 'active' then return 'workflow_inactive', f[2] end
  if at and at ~= '' then
    if f[3] ~= at then return 'workflow_reactivated', f[2] end
    if seq and seq ~= '' and f[4] ~= seq then return 'workflow_reactivated', f[2] end
  end
  return nil, f[2]
end

-- drop_if_refused drops a workflow's notification that may no longer be shown to its recipient,
-- and tells why, at the moment it would be delivered (claim_mail.lua) or kept in the outbox
-- (append_outbox.lua): "recipient_gone" when its recipient, the user of key c.recipient (address
-- c.to), is no longer a user of the tenant or is a disabled one (every copy is dropped, and the
-- audit entry names the recipient as its user); "workflow_stopped" when its workflow, of key
-- c.flow (nil or '' for a notification that names none), may send nothing for the activation
-- (c.at, c.seq) (flow_stopped's reason), or when c.shows (its text shows the record's data) and
-- the workflow's activator, of key c.users .. activated_by, no longer holds read (reason
-- "activator_lacks_read"); a drop for the workflow marks that activation's copy only (drop_tag).
-- It returns nil, and writes nothing, when the notification may go. The mail's first arguments
-- are drop_mail's. It needs lacks (helpers.lua).
local function drop_if_refused(a, ledger, ttl, now, otype, rid, workflow, mailid, maxlen, c)
  local function drop(reason, user, tag)
    drop_mail(a, ledger, ttl, now, otype, rid, workflow, mailid, maxlen, reason, user, tag)
  end
  if redis.call('EXISTS', c.recipient) == 0 or redis.call('HGET', c.recipient, 'disabled') == '1' then
    drop('recipient_gone', c.to)
    return 'recipient_gone'
  end
  if not c.flow or c.flow == '' then return nil end
  local tag = nil
  if c.at ~= '' then tag = drop_tag(c.at, c.seq) end
  local stopped, by = flow_stopped(c.flow, c.at, c.seq)
  if stopped then
    drop(stopped, '', tag)
    return 'workflow_stopped'
  end
  if c.shows and by and by ~= '' and lacks(c.users .. by, 'read') then
    drop('activator_lacks_read', '', tag)
    return 'workflow_stopped'
  end
  return nil
end
