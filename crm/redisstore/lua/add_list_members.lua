-- Adds live records to a list. A member gets the field _lists, which tells the bin scripts to look
-- at its memberships. Each record that joins the list gets a change state "l", so that the
-- workflows that the list suppresses unenroll it (SPEC S19).
-- KEYS[1] -> crm:{<tenant>}:list:<id>
-- KEYS[2] -> crm:{<tenant>}:list:<id>:members
-- KEYS[3] -> crm:{<tenant>}:changed
-- KEYS[4] -> crm:{<tenant>}:changed:events
-- KEYS[5] -> crm:{<tenant>}:flows:active:<type>: without an active workflow of the type, the
--   records leave no change mark (see watched)
-- KEYS[6..] -> pairs, one per record: crm:{<tenant>}:obj:<type>:<record id> and
--   crm:{<tenant>}:memberof:<type>:<record id> (KEYS[2*i-2] and KEYS[2*i-1] for ARGV[i])
-- ARGV[1] -> list id
-- ARGV[2] -> the list's object type
-- ARGV[3] -> now (unix ms)
-- ARGV[4..] -> record ids
-- Returns {{added id, ...}, {missing id, ...}}: the ids this call made members (ZADD returned 1)
--   and the ids that are not live records, each in the order given; false if the list does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local added, missing = {}, {}
local joined = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local rec, memberof = KEYS[2 * i - 2], KEYS[2 * i - 1]
  if redis.call('EXISTS', rec) == 1 then
    if redis.call('ZADD', KEYS[2], id, id) == 1 then
      added[#added+1] = id
      joined[#joined+1] = ARGV[2] .. ':' .. id
    end
    redis.call('SADD', memberof, ARGV[1])
    redis.call('HSET', rec, '_lists', '1')
  else
    missing[#missing+1] = id
  end
end
if watched(KEYS[5]) then each_chunk(joined, function(c) mark_changed(KEYS[3], KEYS[4], c, ARGV[3], 'l') end) end
return {added, missing}
