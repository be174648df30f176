-- Links pairs of live records, each in both directions, in the order given. Both records of a pair
-- get the field _assoc, which tells the bin scripts that they have associations to look at (most
-- records have none, and bulk deletes skip the look then). A pair whose records are not both live,
-- or one of whose records has the most associations already (counting the links of the pairs
-- before it), is skipped; the other pairs are linked all the same.
-- KEYS[1..] -> four per pair, for the pair i (from 0): KEYS[4*i+1] the first record
--   (crm:{<tenant>}:obj:<fromType>:<fromId>), KEYS[4*i+2] the second (crm:{<tenant>}:obj:<toType>:<toId>),
--   KEYS[4*i+3] and KEYS[4*i+4] their association sets (crm:{<tenant>}:assoc:<fromType>:<fromId>,
--   crm:{<tenant>}:assoc:<toType>:<toId>)
-- ARGV[1] -> the most associations a record may have
-- ARGV[2..] -> two per pair: ARGV[2*i+2] "<fromType>:<fromId>", ARGV[2*i+3] "<toType>:<toId>"
-- Returns one code per pair, in order: 1 when linked (or already linked), -1 if the first record is
--   not live, -2 if the second is not, -3 if the first has the most associations already, -4 if
--   the second has.
local max = tonumber(ARGV[1])
local out = {}
for i = 0, (#ARGV - 1) / 2 - 1 do
  local from, to, fassoc, tassoc = KEYS[4*i+1], KEYS[4*i+2], KEYS[4*i+3], KEYS[4*i+4]
  local fm, tm = ARGV[2*i+2], ARGV[2*i+3]
  local code = 1
  if redis.call('EXISTS', from) == 0 then code = -1
  elseif redis.call('EXISTS', to) == 0 then code = -2
  elseif redis.call('SISMEMBER', fassoc, tm) == 0 then
    if redis.call('SCARD', fassoc) >= max then code = -3
    elseif redis.call('SCARD', tassoc) >= max then code = -4
    else
      redis.call('SADD', fassoc, tm)
      redis.call('SADD', tassoc, fm)
      redis.call('HSET', from, '_assoc', '1')
      redis.call('HSET', to, '_assoc', '1')
    end
  end
  out[#out+1] = code
end
return out
