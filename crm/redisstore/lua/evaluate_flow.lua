-- Applies one workflow's verdicts on a batch of records: it enrolls, unenrolls or records a
-- suppression, re-checking every condition here so that a retried batch changes nothing more. A
-- workflow that is not active (or whose active revision changed) enrolls nothing. Most verdicts of
-- a backfill are "does not match": only the matching set changes. A backfill's batch also records
-- the backfill's progress, in the same step as its verdicts, for the runner that holds its lease
-- and only for it: one that lost the lease applies nothing.
-- KEYS[1] -> crm:{<tenant>}:flow:<name>
-- KEYS[2] -> crm:{<tenant>}:flow:<name>:enrolled
-- KEYS[3] -> crm:{<tenant>}:flow:<name>:matching
-- KEYS[4] -> crm:{<tenant>}:flow:<name>:log (FlowLogKey): every history entry written joins it
-- KEYS[5] -> crm:{<tenant>}:flow:<name>:backfill (FlowBackfillKey): written only by a backfill's batch
-- KEYS[6] -> crm:{<tenant>}:flow:<name>:backfill:lease (FlowBackfillLeaseKey): read only by a backfill's batch
-- KEYS[7..] -> triples, one per triple of ARGV (the j-th: KEYS[4+3*j], KEYS[5+3*j] and
--   KEYS[6+3*j]): the record's enrollment key crm:{<tenant>}:enr:<name>:<type>:<id>, its history
--   key crm:{<tenant>}:hist:<name>:<type>:<id> and its live record key
--   crm:{<tenant>}:obj:<type>:<id>. A record no longer live (deleted, or erased for good, since the
--   verdict was reached) leaves the matching set and gets nothing else: no enrollment, no history
--   entry (an erased record must leave none), and a manual verdict on it is {"gone"}
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> revision evaluated
-- ARGV[3] -> 1 if re-enrollment is allowed
-- ARGV[4] -> the backfill's runner (the owner of its lease), "" when the batch is not a backfill's
-- ARGV[5] -> the backfill's enrolled count before this batch (ignored when ARGV[4] is "")
-- ARGV[6] -> m, the number of the backfill's fields that follow (0 when ARGV[4] is "")
-- ARGV[7] -> the most enrollments of one record by the trigger within the window
--   (crm.MaxReenrollments), counted only when re-enrollment is allowed (ARGV[3])
-- ARGV[8] -> the window (crm.ReenrollmentWindow), in ms
-- ARGV[9] -> the window as a history entry writes it ("1d")
-- ARGV[10..9+m] -> the backfill's fields as recorded once the batch is applied (name, value, ...),
--   but "enrolled": ARGV[5] plus the number this batch enrolls
-- ARGV[10+m] -> k, the number of records that do not match
-- ARGV[11+m..] -> the k members of the records that do not match, then triples: member, verdict,
--   detail. Verdicts:
--   match      the record matches the trigger (and no suppression); with re-enrollment, refused
--              (entry "reenroll_refused") when the trigger enrolled it ARGV[7] times within
--              the last ARGV[8] ms: the enrollment's field "recent" keeps those times
--   unmatch    it does not match and the workflow unenrolls records that stop matching
--   error      the trigger failed at run time (counts as nomatch; the error is recorded)
--   suppressed it matches the suppression criteria (and the trigger: recorded when not enrolled)
--   suppressed_nomatch it matches the suppression criteria and not the trigger (no entry unless enrolled)
--   deleted    the record was deleted: unenroll it, and only a manual enrollment may bring it back
--   manual     a person asks to enroll it (re-enrollment rules apply; "blocked" does not)
-- Returns {member enrolled, ...}; with one manual verdict, {} plus the refusal as {"refused", why}
-- or {"gone"};
-- {"refused", why} too when the workflow is not active at the revision (a backfill's progress is
-- then not recorded); {"lease_lost"} when ARGV[4] does not hold the backfill's lease (nothing done).
local now, rev, reenroll, runner = ARGV[1], ARGV[2], ARGV[3] == '1', ARGV[4]
local m = tonumber(ARGV[6])
local max_recent, window, window_text = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
if runner ~= '' and redis.call('GET', KEYS[6]) ~= runner then return {'lease_lost'} end
local st = redis.call('HMGET', KEYS[1], 'state', 'active_revision')
if st[1] ~= 'active' or st[2] ~= rev then return {'refused', 'workflow is not active at this revision'} end
local enrolled = {}
local function unenroll(enr, hist, member, why)
  redis.call('HSET', enr, 'state', 'unenrolled')
  redis.call('ZREM', KEYS[2], member)
  history(hist, {at = now, kind = 'unenrolled', revision = rev, detail = why}, KEYS[4], member)
end
-- Most verdicts of a backfill are "does not match": only the matching set changes.
local k = tonumber(ARGV[10 + m])
local first = 11 + m -- the first member that does not match
for i = first, first + k - 1, 500 do redis.call('SREM', KEYS[3], unpack(ARGV, i, math.min(i + 499, first + k - 1))) end
local j = 0 -- the triple's number, from 1
for i = first + k, #ARGV, 3 do
  local member, verdict, detail = ARGV[i], ARGV[i+1], ARGV[i+2]
  j = j + 1
  local enr, hist, rec = KEYS[4 + 3 * j], KEYS[5 + 3 * j], KEYS[6 + 3 * j]
  local e, is_enrolled, count = nil, false, 0
  if verdict ~= 'deleted' and verdict ~= 'unmatch' and redis.call('EXISTS', rec) == 0 then
    -- Read live, deleted since: the deletion unenrolled it already (SPEC S8).
    if verdict == 'manual' then return {'gone'} end
    verdict = 'gone'
    redis.call('SREM', KEYS[3], member)
  elseif verdict ~= 'error' then
    e = redis.call('HMGET', enr, 'state', 'count', 'blocked', 'recent')
    is_enrolled = e[1] == 'enrolled'
    count = tonumber(e[2] or '0')
  end
  if verdict == 'deleted' then
    redis.call('SREM', KEYS[3], member)
    if is_enrolled then unenroll(enr, hist, member, 'record deleted') end
    if count > 0 then redis.call('HSET', enr, 'blocked', '1') end
  elseif verdict == 'suppressed' or verdict == 'suppressed_nomatch' then
    if verdict == 'suppressed' then redis.call('SADD', KEYS[3], member) else redis.call('SREM', KEYS[3], member) end
    if is_enrolled then unenroll(enr, hist, member, 'record matches the suppression criteria: ' .. detail)
    elseif verdict == 'suppressed' then history(hist, {at = now, kind = 'suppressed', revision = rev, detail = detail}, KEYS[4], member) end
  elseif verdict == 'unmatch' or verdict == 'error' then
    redis.call('SREM', KEYS[3], member)
    if verdict == 'error' then history(hist, {at = now, kind = 'trigger_error', revision = rev, detail = detail}, KEYS[4], member) end
    if verdict == 'unmatch' and is_enrolled then unenroll(enr, hist, member, 'record no longer matches the trigger') end
  elseif verdict == 'match' or verdict == 'manual' then
    -- A match joins the matching set; SADD's 0 says it was there already. (Only a match asks.)
    local was = verdict == 'match' and redis.call('SADD', KEYS[3], member) == 0
    local why = nil
    if is_enrolled then why = 'the record is enrolled already'
    elseif count > 0 and not reenroll then why = 'the record was enrolled before and the workflow does not allow re-enrollment'
    elseif verdict == 'match' and e[3] == '1' then why = 'the record was deleted while enrolled: only a manual enrollment brings it back'
    elseif verdict == 'match' and count > 0 and was then why = 'the record has not stopped matching since its last enrollment'
    end
    -- A loop between workflows with re-enrollment would enroll the record without end: the
    -- trigger's enrollments of the window are kept, and one more than max_recent is refused.
    local recent, looping = nil, false
    if not why and verdict == 'match' and reenroll then
      recent = {}
      local horizon = tonumber(now) - window
      for at in string.gmatch(e[4] or '', '[^,]+') do
        if tonumber(at) > horizon then recent[#recent+1] = at end
      end
      looping = #recent >= max_recent
      if not looping then recent[#recent+1] = now end
      redis.call('HSET', enr, 'recent', table.concat(recent, ','))
    end
    if why then
      if verdict == 'manual' then return {'refused', why} end
    elseif looping then
      history(hist, {at = now, kind = 'reenroll_refused', revision = rev, detail = 'enrolled ' .. max_recent ..
        ' times in ' .. window_text .. ' by its trigger: not enrolled again, to stop a loop between workflows; it enrolls ' ..
        'again when it matches after fewer than ' .. max_recent .. ' of its enrollments fall within the last ' .. window_text}, KEYS[4], member)
    else
      redis.call('HSET', enr, 'state', 'enrolled', 'revision', rev, 'step', 0, 'enrolled_at', now, 'count', count + 1, 'blocked', '0')
      redis.call('ZADD', KEYS[2], now, member)
      local how = 'trigger matched'
      if verdict == 'manual' then how = 'enrolled manually by ' .. detail end
      history(hist, {at = now, kind = 'enrolled', revision = rev, detail = how}, KEYS[4], member)
      enrolled[#enrolled+1] = member
    end
  end
end
if runner ~= '' and m > 0 then
  redis.call('HSET', KEYS[5], unpack(ARGV, 10, 9 + m))
  redis.call('HSET', KEYS[5], 'enrolled', tonumber(ARGV[5]) + #enrolled)
end
return enrolled
