-- A shared function that keeps the trigger-reads set of an object type (see TriggerReadsKey): the union of
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
