-- Archives a property of an object type: moves its definition from the type's schema to its
-- archived properties, when it is still the one the caller checked the archive against, and
-- writes the audit entry "property_archive" of it. Nothing else changes: every record keeps its
-- value of the property, and the search indexes, which the write scripts keep for archived
-- properties too, keep following them (so a restore finds them exact).
-- KEYS[1] -> crm:{<tenant>}:schema:<type>
-- KEYS[2] -> crm:{<tenant>}:archivedprops:<type>
-- KEYS[3] -> crm:{<tenant>}:audit
-- ARGV[1] -> the property's name
-- ARGV[2] -> its definition as the caller read it (JSON)
-- ARGV[3] -> its definition as archived (JSON, with archivedAt and archivedBy)
-- ARGV[4] -> the object type
-- ARGV[5] -> by (the acting user)
-- ARGV[6] -> now (unix ms)
-- ARGV[7] -> audit stream max length
-- Returns 0 when archived; 1 when the definition is no longer ARGV[2] (another change came
-- first, or it was archived meanwhile): nothing changed, and no entry written, then.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 1 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
audit_schema(KEYS[3], ARGV[7], 'property_archive', ARGV[4], ARGV[1], ARGV[5], ARGV[6])
return 0
