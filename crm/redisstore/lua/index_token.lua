-- Indexes a token issued before tokens had public ids, at its first use.
-- KEYS[1] -> crm:{<tenant>}:token:<sha256>
-- KEYS[2] -> crm:{<tenant>}:tokens
-- ARGV[1] -> token id
-- ARGV[2] -> sha256 of the token
-- Returns 1 if indexed, 0 if the token is gone or already has an id.
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'id') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
