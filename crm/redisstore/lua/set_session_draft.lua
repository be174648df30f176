-- Keeps (or removes) the draft on the trace of a console session, while the trace is kept.
-- KEYS[1] -> crm:{<tenant>}:session-trace:<id>
-- ARGV[1] -> the draft (sealed), or "" to remove it
-- ARGV[2] -> now (unix ms)
-- Returns 1 if kept or removed, 0 if the trace is gone or past its keep_until.
local keep = tonumber(redis.call('HGET', KEYS[1], 'keep_until'))
if not keep or tonumber(ARGV[2]) >= keep then return 0 end
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], 'draft')
else
  redis.call('HSET', KEYS[1], 'draft', ARGV[1])
end
return 1
