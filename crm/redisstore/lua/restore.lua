-- Brings records back from their type's bin. Each record is read once (one HMGET of its bin hash)
-- and moved with RENAME, HDEL and HSET; whether any of them is live already is one EXISTS for the
-- call; the indexes it joins or leaves (live, bin, operation, email, search), its change marks and
-- the one audit entry of the call are written together, at the end.
-- KEYS[1] -> crm:{<tenant>}:live:<type>
-- KEYS[2] -> crm:{<tenant>}:trash:<type>
-- KEYS[3] -> crm:{<tenant>}:binids:<type>
-- KEYS[4] -> crm:{<tenant>}:uniq:contacts:email
-- KEYS[5] -> crm:{<tenant>}:changed
-- KEYS[6] -> crm:{<tenant>}:changed:events
-- KEYS[7] -> crm:{<tenant>}:audit
-- KEYS[8] -> crm:{<tenant>}:binassocs:<type> (the ids whose bin association or bin links key exists)
-- KEYS[9] -> crm:{<tenant>}:job:<id>: the undo job whose batch this is (untouched when ARGV[17] is '')
-- KEYS[10] -> crm:{<tenant>}:job:<id>:failures: each record of the batch it could not restore
--   (untouched when ARGV[17] is '')
-- KEYS[11] -> crm:{<tenant>}:flows:active:<type>: without an active workflow of the type, the
--   restored records leave no change mark (see watched)
-- KEYS[12] -> crm:{<tenant>}:blocklist: a contact any of whose emails a permanent delete
--   blocklisted since it was deleted stays in the bin (SPEC S10), reported {"erased", ...}
-- KEYS[13] -> crm:{<tenant>}:user:<email>: the undo job's creator (ARGV[3]); untouched when ARGV[17]
--   is ''. Unless the user exists, is not disabled and holds restore (or all), the job is stopped
--   before anything is restored: its state becomes stopped (stop_code missing, disabled or
--   permission, stop_user the user, stop_perm the permission lacked, as archive.lua writes them),
--   and the reply is the job's hash. A batch without record ids (nothing of the operation left
--   after the cursor) is not checked: the job ends done, whatever its creator
-- KEYS[14..] -> quadruples, one per record id of ARGV[22..] (KEYS[4*i-74..4*i-71] for ARGV[i]):
--   crm:{<tenant>}:obj:<type>:<id>, crm:{<tenant>}:bin:<type>:<id>, crm:{<tenant>}:assoc:<type>:<id>
--   and crm:{<tenant>}:binassoc:<type>:<id>
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> object type
-- ARGV[3] -> restored by
-- ARGV[4] -> via
-- ARGV[5] -> ref
-- ARGV[6] -> audit stream max length
-- ARGV[7] -> record key prefix ("crm:{<tenant>}:obj:"), for the records associated with one restored
-- ARGV[8] -> bin record key prefix, likewise
-- ARGV[9] -> association key prefix, likewise
-- ARGV[10] -> bin association key prefix, likewise
-- ARGV[11] -> bin association ids key prefix ("crm:{<tenant>}:binassocs:"), likewise
-- ARGV[12] -> the call's id, kept in each record it restores (_restored_op): run again (a client
--   retrying after losing the reply), the call reports those records as restored again and changes
--   nothing
-- ARGV[13] -> the retention horizon (unix ms): a record deleted at or before it is past its
--   retention period and stays in the bin
-- ARGV[14] -> the bin email day key prefix ("crm:{<tenant>}:binemails:contacts:"): a restored
--   contact's emails leave the key of its deletion's day, read from the record
-- ARGV[15] -> the type's search index spec (indexSpec): each restored record joins its search indexes
-- ARGV[16] -> operation key prefix ("crm:{<tenant>}:op:"): a restored record leaves the bin index
--   of its operation (OperationBinKey: the prefix, its _deleted_operation and ':bin')
-- ARGV[17] -> for a batch of an undo job (KEYS[9]), the job's cursor the batch starts after ('0'
--   at first); '' without a job. When the job is finished or its cursor is another (a runner that
--   lost its lease), nothing is done and the reply is {"stale"}. Otherwise the job counts each
--   record restored as done and each other as skipped, keeps a JSON entry in KEYS[10] for each it
--   could not restore (id, code, and for a conflict the property and the blocking record; never a
--   value), moves its cursor to ARGV[18], and is done when no record of the operation's bin index
--   is left after it
-- ARGV[18] -> the undo job's cursor after the batch: its last id
-- ARGV[19] -> the operation an undo job restores: a record in the bin by another operation (deleted
--   again since the batch was read) stays there. '' without a job
-- ARGV[20] -> for contacts, a JSON object email -> its salted hash (as BlocklistKey holds them), or
--   '': when the blocklist exists and an email of a contact in the bin among ARGV[21..] has no
--   hash here (the caller could not know it, or the record changed since), nothing is done and the
--   reply is {"hashes", {the emails missing...}}, for the caller to hash and call again (one
--   nested list, however many: a batch of contacts may have more emails than unpack can return)
-- ARGV[21] -> bin links key prefix ("crm:{<tenant>}:binlinks:"): a restored record leaves the
--   BinLinksKey of each record its bin association set named (an SREM per association), and one
--   whose other side is still in the bin, which then names it, joins its own
-- ARGV[22..] -> record ids
-- Returns one entry per id: {"ok", id}, {"missing", id}, {"expired", id, deleted_at},
-- {"erased", id, email, property} when the email (of property email or additional_emails) is
-- blocklisted, {"conflict", id, email, owner id} or {"unique", id, property, value, owner id} when
-- a value of a unique property now belongs to another live record (or to one restored earlier in
-- the call); with a job, the job's hash as HGETALL gives it after the batch, or {"stale"}; or
-- {"hashes", {email...}} (see ARGV[20]).
local now, otype = ARGV[1], ARGV[2]
local horizon = tonumber(ARGV[13])
local spec = ix_spec(ARGV[15])
local ix = ix_new()
local out = {}
local uclaimed = {}
-- The records restored: their change marks and their audit entry are written once, at the end.
local restored_ids, restored_members = {}, {}
local undo = ARGV[17] ~= ''
local first = 22
local links = ARGV[21]
-- For a job, the records restored are counted, and only the others are kept in out.
local nok = 0
local function ok(id)
  if undo then nok = nok + 1 else out[#out+1] = {'ok', id} end
end
if undo then
  local j = redis.call('HMGET', KEYS[9], 'state', 'cursor')
  if not j[1] or j[1] == 'done' or j[1] == 'stopped' or (j[2] or '0') ~= ARGV[17] then return {'stale'} end
  -- The job acts with its creator's authority as it is now, checked in the step that restores, so
  -- that a user disabled or a permission taken away before a batch is never outrun. A batch with
  -- nothing to restore goes on to end the job done, whatever its creator (as archive.lua does).
  local why, perm = nil, nil
  if #ARGV >= first then why, perm = lacks(KEYS[13], 'restore') end
  if why then
    redis.call('HSET', KEYS[9], 'state', 'stopped', 'stop_code', why, 'stop_user', ARGV[3], 'stop_perm', perm or '',
      'finished_at', now, 'updated_at', now)
    return redis.call('HGETALL', KEYS[9])
  end
end
local ids = {}
for i = first, #ARGV do ids[#ids+1] = ARGV[i] end
-- With an erasure in the tenant, every email of the contacts to restore must come with its hash
-- (computed by the caller: Lua has no SHA-256), before anything is written.
local blocking = otype == 'contacts' and redis.call('EXISTS', KEYS[12]) == 1
local hashes = {}
if blocking then
  if ARGV[20] ~= '' then hashes = cjson.decode(ARGV[20]) end
  local need, seen = {}, {}
  for n = 1, #ids do
    local got = redis.call('HMGET', KEYS[4 * n + 11], 'email', 'additional_emails')
    for _, e in ipairs(split_emails(got[1] or '', got[2] or '')) do
      if not hashes[e] and not seen[e] then seen[e] = true; need[#need+1] = e end
    end
  end
  if #need > 0 then return {'hashes', need} end
end
-- Which records have associations kept in the bin, for all ids at once.
local hasassoc = {}
each_chunk(ids, function(c)
  for j, m in ipairs(redis.call('SMISMEMBER', KEYS[8], unpack(c))) do
    if m == 1 then hasassoc[c[j]] = true end
  end
end)
-- Whether a record to restore is live already, in one EXISTS for the call: only then is each one
-- checked. The loop below makes no record live but by moving that record's own bin hash, which
-- it reads first.
local anylive = false
local recs = {}
for n = 1, #ids do recs[n] = KEYS[4 * n + 10] end
each_chunk(recs, function(c)
  if redis.call('EXISTS', unpack(c)) > 0 then anylive = true end
end)
-- One read of each bin record: its deletion fields, its emails and its indexed fields, each field
-- once, but _updated, which the restore writes. indexed maps each indexed field to its place.
local fields, slot, indexed = {'_deleted_at', '_deleted_operation', 'email', 'additional_emails'}, {}, {}
for j, f in ipairs(fields) do slot[f] = j end
for _, f in ipairs(spec.fields) do
  if f ~= '_updated' then
    if not slot[f] then fields[#fields+1] = f; slot[f] = #fields end
    indexed[#indexed+1] = {f, slot[f]}
  end
end
-- Whether the restored records get change marks (see watched), and the index writes of the
-- records restored, made once for the call at the end.
local marks = watched(KEYS[11])
local byop, live, gone, emails_set = {}, {}, {}, {}
local bydays, daykeys, eclaimed = {}, {}, {}
for i = first, #ARGV do
  local id = ARGV[i]
  local k = 4 * (i - first) + 13
  local rec, bin, assoc, binassoc = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local got = redis.call('HMGET', bin, unpack(fields))
  local deleted, operation = got[1], got[2]
  if not deleted then
    -- Not in the bin: restored by this very call before (a retry), or never there.
    if redis.call('HGET', rec, '_restored_op') == ARGV[12] then ok(id) else out[#out+1] = {'missing', id} end
  elseif (anylive and redis.call('EXISTS', rec) == 1) or (undo and operation ~= ARGV[19]) then
    out[#out+1] = {'missing', id}
  elseif tonumber(deleted) <= horizon then
    out[#out+1] = {'expired', id, deleted}
  else
    local vals = {}
    for _, f in ipairs(indexed) do
      local v = got[f[2]]
      if v then vals[f[1]] = v end
    end
    local emails = {}
    local blocked = nil
    if otype == 'contacts' then
      emails = split_emails(got[3] or '', got[4] or '')
      if blocking then
        for _, e in ipairs(emails) do
          if redis.call('SISMEMBER', KEYS[12], hashes[e]) == 1 then
            local prop = 'additional_emails'
            if e == got[3] then prop = 'email' end
            blocked = {'erased', id, e, prop}
            break
          end
        end
      end
      for _, e in ipairs(emails) do
        if blocked then break end
        local owner = eclaimed[e] or redis.call('HGET', KEYS[4], e)
        if owner and owner ~= id then blocked = {'conflict', id, e, owner}; break end
      end
    end
    if not blocked and #spec.uq > 0 then
      local taken = uq_check(spec, id, vals, uclaimed)
      if taken then blocked = {'unique', id, taken[2], taken[3], taken[4]} end
    end
    if blocked then
      out[#out+1] = blocked
    else
      if operation then
        local l = byop[operation]
        if not l then l = {}; byop[operation] = l end
        l[#l+1] = id
      end
      redis.call('RENAME', bin, rec)
      redis.call('HDEL', rec, '_deleted_at', '_deleted_by', '_deleted_via', '_deleted_ref', '_deleted_op', '_deleted_rev',
        '_deleted_operation')
      redis.call('HSET', rec, '_updated', now, '_restored_op', ARGV[12])
      vals['_updated'] = now -- as just written, for the index of the last modification
      ix_record(ix, spec, id, vals, true)
      live[#live+1] = id; live[#live+1] = id
      gone[#gone+1] = id
      if #emails > 0 then
        local dk = daykeys[deleted]
        if not dk then
          dk = ARGV[14] .. string.format('%d', math.floor(tonumber(deleted) / 86400000))
          daykeys[deleted] = dk
        end
        local d = bydays[dk]
        if not d then d = {es = {}, rids = {}}; bydays[dk] = d end
        for _, e in ipairs(emails) do
          eclaimed[e] = id
          emails_set[#emails_set+1] = e; emails_set[#emails_set+1] = id
          d.es[#d.es+1] = e; d.rids[#d.rids+1] = id
        end
      end
      if hasassoc[id] then
        local me = otype .. ':' .. id
        for _, other in ipairs(redis.call('SMEMBERS', binassoc)) do
          redis.call('SREM', links .. other, me)
          if redis.call('EXISTS', ARGV[7] .. other) == 1 then
            redis.call('SADD', assoc, other)
            redis.call('SADD', ARGV[9] .. other, me)
            redis.call('HSET', ARGV[7] .. other, '_assoc', '1')
            redis.call('HSET', rec, '_assoc', '1')
          elseif redis.call('EXISTS', ARGV[8] .. other) == 1 then
            -- The other side is in the bin too: its own restore links the two again.
            redis.call('SADD', ARGV[10] .. other, me)
            redis.call('SADD', links .. me, other)
            local ot, oid = string.match(other, '^([^:]+):(.+)$')
            redis.call('SADD', ARGV[11] .. ot, oid)
            -- Restored later in this call, it links the two again.
            if ot == otype then hasassoc[oid] = true end
          end
        end
        redis.call('DEL', binassoc)
        redis.call('SREM', KEYS[8], id)
      end
      restored_ids[#restored_ids+1] = id
      if marks then restored_members[#restored_members+1] = otype .. ':' .. id end
      ok(id)
    end
  end
end
for operation, l in pairs(byop) do
  each_chunk(l, function(c) redis.call('ZREM', ARGV[16] .. operation .. ':bin', unpack(c)) end)
end
each_chunk(live, function(c) redis.call('ZADD', KEYS[1], unpack(c)) end)
each_chunk(gone, function(c) redis.call('ZREM', KEYS[2], unpack(c)); redis.call('ZREM', KEYS[3], unpack(c)) end)
each_chunk(emails_set, function(c) redis.call('HSET', KEYS[4], unpack(c)) end)
for dk, d in pairs(bydays) do bin_emails_remove(dk, d.es, d.rids) end
ix_flush(ix)
if #restored_ids > 0 then
  if marks then mark_changed(KEYS[5], KEYS[6], restored_members, now, 'r') end
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[6], '*', 'action', 'restore', 'object_type', otype,
    'record_ids', table.concat(restored_ids, ','), 'by', ARGV[3], 'via', ARGV[4], 'ref', ARGV[5], 'at', now)
end
if not undo then return out end
local restored, failed = nok, #out
for _, r in ipairs(out) do
  local f = {id = r[2], code = r[1]}
  if r[1] == 'expired' then f.deleted_at = r[3]
  elseif r[1] == 'conflict' then f.property = 'email'; f.blocking_id = r[4]
  elseif r[1] == 'erased' then f.property = r[4]
  elseif r[1] == 'unique' then f.property = r[3]; f.blocking_id = r[5] end
  redis.call('RPUSH', KEYS[10], cjson.encode(f))
end
redis.call('HINCRBY', KEYS[9], 'done', restored)
redis.call('HINCRBY', KEYS[9], 'skipped', failed)
redis.call('HSET', KEYS[9], 'cursor', ARGV[18], 'updated_at', now, 'state', 'running')
local j = redis.call('HMGET', KEYS[9], 'total', 'done', 'skipped')
local seen = tonumber(j[2] or '0') + tonumber(j[3] or '0')
if seen > tonumber(j[1] or '0') then redis.call('HSET', KEYS[9], 'total', seen) end
local left = redis.call('ZRANGEBYSCORE', ARGV[16] .. ARGV[19] .. ':bin', '(' .. ARGV[18], '+inf', 'LIMIT', 0, 1)
if #left == 0 then
  -- Records of the operation that left the bin before the undo reached them (restored by
  -- someone, or purged) were in its total: the job says how many, so that its counts add up.
  local gone = tonumber(j[1] or '0') - seen
  if gone > 0 then redis.call('HSET', KEYS[9], 'gone', gone) end
  redis.call('HSET', KEYS[9], 'state', 'done', 'finished_at', now)
end
return redis.call('HGETALL', KEYS[9])
