-- Removes contacts for good (privacy law), in steps (see below for the calls): each contact, live
-- or in the bin, the calls associated with it, its associations and list memberships, its
-- enrollments and workflow history, its entries in the live and the bin email indexes; it blocklists the salted
-- hashes of their emails, writes the audit entries (ids and counts only) and the confirmation email
-- to send. Several contacts are erased together when they share the email the delete named (one
-- person's data). It refuses when a contact's emails differ from those the caller read (a
-- concurrent update), so that no email escapes the blocklist; the caller reads again and retries.
-- KEYS[1] -> crm:{<tenant>}:uniq:contacts:email
-- KEYS[2] -> crm:{<tenant>}:changed
-- KEYS[3] -> crm:{<tenant>}:changed:events
-- KEYS[4] -> crm:{<tenant>}:audit
-- KEYS[5] -> crm:{<tenant>}:blocklist
-- KEYS[6] -> crm:{<tenant>}:mail:pending
-- KEYS[7] -> crm:{<tenant>}:flows: every wiped record also loses its enrollments and history in
--   each workflow
-- KEYS[8] -> crm:{<tenant>}:live:contacts
-- KEYS[9] -> crm:{<tenant>}:trash:contacts
-- KEYS[10] -> crm:{<tenant>}:binids:contacts
-- KEYS[11] -> crm:{<tenant>}:binassocs:contacts
-- KEYS[12] -> crm:{<tenant>}:live:calls
-- KEYS[13] -> crm:{<tenant>}:trash:calls
-- KEYS[14] -> crm:{<tenant>}:binids:calls
-- KEYS[15] -> crm:{<tenant>}:binassocs:calls
-- KEYS[16] -> crm:{<tenant>}:flows:active:contacts: without an active contact workflow, the
--   contacts leave no change mark (see watched)
-- KEYS[17..] -> quintuples, one per contact of ARGV[2] (the i-th: KEYS[5*i+12..5*i+16]): its keys
--   crm:{<tenant>}:obj:contacts:<id>, crm:{<tenant>}:bin:contacts:<id>,
--   crm:{<tenant>}:assoc:contacts:<id>, crm:{<tenant>}:binassoc:contacts:<id> and
--   crm:{<tenant>}:memberof:contacts:<id>
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> contact ids, comma-separated, or '' when only an email is blocklisted
-- ARGV[3] -> acting user
-- ARGV[4] -> audit stream max length
-- ARGV[5] -> record key prefix ("crm:{<tenant>}:obj:"), for the records associated with a contact
-- ARGV[6] -> bin record key prefix, likewise
-- ARGV[7] -> association key prefix, likewise
-- ARGV[8] -> bin association key prefix, likewise
-- ARGV[9] -> member-of key prefix (no type), likewise
-- ARGV[10] -> list key prefix
-- ARGV[11] -> list members key suffix
-- ARGV[12] -> pending mail id
-- ARGV[13] -> pending mail (JSON); the step that erases the contacts writes it with every
--   {calls_erased} replaced by the total of calls erased
-- ARGV[14] -> each contact's emails as read, joined by ';', the contacts joined by '|' in the
--   order of ARGV[2]
-- ARGV[15] -> workflow key prefix ("crm:{<tenant>}:flow:"); a wiped record's entries also leave
--   each workflow's log (FlowLogKey: the prefix, the name and ':log')
-- ARGV[16] -> enrollment key prefix base ("crm:{<tenant>}:enr:")
-- ARGV[17] -> history key prefix base ("crm:{<tenant>}:hist:")
-- ARGV[18] -> bin association ids key prefix ("crm:{<tenant>}:binassocs:"), for the records of
--   other types associated with a wiped one
-- ARGV[19] -> the bin email day key prefix ("crm:{<tenant>}:binemails:contacts:"): a binned
--   contact's emails leave the key of its deletion's day (BinEmailDayKey)
-- ARGV[20] -> the search index spec of contacts (indexSpec): a wiped live contact leaves its
--   search indexes
-- ARGV[21] -> the search index spec of calls: a wiped live call leaves its search indexes
-- ARGV[22] -> operation key prefix ("crm:{<tenant>}:op:"): a wiped record in the bin leaves the
--   bin index of its operation (OperationBinKey: the prefix, its _deleted_operation and ':bin')
-- ARGV[23] -> the email the delete named (normalized), '' for a delete by id: a live contact that
--   holds it and is not among ARGV[2] (created since the caller looked the email up) makes it
--   return -1, so that the caller looks again and erases that one too
-- ARGV[24] -> how many calls one step erases at most (the batch)
-- ARGV[25] -> bin links key prefix ("crm:{<tenant>}:binlinks:"): the BinLinksKey of a contact names
--   the calls in the bin whose bin association set names it; those of every wiped record name the
--   binned records that lose its id from their bin association sets
-- ARGV[26..] -> salted hashes to blocklist
-- A step first erases the calls associated with the contacts, ARGV[24] at most: those the
-- contacts' own association sets name (live, or in the bin for a contact in the bin), and the
-- calls in the bin whose own side names a contact (binned while the contact was live), which the
-- contact's BinLinksKey names. Every such call is erased, whether or not it is associated with
-- other records too (SPEC S9): it leaves their association sets as well, and the bin association
-- sets of the binned records that name it. Only those keys are read, never the bin's other
-- records, so a step costs what the contacts and their calls hold, whatever the size of the bin
-- (SPEC S27). A record binned before BinLinksKey existed is named by it only once
-- Store.BackfillBinLinks ran (crmflow admin bin-links). Each step audits the calls it erased
-- (permanent_delete_cascade) and counts them on the first contact's hash (_erase_wiped), so that a
-- retry after a crash between steps reports every call. When calls are left for another step, it
-- returns {2, erased} (the step's count) and the contacts stay; the step that finds none left
-- erases the contacts and returns {1, erased} (the total of every step).
-- Returns {1, erased} when done, {2, erased} when calls are left (call it again), {0} when a
-- contact id is not found (live or in the bin), {-1} when a contact's emails changed since read,
-- or the email named belongs to a live contact not among ARGV[2]. Nothing is changed unless it
-- returns 1 or 2.
local now = ARGV[1]
local specs = {contacts = ix_spec(ARGV[20]), calls = ix_spec(ARGV[21])}
local ix = ix_new()
local P = {rec = ARGV[5], bin = ARGV[6], assoc = ARGV[7], binassoc = ARGV[8], memberof = ARGV[9],
  list = ARGV[10], listsfx = ARGV[11], binassocs = ARGV[18], binlinks = ARGV[25]}
-- The sets of the two types a permanent delete wipes records of.
local T = {
  contacts = {live = KEYS[8], trash = KEYS[9], binids = KEYS[10], binassocs = KEYS[11]},
  calls = {live = KEYS[12], trash = KEYS[13], binids = KEYS[14], binassocs = KEYS[15]},
}

local function split(s, sep)
  local out, i = {}, 1
  while true do
    local j = string.find(s, sep, i, true)
    if not j then out[#out+1] = string.sub(s, i); return out end
    out[#out+1] = string.sub(s, i, j - 1)
    i = j + 1
  end
end

-- unlink removes "me" from the association sets of "other" (live and bin), and clears the other
-- record's _assoc flag once its set is empty, so the bin scripts do not look for associations
-- that are gone; unless binned records still name the other record (its BinLinksKey exists): it
-- then keeps the flag and, in the bin, its place in the bin association ids, by which archive.lua
-- and the purge find its bin links. unlinked says that "me" has just left the other's BinLinksKey:
-- the flag and the place go as well when nothing is left.
local function unlink(other, me, unlinked)
  local live, bin = P.assoc .. other, P.binassoc .. other
  if (redis.call('SREM', live, me) == 1 or unlinked) and redis.call('EXISTS', live, P.binlinks .. other) == 0 then
    redis.call('HDEL', P.rec .. other, '_assoc')
  end
  if (redis.call('SREM', bin, me) == 1 or unlinked) and redis.call('EXISTS', bin, P.binlinks .. other) == 0 then
    redis.call('HDEL', P.bin .. other, '_assoc')
    local otype, oid = string.match(other, '^([^:]+):(.+)$')
    redis.call('SREM', P.binassocs .. otype, oid)
  end
end

-- contact_keys are the keys of the i-th contact of ARGV[2].
local function contact_keys(i)
  local k = 5 * i + 11
  return {rec = KEYS[k + 1], bin = KEYS[k + 2], assoc = KEYS[k + 3], binassoc = KEYS[k + 4], memberof = KEYS[k + 5]}
end

-- wipe removes every trace of one record "<type>:<rid>", whose keys are K: its hash live or binned,
-- its indexes, its associations on both sides (and in the bin links: the records its bin set names
-- lose it from their BinLinksKey, and the binned records that name it, its BinLinksKey's, lose it
-- from their bin sets), its list memberships and its change mark.
-- forget_in_log removes from a workflow's log (FlowLogKey) every entry of member me, reading it
-- 1000 entries at a time (the log keeps about 10,000).
local function forget_in_log(log, me)
  local start = '-'
  while true do
    local es = redis.call('XRANGE', log, start, '+', 'COUNT', 1000)
    local del = {}
    for _, e in ipairs(es) do
      local f = e[2]
      for i = 1, #f, 2 do
        if f[i] == 'm' and f[i + 1] == me then del[#del + 1] = e[1] end
      end
    end
    if #del > 0 then redis.call('XDEL', log, unpack(del)) end
    if #es < 1000 then return end
    start = '(' .. es[#es][1]
  end
end

local function wipe(otype, rid, K)
  local me = otype .. ':' .. rid
  for _, other in ipairs(redis.call('SMEMBERS', K.assoc)) do unlink(other, me) end
  for _, other in ipairs(redis.call('SMEMBERS', K.binassoc)) do
    unlink(other, me, redis.call('SREM', P.binlinks .. other, me) == 1)
  end
  local links = P.binlinks .. me
  for _, other in ipairs(redis.call('SMEMBERS', links)) do unlink(other, me) end
  redis.call('DEL', links)
  for _, list in ipairs(redis.call('SMEMBERS', K.memberof)) do
    redis.call('ZREM', P.list .. list .. P.listsfx, rid)
  end
  if specs[otype] then ix_record(ix, specs[otype], rid, ix_fields(specs[otype], K.rec), false) end
  local operation = redis.call('HGET', K.bin, '_deleted_operation')
  if operation then redis.call('ZREM', ARGV[22] .. operation .. ':bin', rid) end
  redis.call('DEL', K.rec, K.bin, K.assoc, K.binassoc, K.memberof)
  local sets = T[otype]
  redis.call('SREM', sets.binassocs, rid)
  redis.call('ZREM', sets.live, rid)
  redis.call('ZREM', sets.trash, rid)
  redis.call('ZREM', sets.binids, rid)
  redis.call('HDEL', KEYS[3], me)
  redis.call('ZREM', KEYS[2], me)
  for _, flow in ipairs(redis.call('SMEMBERS', KEYS[7])) do
    -- A record with a history in the workflow has entries in its log too.
    if redis.call('EXISTS', ARGV[17] .. flow .. ':' .. me) == 1 then forget_in_log(ARGV[15] .. flow .. ':log', me) end
    redis.call('DEL', ARGV[16] .. flow .. ':' .. me, ARGV[17] .. flow .. ':' .. me)
    redis.call('ZREM', ARGV[15] .. flow .. ':enrolled', me)
    redis.call('SREM', ARGV[15] .. flow .. ':matching', me)
  end
end

local ids = {}
if ARGV[2] ~= '' then ids = split(ARGV[2], ',') end
local read = split(ARGV[14], '|')
local found, binday, srcs = {}, {}, {}
-- First check every contact, so that nothing changes unless all can go.
for i in ipairs(ids) do
  local K = contact_keys(i)
  local src = K.rec
  if redis.call('EXISTS', src) == 0 then src = K.bin end
  if redis.call('EXISTS', src) == 0 then return {0} end
  local cur = redis.call('HMGET', src, 'email', 'additional_emails', '_deleted_at')
  local emails = split_emails(cur[1] or '', cur[2] or '')
  if table.concat(emails, ';') ~= (read[i] or '') then return {-1} end
  found[i] = emails
  srcs[i] = src
  if cur[3] then binday[i] = string.format('%d', math.floor(tonumber(cur[3]) / 86400000)) end
end
if ARGV[23] ~= '' then
  local owner = redis.call('HGET', KEYS[1], ARGV[23])
  if owner then
    local known = false
    for _, id in ipairs(ids) do if id == owner then known = true end end
    if not known then return {-1} end
  end
end
-- Erase the calls named by the contacts' association sets, ARGV[24] at most in this step.
local budget = tonumber(ARGV[24])
local wiped_calls, wiped, more = {}, {}, false
for i in ipairs(ids) do
  local K = contact_keys(i)
  local cands = {}
  for _, s in ipairs({K.assoc, K.binassoc}) do
    for _, other in ipairs(redis.call('SMEMBERS', s)) do
      if string.sub(other, 1, 6) == 'calls:' then cands[#cands + 1] = other end
    end
  end
  -- The calls in the bin whose own side names the contact.
  local links = P.binlinks .. 'contacts:' .. ids[i]
  for _, other in ipairs(redis.call('SMEMBERS', links)) do
    if string.sub(other, 1, 6) == 'calls:' then
      if redis.call('EXISTS', P.bin .. other) == 1 then
        cands[#cands + 1] = other
      else
        redis.call('SREM', links, other)
      end
    end
  end
  for _, other in ipairs(cands) do
    if not wiped[other] then
      if budget <= 0 then more = true; break end
      wiped[other], budget = true, budget - 1
      local oid = string.sub(other, 7)
      wipe('calls', oid, {rec = P.rec .. other, bin = P.bin .. other, assoc = P.assoc .. other,
        binassoc = P.binassoc .. other, memberof = P.memberof .. other})
      wiped_calls[#wiped_calls + 1] = oid
    end
  end
  if more then break end
end
if #wiped_calls > 0 then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'action', 'permanent_delete_cascade', 'object_type', 'calls',
    'record_ids', table.concat(wiped_calls, ','), 'count', #wiped_calls, 'by', ARGV[3], 'via', 'api', 'ref', table.concat(ids, ','), 'at', now)
end
if more then
  ix_flush(ix)
  redis.call('HINCRBY', srcs[1], '_erase_wiped', #wiped_calls)
  return {2, #wiped_calls}
end
local total_wiped = #wiped_calls
for i in ipairs(ids) do
  total_wiped = total_wiped + (tonumber(redis.call('HGET', srcs[i], '_erase_wiped')) or 0)
end

local members = {}
for i, id in ipairs(ids) do
  local me = 'contacts:' .. id
  local rids = {}
  for _, e in ipairs(found[i]) do
    if redis.call('HGET', KEYS[1], e) == id then redis.call('HDEL', KEYS[1], e) end
    rids[#rids+1] = id
  end
  if binday[i] then bin_emails_remove(ARGV[19] .. binday[i], found[i], rids) end
  wipe('contacts', id, contact_keys(i))
  members[#members+1] = me
end
-- The engine learns from this mark that the contacts are gone and drops their enrollments.
ix_flush(ix)
if watched(KEYS[16]) then mark_changed(KEYS[2], KEYS[3], members, now, 'p') end
for i = 26, #ARGV do redis.call('SADD', KEYS[5], ARGV[i]) end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'action', 'permanent_delete', 'object_type', 'contacts',
  'record_ids', table.concat(ids, ','), 'count', #ids, 'calls_erased', total_wiped,
  'by', ARGV[3], 'via', 'api', 'ref', '', 'at', now)
-- fill returns s with every token replaced by v.
local function fill(s, token, v)
  local out, from = {}, 1
  while true do
    local at = string.find(s, token, from, true)
    if not at then break end
    out[#out + 1] = string.sub(s, from, at - 1)
    out[#out + 1] = v
    from = at + #token
  end
  out[#out + 1] = string.sub(s, from)
  return table.concat(out)
end
local mail = fill(ARGV[13], '{calls_erased}', tostring(total_wiped))
redis.call('HSET', KEYS[6], ARGV[12], mail)
return {1, total_wiped}
