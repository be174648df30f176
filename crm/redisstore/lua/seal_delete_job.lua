-- Turns a staged selection (the records live when they were staged, by stage_live.lua) into a
-- confirmed bulk delete job with a new id, or refuses it and keeps nothing, the job counter
-- included. A record deleted between its staging and the job's run counts as skipped. The same
-- call run again (a client retrying after losing the reply) answers the same job.
-- KEYS[1] -> crm:{<tenant>}:jobstage:<token>
-- KEYS[2] -> crm:{<tenant>}:seq:jobs
-- KEYS[3] -> crm:{<tenant>}:jobs
-- ARGV[1] -> confirmed count
-- ARGV[2] -> now (unix ms)
-- ARGV[3] -> job key prefix ("crm:{<tenant>}:job:"): the job's key is made of the id it draws
-- ARGV[4] -> the job's ref (empty for the job's own id)
-- ARGV[5..] -> job fields (name, value, ...)
-- Returns {"ok", job id} or {"mismatch", count}.
local done = KEYS[1] .. ':sealed'
local sealed = redis.call('GET', done)
if sealed then return {'ok', sealed} end
local n = redis.call('ZCARD', KEYS[1])
if n ~= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return {'mismatch', n}
end
local id = tostring(redis.call('INCR', KEYS[2]))
local job = ARGV[3] .. id
local ref = ARGV[4]
if ref == '' then ref = id end
if n > 0 then
  redis.call('RENAME', KEYS[1], job .. ':pending')
  redis.call('PERSIST', job .. ':pending')
end
local fields = {}
for i = 5, #ARGV do fields[#fields+1] = ARGV[i] end
redis.call('HSET', job, 'total', n, 'done', 0, 'skipped', 0, 'created_at', ARGV[2], 'updated_at', ARGV[2], 'ref', ref, unpack(fields))
if n == 0 then redis.call('HSET', job, 'state', 'done', 'finished_at', ARGV[2]) else redis.call('HSET', job, 'state', 'pending') end
redis.call('ZADD', KEYS[3], ARGV[2], id)
redis.call('SET', done, id, 'PX', 3600000)
return {'ok', id}
