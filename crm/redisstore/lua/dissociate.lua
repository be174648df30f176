-- Removes the link between two records in both directions.
-- KEYS[1] -> crm:{<tenant>}:assoc:<fromType>:<fromId>
-- KEYS[2] -> crm:{<tenant>}:assoc:<toType>:<toId>
-- ARGV[1] -> "<fromType>:<fromId>"
-- ARGV[2] -> "<toType>:<toId>"
-- Returns the number of directions removed (0, 1 or 2).
return redis.call('SREM', KEYS[1], ARGV[2]) + redis.call('SREM', KEYS[2], ARGV[1])
