-- Records, in a job's hash, the records one step of its selection skipped
-- as protected: fields protected:<rule> count them over the whole selection; prot_after and
-- prot_step keep the last step's cursor and counts, so that the same step run again (after a
-- crash) replaces its counts rather than adding them twice.
-- KEYS[1] -> crm:{<tenant>}:job:<id>
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> the cursor the step started from
-- ARGV[3..] -> pairs of rule name, count
-- Returns 1 if recorded, 0 if the job is not at that step, -1 for no such job.
local j = redis.call('HMGET', KEYS[1], 'state', 'select_after', 'prot_after', 'prot_step')
if not j[1] then return -1 end
if j[1] == 'selecting' then
  if (j[2] or '') ~= ARGV[2] then return 0 end
  if j[3] and j[3] == ARGV[2] and j[4] then
    local prev = cjson.decode(j[4])
    for i = 1, #prev, 2 do
      redis.call('HINCRBY', KEYS[1], 'protected:' .. prev[i], -tonumber(prev[i + 1]))
    end
  end
elseif ARGV[2] ~= '' or j[3] then
  -- a job sealed in its request (by ids) takes its counts once
  return 0
end
local step = {}
for i = 3, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], 'protected:' .. ARGV[i], ARGV[i + 1])
  step[#step + 1] = ARGV[i]
  step[#step + 1] = ARGV[i + 1]
end
local enc = '[]'
if #step > 0 then enc = cjson.encode(step) end
redis.call('HSET', KEYS[1], 'prot_after', ARGV[2], 'prot_step', enc, 'updated_at', ARGV[1])
return 1
