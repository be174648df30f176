-- Sets the blast-radius limit of a tenant's workflows that set none of their own (SPEC S24).
-- KEYS[1] -> crm:{<tenant>}:tenant
-- ARGV[1] -> the most deletions per window, 0 for no limit
-- ARGV[2] -> the window (ms)
-- Returns 1, or 0 if the tenant does not exist (nothing is written).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'max_deletions', ARGV[1], 'deletions_per', ARGV[2])
return 1
