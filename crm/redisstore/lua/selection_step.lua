-- Runs one step of a bulk delete job's selection and, after the last, ends it.
-- The live ones of the step's records join the selection, the cursor moves on and the progress is
-- counted. At the end, the job becomes pending when the number selected equals its confirmed count
-- (done when it is 0), else it is refused (COUNT_MISMATCH) and nothing is kept. A job not
-- selecting, or (by ids) whose cursor is not ARGV[4], comes back unchanged.
-- KEYS[1] -> crm:{<tenant>}:job:<id>
-- KEYS[2] -> crm:{<tenant>}:job:<id>:selected
-- KEYS[3] -> crm:{<tenant>}:live:<type>
-- KEYS[4] -> crm:{<tenant>}:jobs:selecting
-- KEYS[5] -> crm:{<tenant>}:job:<id>:pending
-- KEYS[6] -> crm:{<tenant>}:list:<list>:members: the list whose members the job selects (read only
--   when ARGV[3] is not 0)
-- KEYS[7] -> crm:{<tenant>}:user:<email>: the job's creator. The selection too acts with the
--   creator's authority as it is at each step (SPEC S2): unless the user exists, is not disabled
--   and holds delete and bulk_delete, the step selects nothing and ends the job stopped (stop_code
--   missing, disabled or permission, stop_user, stop_perm, as archive.lua writes them), dropping
--   what was selected, its filter and its place among the selecting jobs
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> the job id
-- ARGV[3] -> how many members of KEYS[6] the step reads, after the job's own cursor; 0 for a step
--   by ids, whose records are ARGV[7..]
-- ARGV[4] -> by ids: the cursor the step starts from ('' for a list)
-- ARGV[5] -> by ids: the cursor after the step, '' ending the selection ('' for a list)
-- ARGV[6] -> by ids: how many records the step scanned (0 for a list)
-- ARGV[7..] -> by ids: the records the step matched
-- Returns the job's hash (HGETALL), or {} for no such job.
local j = redis.call('HMGET', KEYS[1], 'state', 'select_after', 'confirm_count')
if not j[1] then return {} end
local lim = tonumber(ARGV[3])
local list = lim > 0
if j[1] ~= 'selecting' or (not list and (j[2] or '') ~= ARGV[4]) then return redis.call('HGETALL', KEYS[1]) end
local why, perm = lacks(KEYS[7], 'delete,bulk_delete')
if why then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[4], ARGV[2])
  redis.call('HDEL', KEYS[1], 'filter', 'select_after')
  redis.call('HSET', KEYS[1], 'state', 'stopped', 'stop_code', why, 'stop_user', redis.call('HGET', KEYS[1], 'by') or '',
    'stop_perm', perm or '', 'finished_at', ARGV[1], 'updated_at', ARGV[1])
  return redis.call('HGETALL', KEYS[1])
end
local input, nxt, scanned = {}, ARGV[5], tonumber(ARGV[6])
if list then
  local min = '-inf'
  if (j[2] or '') ~= '' then min = '(' .. j[2] end
  input = redis.call('ZRANGEBYSCORE', KEYS[6], min, '+inf', 'LIMIT', 0, lim)
  scanned, nxt = #input, ''
  if #input == lim then nxt = input[#input] end
else
  for i = 7, #ARGV do input[#input+1] = ARGV[i] end
end
local z = {}
for _, id in ipairs(input) do
  if redis.call('ZSCORE', KEYS[3], id) then z[#z+1] = id; z[#z+1] = id end
end
if #z > 0 then redis.call('ZADD', KEYS[2], unpack(z)) end
local n = redis.call('ZCARD', KEYS[2])
redis.call('HINCRBY', KEYS[1], 'scanned', scanned)
redis.call('HSET', KEYS[1], 'matched', n, 'select_after', nxt, 'updated_at', ARGV[1])
if nxt == '' then
  redis.call('SREM', KEYS[4], ARGV[2])
  redis.call('HDEL', KEYS[1], 'filter', 'select_after')
  if n ~= tonumber(j[3]) then
    redis.call('DEL', KEYS[2])
    redis.call('HSET', KEYS[1], 'state', 'refused', 'refusal_code', 'COUNT_MISMATCH', 'finished_at', ARGV[1])
  elseif n == 0 then
    redis.call('HSET', KEYS[1], 'state', 'done', 'finished_at', ARGV[1])
  else
    redis.call('RENAME', KEYS[2], KEYS[5])
    redis.call('HSET', KEYS[1], 'state', 'pending', 'total', n)
  end
end
return redis.call('HGETALL', KEYS[1])
