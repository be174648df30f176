-- Adds live records to the search indexes of their type, reading their values in the same step (an
-- id that is no longer live is skipped).
-- KEYS[1] -> crm:{<tenant>}:live:<type>
-- ARGV[1] -> record key prefix of the type ("crm:{<tenant>}:obj:<type>:")
-- ARGV[2] -> the type's search index spec (indexSpec)
-- ARGV[3..] -> record ids
-- Returns the number of records indexed.
local spec = ix_spec(ARGV[2])
local ix = ix_new()
local n = 0
for i = 3, #ARGV do
  local key = ARGV[1] .. ARGV[i]
  if redis.call('EXISTS', key) == 1 then
    ix_record(ix, spec, ARGV[i], ix_fields(spec, key), true)
    n = n + 1
  end
end
ix_flush(ix)
return n
