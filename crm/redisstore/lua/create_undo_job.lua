-- Starts an undo of an operation (SPEC S26) as a job with a new id, in state pending, whose total
-- is the operation's records still in the bin; the undo job walks the operation's bin index by id
-- (see restore.lua), so nothing is copied here. The undo is recorded in the audit trail. While an
-- undo job of the operation is not finished (done, or stopped because its creator lost the right
-- to restore), it answers that job and changes nothing, so that undoing twice (or a client
-- retrying after losing the reply) starts one job.
-- An operation of a bulk or list job ("job-<id>") whose job is not finished (selecting, pending
-- or running) is stopped first, in this same step: the job becomes canceled (canceled_by names the
-- undo job), and its pending and selected records, its filter and its place among the selecting
-- jobs are dropped, so it moves nothing after and the undo restores every record it moved. A job
-- stopped before its first move has no operation yet: its undo restores nothing, and undoing it
-- again answers that undo job.
-- KEYS[1] -> crm:{<tenant>}:op:<id>
-- KEYS[2] -> crm:{<tenant>}:op:<id>:bin
-- KEYS[3] -> crm:{<tenant>}:seq:jobs
-- KEYS[4] -> crm:{<tenant>}:jobs
-- KEYS[5] -> crm:{<tenant>}:audit
-- An operation of a workflow ("wf-<name>-<activated_at>", or with "_<activation>" after it: see
-- flow_operation, helpers.lua) whose workflow is still active at that activation pauses the workflow first, in this same step (pause_active, trigger_reads.lua), with a reason
-- naming the undo job: its deletions stop (the archive script checks the workflow as it moves), so
-- the undo restores every record of the activation, and the records still waiting stay enrolled.
-- KEYS[6] -> crm:{<tenant>}:jobs:selecting
-- KEYS[7] -> crm:{<tenant>}:user:<email> of the user who asks (see ARGV[10] and ARGV[11])
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> job key prefix ("crm:{<tenant>}:job:"): the job's key is made of the id it draws
-- ARGV[3] -> the user who asks
-- ARGV[4] -> the operation's id
-- ARGV[5] -> audit stream max length
-- ARGV[6] -> flow key prefix ("crm:{<tenant>}:flow:")
-- ARGV[7] -> active flows key prefix
-- ARGV[8] -> trigger-reads key prefix
-- ARGV[9] -> the code of the reason it pauses a workflow with (crm.PauseUndo); its params are
--   the undo job's id (undoJob) and the user who asks (by)
-- Canceling a job and pausing a workflow are more than a restore: the user who asks (KEYS[7])
-- must also hold, as it is now, the permissions of ARGV[10] to cancel the job and those of
-- ARGV[11] to pause the workflow. Without them nothing is created or changed (no job, no cancel,
-- no pause, no audit entry), and the reply is {"forbidden", why ('permission', 'disabled' or
-- 'missing'), the permissions it lacks (comma-separated, with 'permission'), the job it would
-- cancel or '', the workflow it would pause or ''}.
-- ARGV[10] -> the permissions a cancel of a job needs (comma-separated: crm.UndoCancelNeeds)
-- ARGV[11] -> the permissions a pause of a workflow needs (comma-separated: crm.UndoPauseNeeds)
-- What it cancels and pauses is decided by the functions of undo_stops.lua, by which
-- operation_undo_stops.lua tells it ahead (GET /crm/v3/operations/{id}: undoStops, undoNeeds).
-- ARGV[12] -> operation key prefix ("crm:{<tenant>}:op:"), to tell the operation of a workflow's
--   current activation (flow_operation)
-- An operation none of whose records is left in the bin, with no job to stop and no workflow to
-- pause, has nothing to undo: nothing is created or changed, and the reply is {"empty", the
-- records it moved, the id of its latest undo job or ''}.
-- An operation "job-<id>" of a job that exists but moved nothing (an undo job, or a bulk or list job
-- that ended before its first move) changes nothing either: the reply is {"nomove", the job's kind,
-- its state}.
-- Returns {"new", job id, the id of the job it stopped or '', the workflow it paused or ''},
-- {"running", job id}, {"empty", moved, undo job id or ''}, {"nomove", kind, state},
-- {"forbidden", ...} or {"missing"} for an unknown operation.
local op = redis.call('HMGET', KEYS[1], 'object_type', 'undo_job', 'kind', 'ref')
local exists = op[1] ~= false
local own = string.match(ARGV[4], '^job%-(.+)$')
local stop = nil
if own then
  local j = redis.call('HMGET', ARGV[2] .. own, 'state', 'object_type', 'canceled_by', 'kind')
  if undo_cancels(j) then
    stop = own
    if not exists then op[1] = j[2] end
  elseif j[4] ~= 'undo' and not exists and j[3] then
    return {'running', j[3]}
  end
  if not exists and not stop and j[1] then return {'nomove', j[4] or '', j[1]} end
end
if not op[1] then return {'missing'} end

-- refusal is the "forbidden" reply when the user who asks may not cancel job (or '') and pause
-- workflow (or ''), naming every permission it lacks at once; nil when it may.
local function refusal(job, workflow)
  local needs = {}
  if job ~= '' then needs[#needs+1] = ARGV[10] end
  if workflow ~= '' then needs[#needs+1] = ARGV[11] end
  if #needs == 0 then return nil end
  local missing = {}
  for need in string.gmatch(table.concat(needs, ','), '[^,]+') do
    local why = lacks(KEYS[7], need)
    if why == 'missing' or why == 'disabled' then return {'forbidden', why, '', job, workflow} end
    if why then missing[#missing+1] = need end
  end
  if #missing == 0 then return nil end
  return {'forbidden', 'permission', table.concat(missing, ','), job, workflow}
end

local function cancel(undo)
  local key = ARGV[2] .. stop
  redis.call('DEL', key .. ':pending', key .. ':selected')
  redis.call('SREM', KEYS[6], stop)
  redis.call('HDEL', key, 'filter', 'select_after')
  redis.call('HSET', key, 'state', 'canceled', 'canceled_by', undo, 'finished_at', ARGV[1], 'updated_at', ARGV[1])
end

if undo_running(ARGV[2], op[2]) then
  if stop then
    local no = refusal(stop, '')
    if no then return no end
    cancel(op[2])
  end
  return {'running', op[2]}
end
local f = nil
if exists then f = undo_pauses(op, ARGV[4], ARGV[6], ARGV[12]) end
local total = redis.call('ZCARD', KEYS[2])
if exists and total == 0 and not stop and not f then
  return {'empty', redis.call('HGET', KEYS[1], 'moved') or '0', op[2] or ''}
end
local no = refusal(stop or '', f and op[4] or '')
if no then return no end
local id = tostring(redis.call('INCR', KEYS[3]))
if stop then cancel(id) end
local paused = ''
if f then
  pause_active(ARGV[6], ARGV[7], ARGV[8], op[4], f[2], ARGV[1],
    'paused: the deletions of this activation are being undone (undo job ' .. id .. ', asked by ' .. ARGV[3] ..
    '); the records still waiting stay enrolled: activate the workflow again to carry on',
    ARGV[9], cjson.encode({undoJob = id, by = ARGV[3]}))
  paused = op[4]
end
local job = ARGV[2] .. id
redis.call('HSET', job, 'kind', 'undo', 'object_type', op[1], 'by', ARGV[3], 'via', 'undo', 'ref', ARGV[4],
  'selection', 'the records of operation ' .. ARGV[4] .. ' still in the recycle bin', 'confirm_count', total,
  'total', total, 'done', 0, 'skipped', 0, 'cursor', '0', 'state', 'pending', 'created_at', ARGV[1], 'updated_at', ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[1], id)
if exists then redis.call('HSET', KEYS[1], 'undo_job', id) end
local entry = {'action', 'undo', 'object_type', op[1], 'record_ids', '', 'by', ARGV[3], 'via', 'undo', 'ref', ARGV[4],
  'at', ARGV[1], 'job', id}
if stop then entry[#entry+1] = 'canceled_job'; entry[#entry+1] = stop end
if paused ~= '' then entry[#entry+1] = 'paused_workflow'; entry[#entry+1] = paused end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', unpack(entry))
return {'new', id, stop or '', paused}
