-- Creates records whose ids were drawn beforehand, all or none. The ids are new, so a record of one
-- of them, live or in the bin, means this very call ran before (a client retrying after losing the
-- reply): it answers {"ok"} and changes nothing.
-- KEYS[1] -> crm:{<tenant>}:live:<type>
-- KEYS[2] -> crm:{<tenant>}:uniq:contacts:email
-- KEYS[3] -> crm:{<tenant>}:changed
-- KEYS[4] -> crm:{<tenant>}:changed:events
-- KEYS[5] -> crm:{<tenant>}:blocklist
-- KEYS[6] -> crm:{<tenant>}:trigreads:<type>
-- KEYS[7] -> crm:{<tenant>}:flows:active:<type>: without an active workflow of the type, the
--   records leave no change mark (see watched)
-- KEYS[8..] -> crm:{<tenant>}:obj:<type>:<id>, one per record (KEYS[7+i] for record i of ARGV[3] of
--   n), then crm:{<tenant>}:bin:<type>:<id>, one per record (KEYS[7+n+i]), then the association keys the records' JSON names by their index in KEYS: a record with inline
--   associations has "ak", the index of its association set (crm:{<tenant>}:assoc:<type>:<id>), and
--   "assoc": [{"m": "<type>:<id>" of the target, "rk": the index of the target's record hash,
--   "tak": of the target's association set}]
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> object type
-- ARGV[3] -> JSON [{"id":..,"props":{..},"emails":[..],"hashes":[..]}] in KEYS order
-- ARGV[4] -> the type's search index spec (indexSpec): each record joins its search indexes
-- ARGV[5] -> the most associations a record may have
-- ARGV[6] -> JSON {value: score}: scores of values of the records' datetime and date indexes, as
--   ix_score writes them; the script scores any other value itself
-- Returns {"ok"}, {"conflict", email, owner id}, {"blocked", email}, {"unique", property, value,
-- owner id} when a value of a unique property is taken (by a live record or another of the call),
-- {"assoc_missing", i, j} when association j of record i (both from 0) is to a record that is
-- not live, or {"assoc_full", i, j, count} when its target would have more than ARGV[5]
-- associations (count: those it has). On a refusal nothing changed.
local now, otype = ARGV[1], ARGV[2]
local spec = ix_spec(ARGV[4])
local ix = ix_new()
ix.scores.d = cjson.decode(ARGV[6])
local recs = cjson.decode(ARGV[3])
local n = #recs
-- The checks read what they need in a few calls per batch, then go through the records in order,
-- so that the first refusal is the one a record-by-record check would meet.
for i = 8, 7 + 2 * n, 500 do
  if redis.call('EXISTS', unpack(KEYS, i, math.min(i + 499, 7 + 2 * n))) > 0 then return {'ok'} end
end
local max_assoc, adding = tonumber(ARGV[5]), {}
for i, r in ipairs(recs) do
  for j, a in ipairs(r.assoc or {}) do
    if redis.call('EXISTS', KEYS[a.rk]) == 0 then return {'assoc_missing', tostring(i-1), tostring(j-1)} end
    if not adding[a.tak] then adding[a.tak] = redis.call('SCARD', KEYS[a.tak]) end
    adding[a.tak] = adding[a.tak] + 1
    if adding[a.tak] > max_assoc then
      return {'assoc_full', tostring(i-1), tostring(j-1), tostring(redis.call('SCARD', KEYS[a.tak]))}
    end
  end
end
local es, hs = {}, {}
for _, r in ipairs(recs) do
  for j, e in ipairs(r.emails) do es[#es+1] = e; hs[#hs+1] = r.hashes[j] end
end
if #es > 0 then
  local blocked, owners = {}, {}
  each_chunk(hs, function(c)
    for _, v in ipairs(redis.call('SMISMEMBER', KEYS[5], unpack(c))) do blocked[#blocked+1] = v end
  end)
  each_chunk(es, function(c)
    for _, v in ipairs(redis.call('HMGET', KEYS[2], unpack(c))) do owners[#owners+1] = v end
  end)
  local claimed, k = {}, 0
  for _, r in ipairs(recs) do
    for _, e in ipairs(r.emails) do
      k = k + 1
      if blocked[k] == 1 then return {'blocked', e} end
      if owners[k] then return {'conflict', e, owners[k]} end
      if claimed[e] then return {'conflict', e, claimed[e]} end
      claimed[e] = r.id
    end
  end
end
local uowners = uq_owners(spec, recs)
local uclaimed = {}
for i, r in ipairs(recs) do
  local taken = uq_check(spec, r.id, r.props, uclaimed, uowners)
  if taken then return taken end
end
local live, emails = {}, {}
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
  redis.call('HSET', KEYS[7+i], unpack(args))
  r.props._created = now; r.props._updated = now
  ix_record(ix, spec, r.id, r.props, true)
  live[#live+1] = r.id; live[#live+1] = r.id
  for _, e in ipairs(r.emails) do emails[#emails+1] = e; emails[#emails+1] = r.id end
end
each_chunk(live, function(c) redis.call('ZADD', KEYS[1], unpack(c)) end)
each_chunk(emails, function(c) redis.call('HSET', KEYS[2], unpack(c)) end)
ix_flush(ix)
if watched(KEYS[7]) then
  local reads = redis.call('SMEMBERS', KEYS[6])
  local snaps, members = {}, {}
  for i, r in ipairs(recs) do
    snaps[i] = snapshot(KEYS[7+i], reads)
    members[i] = otype .. ':' .. r.id
  end
  each_chunk_with(members, snaps, function(c, sn) mark_changed(KEYS[3], KEYS[4], c, now, 'c', sn) end)
end
return {'ok'}
