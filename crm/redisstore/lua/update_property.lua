-- Replaces the definition of a property of an object type, when it is still the one the caller
-- checked the change against, no live record holds an option the change removes, and the
-- definitions of the type's properties, archived ones included, stay within the limit (SPEC S27);
-- then drops the search indexes the property's old type had and its new one does not read (a
-- type change), and writes the audit entry "property_update" of it.
-- KEYS[1] -> crm:{<tenant>}:schema:<type>
-- KEYS[2] -> crm:{<tenant>}:archivedprops:<type>, counted in the limit
-- KEYS[3] -> crm:{<tenant>}:audit
-- KEYS[4..ARGV[5]+3] -> crm:{<tenant>}:ixv:<type>:<property>:<option>, the value SET of each
--   option removed (SearchValueKey)
-- KEYS[ARGV[5]+4..] -> the index keys to drop (SearchIndexKey, SearchValueKey)
-- ARGV[1] -> the property's name
-- ARGV[2] -> its definition as the caller read it (JSON)
-- ARGV[3] -> its new definition (JSON)
-- ARGV[4] -> the most bytes the names and definitions of the type's properties may take
-- ARGV[5] -> how many KEYS are value SETs of removed options
-- ARGV[6] -> the object type
-- ARGV[7] -> by (the acting user)
-- ARGV[8] -> now (unix ms)
-- ARGV[9] -> audit stream max length
-- ARGV[10] -> the fields the change changes, comma-separated (label,options, ...)
-- ARGV[11] -> how many options it adds
-- ARGV[12] -> how many options it removes
-- Returns {0} when changed; {1} when the definition is no longer ARGV[2] (another change came
-- first); {2, i, n} when n live records hold removed option i (its key is KEYS[i+3]); {3, n}
-- when the definitions would take n bytes, more than ARGV[4]. Nothing changed, and no entry
-- written, but for {0}.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return {1} end
local nopts = tonumber(ARGV[5])
for i = 1, nopts do
  local n = redis.call('SCARD', KEYS[i + 3])
  if n > 0 then return {2, i, n} end
end
local total = 0
for i, v in ipairs(redis.call('HGETALL', KEYS[1])) do
  if i % 2 == 1 and v == ARGV[1] then
    total = total - #ARGV[2] + #ARGV[3]
  end
  total = total + #v
end
for _, v in ipairs(redis.call('HGETALL', KEYS[2])) do total = total + #v end
if total > tonumber(ARGV[4]) then return {3, total} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
for i = nopts + 4, #KEYS do redis.call('UNLINK', KEYS[i]) end
local extra = {'changed', ARGV[10]}
if ARGV[11] ~= '0' or ARGV[12] ~= '0' then
  extra[#extra+1] = 'options_added'; extra[#extra+1] = ARGV[11]
  extra[#extra+1] = 'options_removed'; extra[#extra+1] = ARGV[12]
end
audit_schema(KEYS[3], ARGV[9], 'property_update', ARGV[6], ARGV[1], ARGV[7], ARGV[8], extra)
return {0}
