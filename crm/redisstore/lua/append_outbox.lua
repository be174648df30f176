-- Keeps an email in the outbox unless its idempotency key was already delivered, and first removes
-- the expired entries (at most 100 a call). An email about a record that no longer exists, live or
-- in the bin, is dropped (audit entry "mail_dropped") instead of kept.
-- KEYS[1] -> crm:{<tenant>}:outbox
-- KEYS[2] -> crm:{<tenant>}:mailsent:<id>
-- KEYS[3] -> crm:{<tenant>}:outbox:expiry
-- KEYS[4] -> crm:{<tenant>}:audit
-- KEYS[5] -> crm:{<tenant>}:obj:<type>:<id>, the record the email is about (only with a reference)
-- KEYS[6] -> crm:{<tenant>}:bin:<type>:<id>, that record in the bin (only with a reference)
-- ARGV[1] -> the message (JSON)
-- ARGV[2] -> how long a delivered email's key is kept (ms)
-- ARGV[3] -> now (unix ms)
-- ARGV[4] -> expires at (unix ms), 0 for never
-- ARGV[5] -> object type of the reference
-- ARGV[6] -> record id of the reference
-- ARGV[7] -> workflow of the reference
-- ARGV[8] -> mail id
-- ARGV[9] -> audit stream max length
-- Returns 1 if appended, 0 if the id was already sent or kept, -1 if a delivery holds the lease,
-- 2 if dropped.
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[3], 'LIMIT', 0, 100)
for _, m in ipairs(old) do redis.call('LREM', KEYS[1], 1, m) end
if #old > 0 then redis.call('ZREM', KEYS[3], unpack(old)) end
local v = redis.call('GET', KEYS[2])
if v then
  if string.sub(v, 1, 6) == 'lease:' then return -1 end
  return 0
end
if drop_if_gone(5, 4, KEYS[2], ARGV[2], ARGV[3], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]) then return 2 end
redis.call('SET', KEYS[2], 'outbox', 'PX', ARGV[2])
redis.call('RPUSH', KEYS[1], ARGV[1])
if tonumber(ARGV[4]) > 0 then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1]) end
return 1
