-- Removes for good the bin entries of a type deleted at or before a horizon. The deletion time is
-- compared here, inside the script, so a purge can never remove an entry early, and a restored or
-- already purged entry is simply not in the index any more. Each batch writes one audit entry
-- (action "purge", the ids and their count, no content). For contacts, the bin email index of a day
-- the batch covers (BinEmailDayKey) goes as a whole once no contact deleted that day is left in the
-- bin: the purge costs nothing per email.
-- KEYS[1] -> crm:{<tenant>}:trash:<type>
-- KEYS[2] -> crm:{<tenant>}:binids:<type>
-- KEYS[3] -> crm:{<tenant>}:binassocs:<type> (the ids whose bin association key or bin links key
--   exists)
-- KEYS[4] -> crm:{<tenant>}:audit
-- KEYS[5] -> crm:{<tenant>}:binemails:contacts:days
-- ARGV[1] -> horizon (unix ms)
-- ARGV[2] -> batch limit
-- ARGV[3] -> bin record key prefix of the type ("crm:{<tenant>}:bin:<type>:")
-- ARGV[4] -> bin association key prefix of the type
-- ARGV[5] -> object type
-- ARGV[6] -> now (unix ms)
-- ARGV[7] -> audit stream max length
-- ARGV[8] -> the bin email day key prefix ("crm:{<tenant>}:binemails:contacts:"): the days to
--   drop are read from KEYS[5]
-- ARGV[9] -> operation key prefix ("crm:{<tenant>}:op:"): each entry leaves the bin index of its
--   operation (OperationBinKey: the prefix, its _deleted_operation and ':bin')
-- ARGV[10] -> bin links key prefix ("crm:{<tenant>}:binlinks:"): an entry with a bin association
--   set leaves the BinLinksKey of each record it names (one SMEMBERS for the entry, one SREM per
--   association), and an entry of KEYS[3] loses its own BinLinksKey (in the batch's UNLINK); the
--   others cost nothing more
-- Returns the number of entries removed.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then return 0 end
local first_day, last_day
if ARGV[5] == 'contacts' then
  -- The batch's first and last deletion times: the ids are the lowest scores of the bin.
  first_day = math.floor(tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]) / 86400000)
  last_day = math.floor(tonumber(redis.call('ZRANGE', KEYS[1], #ids - 1, #ids - 1, 'WITHSCORES')[2]) / 86400000)
end
local keys = {}
for i, id in ipairs(ids) do keys[i] = ARGV[3] .. id end
-- Each entry leaves the bin index of its operation. A batch holds the oldest entries, which
-- mostly come from one or a few operations: the operation of the first entry not placed yet is
-- read, and one ZMSCORE of its bin index places every other entry of that operation at once. After
-- three such guesses, the entries left are read one by one.
local rest, guesses = ids, 0
while #rest > 0 do
  if guesses == 3 then
    local byop = {}
    for _, id in ipairs(rest) do
      local operation = redis.call('HGET', ARGV[3] .. id, '_deleted_operation')
      if operation then
        local l = byop[operation]
        if not l then l = {}; byop[operation] = l end
        l[#l+1] = id
      end
    end
    for operation, l in pairs(byop) do redis.call('ZREM', ARGV[9] .. operation .. ':bin', unpack(l)) end
    break
  end
  guesses = guesses + 1
  local operation = redis.call('HGET', ARGV[3] .. rest[1], '_deleted_operation')
  local left = {}
  if operation then
    local bin = ARGV[9] .. operation .. ':bin'
    local scores, mine = redis.call('ZMSCORE', bin, unpack(rest)), {}
    for i, id in ipairs(rest) do
      if scores[i] then mine[#mine+1] = id else left[#left+1] = id end
    end
    if #mine > 0 then redis.call('ZREM', bin, unpack(mine)) end
  else
    for i = 2, #rest do left[#left+1] = rest[i] end
  end
  rest = left
end
-- Most binned records had no associations: only the association keys that exist are read and
-- unlinked, and their records leave the bin links of the records they name. Their own bin links
-- (the binned records that name them) go too: a purged record can be neither restored nor
-- erased, so nothing reads them again, and the records they list skip it when restored.
if redis.call('EXISTS', KEYS[3]) == 1 then
  local has, with = redis.call('SMISMEMBER', KEYS[3], unpack(ids)), {}
  for i, id in ipairs(ids) do
    if has[i] == 1 then
      local key, me = ARGV[4] .. id, ARGV[5] .. ':' .. id
      for _, other in ipairs(redis.call('SMEMBERS', key)) do redis.call('SREM', ARGV[10] .. other, me) end
      keys[#keys+1] = key; keys[#keys+1] = ARGV[10] .. me; with[#with+1] = id
    end
  end
  if #with > 0 then redis.call('SREM', KEYS[3], unpack(with)) end
end
redis.call('UNLINK', unpack(keys))
-- The ids are the lowest scores of the bin: remove them by rank, without looking each up.
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #ids - 1)
redis.call('ZREM', KEYS[2], unpack(ids))
if ARGV[5] == 'contacts' then
  -- A day before the batch's first has no contact left in the bin (the batch took the lowest
  -- deletion times), nor has one whose range of the bin is now empty.
  for _, d in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', last_day)) do
    local from = tonumber(d) * 86400000
    if tonumber(d) < first_day or
      redis.call('ZCOUNT', KEYS[1], string.format('%d', from), string.format('%d', from + 86400000 - 1)) == 0 then
      redis.call('UNLINK', ARGV[8] .. d)
      redis.call('ZREM', KEYS[5], d)
    end
  end
end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'action', 'purge', 'object_type', ARGV[5],
  'record_ids', table.concat(ids, ','), 'count', #ids, 'by', 'system', 'via', 'purge', 'ref', '', 'at', ARGV[6])
return #ids
