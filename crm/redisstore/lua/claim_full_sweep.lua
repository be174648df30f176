-- Claims a routine sweep's walk over every tenant, once per period of a sweep kind.
-- KEYS[1] -> crm:sweeps:full (FullSweepKey): sweep kind -> the time of its last full walk
-- ARGV[1] -> the sweep kind
-- ARGV[2] -> the sweep's time (unix ms)
-- ARGV[3] -> the period of full walks (ms)
-- Returns 1, recording ARGV[2] as the kind's last full walk, when that walk is a period or more
-- before ARGV[2], or after it (a clock set back); else 0.
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '')
local at = tonumber(ARGV[2])
if last and at >= last and at - last < tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
