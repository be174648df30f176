-- Deletes a token for good, by its public id, and writes the audit entry of it.
-- KEYS[1] -> crm:{<tenant>}:tokens
-- KEYS[2] -> crm:{<tenant>}:audit
-- ARGV[1] -> token id
-- ARGV[2] -> prefix of token keys ("crm:{<tenant>}:token:"): the token's key is read from KEYS[1]
-- ARGV[3] -> now (unix ms)
-- ARGV[4] -> by (the acting admin)
-- ARGV[5] -> audit stream max length
-- Returns the email of the token's user, or false if no live token has that id (an index entry
-- whose token Redis already dropped at its expiry is removed).
local h = redis.call('HGET', KEYS[1], ARGV[1])
if not h then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
local key = ARGV[2] .. h
local user = redis.call('HGET', key, 'user')
if not user then return false end
redis.call('DEL', key)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'action', 'token_revoke', 'user', user,
  'token_id', ARGV[1], 'by', ARGV[4], 'at', ARGV[3])
return user
