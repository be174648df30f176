package redisstore

import "github.com/redis/go-redis/v9"

// luaTriggerReads keeps the trigger-reads set of an object type (see TriggerReadsKey): the union of
// the "reads" fields of its active workflows, plus "", or no key when none is active.
const luaTriggerReads = `
local function refresh_reads(active, flow_prefix, reads_key)
  redis.call('DEL', reads_key)
  local names = redis.call('SMEMBERS', active)
  if #names == 0 then return end
  local set = {''}
  for _, n in ipairs(names) do
    local r = redis.call('HGET', flow_prefix .. n, 'reads') or '*'
    for p in string.gmatch(r, '[^,]+') do set[#set+1] = p end
  end
  for i = 1, #set, 500 do redis.call('SADD', reads_key, unpack(set, i, math.min(i + 499, #set))) end
end
`

// putFlowScript stores a new revision of a workflow (creating the workflow as a draft).
// KEYS[1] -> crm:{<tenant>}:flows   KEYS[2] -> crm:{<tenant>}:flow:<name>
// ARGV[1] -> name   ARGV[2] -> object type   ARGV[3] -> source   ARGV[4] -> by   ARGV[5] -> now (unix ms)
// ARGV[6] -> revision key prefix ("crm:{<tenant>}:flow:<name>:rev:")
// KEYS[3] -> crm:{<tenant>}:flows:type:<type>
// Returns {revision, 1} for a new revision, {revision, 0} when the source equals the latest one's,
// or {0, "type", old type} when the workflow exists with another object type.
var putFlowScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[2], 'revision', 'object_type')
local rev = tonumber(cur[1] or '0')
if rev > 0 then
  if cur[2] ~= ARGV[2] then return {0, 'type', cur[2]} end
  local last = redis.call('HGET', ARGV[6] .. rev, 'source')
  if last == ARGV[3] then return {rev, 0} end
end
rev = rev + 1
redis.call('HSET', ARGV[6] .. rev, 'source', ARGV[3], 'by', ARGV[4], 'created_at', ARGV[5])
if rev == 1 then
  redis.call('HSET', KEYS[2], 'object_type', ARGV[2], 'state', 'draft', 'active_revision', 0, 'created_at', ARGV[5])
  redis.call('SADD', KEYS[1], ARGV[1])
  redis.call('SADD', KEYS[3], ARGV[1])
end
redis.call('HSET', KEYS[2], 'revision', rev, 'updated_at', ARGV[5])
return {rev, 1}
`)

// activateFlowScript activates the latest revision of a workflow, if the tenant's plan allows it,
// on behalf of the activating user, whose authority the workflow then acts with.
// KEYS[1] -> crm:{<tenant>}:tenant   KEYS[2] -> crm:{<tenant>}:flow:<name>
// ARGV[1] -> now (unix ms)   ARGV[2] -> active flows key prefix ("crm:{<tenant>}:flows:active:")
// ARGV[3] -> name   ARGV[4] -> activating user   ARGV[5] -> the revision the caller checked, or 0
// ARGV[6] -> the properties its triggers read, comma-separated ("*": any)
// ARGV[7] -> flow key prefix ("crm:{<tenant>}:flow:")   ARGV[8] -> trigger-reads key prefix
// ARGV[9..] -> the plans that allow workflows
// KEYS[3] -> crm:{<tenant>}:changed:events: the activation keeps the tenant's change counter
// (activated_seq), and evaluates only the writes numbered after it.
// Returns {"ok", revision}, {"plan", plan}, {"missing"} or {"revision", latest revision} when the
// latest revision is not ARGV[5] (nothing changes).
var activateFlowScript = redis.NewScript(luaTriggerReads + `
local plan = redis.call('HGET', KEYS[1], 'plan')
local allowed = false
for i = 9, #ARGV do if ARGV[i] == plan then allowed = true end end
if not allowed then return {'plan', plan or ''} end
local cur = redis.call('HMGET', KEYS[2], 'revision', 'object_type')
if not cur[1] then return {'missing'} end
if ARGV[5] ~= '0' and cur[1] ~= ARGV[5] then return {'revision', cur[1]} end
redis.call('HSET', KEYS[2], 'state', 'active', 'active_revision', cur[1], 'activated_at', ARGV[1], 'updated_at', ARGV[1],
  'paused_reason', '', 'activated_by', ARGV[4], 'reads', ARGV[6],
  'activated_seq', redis.call('HGET', KEYS[3], '_seq') or '0')
redis.call('SADD', ARGV[2] .. cur[2], ARGV[3])
refresh_reads(ARGV[2] .. cur[2], ARGV[7], ARGV[8] .. cur[2])
return {'ok', cur[1]}
`)

// pauseFlowScript pauses a workflow.
// KEYS[1] -> crm:{<tenant>}:flow:<name>
// ARGV[1] -> now (unix ms)   ARGV[2] -> active flows key prefix   ARGV[3] -> name   ARGV[4] -> reason
// ARGV[5] -> the activation (activated_at, unix ms) to pause, or ”: any
// ARGV[6] -> flow key prefix   ARGV[7] -> trigger-reads key prefix
// Returns 1, 0 if the workflow does not exist, -1 if it was activated again since ARGV[5] (nothing
// changes).
var pauseFlowScript = redis.NewScript(luaTriggerReads + `
local otype = redis.call('HGET', KEYS[1], 'object_type')
if not otype then return 0 end
if (ARGV[5] or '') ~= '' and redis.call('HGET', KEYS[1], 'activated_at') ~= ARGV[5] then return -1 end
if redis.call('HGET', KEYS[1], 'state') == 'active' then
  redis.call('HSET', KEYS[1], 'state', 'paused', 'updated_at', ARGV[1], 'paused_reason', ARGV[4])
end
redis.call('SREM', ARGV[2] .. otype, ARGV[3])
refresh_reads(ARGV[2] .. otype, ARGV[6], ARGV[7] .. otype)
return 1
`)

// setPlanScript changes a tenant's plan; when the new plan does not allow workflows, it pauses every
// active workflow of the tenant in the same step (never deleting one).
// KEYS[1] -> crm:{<tenant>}:tenant   KEYS[2] -> crm:{<tenant>}:flows
// ARGV[1] -> new plan   ARGV[2] -> 1 if the plan allows workflows   ARGV[3] -> now (unix ms)
// ARGV[4] -> flow key prefix ("crm:{<tenant>}:flow:")   ARGV[5] -> active flows key prefix
// ARGV[6] -> trigger-reads key prefix: the types whose workflows it pauses lose their trigger-reads set
// Returns {previous plan, paused name, ...}, or false if the tenant does not exist.
var setPlanScript = redis.NewScript(luaTriggerReads + `
local old = redis.call('HGET', KEYS[1], 'plan')
if not old then return false end
redis.call('HSET', KEYS[1], 'plan', ARGV[1])
local out = {old}
if ARGV[2] == '0' then
  for _, name in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    local fk = ARGV[4] .. name
    local cur = redis.call('HMGET', fk, 'state', 'object_type')
    if cur[1] == 'active' then
      redis.call('HSET', fk, 'state', 'paused', 'updated_at', ARGV[3], 'paused_reason', 'plan ' .. ARGV[1] .. ' does not include workflows')
      redis.call('SREM', ARGV[5] .. cur[2], name)
      refresh_reads(ARGV[5] .. cur[2], ARGV[4], ARGV[6] .. cur[2])
      out[#out+1] = name
    end
  end
end
return out
`)
