-- Creates a tenant unless it exists.
-- KEYS[1] -> crm:{<tenant>}:tenant
-- ARGV[1] -> plan
-- ARGV[2] -> created_at (unix ms)
-- Returns 1 if created, 0 if the tenant existed.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'plan', ARGV[1], 'created_at', ARGV[2])
return 1
