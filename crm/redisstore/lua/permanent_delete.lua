-- Removes contacts for good (privacy law), in steps (see below for the calls): each contact, live
-- or in the bin, its calls or its associations with the calls it shares, its associations and list
-- memberships, its enrollments and workflow history, its entries in the live and the bin email indexes; it blocklists the salted
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
--   {calls_erased} and {calls_kept} replaced by its totals
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
-- ARGV[24] -> how many calls one step settles at most (the batch)
-- ARGV[25] -> the placeholder that replaces the contacts' values in the calls kept
-- ARGV[26] -> the contacts' properties that identify them, of firstname, lastname, phone and
--   mobilephone those the schema has (comma-separated): their values, "firstname lastname" and each
--   email (primary and additional) are what a call kept loses
-- ARGV[27] -> the calls' text properties (comma-separated): where a call kept loses them
-- ARGV[28..] -> salted hashes to blocklist
-- A step first settles the calls associated with the contacts, ARGV[24] at most: those the
-- contacts' own association sets name (live, or in the bin for a contact in the bin). A call is
-- shared when its own association sets (live, and in the bin for a call in the bin) name a record
-- other than these contacts; a shared call is kept: it loses its associations with the contacts,
-- and every whole-word occurrence (ASCII case ignored) of their emails, names and phone numbers
-- (ARGV[26]) in its text properties is replaced by ARGV[25]; their other values (a city, a job
-- title) stay, being other people's words too. Any other call is wiped with
-- them. Only those keys are read, never the bin's other records, so a step costs what the
-- contacts and their calls hold, whatever the size of the bin (SPEC S27). Two consequences: a
-- call whose other association is with a record in the bin (which names it on its side only)
-- counts as the contacts' alone and is wiped; and a call in the bin whose own side names a
-- contact, when the contact's side no longer does (the call was binned first), is not found: it
-- stays in the bin, naming the contact's id, until purged. Each step
-- audits the calls it settled (permanent_delete_cascade: wiped, permanent_delete_kept: kept) and
-- counts them on the first contact's hash (_erase_wiped, _erase_kept), so that a retry after a
-- crash between steps reports every call. When calls are left for another step, it returns
-- {2, wiped, kept} (the step's counts) and the contacts stay; the step that finds none left erases
-- the contacts and returns {1, wiped, kept} (the totals of every step).
-- Returns {1, wiped, kept} when done, {2, wiped, kept} when calls are left (call it again), {0}
-- when a contact id is not found (live or in the bin), {-1} when a contact's emails changed since
-- read, or the email named belongs to a live contact not among ARGV[2]. Nothing is changed unless
-- it returns 1 or 2.
local now = ARGV[1]
local specs = {contacts = ix_spec(ARGV[20]), calls = ix_spec(ARGV[21])}
local ix = ix_new()
local P = {rec = ARGV[5], bin = ARGV[6], assoc = ARGV[7], binassoc = ARGV[8], memberof = ARGV[9],
  list = ARGV[10], listsfx = ARGV[11], binassocs = ARGV[18]}
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
-- that are gone.
local function unlink(other, me)
  local live, bin = P.assoc .. other, P.binassoc .. other
  if redis.call('SREM', live, me) == 1 and redis.call('EXISTS', live) == 0 then
    redis.call('HDEL', P.rec .. other, '_assoc')
  end
  if redis.call('SREM', bin, me) == 1 and redis.call('EXISTS', bin) == 0 then
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
-- its indexes, its associations on both sides, its list memberships and its change mark.
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
  for _, src in ipairs({K.assoc, K.binassoc}) do
    for _, other in ipairs(redis.call('SMEMBERS', src)) do unlink(other, me) end
  end
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
-- Settle the calls named by the contacts' association sets.
local erasing = {}
for _, id in ipairs(ids) do erasing['contacts:' .. id] = true end

-- shared reports whether call "calls:<id>" is associated with a record other than the contacts,
-- as its own association sets say.
local function shared(other)
  for _, src in ipairs({P.assoc .. other, P.binassoc .. other}) do
    for _, m in ipairs(redis.call('SMEMBERS', src)) do
      if not erasing[m] then return true end
    end
  end
  return false
end

-- The needles a call kept loses: what identifies the contacts (their emails, and the values of
-- ARGV[26]: names and phone numbers, with "firstname lastname"), lower-cased (ASCII). Other values
-- (a city, a country, a job title) stay: they are not the person's, and other people's text holds
-- them too.
local ascii_lower = {}
for c = 65, 90 do ascii_lower[string.char(c)] = string.char(c + 32) end
local needles = {}
local function trim(v)
  v = string.gsub(v, '^%s+', '')
  return (string.gsub(v, '%s+$', ''))
end
local function add_needle(v)
  v = trim(v)
  if v ~= '' then needles[#needles + 1] = (string.gsub(v, '[A-Z]', ascii_lower)) end
end
local idprops = {}
if ARGV[26] ~= '' then idprops = split(ARGV[26], ',') end
for i in ipairs(ids) do
  for _, e in ipairs(found[i]) do add_needle(e) end
  if #idprops > 0 then
    local vals, byname = redis.call('HMGET', srcs[i], unpack(idprops)), {}
    for j = 1, #idprops do
      if vals[j] then
        byname[idprops[j]] = trim(vals[j])
        add_needle(vals[j])
      end
    end
    local first, last = byname.firstname, byname.lastname
    if first and last and first ~= '' and last ~= '' then add_needle(first .. ' ' .. last) end
  end
end

-- wordchar: a byte that a whole-word match may not touch (ASCII letters and digits, and every byte
-- of a character outside ASCII).
local function wordchar(b) return b and (string.find(b, '^[%w_]') ~= nil or string.byte(b) >= 128) end

-- scrub returns src with every whole-word occurrence of a needle replaced by the placeholder, the
-- longest at a place first, or nil when none occurs.
local function scrub(src)
  local low = string.gsub(src, '[A-Z]', ascii_lower)
  local out, pos, hit = {}, 1, false
  while true do
    local at, len
    for _, n in ipairs(needles) do
      local from = pos
      while true do
        local s = string.find(low, n, from, true)
        if not s then break end
        local e = s + #n - 1
        local before = s > 1 and string.sub(low, s - 1, s - 1) or nil
        local after = e < #low and string.sub(low, e + 1, e + 1) or nil
        local edge = not (wordchar(string.sub(n, 1, 1)) and wordchar(before)) and
          not (wordchar(string.sub(n, -1)) and wordchar(after))
        if edge then
          if not at or s < at or (s == at and #n > len) then at, len = s, #n end
          break
        end
        from = s + 1
      end
    end
    if not at then break end
    out[#out + 1] = string.sub(src, pos, at - 1)
    out[#out + 1] = ARGV[25]
    pos, hit = at + len, true
  end
  if not hit then return nil end
  out[#out + 1] = string.sub(src, pos)
  return table.concat(out)
end

local callprops = split(ARGV[27], ',')
-- keep dissociates call "calls:<oid>" from the contacts and scrubs its text properties.
local function keep(other, oid)
  for m in pairs(erasing) do
    unlink(other, m)
    unlink(m, other)
  end
  local key, live = P.rec .. other, true
  if redis.call('EXISTS', key) == 0 then key, live = P.bin .. other, false end
  if redis.call('EXISTS', key) == 0 then return end
  local vals = redis.call('HMGET', key, unpack(callprops))
  local set, gone, came = {}, {}, {}
  for j = 1, #callprops do
    local v = vals[j]
    local s = v and scrub(v)
    if s then
      set[#set + 1] = callprops[j]
      set[#set + 1] = s
      gone[callprops[j]], came[callprops[j]] = v, s
    end
  end
  if #set > 0 then
    if live then
      ix_record(ix, specs.calls, oid, gone, false)
      ix_record(ix, specs.calls, oid, came, true)
    end
    redis.call('HSET', key, '_updated', now, unpack(set))
  end
end

local budget = tonumber(ARGV[24])
local wiped_calls, kept_calls, settled, more = {}, {}, {}, false
for i in ipairs(ids) do
  local K = contact_keys(i)
  local cands = {}
  for _, s in ipairs({K.assoc, K.binassoc}) do
    for _, other in ipairs(redis.call('SMEMBERS', s)) do
      if string.sub(other, 1, 6) == 'calls:' then cands[#cands + 1] = other end
    end
  end
  for _, other in ipairs(cands) do
    if not settled[other] then
      if budget <= 0 then more = true; break end
      settled[other], budget = true, budget - 1
      local oid = string.sub(other, 7)
      if shared(other) then
        keep(other, oid)
        kept_calls[#kept_calls + 1] = oid
      else
        wipe('calls', oid, {rec = P.rec .. other, bin = P.bin .. other, assoc = P.assoc .. other,
          binassoc = P.binassoc .. other, memberof = P.memberof .. other})
        wiped_calls[#wiped_calls + 1] = oid
      end
    end
  end
  if more then break end
end
if #wiped_calls > 0 then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'action', 'permanent_delete_cascade', 'object_type', 'calls',
    'record_ids', table.concat(wiped_calls, ','), 'count', #wiped_calls, 'by', ARGV[3], 'via', 'api', 'ref', table.concat(ids, ','), 'at', now)
end
if #kept_calls > 0 then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'action', 'permanent_delete_kept', 'object_type', 'calls',
    'record_ids', table.concat(kept_calls, ','), 'count', #kept_calls, 'by', ARGV[3], 'via', 'api', 'ref', table.concat(ids, ','), 'at', now)
end
if more then
  ix_flush(ix)
  redis.call('HINCRBY', srcs[1], '_erase_wiped', #wiped_calls)
  redis.call('HINCRBY', srcs[1], '_erase_kept', #kept_calls)
  return {2, #wiped_calls, #kept_calls}
end
local total_wiped, total_kept = #wiped_calls, #kept_calls
for i in ipairs(ids) do
  local c = redis.call('HMGET', srcs[i], '_erase_wiped', '_erase_kept')
  total_wiped = total_wiped + (tonumber(c[1]) or 0)
  total_kept = total_kept + (tonumber(c[2]) or 0)
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
for i = 28, #ARGV do redis.call('SADD', KEYS[5], ARGV[i]) end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'action', 'permanent_delete', 'object_type', 'contacts',
  'record_ids', table.concat(ids, ','), 'count', #ids, 'calls_erased', total_wiped, 'calls_kept', total_kept,
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
local mail = fill(fill(ARGV[13], '{calls_erased}', tostring(total_wiped)), '{calls_kept}', tostring(total_kept))
redis.call('HSET', KEYS[6], ARGV[12], mail)
return {1, total_wiped, total_kept}
