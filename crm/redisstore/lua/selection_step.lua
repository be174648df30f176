-- selection_step.lua
--
-- selectionStepScript runs one step of a job's selection and, after the last, ends it.
-- KEYS[1] -> crm:{<tenant>}:job:<id>   KEYS[2] -> crm:{<tenant>}:job:<id>:selected
-- KEYS[3] -> crm:{<tenant>}:live:<type>   KEYS[4] -> crm:{<tenant>}:jobs:selecting
-- KEYS[5] -> crm:{<tenant>}:job:<id>:pending   KEYS[6] -> crm:{<tenant>}:list:<list>:members (list mode)
-- ARGV[1] -> now (unix ms)   ARGV[2] -> ids: the cursor the step starts from (list: the job's own)
-- ARGV[3] -> "ids" or "list"
-- ARGV[4] -> ids: the cursor after the step ("" ends it); list: how many members to read
-- ARGV[5] -> ids: how many records the step scanned   ARGV[6] -> the job id   ARGV[7..] -> ids: matched ids
-- Returns the job's hash (HGETALL), or {} for no such job.
local j = redis.call('HMGET', KEYS[1], 'state', 'select_after', 'confirm_count')
if not j[1] then return {} end
local list = ARGV[3] == 'list'
if j[1] ~= 'selecting' or (not list and (j[2] or '') ~= ARGV[2]) then return redis.call('HGETALL', KEYS[1]) end
local input, nxt, scanned = {}, ARGV[4], tonumber(ARGV[5])
if list then
  local lim = tonumber(ARGV[4])
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
  redis.call('SREM', KEYS[4], ARGV[6])
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
