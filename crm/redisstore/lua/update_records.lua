-- Changes properties of live records, all or none.
-- KEYS[1] -> crm:{<tenant>}:uniq:contacts:email
-- KEYS[2] -> crm:{<tenant>}:changed
-- KEYS[3] -> crm:{<tenant>}:changed:events
-- KEYS[4] -> crm:{<tenant>}:blocklist
-- KEYS[5] -> crm:{<tenant>}:trigreads:<type>
-- KEYS[6] -> crm:{<tenant>}:flows:active:<type>: without an active workflow of the type, the
--   records leave no change mark (see watched)
-- KEYS[7..] -> crm:{<tenant>}:obj:<type>:<id>, one per update (KEYS[6+i] for update i of ARGV[4])
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> object type
-- ARGV[3] -> 1 if the type is contacts, else 0
-- ARGV[4] -> JSON [{"id":..,"set":{..},"del":[..],"hashes":{email: hash}}] in KEYS order
-- ARGV[5] -> the type's search index spec (indexSpec): the entries of the changed fields move
-- ARGV[6] -> 1 to check only: the same answer, and nothing written (an upsert asks before it creates)
-- Returns {"ok"}, {"missing", id}, {"conflict", email, owner id}, {"blocked", email} or
-- {"unique", property, value, owner id} when a new value of a unique property is taken; a value
-- that another record of the same call gives up is not taken (two records may swap their emails).
-- On a refusal nothing changed. A record whose update sets every property to the value it holds
-- and removes none it has is left as it is: no _updated, no index entry, no change mark.
local now, otype, contacts = ARGV[1], ARGV[2], ARGV[3] == '1'
local spec = ix_spec(ARGV[5])
local ix = ix_new()
local ups = cjson.decode(ARGV[4])
local plans = {}
local claimed, uclaimed = {}, {}
local released, ureleased = {}, {} -- email (or "<property>\0<value>") -> the id giving it up
local unique = {}
for _, q in ipairs(spec.uq) do unique[q[1]] = true end
for i, u in ipairs(ups) do
  local key = KEYS[6+i]
  if redis.call('EXISTS', key) == 0 then return {'missing', u.id} end
  local p = {add = {}, drop = {}, changed = false}
  local names = {}
  for k in pairs(u.set) do names[#names+1] = k end
  for _, k in ipairs(u.del) do names[#names+1] = k end
  if #names > 0 then
    local cur = redis.call('HMGET', key, unpack(names))
    for j, k in ipairs(names) do
      local want = u.set[k]
      if want == nil then want = false end -- a removal
      if cur[j] ~= want then
        p.changed = true
        if unique[k] and cur[j] and cur[j] ~= '' then ureleased[k .. '\0' .. cur[j]] = u.id end
      end
    end
  end
  if contacts and p.changed then
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
      if not oldset[e] then p.add[#p.add+1] = e end
    end
    for _, e in ipairs(old) do
      if not newset[e] then
        p.drop[#p.drop+1] = e
        released[e] = u.id
      end
    end
  end
  plans[i] = p
end
for i, u in ipairs(ups) do
  for _, e in ipairs(plans[i].add) do
    local h = u.hashes[e]
    if h and redis.call('SISMEMBER', KEYS[4], h) == 1 then return {'blocked', e} end
    local owner = redis.call('HGET', KEYS[1], e)
    if owner and owner ~= u.id and released[e] ~= owner then return {'conflict', e, owner} end
    if claimed[e] and claimed[e] ~= u.id then return {'conflict', e, claimed[e]} end
    claimed[e] = u.id
  end
  local taken = uq_check(spec, u.id, u.set, uclaimed, nil, ureleased)
  if taken then return taken end
end
if ARGV[6] == '1' then return {'ok'} end
local written = {}
for i, u in ipairs(ups) do
  if plans[i].changed then
    written[#written+1] = i
    local key = KEYS[6+i]
    local old = ix_fields(spec, key)
    -- _updated only grows, by a millisecond at least, so that it tells every write apart: a
    -- delete that checked the record against the protection rules moves it only while its
    -- _updated is the one it read (see archive.lua).
    local at = now
    if old._updated and tonumber(old._updated) >= tonumber(now) then at = string.format('%d', tonumber(old._updated) + 1) end
    local args = {'_updated', at}
    for k, v in pairs(u.set) do args[#args+1] = k; args[#args+1] = v end
    local gone, came = {}, {_updated = at}
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
end
ix_flush(ix)
if #written > 0 and watched(KEYS[6]) then
  local members, snaps = {}, {}
  local reads = redis.call('SMEMBERS', KEYS[5])
  for n, i in ipairs(written) do
    members[n] = otype .. ':' .. ups[i].id
    snaps[n] = snapshot(KEYS[6+i], reads)
  end
  each_chunk_with(members, snaps, function(c, sn) mark_changed(KEYS[2], KEYS[3], c, now, 'u', sn) end)
end
return {'ok'}
