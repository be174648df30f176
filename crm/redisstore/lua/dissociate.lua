-- Removes the links between pairs of live records, each in both directions: all of them, or none
-- when a pair names a record that is not live. A record in the bin keeps its links (in its bin
-- association key) to bring them back on restore, so removing one from it, or to it, is refused
-- like any other write to a record that is not live.
-- KEYS[1..] -> four per pair, for the pair i (from 0): KEYS[4*i+1] the first record
--   (crm:{<tenant>}:obj:<fromType>:<fromId>), KEYS[4*i+2] the second (crm:{<tenant>}:obj:<toType>:<toId>),
--   KEYS[4*i+3] and KEYS[4*i+4] their association sets (crm:{<tenant>}:assoc:<fromType>:<fromId>,
--   crm:{<tenant>}:assoc:<toType>:<toId>)
-- ARGV[1..] -> two per pair: ARGV[2*i+1] "<fromType>:<fromId>", ARGV[2*i+2] "<toType>:<toId>"
-- Returns one code per pair, in order: -1 if its first record is not live, -2 if its second is not,
--   and then nothing was removed (the other pairs' codes are 0); else the number of directions
--   removed (0, 1 or 2).
local n = #ARGV / 2
local out, refused = {}, false
for i = 0, n - 1 do
  local code = 0
  if redis.call('EXISTS', KEYS[4*i+1]) == 0 then code = -1
  elseif redis.call('EXISTS', KEYS[4*i+2]) == 0 then code = -2 end
  if code < 0 then refused = true end
  out[i+1] = code
end
if refused then return out end
for i = 0, n - 1 do
  out[i+1] = redis.call('SREM', KEYS[4*i+3], ARGV[2*i+2]) + redis.call('SREM', KEYS[4*i+4], ARGV[2*i+1])
end
return out
