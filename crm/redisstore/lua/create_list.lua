-- Creates a static list, unless the tenant has as many as it may have.
-- KEYS[1] -> crm:{<tenant>}:lists
-- KEYS[2] -> crm:{<tenant>}:list:<id>
-- ARGV[1] -> list id
-- ARGV[2] -> name
-- ARGV[3] -> object type
-- ARGV[4] -> created_at (unix ms)
-- ARGV[5] -> the most lists the tenant may have
-- Returns 1, or -n when the tenant already has n lists, the most it may have (nothing changed).
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[5]) then return -n end
redis.call('HSET', KEYS[2], 'name', ARGV[2], 'object_type', ARGV[3], 'created_at', ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])
return 1
