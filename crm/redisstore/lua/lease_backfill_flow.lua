-- Reads a workflow and takes, or renews, the lease of its backfill for a runner: what a backfill's
-- batch starts with, in one round trip. No lease is taken for a workflow that does not exist.
-- KEYS[1] -> crm:{<tenant>}:flow:<name>
-- KEYS[2] -> crm:{<tenant>}:flow:<name>:backfill:lease
-- ARGV[1] -> owner
-- ARGV[2] -> TTL (ms)
-- Returns {held, field, value, ...}: held is 1 when the runner holds the lease (taken or renewed), 0
-- when another owner holds it, and the workflow's hash follows; {0} when there is no workflow.
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return {0} end
local held = 0
local cur = redis.call('GET', KEYS[2])
if not cur or cur == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  held = 1
end
table.insert(h, 1, held)
return h
