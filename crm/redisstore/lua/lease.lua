-- Takes or renews a lease.
-- KEYS[1] -> the lease key
-- ARGV[1] -> owner
-- ARGV[2] -> TTL (ms)
-- Returns 1 when the caller holds the lease (taken or renewed), 0 when another owner holds it.
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
