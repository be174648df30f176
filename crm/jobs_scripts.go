package crm

import "github.com/redis/go-redis/v9"

// stageLiveScript adds to a job's staged selection those of the ids that are live records now and,
// for a list's members, members of the list now.
// KEYS[1] -> crm:{<tenant>}:job:<id>:pending   KEYS[2] -> crm:{<tenant>}:live:<type>
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
if #z > 0 then redis.call('ZADD', KEYS[1], unpack(z)) end
return #z / 2
`)

// sealDeleteJobScript turns a staged selection (the records live when they were staged, by
// stageLiveScript) into a confirmed bulk delete job, or refuses it. A record deleted between its
// staging and the job's run counts as skipped.
// KEYS[1] -> crm:{<tenant>}:job:<id>:pending   KEYS[2] -> crm:{<tenant>}:job:<id>   KEYS[3] -> crm:{<tenant>}:jobs
// ARGV[1] -> confirmed count   ARGV[2] -> now (unix ms)   ARGV[3] -> job id   ARGV[4..] -> job fields (name, value, ...)
// Returns {"ok", count} or {"mismatch", count}; on a mismatch nothing is kept.
var sealDeleteJobScript = redis.NewScript(`
local n = redis.call('ZCARD', KEYS[1])
if n ~= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return {'mismatch', n}
end
local fields = {}
for i = 4, #ARGV do fields[#fields+1] = ARGV[i] end
redis.call('HSET', KEYS[2], 'total', n, 'done', 0, 'skipped', 0, 'created_at', ARGV[2], 'updated_at', ARGV[2], unpack(fields))
if n == 0 then redis.call('HSET', KEYS[2], 'state', 'done', 'finished_at', ARGV[2]) else redis.call('HSET', KEYS[2], 'state', 'pending') end
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
return {'ok', n}
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
