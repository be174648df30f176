package redisstore

import "github.com/redis/go-redis/v9"

// luaHelpers are shared by the scripts that touch contacts' emails and the change log.
const luaHelpers = `
local function split_emails(primary, additional)
  local out, seen = {}, {}
  if primary and primary ~= '' then out[#out+1] = primary; seen[primary] = true end
  if additional and additional ~= '' then
    for e in string.gmatch(additional, '[^;]+') do
      if not seen[e] then out[#out+1] = e; seen[e] = true end
    end
  end
  return out
end

-- mark_changed records, in a few calls whatever the batch size, that the members ("<type>:<id>")
-- changed at now with event ev (c created, u updated, d deleted, r restored, p permanently deleted,
-- l added to a list): each member's pending states in the events hash (one a line, oldest first)
-- gain "<ev><seq>" or "<ev><seq>=<values>", seq drawn from the tenant's change counter (the hash's
-- field _seq), values snaps[i] (JSON object text, see snapshot) when given. A member holds at most
-- max_states states: past that, the newest replaces the last, so a record written thousands of
-- times between two drains keeps its first states and its latest.
local max_states = 100
local function mark_changed(changed, events, members, now, ev, snaps)
  if #members == 0 then return end
  local z = {}
  for _, m in ipairs(members) do z[#z+1] = now; z[#z+1] = m end
  redis.call('ZADD', changed, unpack(z))
  local first = redis.call('HINCRBY', events, '_seq', #members) - #members
  local cur = redis.call('HMGET', events, unpack(members))
  local h = {}
  for i, m in ipairs(members) do
    local st = ev .. string.format('%d', first + i)
    if snaps and snaps[i] then st = st .. '=' .. snaps[i] end
    local c = cur[i]
    if not c or c == '' then
      c = st
    elseif string.find(c, '^%a+$') then
      -- Letters of an older format (one per event, no number, no values): states of seq 0.
      local old = {}
      for l in string.gmatch(c, '%a') do old[#old+1] = l .. '0' end
      old[#old+1] = st
      c = table.concat(old, '\n')
    else
      local _, lines = string.gsub(c, '\n', '')
      if lines + 1 >= max_states then
        c = string.match(c, '^(.*\n)') .. st
      else
        c = c .. '\n' .. st
      end
    end
    h[#h+1] = m; h[#h+1] = c
  end
  redis.call('HSET', events, unpack(h))
end

-- snapshot returns, as JSON object text, the fields of the record hash at key named in reads
-- (the members of its type's TriggerReadsKey: "" always, "*" for every property), or nil when
-- reads is empty (no workflow of the type is active).
local function snapshot(key, reads)
  if #reads == 0 then return nil end
  local vals, all, names = {}, false, {}
  for _, r in ipairs(reads) do
    if r == '*' then all = true elseif r ~= '' then names[#names+1] = r end
  end
  if all then
    local h = redis.call('HGETALL', key)
    for i = 1, #h, 2 do
      if string.sub(h[i], 1, 1) ~= '_' then vals[h[i]] = h[i+1] end
    end
  elseif #names > 0 then
    local v = redis.call('HMGET', key, unpack(names))
    for i, name in ipairs(names) do
      if v[i] then vals[name] = v[i] end
    end
  end
  if next(vals) == nil then return '{}' end
  return cjson.encode(vals)
end

-- each_chunk_with is each_chunk over list and, slice for slice, the parallel list other.
local function each_chunk_with(list, other, fn)
  local i = 1
  while i <= #list do
    local a, b = {}, {}
    for j = i, math.min(i + 499, #list) do a[j - i + 1] = list[j]; b[j - i + 1] = other[j] end
    fn(a, b)
    i = i + 500
  end
end

-- each_chunk calls fn with slices of at most 500 items of list, so unpack stays within Lua's limits.
local function each_chunk(list, fn)
  each_chunk_with(list, {}, function(c) fn(c) end)
end

-- bin_emails_update rewrites, in a bin email index (HASH email -> ids joined by ','), the entry of
-- each email es[i] with step(entry, rids[i]), in order (an email may come more than once), deleting
-- the entries left empty: one HMGET, and one HSET or HDEL, per 500 emails.
local function bin_emails_update(key, es, rids, step)
  if #es == 0 then return end
  local cur = {}
  each_chunk(es, function(c)
    for _, v in ipairs(redis.call('HMGET', key, unpack(c))) do cur[#cur+1] = v end
  end)
  local order, state = {}, {}
  for i, e in ipairs(es) do
    local v = state[e]
    if v == nil then order[#order+1] = e; v = cur[i] or '' end
    state[e] = step(v, rids[i])
  end
  local del, set = {}, {}
  for _, e in ipairs(order) do
    if state[e] == '' then del[#del+1] = e else set[#set+1] = e; set[#set+1] = state[e] end
  end
  each_chunk(del, function(c) redis.call('HDEL', key, unpack(c)) end)
  each_chunk(set, function(c) redis.call('HSET', key, unpack(c)) end)
end

-- bin_emails_add records that the binned contact rids[i] has email es[i].
local function bin_emails_add(key, es, rids)
  bin_emails_update(key, es, rids, function(v, rid)
    if v == '' then return rid end
    return v .. ',' .. rid
  end)
end

-- bin_emails_remove removes the binned contact rids[i] from the entry of es[i].
local function bin_emails_remove(key, es, rids)
  bin_emails_update(key, es, rids, function(v, rid)
    if v == rid or v == '' then return '' end
    local keep = {}
    for x in string.gmatch(v, '[^,]+') do if x ~= rid then keep[#keep+1] = x end end
    return table.concat(keep, ',')
  end)
end
`

// createTenantScript creates a tenant unless it exists.
// KEYS[1] -> crm:{<tenant>}:tenant
// ARGV[1] -> plan   ARGV[2] -> created_at (unix ms)
// Returns 1 if created, 0 if the tenant existed.
var createTenantScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'plan', ARGV[1], 'created_at', ARGV[2])
return 1
`)

// createUserScript adds a user to an existing tenant and writes the audit entry of it.
// KEYS[1] -> crm:{<tenant>}:tenant   KEYS[2] -> crm:{<tenant>}:user:<email>   KEYS[3] -> crm:{<tenant>}:users
// KEYS[4] -> crm:{<tenant>}:audit
// ARGV[1] -> email   ARGV[2] -> perms (comma-separated)   ARGV[3] -> created_at (unix ms)
// ARGV[4] -> by (the acting admin)   ARGV[5] -> audit stream max length
// Returns 1 if created, 0 if the user exists, -1 if the tenant does not exist.
var createUserScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[2], 'perms', ARGV[2], 'created_at', ARGV[3])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'action', 'user_create', 'user', ARGV[1],
  'perms', ARGV[2], 'by', ARGV[4], 'at', ARGV[3])
return 1
`)

// setUserPermsScript replaces the permissions of an existing user and writes the audit entry of it.
// KEYS[1] -> crm:{<tenant>}:user:<email>   KEYS[2] -> crm:{<tenant>}:audit
// ARGV[1] -> email   ARGV[2] -> perms (comma-separated)   ARGV[3] -> now (unix ms)
// ARGV[4] -> by (the acting admin)   ARGV[5] -> audit stream max length
// Returns the previous perms, or false if the user does not exist.
var setUserPermsScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local prev = redis.call('HGET', KEYS[1], 'perms') or ''
redis.call('HSET', KEYS[1], 'perms', ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'action', 'user_set_perms', 'user', ARGV[1],
  'perms', ARGV[2], 'prev_perms', prev, 'by', ARGV[4], 'at', ARGV[3])
return prev
`)

// setUserDisabledScript disables or enables an existing user and writes the audit entry of the change.
// KEYS[1] -> crm:{<tenant>}:user:<email>   KEYS[2] -> crm:{<tenant>}:audit
// ARGV[1] -> email   ARGV[2] -> 1 to disable, 0 to enable   ARGV[3] -> now (unix ms)
// ARGV[4] -> by (the acting admin)   ARGV[5] -> audit stream max length
// Returns 1 if changed, 0 if the user already was in that state (no audit entry), -1 if the user
// does not exist.
var setUserDisabledScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local was = redis.call('HGET', KEYS[1], 'disabled') == '1'
local want = ARGV[2] == '1'
if was == want then return 0 end
local action = 'user_enable'
if want then
  redis.call('HSET', KEYS[1], 'disabled', '1')
  action = 'user_disable'
else
  redis.call('HDEL', KEYS[1], 'disabled')
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'action', action, 'user', ARGV[1],
  'by', ARGV[4], 'at', ARGV[3])
return 1
`)

// createTokenScript stores a token's hash for an existing user that is not disabled, indexes it
// by its public id and writes the audit entry of it.
// KEYS[1] -> crm:{<tenant>}:user:<email>   KEYS[2] -> crm:{<tenant>}:token:<sha256>
// KEYS[3] -> crm:{<tenant>}:tokens         KEYS[4] -> crm:{<tenant>}:audit
// ARGV[1] -> email   ARGV[2] -> created_at (unix ms)   ARGV[3] -> expires_at (unix ms, 0 for never)
// ARGV[4] -> time to live (ms, 0 for none): Redis drops the token key itself after it
// ARGV[5] -> token id   ARGV[6] -> sha256 of the token   ARGV[7] -> by (the acting admin)
// ARGV[8] -> audit stream max length
// Returns 1 if stored, 0 if the id is taken (draw another token), -1 if the user does not exist,
// -2 if the user is disabled.
var createTokenScript = redis.NewScript(`
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
`)

// indexTokenScript indexes a token issued before tokens had public ids, at its first use.
// KEYS[1] -> crm:{<tenant>}:token:<sha256>   KEYS[2] -> crm:{<tenant>}:tokens
// ARGV[1] -> token id   ARGV[2] -> sha256 of the token
// Returns 1 if indexed, 0 if the token is gone or already has an id.
var indexTokenScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'id') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`)

// revokeTokenScript deletes a token for good, by its public id, and writes the audit entry of it.
// KEYS[1] -> crm:{<tenant>}:tokens   KEYS[2] -> crm:{<tenant>}:audit
// ARGV[1] -> token id   ARGV[2] -> prefix of token keys ("crm:{<tenant>}:token:")   ARGV[3] -> now (unix ms)
// ARGV[4] -> by (the acting admin)   ARGV[5] -> audit stream max length
// Returns the email of the token's user, or false if no live token has that id (an index entry
// whose token Redis already dropped at its expiry is removed).
var revokeTokenScript = redis.NewScript(`
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
`)

// createObjectTypeScript defines a custom object type and its properties.
// KEYS[1] -> crm:{<tenant>}:objtypes   KEYS[2] -> crm:{<tenant>}:schema:<type>
// ARGV[1] -> type name   ARGV[2] -> definition (JSON)   ARGV[3..] -> property name, property JSON, ...
// Returns 1 if created, 0 if the name is taken.
var createObjectTypeScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i+1]) end
return 1
`)

// createRecordsScript creates records whose ids were drawn beforehand, all or none.
// KEYS[1] -> crm:{<tenant>}:live:<type>         KEYS[2] -> crm:{<tenant>}:uniq:contacts:email
// KEYS[3] -> crm:{<tenant>}:changed             KEYS[4] -> crm:{<tenant>}:changed:events
// KEYS[5] -> crm:{<tenant>}:blocklist           KEYS[6] -> crm:{<tenant>}:trigreads:<type>
// KEYS[6+i] -> crm:{<tenant>}:obj:<type>:<id of record i>
// ARGV[1] -> now (unix ms)   ARGV[2] -> object type
// ARGV[3] -> JSON [{"id":..,"props":{..},"emails":[..],"hashes":[..]}] in KEYS order
// ARGV[4] -> bin record key prefix ("crm:{<tenant>}:bin:")
// ARGV[5] -> the type's search index spec (indexSpec): each record joins its search indexes
// A record with inline associations also has, in its JSON, "ak": the index in KEYS of its
// association set (crm:{<tenant>}:assoc:<type>:<id>), and "assoc": [{"m": "<type>:<id>" of the
// target, "rk": index in KEYS of the target's record hash, "tak": of the target's association set}];
// those keys follow the record keys.
// Returns {"ok"}, {"conflict", email, owner id}, {"blocked", email}, {"unique", property, value,
// owner id} when a value of a unique property is taken (by a live record or another of the call),
// or {"assoc_missing", i, j} when association j of record i (both from 0) is to a record that is
// not live. On a refusal nothing changed.
// The ids are new, so a record of one of them, live or in the bin, means this very call ran before
// (a client retrying after losing the reply): it answers {"ok"} and changes nothing.
var createRecordsScript = redis.NewScript(luaHelpers + luaIndex + `
local now, otype = ARGV[1], ARGV[2]
local spec = ix_spec(ARGV[5])
local ix = ix_new()
local recs = cjson.decode(ARGV[3])
for i, r in ipairs(recs) do
  if redis.call('EXISTS', KEYS[6+i], ARGV[4] .. otype .. ':' .. r.id) > 0 then return {'ok'} end
end
for i, r in ipairs(recs) do
  for j, a in ipairs(r.assoc or {}) do
    if redis.call('EXISTS', KEYS[a.rk]) == 0 then return {'assoc_missing', tostring(i-1), tostring(j-1)} end
  end
end
local claimed = {}
for i, r in ipairs(recs) do
  for j, e in ipairs(r.emails) do
    if redis.call('SISMEMBER', KEYS[5], r.hashes[j]) == 1 then return {'blocked', e} end
    local owner = redis.call('HGET', KEYS[2], e)
    if owner then return {'conflict', e, owner} end
    if claimed[e] then return {'conflict', e, claimed[e]} end
    claimed[e] = r.id
  end
end
local uclaimed = {}
for i, r in ipairs(recs) do
  local taken = uq_check(spec, r.id, r.props, uclaimed)
  if taken then return taken end
end
local live, emails, members = {}, {}, {}
for i, r in ipairs(recs) do
  local args = {'_created', now, '_updated', now}
  for k, v in pairs(r.props) do args[#args+1] = k; args[#args+1] = v end
  if r.assoc then
    args[#args+1] = '_assoc'; args[#args+1] = '1'
    local me = otype .. ':' .. r.id
    for _, a in ipairs(r.assoc) do
      redis.call('SADD', KEYS[r.ak], a.m)
      redis.call('SADD', KEYS[a.tak], me)
      redis.call('HSET', KEYS[a.rk], '_assoc', '1')
    end
  end
  redis.call('HSET', KEYS[6+i], unpack(args))
  r.props._created = now; r.props._updated = now
  ix_record(ix, spec, r.id, r.props, true)
  live[#live+1] = r.id; live[#live+1] = r.id
  for _, e in ipairs(r.emails) do emails[#emails+1] = e; emails[#emails+1] = r.id end
  members[#members+1] = otype .. ':' .. r.id
end
each_chunk(live, function(c) redis.call('ZADD', KEYS[1], unpack(c)) end)
each_chunk(emails, function(c) redis.call('HSET', KEYS[2], unpack(c)) end)
ix_flush(ix)
local reads = redis.call('SMEMBERS', KEYS[6])
local snaps = {}
for i in ipairs(recs) do snaps[i] = snapshot(KEYS[6+i], reads) end
each_chunk_with(members, snaps, function(c, sn) mark_changed(KEYS[3], KEYS[4], c, now, 'c', sn) end)
return {'ok'}
`)

// updateRecordsScript changes properties of live records, all or none.
// KEYS[1] -> crm:{<tenant>}:uniq:contacts:email  KEYS[2] -> crm:{<tenant>}:changed
// KEYS[3] -> crm:{<tenant>}:changed:events       KEYS[4] -> crm:{<tenant>}:blocklist
// KEYS[5] -> crm:{<tenant>}:trigreads:<type>     KEYS[5+i] -> crm:{<tenant>}:obj:<type>:<id of update i>
// ARGV[1] -> now (unix ms)   ARGV[2] -> object type   ARGV[3] -> 1 if the type is contacts, else 0
// ARGV[4] -> JSON [{"id":..,"set":{..},"del":[..],"hashes":{email: hash}}] in KEYS order
// ARGV[5] -> the type's search index spec (indexSpec): the entries of the changed fields move
// Returns {"ok"}, {"missing", id}, {"conflict", email, owner id}, {"blocked", email} or
// {"unique", property, value, owner id} when a new value of a unique property is taken.
// On a refusal nothing changed.
var updateRecordsScript = redis.NewScript(luaHelpers + luaIndex + `
local now, otype, contacts = ARGV[1], ARGV[2], ARGV[3] == '1'
local spec = ix_spec(ARGV[5])
local ix = ix_new()
local ups = cjson.decode(ARGV[4])
local plans = {}
local claimed, uclaimed = {}, {}
for i, u in ipairs(ups) do
  local key = KEYS[5+i]
  if redis.call('EXISTS', key) == 0 then return {'missing', u.id} end
  local p = {add = {}, drop = {}}
  if contacts then
    local cur = redis.call('HMGET', key, 'email', 'additional_emails')
    local old = split_emails(cur[1] or '', cur[2] or '')
    local prim, addl = cur[1] or '', cur[2] or ''
    if u.set.email ~= nil then prim = u.set.email end
    if u.set.additional_emails ~= nil then addl = u.set.additional_emails end
    for _, d in ipairs(u.del) do
      if d == 'email' then prim = '' end
      if d == 'additional_emails' then addl = '' end
    end
    local new = split_emails(prim, addl)
    local oldset, newset = {}, {}
    for _, e in ipairs(old) do oldset[e] = true end
    for _, e in ipairs(new) do newset[e] = true end
    for _, e in ipairs(new) do
      if not oldset[e] then
        local h = u.hashes[e]
        if h and redis.call('SISMEMBER', KEYS[4], h) == 1 then return {'blocked', e} end
        local owner = redis.call('HGET', KEYS[1], e)
        if owner and owner ~= u.id then return {'conflict', e, owner} end
        if claimed[e] and claimed[e] ~= u.id then return {'conflict', e, claimed[e]} end
        claimed[e] = u.id
        p.add[#p.add+1] = e
      end
    end
    for _, e in ipairs(old) do
      if not newset[e] then p.drop[#p.drop+1] = e end
    end
  end
  plans[i] = p
  local taken = uq_check(spec, u.id, u.set, uclaimed)
  if taken then return taken end
end
for i, u in ipairs(ups) do
  local key = KEYS[5+i]
  local args = {'_updated', now}
  for k, v in pairs(u.set) do args[#args+1] = k; args[#args+1] = v end
  local old = ix_fields(spec, key)
  local gone, came = {}, {_updated = now}
  gone._updated = old._updated
  for k, v in pairs(u.set) do
    if old[k] ~= v then gone[k] = old[k]; came[k] = v end
  end
  for _, k in ipairs(u.del) do gone[k] = old[k] end
  ix_record(ix, spec, u.id, gone, false)
  ix_record(ix, spec, u.id, came, true)
  redis.call('HSET', key, unpack(args))
  if #u.del > 0 then redis.call('HDEL', key, unpack(u.del)) end
  for _, e in ipairs(plans[i].drop) do
    if redis.call('HGET', KEYS[1], e) == u.id then redis.call('HDEL', KEYS[1], e) end
  end
  for _, e in ipairs(plans[i].add) do redis.call('HSET', KEYS[1], e, u.id) end
end
ix_flush(ix)
local members, snaps = {}, {}
local reads = redis.call('SMEMBERS', KEYS[5])
for i, u in ipairs(ups) do
  members[#members+1] = otype .. ':' .. u.id
  snaps[i] = snapshot(KEYS[5+i], reads)
end
each_chunk_with(members, snaps, function(c, sn) mark_changed(KEYS[2], KEYS[3], c, now, 'u', sn) end)
return {'ok'}
`)

// associateScript links two live records in both directions.
// KEYS[1] -> crm:{<tenant>}:obj:<fromType>:<fromId>    KEYS[2] -> crm:{<tenant>}:obj:<toType>:<toId>
// KEYS[3] -> crm:{<tenant>}:assoc:<fromType>:<fromId>  KEYS[4] -> crm:{<tenant>}:assoc:<toType>:<toId>
// ARGV[1] -> "<fromType>:<fromId>"   ARGV[2] -> "<toType>:<toId>"
// Both records get the field _assoc, which tells the bin scripts that they have associations to
// look at (most records have none, and bulk deletes skip the look then).
// Returns 1 when linked (or already linked), -1 if the first record is not live, -2 if the second is not.
var associateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('EXISTS', KEYS[2]) == 0 then return -2 end
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[1], '_assoc', '1')
redis.call('HSET', KEYS[2], '_assoc', '1')
return 1
`)

// dissociateScript removes the link between two records in both directions.
// KEYS[1] -> crm:{<tenant>}:assoc:<fromType>:<fromId>  KEYS[2] -> crm:{<tenant>}:assoc:<toType>:<toId>
// ARGV[1] -> "<fromType>:<fromId>"   ARGV[2] -> "<toType>:<toId>"
// Returns the number of directions removed (0, 1 or 2).
var dissociateScript = redis.NewScript(`
return redis.call('SREM', KEYS[1], ARGV[2]) + redis.call('SREM', KEYS[2], ARGV[1])
`)

// createListScript creates a static list.
// KEYS[1] -> crm:{<tenant>}:lists   KEYS[2] -> crm:{<tenant>}:list:<id>
// ARGV[1] -> list id   ARGV[2] -> name   ARGV[3] -> object type   ARGV[4] -> created_at (unix ms)
// Returns 1.
var createListScript = redis.NewScript(`
redis.call('HSET', KEYS[2], 'name', ARGV[2], 'object_type', ARGV[3], 'created_at', ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])
return 1
`)

// deleteListScript deletes a list and its memberships, never its members.
// KEYS[1] -> crm:{<tenant>}:lists   KEYS[2] -> crm:{<tenant>}:list:<id>   KEYS[3] -> crm:{<tenant>}:list:<id>:members
// ARGV[1] -> list id   ARGV[2] -> prefix of member-of keys of the list's type ("crm:{<tenant>}:memberof:<type>:")
// Returns 1 if deleted, 0 if the list did not exist.
var deleteListScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local ids = redis.call('ZRANGE', KEYS[3], 0, -1)
for _, id in ipairs(ids) do redis.call('SREM', ARGV[2] .. id, ARGV[1]) end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`)

// addListMembersScript adds live records to a list.
// KEYS[1] -> crm:{<tenant>}:list:<id>   KEYS[2] -> crm:{<tenant>}:list:<id>:members
// KEYS[3] -> crm:{<tenant>}:changed     KEYS[4] -> crm:{<tenant>}:changed:events
// ARGV[1] -> list id   ARGV[2] -> prefix of record keys of the list's type ("crm:{<tenant>}:obj:<type>:")
// ARGV[3] -> prefix of member-of keys of the list's type   ARGV[4] -> the list's object type
// ARGV[5] -> now (unix ms)   ARGV[6..] -> record ids
// A member gets the field _lists, which tells the bin scripts to look at its memberships. Each
// record that joins the list gets a change state "l", so that the workflows that the list
// suppresses unenroll it (SPEC S19).
// Returns {added count, missing id, missing id, ...}, or false if the list does not exist.
var addListMembersScript = redis.NewScript(luaHelpers + `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local out = {0}
local joined = {}
for i = 6, #ARGV do
  local id = ARGV[i]
  if redis.call('EXISTS', ARGV[2] .. id) == 1 then
    local n = redis.call('ZADD', KEYS[2], id, id)
    out[1] = out[1] + n
    if n == 1 then joined[#joined+1] = ARGV[4] .. ':' .. id end
    redis.call('SADD', ARGV[3] .. id, ARGV[1])
    redis.call('HSET', ARGV[2] .. id, '_lists', '1')
  else
    out[#out+1] = id
  end
end
each_chunk(joined, function(c) mark_changed(KEYS[3], KEYS[4], c, ARGV[5], 'l') end)
return out
`)

// removeListMembersScript removes records from a list.
// KEYS[1] -> crm:{<tenant>}:list:<id>   KEYS[2] -> crm:{<tenant>}:list:<id>:members
// ARGV[1] -> list id   ARGV[2] -> prefix of member-of keys of the list's type   ARGV[3..] -> record ids
// Returns the number removed, or false if the list does not exist.
var removeListMembersScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local n = 0
for i = 3, #ARGV do
  n = n + redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('SREM', ARGV[2] .. ARGV[i], ARGV[1])
end
return n
`)
