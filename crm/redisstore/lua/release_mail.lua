-- Gives up a lease after a failed delivery, if the caller still holds it.
-- KEYS[1] -> crm:{<tenant>}:mailsent:<id>
-- ARGV[1] -> "lease:<token>"
-- Returns 1 if released, 0 if the key held something else.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
