-- Reads the records of some types linked to each of some records, as a read of associations:
-- nothing at all when the records have more associations in all (over every type) than the read
-- may look at.
-- KEYS[1..] -> two per record, for the record i (from 0): KEYS[2*i+1] crm:{<tenant>}:obj:<type>:<id>,
--   KEYS[2*i+2] crm:{<tenant>}:assoc:<type>:<id>
-- ARGV[1] -> the most associations the records may have in all
-- ARGV[2..] -> the types whose linked records to return, each once
-- Returns the number of associations of the live records, when it is more than ARGV[1]; else one
--   entry per record, in order: false if it is not live, else one list per type of ARGV[2..], in
--   their order: the ids of its linked records of that type, in no order.
local n = #KEYS / 2
local max, total = tonumber(ARGV[1]), 0
local live = {}
for i = 0, n - 1 do
  if redis.call('EXISTS', KEYS[2*i+1]) == 1 then
    live[i] = true
    total = total + redis.call('SCARD', KEYS[2*i+2])
  end
end
if total > max then return total end
local slot = {} -- type -> its place among ARGV[2..]
for j = 2, #ARGV do slot[ARGV[j]] = j - 1 end
local out = {}
for i = 0, n - 1 do
  if live[i] then
    local lists = {}
    for j = 2, #ARGV do lists[j-1] = {} end
    for _, m in ipairs(redis.call('SMEMBERS', KEYS[2*i+2])) do
      local colon = string.find(m, ':', 1, true)
      local k = colon and slot[string.sub(m, 1, colon - 1)]
      if k then
        local ids = lists[k]
        ids[#ids+1] = string.sub(m, colon + 1)
      end
    end
    out[i+1] = lists
  else
    out[i+1] = false
  end
end
return out
