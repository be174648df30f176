-- Removes the link between two live records in both directions. A record in the bin keeps its
-- links (in its bin association key) to bring them back on restore, so removing one from it, or to
-- it, is refused like any other write to a record that is not live.
-- KEYS[1] -> crm:{<tenant>}:obj:<fromType>:<fromId>
-- KEYS[2] -> crm:{<tenant>}:obj:<toType>:<toId>
-- KEYS[3] -> crm:{<tenant>}:assoc:<fromType>:<fromId>
-- KEYS[4] -> crm:{<tenant>}:assoc:<toType>:<toId>
-- ARGV[1] -> "<fromType>:<fromId>"
-- ARGV[2] -> "<toType>:<toId>"
-- Returns the number of directions removed (0, 1 or 2), -1 if the first record is not live, -2 if
-- the second is not.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('EXISTS', KEYS[2]) == 0 then return -2 end
return redis.call('SREM', KEYS[3], ARGV[2]) + redis.call('SREM', KEYS[4], ARGV[1])
