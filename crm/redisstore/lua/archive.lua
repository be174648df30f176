-- archive.lua
--
-- archiveScript moves live records into their type's bin. Per record it costs a read, a RENAME and
-- the deletion fields; the indexes, the change log, the audit entry and the job progress are updated
-- once per batch. Associations and list memberships are looked at only for records flagged with
-- _assoc or _lists (see associateScript and addListMembersScript).
-- KEYS[1] -> crm:{<tenant>}:live:<type>      KEYS[2] -> crm:{<tenant>}:trash:<type>
-- KEYS[3] -> crm:{<tenant>}:binids:<type>    KEYS[4] -> crm:{<tenant>}:uniq:contacts:email
-- KEYS[5] -> crm:{<tenant>}:changed          KEYS[6] -> crm:{<tenant>}:changed:events
-- KEYS[7] -> crm:{<tenant>}:audit
-- ARGV[1] -> deleted_at (unix ms)  ARGV[2] -> object type  ARGV[3] -> deleted by  ARGV[4] -> via
-- ARGV[5] -> ref (workflow name, job id, list id)  ARGV[6] -> audit stream max length
-- ARGV[7] -> record key prefix ("crm:{<tenant>}:obj:")       ARGV[8] -> bin record key prefix
-- ARGV[9] -> association key prefix                          ARGV[10] -> bin association key prefix
-- ARGV[11] -> member-of key prefix of the type               ARGV[12] -> list key prefix
-- ARGV[13] -> list members key suffix                        ARGV[14] -> record ids, comma-separated
-- KEYS[8] -> crm:{<tenant>}:flows:type:<type>: the record leaves every enrollment of those workflows
-- at once (SPEC S8), except the one whose own step deletes it (via workflow, ref its name), which
-- records its completion itself; any enrollment it had is marked blocked, so only a manual
-- enrollment brings the record back into the workflow after a restore.
-- ARGV[15] -> workflow key prefix ("crm:{<tenant>}:flow:")   ARGV[16] -> enrollment key prefix base
-- ("crm:{<tenant>}:enr:")   ARGV[17] -> history key prefix base ("crm:{<tenant>}:hist:")
-- ARGV[18] -> bin association ids key prefix ("crm:{<tenant>}:binassocs:"): a record whose associations
-- go to the bin joins that type's set.
-- ARGV[23] -> the revision of the workflow that deletes (via workflow), else ”: kept in each record
-- it moves (_deleted_rev) and in the audit entry (rev).
-- ARGV[20] -> without a job, the call's id, kept in each record it moves (_deleted_op): run again (a
-- client retrying after losing the reply), the call reports those records as moved again and
-- changes nothing.
-- ARGV[21] -> the bin email day key prefix ("crm:{<tenant>}:binemails:contacts:"): each binned
-- contact's emails point at it in the key of the day of its deletion (BinEmailDayKey), so that a
-- permanent delete by email finds the contact in the bin. ARGV[22] -> crm:{<tenant>}:binemails:contacts:days
-- (BinEmailDaysKey), which gains that day. (ARGVs rather than KEYS because KEYS[9..10] are the
-- job's; they carry the same hash tag.) With a job, ARGV[20] is empty.
-- ARGV[24] -> the type's search index spec (indexSpec): each moved record leaves its search indexes.
-- With a bulk job, also KEYS[9] -> crm:{<tenant>}:job:<id> and KEYS[10] -> crm:{<tenant>}:job:<id>:pending,
-- ARGV[14] empty and ARGV[19] -> the batch size: the ids are the first of the job's pending set
-- (the job starts running, unless it is done); each leaves the pending set and counts as done
-- (moved) or skipped (not live), in the same step as its move, so a crash or a retry neither loses
-- nor repeats any; the job is marked done when nothing is pending.
-- Returns the ids it moved (ids that were not live are left out); with a job, the job's hash as
-- HGETALL gives it, empty when there is no such job, {"stale"} when the job's type or actor is not
-- ARGV[2..5] (nothing is done).
local now, otype = ARGV[1], ARGV[2]
local spec = ix_spec(ARGV[24])
local ix = ix_new()
local contacts = otype == 'contacts'
local moved, members, scores, ids, emails, replayed, emailids = {}, {}, {}, {}, {}, {}, {}
local op = ARGV[20] or ''
local rev = ARGV[23] or ''
local skipped = 0
local flows = redis.call('SMEMBERS', KEYS[8])
local own = nil
if ARGV[4] == 'workflow' then own = ARGV[5] end
local input = {}
local job_limit = tonumber(ARGV[19] or '0')
if job_limit > 0 then
  local j = redis.call('HMGET', KEYS[9], 'state', 'object_type', 'by', 'via', 'ref')
  local st = j[1]
  if not st then return {} end
  -- The caller's idea of the job (type and actor, which never change) must be this job's: an id
  -- drawn again after Redis lost writes names another job.
  if j[2] ~= otype or j[3] ~= ARGV[3] or j[4] ~= ARGV[4] or (j[5] or '') ~= ARGV[5] then return {'stale'} end
  -- A job still selecting has nothing pending yet, and a finished one has nothing left.
  if st == 'done' or st == 'refused' or st == 'selecting' then return redis.call('HGETALL', KEYS[9]) end
  if st == 'pending' then redis.call('HSET', KEYS[9], 'state', 'running') end
  input = redis.call('ZRANGE', KEYS[10], 0, job_limit - 1)
else
  for id in string.gmatch(ARGV[14], '[^,]+') do input[#input+1] = id end
end
for _, id in ipairs(input) do
  local me = otype .. ':' .. id
  local rec = ARGV[7] .. me
  local cur = redis.call('HMGET', rec, '_created', '_assoc', '_lists', 'email', 'additional_emails')
  if cur[1] then
    local bin = ARGV[8] .. me
    if contacts then
      local mine = split_emails(cur[4] or '', cur[5] or '')
      for _, e in ipairs(mine) do
        emails[#emails+1] = e
        emailids[#emailids+1] = id
      end
    end
    ix_record(ix, spec, id, ix_fields(spec, rec), false)
    redis.call('RENAME', rec, bin)
    redis.call('HSET', bin, '_deleted_at', now, '_deleted_by', ARGV[3], '_deleted_via', ARGV[4], '_deleted_ref', ARGV[5])
    if op ~= '' then redis.call('HSET', bin, '_deleted_op', op) end
    if rev ~= '' then redis.call('HSET', bin, '_deleted_rev', rev) end
    if cur[2] then
      local assoc = ARGV[9] .. me
      local others = redis.call('SMEMBERS', assoc)
      for _, other in ipairs(others) do redis.call('SREM', ARGV[9] .. other, me) end
      if #others > 0 then
        redis.call('RENAME', assoc, ARGV[10] .. me)
        redis.call('SADD', ARGV[18] .. otype, id)
      end
    end
    if cur[3] then
      local memberof = ARGV[11] .. id
      for _, list in ipairs(redis.call('SMEMBERS', memberof)) do
        redis.call('ZREM', ARGV[12] .. list .. ARGV[13], id)
      end
      redis.call('DEL', memberof)
    end
    for _, flow in ipairs(flows) do
      local enr = ARGV[16] .. flow .. ':' .. me
      local st = redis.call('HGET', enr, 'state')
      if st then
        redis.call('HSET', enr, 'blocked', '1')
        if st == 'enrolled' and flow ~= own then
          redis.call('HSET', enr, 'state', 'unenrolled')
          redis.call('ZREM', ARGV[15] .. flow .. ':enrolled', me)
          history(ARGV[17] .. flow .. ':' .. me, {at = now, kind = 'unenrolled', revision = redis.call('HGET', enr, 'revision'), detail = 'record deleted'})
        end
      end
      redis.call('SREM', ARGV[15] .. flow .. ':matching', me)
    end
    moved[#moved+1] = id
    members[#members+1] = me
    scores[#scores+1] = now; scores[#scores+1] = id
    ids[#ids+1] = id; ids[#ids+1] = id
  elseif KEYS[10] then
    if redis.call('ZSCORE', KEYS[10], id) then skipped = skipped + 1 end
  elseif op ~= '' and redis.call('HGET', ARGV[8] .. me, '_deleted_op') == op then
    replayed[#replayed+1] = id
  end
end
if #moved > 0 then
  -- The live contacts' emails always point at them (the write scripts keep it so).
  if #emails > 0 then
    redis.call('HDEL', KEYS[4], unpack(emails))
    if #emailids > 0 then
      local day = math.floor(tonumber(now) / 86400000)
      bin_emails_add(ARGV[21] .. string.format('%d', day), emails, emailids)
      redis.call('ZADD', ARGV[22], day, day)
    end
  end
  ix_flush(ix)
  redis.call('ZREM', KEYS[1], unpack(moved))
  redis.call('ZADD', KEYS[2], unpack(scores))
  redis.call('ZADD', KEYS[3], unpack(ids))
  mark_changed(KEYS[5], KEYS[6], members, now, 'd')
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[6], '*', 'action', 'archive', 'object_type', otype,
    'record_ids', table.concat(moved, ','), 'by', ARGV[3], 'via', ARGV[4], 'ref', ARGV[5], 'rev', rev, 'at', now)
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
return moved
