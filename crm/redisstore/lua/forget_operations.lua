-- Forgets the operations (SPEC S26) that are over: each whose last move was at or before a
-- horizon (the retention period before now) and that has no record left in the bin loses its key
-- and its place in the tenant's list. Nothing it moved can be restored any more, and the audit
-- stream keeps what it did. An operation with a record still in the bin, or that moved a record
-- after the horizon (a workflow's activation that runs for long), is kept.
-- KEYS[1] -> crm:{<tenant>}:ops
-- ARGV[1] -> horizon (unix ms)
-- ARGV[2] -> how many operations begun at or before the horizon to look at, at most
-- ARGV[3] -> how many of those to pass over first: the ones earlier calls of the same walk kept
-- ARGV[4] -> operation key prefix ("crm:{<tenant>}:op:"); an operation's bin index is its key and
--   ':bin' (OperationBinKey)
-- Returns {forgotten, looked at}.
local horizon = tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', ARGV[3], ARGV[2])
local gone = {}
for _, id in ipairs(ids) do
  local key = ARGV[4] .. id
  local last = tonumber(redis.call('HGET', key, 'last_at') or '0')
  if last <= horizon and redis.call('EXISTS', key .. ':bin') == 0 then
    gone[#gone+1] = id
    redis.call('UNLINK', key)
  end
end
if #gone > 0 then redis.call('ZREM', KEYS[1], unpack(gone)) end
return {#gone, #ids}
