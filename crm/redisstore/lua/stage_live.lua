-- stage_live.lua
--
-- stageLiveScript adds to a job's staged selection those of the ids that are live records now and,
-- for a list's members, members of the list now.
-- KEYS[1] -> crm:{<tenant>}:jobstage:<token>   KEYS[2] -> crm:{<tenant>}:live:<type>
-- KEYS[3] -> crm:{<tenant>}:list:<list id>:members when the selection is a list's members (optional)
-- ARGV[1..] -> record ids (at most 1000)
-- Returns how many it staged.
local z = {}
for i = 1, #ARGV do
  if redis.call('ZSCORE', KEYS[2], ARGV[i]) and (not KEYS[3] or redis.call('ZSCORE', KEYS[3], ARGV[i])) then
    z[#z+1] = ARGV[i]; z[#z+1] = ARGV[i]
  end
end
if #z > 0 then
  redis.call('ZADD', KEYS[1], unpack(z))
  redis.call('EXPIRE', KEYS[1], 3600)
end
return #z / 2
