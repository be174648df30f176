-- Shared functions of the scripts that change which workflows are active.

-- refresh_reads keeps the trigger-reads set of an object type (see TriggerReadsKey): the union of
-- the "reads" fields of its active workflows, plus "", or no key when none is active.
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

-- pause_active pauses the active workflow name of object type otype at now, giving reason (the
-- English sentence), code (its crm.PauseCode, '' for a user's pause) and params (the values the
-- sentence names, a JSON object of strings, or ''): its state, paused_reason, paused_reason_code
-- and paused_reason_params, its leaving the type's active set (active_prefix .. otype) and the
-- type's trigger-reads set (reads_prefix .. otype) kept. Every pause is this one write, so that a
-- change to what a pause does is made here. The caller has read that the workflow is active.
local function pause_active(flow_prefix, active_prefix, reads_prefix, name, otype, now, reason, code, params)
  redis.call('HSET', flow_prefix .. name, 'state', 'paused', 'updated_at', now, 'paused_reason', reason,
    'paused_reason_code', code, 'paused_reason_params', params)
  redis.call('SREM', active_prefix .. otype, name)
  refresh_reads(active_prefix .. otype, flow_prefix, reads_prefix .. otype)
end
