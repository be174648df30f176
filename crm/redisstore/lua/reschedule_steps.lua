-- Moves when the next step of records enrolled in a workflow is due: a record waiting out a delay
-- until a date that was written while it waited. A record that no longer waits at that step of that
-- revision in that enrollment (its step ran, it left, it was enrolled again) is left alone, so
-- that a retried or late call moves nothing it should not.
-- KEYS[1] -> crm:{<tenant>}:flow:<name>:enrolled
-- KEYS[2..] -> the records' enrollment keys crm:{<tenant>}:enr:<name>:<type>:<id>, one per
--   quadruple of ARGV (the j-th: KEYS[j+1])
-- ARGV[1] -> revision
-- ARGV[2..] -> quadruples: member, the step it waits at, its enrollment count (0: any), the new
--   due time (unix ms)
-- Returns {member moved, ...}.
local rev = ARGV[1]
local moved = {}
local j = 0 -- the quadruple's number, from 1
for i = 2, #ARGV, 4 do
  local member, step, count, due = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3]
  j = j + 1
  local e = redis.call('HMGET', KEYS[j + 1], 'state', 'revision', 'step', 'count')
  if e[1] == 'enrolled' and e[2] == rev and e[3] == step and (count == '0' or e[4] == count) then
    redis.call('ZADD', KEYS[1], due, member)
    moved[#moved+1] = member
  end
end
return moved
