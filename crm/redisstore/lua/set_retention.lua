-- Sets the deployment's retention, if it is still the one the caller read.
-- KEYS[1] -> crm:retention
-- ARGV[1] -> the retention the caller read (ms), or "" when the key was absent
-- ARGV[2] -> the new retention (ms)
-- Returns 1 if set, 0 if the stored retention is no longer ARGV[1] (changed meanwhile).
local cur = redis.call('GET', KEYS[1])
if cur == false then cur = '' end
if cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
