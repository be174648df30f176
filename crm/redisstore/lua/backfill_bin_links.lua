-- Adds records in a type's bin to the BinLinksKey of each record their bin association set names,
-- as archive.lua does for every record it moves: for the records binned before BinLinksKey
-- existed. SADD makes it idempotent: run again, it adds nothing. An id no longer in the bin, or
-- without a bin association set, is skipped. A named record that is in the bin too joins the bin
-- association ids of its type, so that its purge drops its bin links (as archive.lua has it join
-- them since); a live one is flagged _assoc, so that its archive does so; one gone for good
-- (purged or erased) gets no bin links, since nothing would ever read or drop them.
-- KEYS[1] -> crm:{<tenant>}:binassocs:<type> (the ids whose bin association or bin links key exists)
-- ARGV[1] -> object type
-- ARGV[2] -> bin association key prefix ("crm:{<tenant>}:binassoc:")
-- ARGV[3] -> bin links key prefix ("crm:{<tenant>}:binlinks:")
-- ARGV[4] -> record key prefix ("crm:{<tenant>}:obj:"), for the named records
-- ARGV[5] -> bin record key prefix ("crm:{<tenant>}:bin:"), likewise
-- ARGV[6] -> bin association ids key prefix ("crm:{<tenant>}:binassocs:"), likewise
-- ARGV[7..] -> record ids
-- Returns the number of links added (0 when each was there already).
local otype = ARGV[1]
local ids = {}
for i = 7, #ARGV do ids[#ids+1] = ARGV[i] end
if #ids == 0 then return 0 end
local has = redis.call('SMISMEMBER', KEYS[1], unpack(ids))
local n = 0
for i, id in ipairs(ids) do
  if has[i] == 1 then
    local me = otype .. ':' .. id
    for _, other in ipairs(redis.call('SMEMBERS', ARGV[2] .. me)) do
      local exists = true
      if redis.call('EXISTS', ARGV[5] .. other) == 1 then
        local ot, oid = string.match(other, '^([^:]+):(.+)$')
        redis.call('SADD', ARGV[6] .. ot, oid)
      elseif redis.call('EXISTS', ARGV[4] .. other) == 1 then
        redis.call('HSET', ARGV[4] .. other, '_assoc', '1')
      else
        exists = false
      end
      if exists then n = n + redis.call('SADD', ARGV[3] .. other, me) end
    end
  end
end
return n
