-- Changes a tenant's plan; when the new plan does not allow workflows, it pauses every active
-- workflow of the tenant in the same step (never deleting one).
-- KEYS[1] -> crm:{<tenant>}:tenant
-- KEYS[2] -> crm:{<tenant>}:flows
-- ARGV[1] -> new plan
-- ARGV[2] -> 1 if the plan allows workflows
-- ARGV[3] -> now (unix ms)
-- ARGV[4] -> flow key prefix ("crm:{<tenant>}:flow:")
-- ARGV[5] -> active flows key prefix
-- ARGV[6] -> trigger-reads key prefix: the types whose workflows it pauses lose their trigger-reads set
-- ARGV[7] -> the code of the reason it pauses them with (crm.PausePlanDowngraded); its param is
--   the plan
-- Returns {previous plan, paused name, ...}, or false if the tenant does not exist.
local old = redis.call('HGET', KEYS[1], 'plan')
if not old then return false end
redis.call('HSET', KEYS[1], 'plan', ARGV[1])
local out = {old}
if ARGV[2] == '0' then
  for _, name in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    local fk = ARGV[4] .. name
    local cur = redis.call('HMGET', fk, 'state', 'object_type')
    if cur[1] == 'active' then
      pause_active(ARGV[4], ARGV[5], ARGV[6], name, cur[2], ARGV[3], 'plan ' .. ARGV[1] .. ' does not include workflows',
        ARGV[7], cjson.encode({plan = ARGV[1]}))
      out[#out+1] = name
    end
  end
end
return out
