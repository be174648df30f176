-- Records the results of one step of a workflow for a batch of records and moves each to its next
-- step, once: a record not at that step (already advanced by an earlier run) is left alone.
-- KEYS[1] -> crm:{<tenant>}:flow:<name>:enrolled
-- KEYS[2] -> crm:{<tenant>}:flow:<name>:log (FlowLogKey): every history entry written joins it
-- KEYS[3..] -> pairs, one per quintuple of ARGV (the j-th: KEYS[2*j+1] and KEYS[2*j+2]): the
--   record's enrollment key crm:{<tenant>}:enr:<name>:<type>:<id> and its history key
--   crm:{<tenant>}:hist:<name>:<type>:<id>
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> revision
-- ARGV[3] -> step index
-- ARGV[4] -> number of steps
-- ARGV[5] -> action type
-- ARGV[6] -> the user the workflow acts for (its activator), kept in each action entry as by
-- ARGV[7..] -> quintuples: member, outcome (done, unchanged, skipped, wait, failed), detail,
--   next due time (unix ms), 1 to stop the enrollment here (a failure or a deleted record)
-- An enrollment that ends writes a "completed" entry whose detail says why, for people: "all
-- actions ran", or "stopped after step N of M: <outcome>" with N counted from 1, as the console
-- and the CLI count steps (the entries' step field is the index, from 0). Entries written before
-- said "stopped after step <index>: <outcome>"; the API words them as the new ones.
-- Returns {member advanced, ...}.
local now, rev, step, nsteps = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local advanced = {}
local j = 0 -- the quintuple's number, from 1
for i = 7, #ARGV, 5 do
  local member, outcome, detail, due, stop = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4] == '1'
  j = j + 1
  local enr, hist = KEYS[2 * j + 1], KEYS[2 * j + 2]
  local e = redis.call('HMGET', enr, 'state', 'revision', 'step')
  if e[1] == 'enrolled' and e[2] == rev and tonumber(e[3]) == step then
    local entry = {at = now, kind = 'action', revision = rev, step = step, action = ARGV[5], outcome = outcome, detail = detail}
    if ARGV[6] ~= '' then entry.by = ARGV[6] end
    history(hist, entry, KEYS[2], member)
    if stop or step + 1 >= nsteps then
      redis.call('HSET', enr, 'state', 'completed', 'step', step + 1)
      redis.call('ZREM', KEYS[1], member)
      local why = 'all actions ran'
      if stop then why = 'stopped after step ' .. (step + 1) .. ' of ' .. nsteps .. ': ' .. outcome end
      history(hist, {at = now, kind = 'completed', revision = rev, detail = why}, KEYS[2], member)
    else
      redis.call('HSET', enr, 'step', step + 1)
      redis.call('ZADD', KEYS[1], due, member)
    end
    advanced[#advanced+1] = member
  end
end
return advanced
