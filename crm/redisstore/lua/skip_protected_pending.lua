-- Takes out of a running bulk job's pending set the records found
-- protected when their batch came (a rule written, or a record changed, after the selection): each
-- counts as skipped and as protected by its rule, in the same step as it leaves the set, so that a
-- retry counts none twice.
-- KEYS[1] -> crm:{<tenant>}:job:<id>
-- KEYS[2] -> crm:{<tenant>}:job:<id>:pending
-- ARGV[1] -> now (unix ms)
-- ARGV[2..] -> pairs of record id, rule name
-- Returns how many records it took out, or -1 for no such job.
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return -1 end
if st ~= 'pending' and st ~= 'running' then return 0 end
local n = 0
for i = 2, #ARGV, 2 do
  if redis.call('ZREM', KEYS[2], ARGV[i]) == 1 then
    n = n + 1
    redis.call('HINCRBY', KEYS[1], 'protected:' .. ARGV[i + 1], 1)
  end
end
if n > 0 then
  redis.call('HINCRBY', KEYS[1], 'skipped', n)
  redis.call('HSET', KEYS[1], 'updated_at', ARGV[1])
end
return n
