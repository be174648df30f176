-- Stores a token's hash for an existing user that is not disabled, indexes it by its public id and
-- writes the audit entry of it.
-- KEYS[1] -> crm:{<tenant>}:user:<email>
-- KEYS[2] -> crm:{<tenant>}:token:<sha256>
-- KEYS[3] -> crm:{<tenant>}:tokens
-- KEYS[4] -> crm:{<tenant>}:audit
-- ARGV[1] -> email
-- ARGV[2] -> created_at (unix ms)
-- ARGV[3] -> expires_at (unix ms, 0 for never)
-- ARGV[4] -> time to live (ms, 0 for none): Redis drops the token key itself after it
-- ARGV[5] -> token id
-- ARGV[6] -> sha256 of the token
-- ARGV[7] -> by (the acting admin)
-- ARGV[8] -> audit stream max length
-- Returns 1 if stored, 0 if the id is taken (draw another token), -1 if the user does not exist,
-- -2 if the user is disabled.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'disabled') == '1' then return -2 end
if redis.call('HEXISTS', KEYS[3], ARGV[5]) == 1 then return 0 end
redis.call('HSET', KEYS[2], 'user', ARGV[1], 'created_at', ARGV[2], 'id', ARGV[5])
if ARGV[3] ~= '0' then redis.call('HSET', KEYS[2], 'expires_at', ARGV[3]) end
if ARGV[4] ~= '0' then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
redis.call('HSET', KEYS[3], ARGV[5], ARGV[6])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'action', 'token_create', 'user', ARGV[1],
  'token_id', ARGV[5], 'expires_at', ARGV[3], 'by', ARGV[7], 'at', ARGV[2])
return 1
