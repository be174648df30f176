-- Brings records back from their type's bin.
-- KEYS[1] -> crm:{<tenant>}:live:<type>
-- KEYS[2] -> crm:{<tenant>}:trash:<type>
-- KEYS[3] -> crm:{<tenant>}:binids:<type>
-- KEYS[4] -> crm:{<tenant>}:uniq:contacts:email
-- KEYS[5] -> crm:{<tenant>}:changed
-- KEYS[6] -> crm:{<tenant>}:changed:events
-- KEYS[7] -> crm:{<tenant>}:audit
-- KEYS[8] -> crm:{<tenant>}:binassocs:<type> (the ids whose bin association key exists)
-- KEYS[9..] -> quadruples, one per record id of ARGV[16..] (KEYS[4*i-55..4*i-52] for ARGV[i]):
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
-- ARGV[16..] -> record ids
-- Returns one entry per id: {"ok", id}, {"missing", id}, {"expired", id, deleted_at},
-- {"conflict", id, email, owner id} or {"unique", id, property, value, owner id} when a value of a
-- unique property now belongs to another live record (or to one restored earlier in the call).
local now, otype = ARGV[1], ARGV[2]
local horizon = tonumber(ARGV[13])
local spec = ix_spec(ARGV[15])
local ix = ix_new()
local out = {}
local uclaimed = {}
for i = 16, #ARGV do
  local id = ARGV[i]
  local me = otype .. ':' .. id
  local k = 4 * (i - 16) + 8
  local rec, bin, assoc, binassoc = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  if redis.call('EXISTS', bin) == 0 and redis.call('HGET', rec, '_restored_op') == ARGV[12] then
    out[#out+1] = {'ok', id}
  elseif redis.call('EXISTS', bin) == 0 or redis.call('EXISTS', rec) == 1 then
    out[#out+1] = {'missing', id}
  elseif tonumber(redis.call('HGET', bin, '_deleted_at') or '0') <= horizon then
    out[#out+1] = {'expired', id, redis.call('HGET', bin, '_deleted_at') or '0'}
  else
    local deleted = redis.call('HGET', bin, '_deleted_at') or '0'
    local emails = {}
    local blocked = nil
    if otype == 'contacts' then
      local cur = redis.call('HMGET', bin, 'email', 'additional_emails')
      emails = split_emails(cur[1] or '', cur[2] or '')
      for _, e in ipairs(emails) do
        local owner = redis.call('HGET', KEYS[4], e)
        if owner and owner ~= id then blocked = {'conflict', id, e, owner}; break end
      end
    end
    if not blocked and #spec.uq > 0 then
      local taken = uq_check(spec, id, ix_fields(spec, bin), uclaimed)
      if taken then blocked = {'unique', id, taken[2], taken[3], taken[4]} end
    end
    if blocked then
      out[#out+1] = blocked
    else
      redis.call('RENAME', bin, rec)
      redis.call('HDEL', rec, '_deleted_at', '_deleted_by', '_deleted_via', '_deleted_ref', '_deleted_op', '_deleted_rev')
      redis.call('HSET', rec, '_updated', now, '_restored_op', ARGV[12])
      ix_record(ix, spec, id, ix_fields(spec, rec), true)
      redis.call('ZADD', KEYS[1], id, id)
      redis.call('ZREM', KEYS[2], id)
      redis.call('ZREM', KEYS[3], id)
      local rids = {}
      for _, e in ipairs(emails) do
        redis.call('HSET', KEYS[4], e, id)
        rids[#rids+1] = id
      end
      if #emails > 0 then
        local day = math.floor(tonumber(deleted) / 86400000)
        bin_emails_remove(ARGV[14] .. string.format('%d', day), emails, rids)
      end
      for _, other in ipairs(redis.call('SMEMBERS', binassoc)) do
        if redis.call('EXISTS', ARGV[7] .. other) == 1 then
          redis.call('SADD', assoc, other)
          redis.call('SADD', ARGV[9] .. other, me)
          redis.call('HSET', ARGV[7] .. other, '_assoc', '1')
          redis.call('HSET', rec, '_assoc', '1')
        elseif redis.call('EXISTS', ARGV[8] .. other) == 1 then
          -- The other side is in the bin too: its own restore links the two again.
          redis.call('SADD', ARGV[10] .. other, me)
          local ot, oid = string.match(other, '^([^:]+):(.+)$')
          redis.call('SADD', ARGV[11] .. ot, oid)
        end
      end
      redis.call('DEL', binassoc)
      redis.call('SREM', KEYS[8], id)
      mark_changed(KEYS[5], KEYS[6], {me}, now, 'r')
      redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[6], '*', 'action', 'restore', 'object_type', otype,
        'record_ids', id, 'by', ARGV[3], 'via', ARGV[4], 'ref', ARGV[5], 'at', now)
      out[#out+1] = {'ok', id}
    end
  end
end
ix_flush(ix)
return out
