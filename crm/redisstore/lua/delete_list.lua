-- Deletes a list and its memberships, never its members.
-- KEYS[1] -> crm:{<tenant>}:lists
-- KEYS[2] -> crm:{<tenant>}:list:<id>
-- KEYS[3] -> crm:{<tenant>}:list:<id>:members
-- ARGV[1] -> list id
-- ARGV[2] -> prefix of member-of keys of the list's type ("crm:{<tenant>}:memberof:<type>:")
-- Returns 1 if deleted, 0 if the list did not exist.
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local ids = redis.call('ZRANGE', KEYS[3], 0, -1)
for _, id in ipairs(ids) do redis.call('SREM', ARGV[2] .. id, ARGV[1]) end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
