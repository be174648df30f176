-- Ends a selecting job as refused.
-- KEYS[1] -> crm:{<tenant>}:job:<id>
-- KEYS[2] -> crm:{<tenant>}:job:<id>:selected
-- KEYS[3] -> crm:{<tenant>}:jobs:selecting
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> refusal code
-- ARGV[3] -> message
-- ARGV[4] -> the job id
-- Returns the job's hash (HGETALL), or {} for no such job.
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {} end
if st == 'selecting' then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[4])
  redis.call('HDEL', KEYS[1], 'filter', 'select_after')
  redis.call('HSET', KEYS[1], 'state', 'refused', 'refusal_code', ARGV[2], 'refusal', ARGV[3],
    'finished_at', ARGV[1], 'updated_at', ARGV[1])
end
return redis.call('HGETALL', KEYS[1])
