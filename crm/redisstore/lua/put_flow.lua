-- Stores a new revision of a workflow (creating the workflow as a draft).
-- KEYS[1] -> crm:{<tenant>}:flows
-- KEYS[2] -> crm:{<tenant>}:flow:<name>
-- KEYS[3] -> crm:{<tenant>}:flows:type:<type>
-- ARGV[1] -> name
-- ARGV[2] -> object type
-- ARGV[3] -> source
-- ARGV[4] -> by
-- ARGV[5] -> now (unix ms)
-- ARGV[6] -> revision key prefix ("crm:{<tenant>}:flow:<name>:rev:"): the new revision's key is
--   made of the number it draws
-- Returns {revision, 1} for a new revision, {revision, 0} when the source equals the latest one's,
-- or {0, "type", old type} when the workflow exists with another object type.
local cur = redis.call('HMGET', KEYS[2], 'revision', 'object_type')
local rev = tonumber(cur[1] or '0')
if rev > 0 then
  if cur[2] ~= ARGV[2] then return {0, 'type', cur[2]} end
  local last = redis.call('HGET', ARGV[6] .. rev, 'source')
  if last == ARGV[3] then return {rev, 0} end
end
rev = rev + 1
redis.call('HSET', ARGV[6] .. rev, 'source', ARGV[3], 'by', ARGV[4], 'created_at', ARGV[5])
if rev == 1 then
  redis.call('HSET', KEYS[2], 'object_type', ARGV[2], 'state', 'draft', 'active_revision', 0, 'created_at', ARGV[5])
  redis.call('SADD', KEYS[1], ARGV[1])
  redis.call('SADD', KEYS[3], ARGV[1])
end
redis.call('HSET', KEYS[2], 'revision', rev, 'updated_at', ARGV[5])
return {rev, 1}
