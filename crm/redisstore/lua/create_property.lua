-- Adds properties to an object type's schema, all or none: unless the type has a property named
-- as one of them, live or archived, or the definitions of its properties, archived ones included,
-- would then take more than the limit (SPEC S27: every request of the tenant on the type reads them
-- all); writes the audit entry "property_create" of each, in their order. The caller gives each
-- name once.
-- KEYS[1] -> crm:{<tenant>}:schema:<type>
-- KEYS[2] -> crm:{<tenant>}:archivedprops:<type>
-- KEYS[3] -> crm:{<tenant>}:audit
-- ARGV[1] -> the most bytes the names and definitions of the type's properties may take
-- ARGV[2] -> the object type
-- ARGV[3] -> by (the acting user)
-- ARGV[4] -> now (unix ms)
-- ARGV[5] -> audit stream max length
-- ARGV[6..] -> each property's name, then its definition (JSON)
-- Returns {1, 0} when added; {0, i} when the type has a property named as the i-th (from 1), {2,
-- i} when it has an archived one of that name; or {-n, 0} when they would take n bytes, more than
-- ARGV[1]. Nothing changed then, and no entry written.
local total = 0
for i = 6, #ARGV, 2 do
  local n = (i - 4) / 2
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then return {0, n} end
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then return {2, n} end
  total = total + #ARGV[i] + #ARGV[i+1]
end
for i = 1, 2 do
  for _, v in ipairs(redis.call('HGETALL', KEYS[i])) do total = total + #v end
end
if total > tonumber(ARGV[1]) then return {-total, 0} end
for i = 6, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
  audit_schema(KEYS[3], ARGV[5], 'property_create', ARGV[2], ARGV[i], ARGV[3], ARGV[4])
end
return {1, 0}
