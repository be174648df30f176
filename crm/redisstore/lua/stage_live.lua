-- Adds to a job's staged selection those of the ids that are live records now.
-- KEYS[1] -> crm:{<tenant>}:jobstage:<token>: the staged selection, kept an hour
-- KEYS[2] -> crm:{<tenant>}:live:<type>
-- ARGV[1..] -> record ids (at most 1000)
-- Returns how many it staged.
local z = {}
for i = 1, #ARGV do
  if redis.call('ZSCORE', KEYS[2], ARGV[i]) then
    z[#z+1] = ARGV[i]; z[#z+1] = ARGV[i]
  end
end
if #z > 0 then
  redis.call('ZADD', KEYS[1], unpack(z))
  redis.call('EXPIRE', KEYS[1], 3600)
end
return #z / 2
