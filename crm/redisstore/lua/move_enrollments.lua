-- Moves the records enrolled at an older revision of a workflow, waiting at a step, on to its active
-- revision, where they continue at the same step; a record whose step the active revision does not
-- have completes there. Each gets a history entry saying so.
-- KEYS[1] -> crm:{<tenant>}:flow:<name>
-- KEYS[2] -> crm:{<tenant>}:flow:<name>:enrolled
-- KEYS[3] -> crm:{<tenant>}:flow:<name>:log (FlowLogKey): every history entry written joins it
-- KEYS[4..] -> pairs, one per member (for ARGV[i]: KEYS[2*i-8] and KEYS[2*i-7]): the record's
--   enrollment key crm:{<tenant>}:enr:<name>:<type>:<id> and its history key
--   crm:{<tenant>}:hist:<name>:<type>:<id>
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> the older revision
-- ARGV[3] -> the active revision
-- ARGV[4] -> the step
-- ARGV[5] -> the active revision's number of steps
-- ARGV[6..] -> members
-- Returns {member moved, ...}; nothing happens unless the workflow is active at ARGV[3].
local now, from, to, step, nsteps = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local st = redis.call('HMGET', KEYS[1], 'state', 'active_revision')
if st[1] ~= 'active' or st[2] ~= to then return {} end
local moved = {}
for i = 6, #ARGV do
  local member = ARGV[i]
  local enr, hist = KEYS[2 * i - 8], KEYS[2 * i - 7]
  local e = redis.call('HMGET', enr, 'state', 'revision', 'step')
  if e[1] == 'enrolled' and e[2] == from and tonumber(e[3]) == step then
    if step < nsteps then
      redis.call('HSET', enr, 'revision', to)
      history(hist, {at = now, kind = 'moved', revision = to,
        detail = 'moved from revision ' .. from .. ' to revision ' .. to .. ', activated since; it continues at step ' .. step}, KEYS[3], member)
      moved[#moved+1] = member
    else
      redis.call('HSET', enr, 'state', 'completed')
      redis.call('ZREM', KEYS[2], member)
      history(hist, {at = now, kind = 'completed', revision = from,
        detail = 'revision ' .. to .. ', activated since, has no step ' .. step .. ': the enrollment ends here'}, KEYS[3], member)
    end
  end
end
return moved
