-- Adds records in a type's bin to the BinLinksKey of each record their bin association set names,
-- as archive.lua does for every record it moves: for the records binned before BinLinksKey
-- existed. SADD makes it idempotent: run again, it adds nothing. An id no longer in the bin, or
-- without a bin association set, is skipped.
-- KEYS[1] -> crm:{<tenant>}:binassocs:<type> (the ids whose bin association key exists)
-- ARGV[1] -> object type
-- ARGV[2] -> bin association key prefix ("crm:{<tenant>}:binassoc:")
-- ARGV[3] -> bin links key prefix ("crm:{<tenant>}:binlinks:")
-- ARGV[4..] -> record ids
-- Returns the number of links added (0 when each was there already).
local otype = ARGV[1]
local ids = {}
for i = 4, #ARGV do ids[#ids+1] = ARGV[i] end
if #ids == 0 then return 0 end
local has = redis.call('SMISMEMBER', KEYS[1], unpack(ids))
local n = 0
for i, id in ipairs(ids) do
  if has[i] == 1 then
    local me = otype .. ':' .. id
    for _, other in ipairs(redis.call('SMEMBERS', ARGV[2] .. me)) do
      n = n + redis.call('SADD', ARGV[3] .. other, me)
    end
  end
end
return n
