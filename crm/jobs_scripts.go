package crm

import "github.com/redis/go-redis/v9"

// sealDeleteJobScript turns a staged selection into a confirmed bulk delete job, or refuses it. The
// selection is reduced to the records live now (and, for a list, to its members now), so the count it
// checks is the count that will be deleted.
// KEYS[1] -> crm:{<tenant>}:job:<id>:pending (the staged ids; for a list, empty)
// KEYS[2] -> crm:{<tenant>}:live:<type>   KEYS[3] -> crm:{<tenant>}:job:<id>   KEYS[4] -> crm:{<tenant>}:jobs
// KEYS[5] -> crm:{<tenant>}:list:<list id>:members, or the pending key again when not deleting a list
// ARGV[1] -> confirmed count   ARGV[2] -> now (unix ms)   ARGV[3] -> 1 when the selection is a list
// ARGV[4] -> job id   ARGV[5..] -> job fields (name, value, ...)
// Returns {"ok", count} or {"mismatch", count}; on a mismatch nothing is kept.
var sealDeleteJobScript = redis.NewScript(`
if ARGV[3] == '1' then
  redis.call('ZINTERSTORE', KEYS[1], 2, KEYS[5], KEYS[2], 'WEIGHTS', 1, 0)
else
  redis.call('ZINTERSTORE', KEYS[1], 2, KEYS[1], KEYS[2], 'WEIGHTS', 1, 0)
end
local n = redis.call('ZCARD', KEYS[1])
if n ~= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return {'mismatch', n}
end
local fields = {}
for i = 5, #ARGV do fields[#fields+1] = ARGV[i] end
redis.call('HSET', KEYS[3], 'total', n, 'done', 0, 'skipped', 0, 'created_at', ARGV[2], 'updated_at', ARGV[2], unpack(fields))
if n == 0 then redis.call('HSET', KEYS[3], 'state', 'done', 'finished_at', ARGV[2]) else redis.call('HSET', KEYS[3], 'state', 'pending') end
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[4])
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
