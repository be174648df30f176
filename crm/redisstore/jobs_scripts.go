package redisstore

import "github.com/redis/go-redis/v9"

// stageLiveScript adds to a job's staged selection those of the ids that are live records now and,
// for a list's members, members of the list now.
// KEYS[1] -> crm:{<tenant>}:jobstage:<token>   KEYS[2] -> crm:{<tenant>}:live:<type>
// KEYS[3] -> crm:{<tenant>}:list:<list id>:members when the selection is a list's members (optional)
// ARGV[1..] -> record ids (at most 1000)
// Returns how many it staged.
var stageLiveScript = redis.NewScript(`
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
`)

// sealDeleteJobScript turns a staged selection (the records live when they were staged, by
// stageLiveScript) into a confirmed bulk delete job with a new id, or refuses it and keeps nothing,
// the job counter included. A record deleted between its staging and the job's run counts as
// skipped. The same call run again (a client retrying after losing the reply) answers the same job.
// KEYS[1] -> crm:{<tenant>}:jobstage:<token>   KEYS[2] -> crm:{<tenant>}:seq:jobs
// KEYS[3] -> crm:{<tenant>}:jobs
// ARGV[1] -> confirmed count   ARGV[2] -> now (unix ms)   ARGV[3] -> job key prefix ("crm:{<tenant>}:job:")
// ARGV[4] -> the job's ref (empty for the job's own id)   ARGV[5..] -> job fields (name, value, ...)
// Returns {"ok", job id} or {"mismatch", count}.
var sealDeleteJobScript = redis.NewScript(`
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
`)

// leaseScript takes or renews a lease.
// KEYS[1] -> the lease key   ARGV[1] -> owner   ARGV[2] -> TTL (ms)
// Returns 1 when the caller holds the lease (taken or renewed), 0 when another owner holds it.
var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// releaseScript gives a lease up if the caller holds it.
// KEYS[1] -> the lease key   ARGV[1] -> owner
// Returns 1 when released, 0 otherwise.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
