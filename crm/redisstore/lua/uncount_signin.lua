-- Takes back a sign-in attempt of one client of the console that did not fail, in its own window.
-- KEYS[1] -> crm:signin:<client>
-- ARGV[1] -> the start of the window the attempt was counted in (unix ms)
-- Returns 1 if taken back, 0 if that window has ended.
local h = redis.call('HMGET', KEYS[1], 'start', 'n')
if h[1] ~= ARGV[1] then return 0 end
local n = tonumber(h[2]) or 0
if n <= 1 then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'n', n - 1)
end
return 1
