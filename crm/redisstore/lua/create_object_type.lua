-- Defines a custom object type and its properties, unless the tenant has as many as it may have.
-- KEYS[1] -> crm:{<tenant>}:objtypes
-- KEYS[2] -> crm:{<tenant>}:schema:<type>
-- ARGV[1] -> type name
-- ARGV[2] -> definition (JSON)
-- ARGV[3] -> the most custom object types the tenant may have
-- ARGV[4..] -> property name, property JSON, ...
-- Returns 1 if created, 0 if the name is taken, -n when the tenant already has n types, the most
-- it may have (nothing changed then).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local n = redis.call('HLEN', KEYS[1])
if n >= tonumber(ARGV[3]) then return -n end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i+1]) end
return 1
