-- Links two live records in both directions. Both records get the field _assoc, which tells the bin
-- scripts that they have associations to look at (most records have none, and bulk deletes skip
-- the look then).
-- KEYS[1] -> crm:{<tenant>}:obj:<fromType>:<fromId>
-- KEYS[2] -> crm:{<tenant>}:obj:<toType>:<toId>
-- KEYS[3] -> crm:{<tenant>}:assoc:<fromType>:<fromId>
-- KEYS[4] -> crm:{<tenant>}:assoc:<toType>:<toId>
-- ARGV[1] -> "<fromType>:<fromId>"
-- ARGV[2] -> "<toType>:<toId>"
-- ARGV[3] -> the most associations a record may have
-- Returns 1 when linked (or already linked), -1 if the first record is not live, -2 if the second
-- is not, -3 if the first has the most associations already, -4 if the second has.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('EXISTS', KEYS[2]) == 0 then return -2 end
if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1 then return 1 end
local max = tonumber(ARGV[3])
if redis.call('SCARD', KEYS[3]) >= max then return -3 end
if redis.call('SCARD', KEYS[4]) >= max then return -4 end
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[1], '_assoc', '1')
redis.call('HSET', KEYS[2], '_assoc', '1')
return 1
