-- Moves live records into their type's bin: the ids given, or the next ones of a bulk delete job.
-- Per record it costs a read, a RENAME and the deletion fields; the indexes, the change log, the
-- audit entry and the job progress are updated once per batch. Associations and list memberships
-- are looked at only for records flagged with _assoc or _lists (see associate.lua and
-- add_list_members.lua); a record's associations cost an SREM on the other side and an SADD to
-- its BinLinksKey each. A moved record leaves every enrollment of the type's workflows at once
-- (SPEC S8), except the one whose own step deletes it (via workflow, ref its name), which records
-- its completion itself; any enrollment it had is marked blocked, so only a manual enrollment
-- brings the record back into the workflow after a restore.
-- KEYS[1] -> crm:{<tenant>}:live:<type>
-- KEYS[2] -> crm:{<tenant>}:trash:<type>
-- KEYS[3] -> crm:{<tenant>}:binids:<type>
-- KEYS[4] -> crm:{<tenant>}:uniq:contacts:email
-- KEYS[5] -> crm:{<tenant>}:changed
-- KEYS[6] -> crm:{<tenant>}:changed:events
-- KEYS[7] -> crm:{<tenant>}:audit
-- KEYS[8] -> crm:{<tenant>}:flows:type:<type>
-- KEYS[9] -> crm:{<tenant>}:job:<id>: the bulk delete job (untouched when ARGV[8] is 0)
-- KEYS[10] -> crm:{<tenant>}:job:<id>:pending: its pending set (untouched when ARGV[8] is 0)
-- KEYS[11] -> crm:{<tenant>}:binemails:contacts:<day>, the day of ARGV[1] (BinEmailDayKey): each
--   binned contact's emails point at it there, so that a permanent delete by email finds the
--   contact in the bin
-- KEYS[12] -> crm:{<tenant>}:binemails:contacts:days (BinEmailDaysKey), which gains that day
-- KEYS[13] -> crm:{<tenant>}:binassocs:<type>: a record whose associations go to the bin, or
--   that the bin sets of binned records name (its BinLinksKey exists), joins it
-- KEYS[14] -> crm:{<tenant>}:flows:active:<type>: without an active workflow of the type, the
--   moved records leave no change mark (see watched)
-- KEYS[15] -> crm:{<tenant>}:ops (OperationsKey), which gains a new operation at its first move
-- KEYS[16] -> crm:{<tenant>}:flow:<name>:deletions (FlowDeletionsKey): a limited workflow's
--   deletions scored by time, whatever the activation; each moved record joins it, older ones leave
--   it (untouched when ARGV[24] is '')
-- KEYS[17] -> crm:{<tenant>}:user:<email> (UserKey): with ARGV[27], the activator of the workflow
--   (the user of ARGV[3]); with a job, its creator (the user of the job's by). Untouched otherwise
-- KEYS[18] -> crm:{<tenant>}:protection:version (ProtectionVersionKey), read when ARGV[29] is not ''
-- KEYS[19..] -> without a job, quintuples, one per id of ARGV[9] (the n-th: KEYS[5*n+14..5*n+18]):
--   its keys crm:{<tenant>}:obj:<type>:<id>, crm:{<tenant>}:bin:<type>:<id>,
--   crm:{<tenant>}:assoc:<type>:<id>, crm:{<tenant>}:binassoc:<type>:<id> and
--   crm:{<tenant>}:memberof:<type>:<id>; none with a job, whose ids name their keys by ARGV[11..15]
-- ARGV[1] -> deleted_at (unix ms)
-- ARGV[2] -> object type
-- ARGV[3] -> deleted by
-- ARGV[4] -> via
-- ARGV[5] -> ref (workflow name, job id, list id)
-- ARGV[6] -> the revision of the workflow that deletes (via workflow), else '': kept in each
--   record it moves (_deleted_rev) and in the audit entry (rev)
-- ARGV[7] -> the call's id, '' with a job: kept in each record it moves (_deleted_op); run again (a
--   client retrying after losing the reply), the call reports those records as moved again and
--   changes nothing
-- ARGV[8] -> the job's batch size, 0 without a job. With a job the ids are the first ARGV[8] of
--   KEYS[10] (the job starts running, unless it is done); each leaves the pending set and counts as
--   done (moved) or skipped (not live), in the same step as its move, so a crash or a retry neither
--   loses nor repeats any; the job is marked done when nothing is pending
-- ARGV[9] -> record ids, comma-separated, without a job ('' with one)
-- ARGV[10] -> audit stream max length
-- ARGV[11] -> record key prefix ("crm:{<tenant>}:obj:"), for a job's records and the records
--   associated with a moved one
-- ARGV[12] -> bin record key prefix, for a job's records
-- ARGV[13] -> association key prefix, for a job's records and the records associated with a moved one
-- ARGV[14] -> bin association key prefix, for a job's records
-- ARGV[15] -> member-of key prefix of the type, for a job's records
-- ARGV[16] -> list key prefix
-- ARGV[17] -> list members key suffix
-- ARGV[18] -> workflow key prefix ("crm:{<tenant>}:flow:")
-- ARGV[19] -> enrollment key prefix base ("crm:{<tenant>}:enr:")
-- ARGV[20] -> history key prefix base ("crm:{<tenant>}:hist:"); an unenrollment's entry also joins
--   the workflow's log (FlowLogKey: ARGV[18], the workflow's name and ':log')
-- ARGV[21] -> the type's search index spec (indexSpec): each moved record leaves its search indexes
-- ARGV[22] -> the operation (SPEC S26) the moved records join, kept in each (_deleted_operation):
--   "job-<id>" for a job; '' for the call's id (ARGV[7]), or via workflow for the workflow's
--   current activation (flow_operation, helpers.lua: "wf-<name>-<activated_at>", read from its
--   key, ARGV[18] .. name, with "_<activation>" after it when a former activation of the same
--   millisecond has that id; a new operation records the activation's number). The
--   operation's key (OperationKey) gains the move (kind, actor, first and last time, moved count)
--   and its bin index (OperationBinKey: that key followed by ':bin') the moved ids
-- ARGV[23] -> operation key prefix ("crm:{<tenant>}:op:")
-- ARGV[24] -> a workflow's blast-radius limit (SPEC S24), without a job: the most deletions it
--   may make in any window of ARGV[25], all its activations together, counted in KEYS[16]; '0'
--   for no limit (its deletions are counted all the same, and none is refused); '' for none (the
--   call then returns as without one). The live records past the allowance left are refused,
--   untouched
-- ARGV[25] -> the limit's window (ms)
-- ARGV[26] -> '' or a JSON object record id -> the last modification (_updated) the caller read
--   when it checked the record against the protection rules (SPEC S25): a live record whose
--   _updated is another now was written since, and is not moved. Without a job it is reported;
--   with a job (where a live id the object does not name was not live when checked) it stays
--   pending, and so do the ids after it (the batch ends before it), for the next batch to check
--   again. Its entry "*" (no id) asks for all or none: when one live record was written since,
--   none moves and the answer names those written
-- ARGV[27] -> via workflow and without a job, the activation (activated_at, unix ms) the deletion
--   acts for, '' for no guard (SPEC S23): unless the workflow (ARGV[18] .. ARGV[5]) is active at
--   that activation (and ARGV[31]) and its activator (KEYS[17]) exists, is not disabled and holds each permission
--   of ARGV[28], nothing is done and the reply is {"stopped", the live ids of ARGV[9]...}. With a
--   job, the job acts with its creator's (KEYS[17]) authority as it is now (SPEC S2): while records
--   are pending, unless the user exists, is not disabled and holds each permission of ARGV[28],
--   nothing moves: the job ends stopped (stop_code missing, disabled or permission, stop_user the
--   user, stop_perm the permission lacked), its pending set dropped, and the reply is its hash
--   (with nothing pending, the job ends done as ever)
-- ARGV[28] -> the permissions the workflow acts with, comma-separated, with ARGV[27]; with a job,
--   those a bulk delete needs (delete,bulk_delete)
-- ARGV[29] -> the version of the protection rules the caller checked the records against
--   (ProtectionStore.ProtectionVersion: KEYS[18]'s counter plus 1), '' for none: when the rules
--   changed since, nothing is done and the reply is {"rules"}
-- ARGV[30] -> how long KEYS[16] keeps a deletion (ms): the longest window a limit may have
--   (crm.MaxLimitWindow), so that a limit whose window is made longer counts the deletions made
--   within it under the shorter one
-- ARGV[31] -> with ARGV[27], that activation's number (the workflow's "activation"), '' when the
--   caller has none (a workflow activated by a version that did not number them): ARGV[27] alone
--   then names the activation
-- ARGV[32] -> bin links key prefix ("crm:{<tenant>}:binlinks:"): a moved record with associations
--   joins the BinLinksKey of each record its bin association set names (one SADD per association),
--   so that a permanent delete of that record finds it in the bin. A moved record flagged _assoc
--   without associations left joins KEYS[13] when its own BinLinksKey exists (one EXISTS), so
--   that its purge drops that key
-- Returns the ids it moved (ids that were not live are left out); with a limit, {moved ids,
-- refused ids}; with ARGV[26], {moved ids, refused ids, changed ids}; with a job, the job's hash as HGETALL gives it, empty when there is no such job,
-- {"stale"} when the job's type or actor is not ARGV[2..5] (nothing is done).
local now, otype = ARGV[1], ARGV[2]
local spec = ix_spec(ARGV[21])
local ix = ix_new()
local contacts = otype == 'contacts'
local moved, members, scores, ids, emails, replayed, emailids = {}, {}, {}, {}, {}, {}, {}
-- Whether the moved records get change marks (see watched): only then are their members kept.
local watching = watched(KEYS[14])
local op = ARGV[7]
local rev = ARGV[6]
local skipped = 0
local flows = redis.call('SMEMBERS', KEYS[8])
local own = nil
if ARGV[4] == 'workflow' then own = ARGV[5] end
local input = {}
local job_limit = tonumber(ARGV[8])
-- rules_changed tells whether a protection rule was written or removed since the caller read the
-- rules it checked the records against.
local function rules_changed()
  if (ARGV[29] or '') == '' then return false end
  return tonumber(redis.call('GET', KEYS[18]) or '0') + 1 ~= tonumber(ARGV[29])
end
if job_limit == 0 and own and (ARGV[27] or '') ~= '' then
  local f = redis.call('HMGET', ARGV[18] .. own, 'state', 'activated_at', 'activation')
  local ok = f[1] == 'active' and f[2] == ARGV[27] and ((ARGV[31] or '') == '' or f[3] == ARGV[31])
    and not lacks(KEYS[17], ARGV[28])
  if not ok then
    local out = {'stopped'}
    local n = 0
    for id in string.gmatch(ARGV[9], '[^,]+') do
      n = n + 1
      if redis.call('EXISTS', KEYS[5 * n + 14]) == 1 then out[#out+1] = id end
    end
    return out
  end
end
-- Without a job, before anything is written (with a job, once the job is known to be running).
if job_limit == 0 and rules_changed() then return {'rules'} end
local operation, activation = ARGV[22], nil
if operation == '' then
  operation = op
  if own then operation, activation = flow_operation(ARGV[18] .. own, own, ARGV[23]) end
end
-- The blast-radius limit: the workflow's deletions in the window ending now, of any of its
-- activations, use it up.
local allowance, refused = nil, {}
if job_limit == 0 and ARGV[24] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[16], '-inf', string.format('%d', tonumber(now) - tonumber(ARGV[30])))
  if ARGV[24] == '0' then
    allowance = math.huge
  else
    allowance = tonumber(ARGV[24]) - redis.call('ZCOUNT', KEYS[16], string.format('(%d', tonumber(now) - tonumber(ARGV[25])), '+inf')
  end
end
local counted = {}
local expect, changed = nil, {}
if ARGV[26] ~= '' then expect = cjson.decode(ARGV[26]) end
-- One read of each record: what the move needs (_updated only to compare with expect), then the
-- fields its search indexes read, each field once. indexed maps each indexed field to its place.
-- A record leaves a score index (a number, a date or a time) by its id alone, whatever its value:
-- those indexes lose every moved id once for the batch (ZREM of an id not there changes nothing),
-- and their fields are not read. The value indexes, the text indexes and the unique properties
-- need the value, and are collected per record (ix_record over byvalue, spec without them).
local scored, byvalue = {}, {props = {}, uq = spec.uq, fields = {}}
for _, e in ipairs(spec.props) do
  if e[1] == 'v' or e[1] == 's' then
    byvalue.props[#byvalue.props+1] = e
    byvalue.fields[#byvalue.fields+1] = e[3]
  else
    scored[#scored+1] = e[4]
  end
end
for _, u in ipairs(spec.uq) do byvalue.fields[#byvalue.fields+1] = u[1] end
local fields, slot, indexed = {'_created', '_assoc', '_lists', 'email', 'additional_emails'}, {}, {}
if expect then fields[6] = '_updated' end
for j, f in ipairs(fields) do slot[f] = j end
for _, f in ipairs(byvalue.fields) do
  if not slot[f] then fields[#fields+1] = f; slot[f] = #fields end
  indexed[#indexed+1] = {f, slot[f]}
end
-- The indexed fields of the record at hand (field -> value), for ix_record: one table for the
-- call, each field set again for each record (nil where it has none), so no record builds its own.
local vals = {}
-- The deletion fields every moved record gets.
local marks = {'_deleted_at', now, '_deleted_by', ARGV[3], '_deleted_via', ARGV[4], '_deleted_ref', ARGV[5],
  '_deleted_operation', operation}
if op ~= '' then marks[#marks+1] = '_deleted_op'; marks[#marks+1] = op end
if rev ~= '' then marks[#marks+1] = '_deleted_rev'; marks[#marks+1] = rev end
if expect and expect['*'] then
  for id in string.gmatch(ARGV[9], '[^,]+') do
    local at = redis.call('HGET', ARGV[11] .. otype .. ':' .. id, '_updated')
    if at and expect[id] and at ~= expect[id] then changed[#changed+1] = id end
  end
  if #changed > 0 then return {{}, {}, changed} end
end
if job_limit > 0 then
  local j = redis.call('HMGET', KEYS[9], 'state', 'object_type', 'by', 'via', 'ref')
  local st = j[1]
  if not st then return {} end
  -- The caller's idea of the job (type and actor, which never change) must be this job's: an id
  -- drawn again after Redis lost writes names another job.
  if j[2] ~= otype or j[3] ~= ARGV[3] or j[4] ~= ARGV[4] or (j[5] or '') ~= ARGV[5] then return {'stale'} end
  -- A job still selecting has nothing pending yet, and a finished one (canceled by an undo, or
  -- stopped as its creator lost the authority to delete, included) has nothing left.
  if st == 'done' or st == 'refused' or st == 'canceled' or st == 'stopped' or st == 'selecting' then return redis.call('HGETALL', KEYS[9]) end
  local why, perm = nil, nil
  if redis.call('ZCARD', KEYS[10]) > 0 then why, perm = lacks(KEYS[17], ARGV[28]) end
  if why then
    redis.call('DEL', KEYS[10])
    redis.call('HSET', KEYS[9], 'state', 'stopped', 'stop_code', why, 'stop_user', j[3], 'stop_perm', perm or '',
      'finished_at', now, 'updated_at', now)
    return redis.call('HGETALL', KEYS[9])
  end
  if rules_changed() then return {'rules'} end
  if st == 'pending' then redis.call('HSET', KEYS[9], 'state', 'running') end
  input = redis.call('ZRANGE', KEYS[10], 0, job_limit - 1)
else
  for id in string.gmatch(ARGV[9], '[^,]+') do input[#input+1] = id end
end
-- record_key is the j-th key (1 record, 2 bin record, 3 associations, 4 bin associations, 5
-- member-of) of the n-th record: built from prefix and name for a job's records, else given in KEYS.
local function record_key(n, j, prefix, name)
  if job_limit > 0 then return prefix .. name end
  return KEYS[5 * n + 13 + j]
end
for n, id in ipairs(input) do
  local me = otype .. ':' .. id
  local rec = record_key(n, 1, ARGV[11], me)
  local cur = redis.call('HMGET', rec, unpack(fields))
  if cur[1] and expect and (job_limit > 0 or expect[id]) and cur[6] ~= expect[id] then
    -- Written since the caller checked it: it may be protected now. Not moved.
    if job_limit > 0 then
      for k = #input, n, -1 do table.remove(input, k) end
      break
    end
    changed[#changed+1] = id
  elseif cur[1] and allowance and allowance <= 0 then
    refused[#refused+1] = id
  elseif cur[1] then
    if allowance then
      allowance = allowance - 1
      counted[#counted+1] = now; counted[#counted+1] = now .. ':' .. id
    end
    local bin = record_key(n, 2, ARGV[12], me)
    if contacts then
      -- Its emails, as split_emails gives them (the primary, then each other one once), without
      -- building a list for each contact.
      local primary, others = cur[4], cur[5]
      if primary and primary ~= '' then
        emails[#emails+1] = primary
        emailids[#emailids+1] = id
      end
      if others and others ~= '' then
        for _, e in ipairs(split_emails(primary or '', others)) do
          if e ~= primary then
            emails[#emails+1] = e
            emailids[#emailids+1] = id
          end
        end
      end
    end
    for j = 1, #indexed do
      local e = indexed[j]
      vals[e[1]] = cur[e[2]] or nil
    end
    ix_record(ix, byvalue, id, vals, false)
    redis.call('RENAME', rec, bin)
    redis.call('HSET', bin, unpack(marks))
    if cur[2] then
      local assoc = record_key(n, 3, ARGV[13], me)
      local others = redis.call('SMEMBERS', assoc)
      for _, other in ipairs(others) do
        redis.call('SREM', ARGV[13] .. other, me)
        redis.call('SADD', ARGV[32] .. other, me)
      end
      if #others > 0 then
        redis.call('RENAME', assoc, record_key(n, 4, ARGV[14], me))
        redis.call('SADD', KEYS[13], id)
      elseif redis.call('EXISTS', ARGV[32] .. me) == 1 then
        -- Named only by the bin sets of records binned before it: its purge finds its bin links
        -- by KEYS[13] as well.
        redis.call('SADD', KEYS[13], id)
      end
    end
    if cur[3] then
      local memberof = record_key(n, 5, ARGV[15], id)
      for _, list in ipairs(redis.call('SMEMBERS', memberof)) do
        redis.call('ZREM', ARGV[16] .. list .. ARGV[17], id)
      end
      redis.call('DEL', memberof)
    end
    for _, flow in ipairs(flows) do
      local enr = ARGV[19] .. flow .. ':' .. me
      local st = redis.call('HGET', enr, 'state')
      if st then
        redis.call('HSET', enr, 'blocked', '1')
        if st == 'enrolled' and flow ~= own then
          redis.call('HSET', enr, 'state', 'unenrolled')
          redis.call('ZREM', ARGV[18] .. flow .. ':enrolled', me)
          history(ARGV[20] .. flow .. ':' .. me, {at = now, kind = 'unenrolled', revision = redis.call('HGET', enr, 'revision'), detail = 'record deleted'}, ARGV[18] .. flow .. ':log', me)
        end
      end
      redis.call('SREM', ARGV[18] .. flow .. ':matching', me)
    end
    moved[#moved+1] = id
    if watching then members[#members+1] = me end
    scores[#scores+1] = now; scores[#scores+1] = id
    ids[#ids+1] = id; ids[#ids+1] = id
  elseif job_limit > 0 then
    if redis.call('ZSCORE', KEYS[10], id) then skipped = skipped + 1 end
  elseif op ~= '' and redis.call('HGET', record_key(n, 2, ARGV[12], me), '_deleted_op') == op then
    replayed[#replayed+1] = id
  end
end
if #moved > 0 then
  -- The live contacts' emails always point at them (the write scripts keep it so).
  if #emails > 0 then
    each_chunk(emails, function(c) redis.call('HDEL', KEYS[4], unpack(c)) end)
    if #emailids > 0 then
      local day = math.floor(tonumber(now) / 86400000)
      bin_emails_add(KEYS[11], emails, emailids)
      redis.call('ZADD', KEYS[12], day, day)
    end
  end
  ix_flush(ix)
  for _, key in ipairs(scored) do each_chunk(moved, function(c) redis.call('ZREM', key, unpack(c)) end) end
  redis.call('ZREM', KEYS[1], unpack(moved))
  redis.call('ZADD', KEYS[2], unpack(scores))
  redis.call('ZADD', KEYS[3], unpack(ids))
  if watching then mark_changed(KEYS[5], KEYS[6], members, now, 'd') end
  local opkey = ARGV[23] .. operation
  if redis.call('HSETNX', opkey, 'first_at', now) == 1 then
    local kind = ARGV[4]
    if job_limit == 0 and kind ~= 'workflow' then
      if #input == 1 then kind = 'delete' else kind = 'batch' end
    end
    redis.call('HSET', opkey, 'kind', kind, 'object_type', otype, 'by', ARGV[3], 'via', ARGV[4], 'ref', ARGV[5], 'rev', rev)
    if activation then redis.call('HSET', opkey, 'activation', activation) end
    redis.call('ZADD', KEYS[15], now, operation)
  end
  redis.call('HSET', opkey, 'last_at', now)
  redis.call('HINCRBY', opkey, 'moved', #moved)
  redis.call('ZADD', opkey .. ':bin', unpack(ids))
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[10], '*', 'action', 'archive', 'object_type', otype,
    'record_ids', table.concat(moved, ','), 'by', ARGV[3], 'via', ARGV[4], 'ref', ARGV[5], 'rev', rev, 'at', now,
    'op', operation)
end
if job_limit > 0 then
  if #input > 0 then
    redis.call('ZREM', KEYS[10], unpack(input))
    redis.call('HINCRBY', KEYS[9], 'done', #moved)
    redis.call('HINCRBY', KEYS[9], 'skipped', skipped)
    redis.call('HSET', KEYS[9], 'updated_at', now)
  end
  if redis.call('ZCARD', KEYS[10]) == 0 then
    redis.call('HSET', KEYS[9], 'state', 'done', 'finished_at', now)
  end
  return redis.call('HGETALL', KEYS[9])
end
for _, id in ipairs(replayed) do moved[#moved+1] = id end
if allowance and #counted > 0 then
  redis.call('ZADD', KEYS[16], unpack(counted))
  redis.call('PEXPIRE', KEYS[16], ARGV[30])
end
if expect then return {moved, refused, changed} end
if allowance then return {moved, refused} end
return moved
