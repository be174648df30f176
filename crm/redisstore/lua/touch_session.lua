-- Moves the idle end of a console session that has not ended, within its absolute end.
-- KEYS[1] -> crm:{<tenant>}:session:<id>
-- ARGV[1] -> the new idle end (unix ms)
-- ARGV[2] -> now (unix ms)
-- Returns 1 if moved, 0 if the session is gone or has ended.
local h = redis.call('HMGET', KEYS[1], 'expires_at', 'idle_expires_at')
local expires = tonumber(h[1])
if not expires then return 0 end
local now = tonumber(ARGV[2])
local idle = tonumber(h[2])
if now >= expires or (idle and idle > 0 and now >= idle) then return 0 end
local deadline, stored = tonumber(ARGV[1]), ARGV[1]
if deadline > expires then deadline, stored = expires, h[1] end
redis.call('HSET', KEYS[1], 'idle_expires_at', stored)
redis.call('PEXPIRE', KEYS[1], deadline - now)
return 1
