-- Creates a static list.
-- KEYS[1] -> crm:{<tenant>}:lists
-- KEYS[2] -> crm:{<tenant>}:list:<id>
-- ARGV[1] -> list id
-- ARGV[2] -> name
-- ARGV[3] -> object type
-- ARGV[4] -> created_at (unix ms)
-- Returns 1.
redis.call('HSET', KEYS[2], 'name', ARGV[2], 'object_type', ARGV[3], 'created_at', ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])
return 1
