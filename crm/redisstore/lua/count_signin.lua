-- Counts a sign-in attempt of one client of the console, within the bound of its window.
-- KEYS[1] -> crm:signin:<client>
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> the length of a window (ms)
-- ARGV[3] -> the most attempts counted in a window
-- Returns {1 if counted, 0 if over the bound; the start of the client's window (unix ms)}.
local now, window, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local h = redis.call('HMGET', KEYS[1], 'start', 'n')
local start, stored, n = tonumber(h[1]), h[1], tonumber(h[2]) or 0
if not start or now >= start + window then start, stored, n = now, ARGV[1], 0 end
if n >= most then return {0, start} end
redis.call('HSET', KEYS[1], 'start', stored, 'n', n + 1)
redis.call('PEXPIRE', KEYS[1], start + window - now)
return {1, start}
