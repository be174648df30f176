-- Adds live records to the search indexes of their type, reading their values in the same step (an
-- id that is no longer live is skipped).
-- KEYS[1] -> crm:{<tenant>}:live:<type>
-- KEYS[2..] -> crm:{<tenant>}:obj:<type>:<record id>, one per record (KEYS[i] for ARGV[i])
-- ARGV[1] -> the type's search index spec (indexSpec)
-- ARGV[2..] -> record ids
-- Returns the number of records indexed.
local spec = ix_spec(ARGV[1])
local ix = ix_new()
local n = 0
for i = 2, #ARGV do
  local key = KEYS[i]
  if redis.call('EXISTS', key) == 1 then
    ix_record(ix, spec, ARGV[i], ix_fields(spec, key), true)
    n = n + 1
  end
end
ix_flush(ix)
return n
