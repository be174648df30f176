package redisstore

import "github.com/redis/go-redis/v9"

// luaHistory appends an entry to a record's history in a workflow, keeping the newest 500.
const luaHistory = `
local function history(key, entry)
  if redis.call('LPUSH', key, cjson.encode(entry)) > 500 then redis.call('LTRIM', key, 0, 499) end
end
`

// evaluateFlowScript applies one workflow's verdicts on a batch of records: it enrolls, unenrolls
// or records a suppression, re-checking every condition here so that a retried batch changes
// nothing more. A workflow that is not active (or whose active revision changed) enrolls nothing.
// KEYS[1] -> crm:{<tenant>}:flow:<name>   KEYS[2] -> crm:{<tenant>}:flow:<name>:enrolled
// KEYS[3] -> crm:{<tenant>}:flow:<name>:matching
// ARGV[1] -> now (unix ms)   ARGV[2] -> revision evaluated   ARGV[3] -> 1 if re-enrollment is allowed
// ARGV[4] -> enrollment key prefix   ARGV[5] -> history key prefix
// ARGV[6] -> k, the number of records that do not match; ARGV[7..6+k] -> their members
// ARGV[7+k..] -> triples: member, verdict, detail. Verdicts:
//
//	match      the record matches the trigger (and no suppression)
//	nomatch    it does not match (sent as a member of ARGV[7..6+k] rather than as a triple)
//	unmatch    it does not match and the workflow unenrolls records that stop matching
//	error      the trigger failed at run time (counts as nomatch; the error is recorded)
//	suppressed it matches the suppression criteria (and the trigger: recorded when not enrolled)
//	suppressed_nomatch it matches the suppression criteria and not the trigger (no entry unless enrolled)
//	deleted    the record was deleted: unenroll it, and only a manual enrollment may bring it back
//	manual     a person asks to enroll it (re-enrollment rules apply; "blocked" does not)
//
// Returns {member enrolled, ...}; with one manual verdict, {} plus the refusal as {"refused", why}.
var evaluateFlowScript = redis.NewScript(luaHistory + `
local now, rev, reenroll = ARGV[1], ARGV[2], ARGV[3] == '1'
local st = redis.call('HMGET', KEYS[1], 'state', 'active_revision')
if st[1] ~= 'active' or st[2] ~= rev then return {'refused', 'workflow is not active at this revision'} end
local enrolled = {}
local function unenroll(enr, hist, member, why)
  redis.call('HSET', enr, 'state', 'unenrolled')
  redis.call('ZREM', KEYS[2], member)
  history(hist, {at = now, kind = 'unenrolled', revision = rev, detail = why})
end
-- Most verdicts of a backfill are "does not match": only the matching set changes.
local k = tonumber(ARGV[6])
for i = 7, 6 + k, 500 do redis.call('SREM', KEYS[3], unpack(ARGV, i, math.min(i + 499, 6 + k))) end
for i = 7 + k, #ARGV, 3 do
  local member, verdict, detail = ARGV[i], ARGV[i+1], ARGV[i+2]
  local enr, hist = ARGV[4] .. member, ARGV[5] .. member
  local e, is_enrolled, count = nil, false, 0
  if verdict ~= 'error' then
    e = redis.call('HMGET', enr, 'state', 'count', 'blocked')
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
    elseif verdict == 'suppressed' then history(hist, {at = now, kind = 'suppressed', revision = rev, detail = detail}) end
  elseif verdict == 'unmatch' or verdict == 'error' then
    redis.call('SREM', KEYS[3], member)
    if verdict == 'error' then history(hist, {at = now, kind = 'trigger_error', revision = rev, detail = detail}) end
    if verdict == 'unmatch' and is_enrolled then unenroll(enr, hist, member, 'record no longer matches the trigger') end
  elseif verdict == 'match' or verdict == 'manual' then
    local was = redis.call('SISMEMBER', KEYS[3], member) == 1
    if verdict == 'match' then redis.call('SADD', KEYS[3], member) end
    local why = nil
    if is_enrolled then why = 'the record is enrolled already'
    elseif count > 0 and not reenroll then why = 'the record was enrolled before and the workflow does not allow re-enrollment'
    elseif verdict == 'match' and e[3] == '1' then why = 'the record was deleted while enrolled: only a manual enrollment brings it back'
    elseif verdict == 'match' and count > 0 and was then why = 'the record has not stopped matching since its last enrollment'
    end
    if why then
      if verdict == 'manual' then return {'refused', why} end
    else
      redis.call('HSET', enr, 'state', 'enrolled', 'revision', rev, 'step', 0, 'enrolled_at', now, 'count', count + 1, 'blocked', '0')
      redis.call('ZADD', KEYS[2], now, member)
      local how = 'trigger matched'
      if verdict == 'manual' then how = 'enrolled manually by ' .. detail end
      history(hist, {at = now, kind = 'enrolled', revision = rev, detail = how})
      enrolled[#enrolled+1] = member
    end
  end
end
return enrolled
`)

// advanceStepsScript records the results of step ARGV[3] of a workflow for a batch of records and
// moves each to its next step, once: a record not at that step (already advanced by an earlier run)
// is left alone.
// KEYS[1] -> crm:{<tenant>}:flow:<name>:enrolled
// ARGV[1] -> now (unix ms)   ARGV[2] -> revision   ARGV[3] -> step index   ARGV[4] -> number of steps
// ARGV[5] -> enrollment key prefix   ARGV[6] -> history key prefix   ARGV[7] -> action type
// ARGV[8] -> the user the workflow acts for (its activator), kept in each action entry as by
// ARGV[9..] -> quintuples: member, outcome (done, unchanged, skipped, wait, failed), detail,
//
//	next due time (unix ms), 1 to stop the enrollment here (a failure or a deleted record)
//
// Returns {member advanced, ...}.
var advanceStepsScript = redis.NewScript(luaHistory + `
local now, rev, step, nsteps = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local advanced = {}
for i = 9, #ARGV, 5 do
  local member, outcome, detail, due, stop = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4] == '1'
  local enr, hist = ARGV[5] .. member, ARGV[6] .. member
  local e = redis.call('HMGET', enr, 'state', 'revision', 'step')
  if e[1] == 'enrolled' and e[2] == rev and tonumber(e[3]) == step then
    local entry = {at = now, kind = 'action', revision = rev, step = step, action = ARGV[7], outcome = outcome, detail = detail}
    if ARGV[8] ~= '' then entry.by = ARGV[8] end
    history(hist, entry)
    if stop or step + 1 >= nsteps then
      redis.call('HSET', enr, 'state', 'completed', 'step', step + 1)
      redis.call('ZREM', KEYS[1], member)
      local why = 'all actions ran'
      if stop then why = 'stopped after step ' .. step .. ': ' .. outcome end
      history(hist, {at = now, kind = 'completed', revision = rev, detail = why})
    else
      redis.call('HSET', enr, 'step', step + 1)
      redis.call('ZADD', KEYS[1], due, member)
    end
    advanced[#advanced+1] = member
  end
end
return advanced
`)

// moveEnrollmentsScript moves the records enrolled at an older revision of a workflow, waiting at
// a step, on to its active revision, where they continue at the same step; a record whose step the
// active revision does not have completes there. Each gets a history entry saying so.
// KEYS[1] -> crm:{<tenant>}:flow:<name>   KEYS[2] -> crm:{<tenant>}:flow:<name>:enrolled
// ARGV[1] -> now (unix ms)   ARGV[2] -> the older revision   ARGV[3] -> the active revision
// ARGV[4] -> the step   ARGV[5] -> the active revision's number of steps
// ARGV[6] -> enrollment key prefix   ARGV[7] -> history key prefix   ARGV[8..] -> members
// Returns {member moved, ...}; nothing happens unless the workflow is active at ARGV[3].
var moveEnrollmentsScript = redis.NewScript(luaHistory + `
local now, from, to, step, nsteps = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local st = redis.call('HMGET', KEYS[1], 'state', 'active_revision')
if st[1] ~= 'active' or st[2] ~= to then return {} end
local moved = {}
for i = 8, #ARGV do
  local member = ARGV[i]
  local enr, hist = ARGV[6] .. member, ARGV[7] .. member
  local e = redis.call('HMGET', enr, 'state', 'revision', 'step')
  if e[1] == 'enrolled' and e[2] == from and tonumber(e[3]) == step then
    if step < nsteps then
      redis.call('HSET', enr, 'revision', to)
      history(hist, {at = now, kind = 'moved', revision = to,
        detail = 'moved from revision ' .. from .. ' to revision ' .. to .. ', activated since; it continues at step ' .. step})
      moved[#moved+1] = member
    else
      redis.call('HSET', enr, 'state', 'completed')
      redis.call('ZREM', KEYS[2], member)
      history(hist, {at = now, kind = 'completed', revision = from,
        detail = 'revision ' .. to .. ', activated since, has no step ' .. step .. ': the enrollment ends here'})
    end
  end
end
return moved
`)

// ackChangesScript forgets the drained states of changed records: those numbered up to the last
// one drained. A record written again since it was read keeps its newer states, and its mark, for
// the next drain. States of the older format (no numbers) go when the mark's score is still the one
// read. Acknowledging twice forgets nothing more.
// KEYS[1] -> crm:{<tenant>}:changed   KEYS[2] -> crm:{<tenant>}:changed:events
// ARGV[1..] -> triples: member, score read, the number of its last state drained (0: none numbered)
// Returns the number of marks forgotten.
var ackChangesScript = redis.NewScript(`
local n = 0
for i = 1, #ARGV, 3 do
  local m, last = ARGV[i], tonumber(ARGV[i+2])
  local cur = redis.call('HGET', KEYS[2], m)
  local keep = nil
  if cur and not string.find(cur, '^%a+$') and last > 0 then
    local left = {}
    for line in string.gmatch(cur, '[^\n]+') do
      if tonumber(string.match(line, '^%a(%d+)') or '0') > last then left[#left+1] = line end
    end
    if #left > 0 then keep = table.concat(left, '\n') end
  else
    local score = redis.call('ZSCORE', KEYS[1], m)
    if score and tonumber(score) ~= tonumber(ARGV[i+1]) then keep = cur end
  end
  if keep then
    if keep ~= cur then redis.call('HSET', KEYS[2], m, keep) end
  else
    redis.call('ZREM', KEYS[1], m)
    redis.call('HDEL', KEYS[2], m)
    n = n + 1
  end
end
return n
`)
