-- Adds a property to an object type's schema, unless the type has one of that name, live or
-- archived, or the definitions of its properties, archived ones included, would then take more
-- than the limit (SPEC S27: every request of the tenant on the type reads them all); writes the
-- audit entry "property_create" of it.
-- KEYS[1] -> crm:{<tenant>}:schema:<type>
-- KEYS[2] -> crm:{<tenant>}:archivedprops:<type>
-- KEYS[3] -> crm:{<tenant>}:audit
-- ARGV[1] -> the property's name
-- ARGV[2] -> its definition (JSON)
-- ARGV[3] -> the most bytes the names and definitions of the type's properties may take
-- ARGV[4] -> the object type
-- ARGV[5] -> by (the acting user)
-- ARGV[6] -> now (unix ms)
-- ARGV[7] -> audit stream max length
-- Returns 1 when added, 0 when the type has a property of that name, 2 when it has an archived
-- one of that name, or -n when they would take n bytes, more than ARGV[3] (nothing changed then,
-- and no entry written).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 2 end
local total = #ARGV[1] + #ARGV[2]
for i = 1, 2 do
  for _, v in ipairs(redis.call('HGETALL', KEYS[i])) do total = total + #v end
end
if total > tonumber(ARGV[3]) then return -total end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
audit_schema(KEYS[3], ARGV[7], 'property_create', ARGV[4], ARGV[1], ARGV[5], ARGV[6])
return 1
