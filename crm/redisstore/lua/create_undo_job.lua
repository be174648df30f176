-- Starts an undo of an operation (SPEC S26) as a job with a new id, in state pending, whose total
-- is the operation's records still in the bin; the undo job walks the operation's bin index by id
-- (see restore.lua), so nothing is copied here. The undo is recorded in the audit trail. While an
-- undo job of the operation is not done, it answers that job and changes nothing, so that undoing
-- twice (or a client retrying after losing the reply) starts one job. While the bulk or list job
-- whose operation it is ("job-<id>") has not finished, it refuses and changes nothing: that job
-- would go on moving the rest of its records to the bin after the undo.
-- KEYS[1] -> crm:{<tenant>}:op:<id>
-- KEYS[2] -> crm:{<tenant>}:op:<id>:bin
-- KEYS[3] -> crm:{<tenant>}:seq:jobs
-- KEYS[4] -> crm:{<tenant>}:jobs
-- KEYS[5] -> crm:{<tenant>}:audit
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> job key prefix ("crm:{<tenant>}:job:"): the job's key is made of the id it draws
-- ARGV[3] -> the user who asks
-- ARGV[4] -> the operation's id
-- ARGV[5] -> audit stream max length
-- Returns {"new", job id}, {"running", job id}, {"deleting", job id, its state} while the
-- operation's own job runs, or {"missing"} for an unknown operation.
local op = redis.call('HMGET', KEYS[1], 'object_type', 'undo_job', 'kind')
if not op[1] then return {'missing'} end
if (op[3] == 'bulk' or op[3] == 'list') and string.sub(ARGV[4], 1, 4) == 'job-' then
  local own = string.sub(ARGV[4], 5)
  local st = redis.call('HGET', ARGV[2] .. own, 'state')
  if st and st ~= 'done' and st ~= 'refused' then return {'deleting', own, st} end
end
if op[2] then
  local st = redis.call('HGET', ARGV[2] .. op[2], 'state')
  if st and st ~= 'done' then return {'running', op[2]} end
end
local id = tostring(redis.call('INCR', KEYS[3]))
local job = ARGV[2] .. id
local total = redis.call('ZCARD', KEYS[2])
redis.call('HSET', job, 'kind', 'undo', 'object_type', op[1], 'by', ARGV[3], 'via', 'undo', 'ref', ARGV[4],
  'selection', 'the records of operation ' .. ARGV[4] .. ' still in the recycle bin', 'confirm_count', total,
  'total', total, 'done', 0, 'skipped', 0, 'cursor', '0', 'state', 'pending', 'created_at', ARGV[1], 'updated_at', ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[1], id)
redis.call('HSET', KEYS[1], 'undo_job', id)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'action', 'undo', 'object_type', op[1], 'record_ids', '',
  'by', ARGV[3], 'via', 'undo', 'ref', ARGV[4], 'at', ARGV[1], 'job', id)
return {'new', id}
