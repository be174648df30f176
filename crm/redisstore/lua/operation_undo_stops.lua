-- Tells what an undo of an operation would stop if asked now (undo_stops.lua), changing nothing.
-- KEYS[1] -> crm:{<tenant>}:op:<id>
-- ARGV[1] -> job key prefix ("crm:{<tenant>}:job:")
-- ARGV[2] -> the operation's id
-- ARGV[3] -> flow key prefix ("crm:{<tenant>}:flow:")
-- ARGV[4] -> operation key prefix ("crm:{<tenant>}:op:")
-- Returns {"ok", the id of the job it would cancel or '', the workflow it would pause or ''}, or
-- {"missing"} for an unknown operation.
local op = redis.call('HMGET', KEYS[1], 'object_type', 'undo_job', 'kind', 'ref')
if not op[1] then return {'missing'} end
local stop = ''
local own = string.match(ARGV[2], '^job%-(.+)$')
if own and undo_cancels(redis.call('HMGET', ARGV[1] .. own, 'state', 'object_type', 'canceled_by', 'kind')) then
  stop = own
end
local pause = ''
if not undo_running(ARGV[1], op[2]) and undo_pauses(op, ARGV[2], ARGV[3], ARGV[4]) then pause = op[4] end
return {'ok', stop, pause}
