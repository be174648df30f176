-- Removes the outbox entries expired at now, oldest first.
-- KEYS[1] -> crm:{<tenant>}:outbox
-- KEYS[2] -> crm:{<tenant>}:outbox:expiry
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> batch limit
-- Returns the number of entries removed.
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(old) do redis.call('LREM', KEYS[1], 1, m) end
if #old > 0 then redis.call('ZREM', KEYS[2], unpack(old)) end
return #old
