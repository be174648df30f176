-- Reads the records of one type linked to each of some records, as a batch read of associations:
-- nothing at all when the records have more associations in all (over every type) than the read
-- may look at.
-- KEYS[1..] -> two per record, for the record i (from 0): KEYS[2*i+1] crm:{<tenant>}:obj:<type>:<id>,
--   KEYS[2*i+2] crm:{<tenant>}:assoc:<type>:<id>
-- ARGV[1] -> "<toType>:", the start of the members to return
-- ARGV[2] -> the most associations the records may have in all
-- Returns the number of associations of the live records, when it is more than ARGV[2]; else one
--   entry per record, in order: false if it is not live, else the ids of its linked records of the
--   type, in no order.
local n = #KEYS / 2
local max, total = tonumber(ARGV[2]), 0
local live = {}
for i = 0, n - 1 do
  if redis.call('EXISTS', KEYS[2*i+1]) == 1 then
    live[i] = true
    total = total + redis.call('SCARD', KEYS[2*i+2])
  end
end
if total > max then return total end
local prefix = ARGV[1]
local plen = #prefix
local out = {}
for i = 0, n - 1 do
  if live[i] then
    local ids = {}
    for _, m in ipairs(redis.call('SMEMBERS', KEYS[2*i+2])) do
      if string.sub(m, 1, plen) == prefix then ids[#ids+1] = string.sub(m, plen + 1) end
    end
    out[i+1] = ids
  else
    out[i+1] = false
  end
end
return out
