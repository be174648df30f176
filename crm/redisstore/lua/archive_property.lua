-- Archives properties of an object type, all or none: moves each definition from the type's schema
-- to its archived properties, when every one is still the definition the caller checked the
-- archive against, and writes the audit entry "property_archive" of each, in their order. Nothing
-- else changes: every record keeps its values of the properties, and the search indexes, which
-- the write scripts keep for archived properties too, keep following them (so a restore finds
-- them exact).
-- KEYS[1] -> crm:{<tenant>}:schema:<type>
-- KEYS[2] -> crm:{<tenant>}:archivedprops:<type>
-- KEYS[3] -> crm:{<tenant>}:audit
-- ARGV[1] -> the object type
-- ARGV[2] -> by (the acting user)
-- ARGV[3] -> now (unix ms)
-- ARGV[4] -> audit stream max length
-- ARGV[5..] -> each property's name, its definition as read (JSON), its definition as archived (JSON)
-- Returns 0 when archived; i when the i-th (from 1) definition is no longer the one read (another
-- change came first, or it was archived meanwhile): nothing changed, and no entry written, then.
for i = 5, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i+1] then return (i - 2) / 3 end
end
for i = 5, #ARGV, 3 do
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i+2])
  audit_schema(KEYS[3], ARGV[4], 'property_archive', ARGV[1], ARGV[i], ARGV[2], ARGV[3])
end
return 0
