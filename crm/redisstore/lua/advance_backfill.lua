-- Records a backfill's position and progress for the runner that holds its lease, and only for it:
-- a runner that lost the lease (stalled past it, and replaced) cannot move the backfill back.
-- KEYS[1] -> crm:{<tenant>}:flow:<name>:backfill
-- KEYS[2] -> crm:{<tenant>}:flow:<name>:backfill:lease
-- ARGV[1] -> owner
-- ARGV[2..] -> the backfill's fields (name, value, ...)
-- Returns 1 when recorded, 0 when another owner holds the lease, or none.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local fields = {}
for i = 2, #ARGV do fields[#fields+1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
return 1
