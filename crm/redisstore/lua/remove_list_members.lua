-- Removes records from a list.
-- KEYS[1] -> crm:{<tenant>}:list:<id>
-- KEYS[2] -> crm:{<tenant>}:list:<id>:members
-- KEYS[3..] -> crm:{<tenant>}:memberof:<type>:<record id>, one per record (KEYS[1+i] for ARGV[i])
-- ARGV[1] -> list id
-- ARGV[2..] -> record ids
-- Returns {removed id, ...}: the ids this call removed (ZREM returned 1), in the order given;
--   false if the list does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local removed = {}
for i = 2, #ARGV do
  if redis.call('ZREM', KEYS[2], ARGV[i]) == 1 then removed[#removed+1] = ARGV[i] end
  redis.call('SREM', KEYS[1 + i], ARGV[1])
end
return removed
