-- Restores an archived property of an object type: moves its definition back from the type's
-- archived properties to its schema, when it is still the one the caller read, and writes the
-- audit entry "property_restore" of it. Nothing else changes: the values its records kept, and
-- the search indexes that followed them, are read again as they are.
-- KEYS[1] -> crm:{<tenant>}:schema:<type>
-- KEYS[2] -> crm:{<tenant>}:archivedprops:<type>
-- KEYS[3] -> crm:{<tenant>}:audit
-- ARGV[1] -> the property's name
-- ARGV[2] -> its archived definition as the caller read it (JSON)
-- ARGV[3] -> its definition as restored (JSON, without archivedAt and archivedBy)
-- ARGV[4] -> the object type
-- ARGV[5] -> by (the acting user)
-- ARGV[6] -> now (unix ms)
-- ARGV[7] -> audit stream max length
-- Returns 0 when restored; 1 when the archived definition is no longer ARGV[2] (restored
-- meanwhile); 2 when the schema has a property of that name: nothing changed, and no entry
-- written, but for 0.
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 1 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 2 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
audit_schema(KEYS[3], ARGV[7], 'property_restore', ARGV[4], ARGV[1], ARGV[5], ARGV[6])
return 0
