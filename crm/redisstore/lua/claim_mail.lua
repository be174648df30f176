-- Takes the lease on the delivery of an email unless it was delivered, or drops it when the record
-- it is about no longer exists, live or in the bin.
-- KEYS[1] -> crm:{<tenant>}:mailsent:<id>
-- KEYS[2] -> crm:{<tenant>}:audit
-- KEYS[3] -> crm:{<tenant>}:obj:<type>:<id>, the record the email is about (only with a reference)
-- KEYS[4] -> crm:{<tenant>}:bin:<type>:<id>, that record in the bin (only with a reference)
-- ARGV[1] -> "lease:<token>"
-- ARGV[2] -> lease (ms)
-- ARGV[3] -> now (unix ms)
-- ARGV[4] -> object type of the reference
-- ARGV[5] -> record id of the reference
-- ARGV[6] -> workflow of the reference
-- ARGV[7] -> mail id
-- ARGV[8] -> audit stream max length
-- ARGV[9] -> how long a delivered email's key is kept (ms)
-- Returns "claimed" (also when the caller already holds this lease), "busy", "done" or "dropped".
local v = redis.call('GET', KEYS[1])
if v == 'dropped' then return 'dropped' end
if v and string.sub(v, 1, 6) == 'lease:' and v ~= ARGV[1] then return 'busy' end
if v and string.sub(v, 1, 6) ~= 'lease:' then return 'done' end
if drop_if_gone(3, 2, KEYS[1], ARGV[9], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]) then return 'dropped' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'claimed'
