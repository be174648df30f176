-- Shared functions of the scripts that undo operations (SPEC S26): what an undo stops besides
-- restoring, the rule create_undo_job.lua acts on and operation_undo_stops.lua tells, kept here once.

-- undo_cancels tells whether an undo of operation "job-<id>" cancels that job, whose fields are j
-- = {state, object_type, canceled_by, kind}: a bulk or list job (no undo job) not finished yet.
local function undo_cancels(j)
  return j[4] ~= 'undo' and (j[1] == 'selecting' or j[1] == 'pending' or j[1] == 'running')
end

-- undo_running tells whether undo job id (or false), under job_prefix, is not finished: while it
-- runs, an undo of its operation answers it and pauses nothing.
local function undo_running(job_prefix, id)
  if not id then return false end
  local st = redis.call('HGET', job_prefix .. id, 'state')
  return st ~= false and st ~= 'done' and st ~= 'stopped'
end

-- undo_pauses returns the fields {state, object_type} of the workflow an undo of operation op_id
-- pauses, or nil: op is the operation's {object_type, undo_job, kind, ref}, and the workflow its
-- own (ref) when it is still active at the operation's activation (flow_operation, helpers.lua).
local function undo_pauses(op, op_id, flow_prefix, op_prefix)
  if op[3] ~= 'workflow' or not op[4] then return nil end
  local f = redis.call('HMGET', flow_prefix .. op[4], 'state', 'object_type')
  if f[1] == 'active' and op_id == flow_operation(flow_prefix .. op[4], op[4], op_prefix) then return f end
  return nil
end
