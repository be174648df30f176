-- Activates the latest revision of a workflow, if the tenant's plan allows it, on behalf of the
-- activating user, whose authority the workflow then acts with. The activation keeps the tenant's
-- change counter (activated_seq), and evaluates only the writes numbered after it. Activated
-- again while active (a new revision, most often), it keeps the counter of the activation before,
-- so that the writes made while it was active and not yet evaluated are evaluated by the new
-- revision, unless that revision's triggers read a property the older ones did not: those writes
-- kept no value of it, and only the writes from the new activation on are evaluated. Each
-- activation takes the next number of the workflow's counter (activation): with activated_at it
-- names the activation, even when two of them fall in the same millisecond.
-- KEYS[1] -> crm:{<tenant>}:tenant
-- KEYS[2] -> crm:{<tenant>}:flow:<name>
-- KEYS[3] -> crm:{<tenant>}:changed:events
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> active flows key prefix ("crm:{<tenant>}:flows:active:")
-- ARGV[3] -> name
-- ARGV[4] -> activating user
-- ARGV[5] -> the revision the caller checked, or 0
-- ARGV[6] -> the properties its triggers read, comma-separated ("*": any)
-- ARGV[7] -> flow key prefix ("crm:{<tenant>}:flow:")
-- ARGV[8] -> trigger-reads key prefix
-- ARGV[9..] -> the plans that allow workflows
-- Returns {"ok", revision}, {"plan", plan}, {"missing"}, {"revision", latest revision} when the
-- latest revision is not ARGV[5], or {"erased", latest revision} when a permanent delete erased an
-- address from the latest revision (erase_flow.lua): it no longer parses, and a new revision must
-- be stored first (nothing changes).
local plan = redis.call('HGET', KEYS[1], 'plan')
local allowed = false
for i = 9, #ARGV do if ARGV[i] == plan then allowed = true end end
if not allowed then return {'plan', plan or ''} end
local cur = redis.call('HMGET', KEYS[2], 'revision', 'object_type')
if not cur[1] then return {'missing'} end
if ARGV[5] ~= '0' and cur[1] ~= ARGV[5] then return {'revision', cur[1]} end
if redis.call('HEXISTS', ARGV[7] .. ARGV[3] .. ':rev:' .. cur[1], 'erased') == 1 then return {'erased', cur[1]} end
-- covers tells whether the reads old (comma-separated, "*": any) include every one of the reads new.
local function covers(old, new)
  if old == '*' then return true end
  if new == '*' then return false end
  local have = {}
  for p in string.gmatch(old, '[^,]+') do have[p] = true end
  for p in string.gmatch(new, '[^,]+') do
    if not have[p] then return false end
  end
  return true
end
local seq = redis.call('HGET', KEYS[3], '_seq') or '0'
local was = redis.call('HMGET', KEYS[2], 'state', 'activated_seq', 'reads')
if was[1] == 'active' and was[2] and covers(was[3] or '*', ARGV[6]) then seq = was[2] end
redis.call('HSET', KEYS[2], 'state', 'active', 'active_revision', cur[1], 'activated_at', ARGV[1], 'updated_at', ARGV[1],
  'paused_reason', '', 'paused_reason_code', '', 'paused_reason_params', '', 'activated_by', ARGV[4], 'reads', ARGV[6], 'activated_seq', seq)
redis.call('HINCRBY', KEYS[2], 'activation', 1)
redis.call('SADD', ARGV[2] .. cur[2], ARGV[3])
refresh_reads(ARGV[2] .. cur[2], ARGV[7], ARGV[8] .. cur[2])
return {'ok', cur[1]}
