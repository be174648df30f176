-- Pauses a workflow.
-- KEYS[1] -> crm:{<tenant>}:flow:<name>
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> active flows key prefix
-- ARGV[3] -> name
-- ARGV[4] -> reason
-- ARGV[5] -> the activation (activated_at, unix ms) to pause, or '': any
-- ARGV[6] -> flow key prefix
-- ARGV[7] -> trigger-reads key prefix
-- ARGV[8] -> the reason's code (crm.PauseCode), or '' for a user's pause
-- ARGV[9] -> the values the reason names, a JSON object of strings, or ''
-- ARGV[10] -> with ARGV[5], that activation's number (the hash's activation), or '': ARGV[5] alone
--   names it (a workflow activated by a version that did not number its activations)
-- Returns 1, 0 if the workflow does not exist, -1 if it was activated again since ARGV[5] and
-- ARGV[10], even within the same millisecond (nothing changes).
local otype = redis.call('HGET', KEYS[1], 'object_type')
if not otype then return 0 end
if (ARGV[5] or '') ~= '' then
  local f = redis.call('HMGET', KEYS[1], 'activated_at', 'activation')
  if f[1] ~= ARGV[5] or ((ARGV[10] or '') ~= '' and f[2] ~= ARGV[10]) then return -1 end
end
if redis.call('HGET', KEYS[1], 'state') == 'active' then
  pause_active(ARGV[6], ARGV[2], ARGV[7], ARGV[3], otype, ARGV[1], ARGV[4], ARGV[8], ARGV[9])
end
return 1
