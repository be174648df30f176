-- Defines a custom object type and its properties.
-- KEYS[1] -> crm:{<tenant>}:objtypes
-- KEYS[2] -> crm:{<tenant>}:schema:<type>
-- ARGV[1] -> type name
-- ARGV[2] -> definition (JSON)
-- ARGV[3..] -> property name, property JSON, ...
-- Returns 1 if created, 0 if the name is taken.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i+1]) end
return 1
