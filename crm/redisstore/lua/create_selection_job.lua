-- Stores a bulk delete job that selects its records in the worker, with a new id.
-- KEYS[1] -> crm:{<tenant>}:seq:jobs
-- KEYS[2] -> crm:{<tenant>}:jobs
-- KEYS[3] -> crm:{<tenant>}:jobs:selecting
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> job key prefix ("crm:{<tenant>}:job:"): the job's key is made of the id it draws
-- ARGV[3] -> the job's ref (empty for the job's own id)
-- ARGV[4..] -> job fields (name, value, ...)
-- Returns the job id.
local id = tostring(redis.call('INCR', KEYS[1]))
local job = ARGV[2] .. id
local ref = ARGV[3]
if ref == '' then ref = id end
local fields = {}
for i = 4, #ARGV do fields[#fields+1] = ARGV[i] end
redis.call('HSET', job, 'state', 'selecting', 'total', 0, 'done', 0, 'skipped', 0, 'scanned', 0, 'matched', 0,
  'select_after', '', 'created_at', ARGV[1], 'updated_at', ARGV[1], 'ref', ref, unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[1], id)
redis.call('SADD', KEYS[3], id)
return id
