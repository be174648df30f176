-- Replaces the definition of a property of an object type, when it is still the one the caller
-- checked the change against, no live record holds an option the change removes, and the
-- definitions of the type's properties, archived ones included, stay within the limit (SPEC S27);
-- then drops the search indexes the property's old type had and its new one does not read (a
-- type change).
-- KEYS[1] -> crm:{<tenant>}:schema:<type>
-- KEYS[2] -> crm:{<tenant>}:archivedprops:<type>, counted in the limit
-- KEYS[3..ARGV[5]+2] -> crm:{<tenant>}:ixv:<type>:<property>:<option>, the value SET of each
--   option removed (SearchValueKey)
-- KEYS[ARGV[5]+3..] -> the index keys to drop (SearchIndexKey, SearchValueKey)
-- ARGV[1] -> the property's name
-- ARGV[2] -> its definition as the caller read it (JSON)
-- ARGV[3] -> its new definition (JSON)
-- ARGV[4] -> the most bytes the names and definitions of the type's properties may take
-- ARGV[5] -> how many KEYS are value SETs of removed options
-- Returns {0} when changed; {1} when the definition is no longer ARGV[2] (another change came
-- first); {2, i, n} when n live records hold removed option i (its key is KEYS[i+2]); {3, n}
-- when the definitions would take n bytes, more than ARGV[4]. Nothing changed but for {0}.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return {1} end
local nopts = tonumber(ARGV[5])
for i = 1, nopts do
  local n = redis.call('SCARD', KEYS[i + 2])
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
for i = nopts + 3, #KEYS do redis.call('UNLINK', KEYS[i]) end
return {0}
