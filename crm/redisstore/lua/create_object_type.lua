-- Defines a custom object type and its properties, unless the tenant has as many as it may have,
-- and writes the audit entry "object_type_create" of it.
-- KEYS[1] -> crm:{<tenant>}:objtypes
-- KEYS[2] -> crm:{<tenant>}:schema:<type>
-- KEYS[3] -> crm:{<tenant>}:audit
-- ARGV[1] -> type name
-- ARGV[2] -> definition (JSON)
-- ARGV[3] -> the most custom object types the tenant may have
-- ARGV[4] -> by (the acting user)
-- ARGV[5] -> now (unix ms)
-- ARGV[6] -> audit stream max length
-- ARGV[7..] -> property name, property JSON, ...
-- Returns 1 if created, 0 if the name is taken, -n when the tenant already has n types, the most
-- it may have (nothing changed, and no entry written, then).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local n = redis.call('HLEN', KEYS[1])
if n >= tonumber(ARGV[3]) then return -n end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i+1]) end
audit_schema(KEYS[3], ARGV[6], 'object_type_create', ARGV[1], '', ARGV[4], ARGV[5])
return 1
