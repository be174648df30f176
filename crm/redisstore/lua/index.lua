-- Shared functions that keep the search indexes (SearchIndexKey, SearchValueKey) and the unique indexes
-- (UniqueIndexKey) of records in the write scripts. A script decodes the spec (indexSpec) once, reads the indexed fields of each record
-- it changes (ix_fields) before and after, collects the entries to remove and to add with
-- ix_record, and writes them with ix_flush: a few calls per index key, whatever the batch size.
-- It needs each_chunk (helpers.lua) before it.
-- ascii_lower lowers the ASCII letters of s and no other, as asciiLower (search.go) lowers a
-- search's values: the text indexes and the search scripts compare without ASCII case on every
-- server. Redis's string.lower is that already (the C locale), and is used there; the embedded
-- store's Lua lowers every letter, which would index "Åsa" as "åsa", where no search for "Åsa"
-- finds it.
local ascii_upper = {}
for c = 65, 90 do ascii_upper[string.char(c)] = string.char(c + 32) end
local ascii_lower = string.lower
if string.lower('\195\133') ~= '\195\133' then -- "Å" in UTF-8
  ascii_lower = function(s) return (string.gsub(s, '[A-Z]', ascii_upper)) end
end

-- ix_ms turns a stored datetime (2006-01-02T15:04:05.000Z) or date (2006-01-02, its midnight UTC)
-- into unix ms, or nil. It reads the digits as bytes (no pattern captures, no tonumber): it runs
-- once for each datetime or date a write indexes. Like the pattern it replaced, it takes any digits
-- in each place (month 13 included).
local byte = string.byte
local function ix_ms(v)
  local y1, y2, y3, y4, s1, m1, m2, s2, d1, d2, t, h1, h2, c1, i1, i2, c2, e1, e2, dot, f1, f2, f3, z
  if #v == 10 then
    y1, y2, y3, y4, s1, m1, m2, s2, d1, d2 = byte(v, 1, 10)
    if s1 ~= 45 or s2 ~= 45 then return nil end
    h1, h2, i1, i2, e1, e2, f1, f2, f3 = 48, 48, 48, 48, 48, 48, 48, 48, 48
  elseif #v == 24 then
    y1, y2, y3, y4, s1, m1, m2, s2, d1, d2, t, h1, h2, c1, i1, i2, c2, e1, e2, dot, f1, f2, f3, z = byte(v, 1, 24)
    if s1 ~= 45 or s2 ~= 45 or t ~= 84 or c1 ~= 58 or c2 ~= 58 or dot ~= 46 or z ~= 90 then return nil end
  else
    return nil
  end
  y1, y2, y3, y4, m1, m2, d1, d2 = y1 - 48, y2 - 48, y3 - 48, y4 - 48, m1 - 48, m2 - 48, d1 - 48, d2 - 48
  h1, h2, i1, i2, e1, e2, f1, f2, f3 = h1 - 48, h2 - 48, i1 - 48, i2 - 48, e1 - 48, e2 - 48, f1 - 48, f2 - 48, f3 - 48
  if y1 < 0 or y1 > 9 or y2 < 0 or y2 > 9 or y3 < 0 or y3 > 9 or y4 < 0 or y4 > 9 or m1 < 0 or m1 > 9 or m2 < 0 or m2 > 9
    or d1 < 0 or d1 > 9 or d2 < 0 or d2 > 9 or h1 < 0 or h1 > 9 or h2 < 0 or h2 > 9 or i1 < 0 or i1 > 9 or i2 < 0 or i2 > 9
    or e1 < 0 or e1 > 9 or e2 < 0 or e2 > 9 or f1 < 0 or f1 > 9 or f2 < 0 or f2 > 9 or f3 < 0 or f3 > 9 then return nil end
  local y, mo, d = ((y1 * 10 + y2) * 10 + y3) * 10 + y4, m1 * 10 + m2, d1 * 10 + d2
  if mo <= 2 then y = y - 1 end
  -- Days since 1970-01-01 in the proleptic Gregorian calendar; (x - x % n) / n is floor(x / n).
  local yoe = y % 400
  local era = (y - yoe) / 400
  local q = 153 * ((mo + 9) % 12) + 2
  local doy = (q - q % 5) / 5 + d - 1
  local days = era * 146097 + yoe * 365 + (yoe - yoe % 4) / 4 - (yoe - yoe % 100) / 100 + doy - 719468
  return ((days * 24 + h1 * 10 + h2) * 60 + i1 * 10 + i2) * 60000 + (e1 * 10 + e2) * 1000 + (f1 * 10 + f2) * 10 + f3
end

-- ix_score is the score of value v of an index of kind k ("n", "d" or "m"), as text, or nil when
-- v is not a finite number. The text is what '%.17g' makes of it; a whole number other than 0
-- (below 2^53, so '%.17g' writes it in full) is written with the cheaper '%d'.
local function ix_score(k, v)
  local x
  if k == 'd' then x = ix_ms(v) else x = tonumber(v) end
  if not x or x ~= x or x == math.huge or x == -math.huge then return nil end
  if x ~= 0 and x % 1 == 0 and x < 9007199254740992 and x > -9007199254740992 then return string.format('%d', x) end
  return string.format('%.17g', x)
end

-- ix_spec decodes a spec; its fields lists the record fields its indexes read.
local function ix_spec(raw)
  local spec = cjson.decode(raw)
  spec.fields = {}
  spec.uq = spec.uq or {}
  for i, e in ipairs(spec.props) do
    spec.fields[i] = e[3]
    if e[1] == 'v' then e[4] = spec.ixv .. e[2] .. ':' else e[4] = spec.ix .. e[2] end
  end
  for _, u in ipairs(spec.uq) do spec.fields[#spec.fields+1] = u[1] end
  return spec
end

-- uq_owners reads, for the unique properties of spec, the owners of the values that the records
-- recs ({id=.., props={field -> value}}) give them: one HMGET per property and 500 values, so that
-- uq_check need not ask for each record. Returns a table field -> (value -> owner id or false).
local function uq_owners(spec, recs)
  local out = {}
  for _, u in ipairs(spec.uq) do
    local vs, seen = {}, {}
    for _, r in ipairs(recs) do
      local v = r.props[u[1]]
      if v and v ~= '' and not seen[v] then seen[v] = true; vs[#vs+1] = v end
    end
    local owners = {}
    each_chunk(vs, function(c)
      for i, o in ipairs(redis.call('HMGET', u[2], unpack(c))) do owners[c[i]] = o end
    end)
    out[u[1]] = owners
  end
  return out
end

-- uq_check returns {"unique", property, value, owner id} when a value in vals (field -> value)
-- of a unique property is held by another live record, or by another record of the same call
-- (claimed: "<property>\0<value>" -> id); nil when record id may hold them all, and then only
-- are its values added to claimed (a restore goes on past a refused record). known, when given, is
-- uq_owners's answer for a set of records that includes this one; without it the owners are read.
-- released, when given, names the values that other records of the same call give up
-- ("<property>\0<value>" -> the id giving it up): a value held by the record that gives it up is free.
local function uq_check(spec, id, vals, claimed, known, released)
  local mine = {}
  for _, u in ipairs(spec.uq) do
    local v = vals[u[1]]
    if v and v ~= '' then
      local owner
      if known then owner = known[u[1]][v] else owner = redis.call('HGET', u[2], v) end
      if owner and owner ~= id and not (released and released[u[1] .. '\0' .. v] == owner) then
        return {'unique', u[1], v, owner}
      end
      local ck = u[1] .. '\0' .. v
      if claimed[ck] and claimed[ck] ~= id then return {'unique', u[1], v, claimed[ck]} end
      mine[#mine+1] = ck
    end
  end
  for _, ck in ipairs(mine) do claimed[ck] = id end
  return nil
end

-- ix_fields reads the indexed fields of the record at key: a table field -> value.
local function ix_fields(spec, key)
  local vals = {}
  if #spec.fields == 0 then return vals end
  local got = redis.call('HMGET', key, unpack(spec.fields))
  for i, f in ipairs(spec.fields) do
    if got[i] then vals[f] = got[i] end
  end
  return vals
end

-- ix_new returns an empty collection of entries; its scores keep the score of each value met, by
-- kind, since the records of one call often share them (created and updated at the same time). A
-- script may fill them beforehand (scores.d: value -> what ix_score makes of it).
local function ix_new() return {zrem = {}, srem = {}, zadd = {}, sadd = {}, hdel = {}, hset = {}, scores = {}} end

local function ix_push(t, key, a, b)
  local l = t[key]
  if not l then l = {}; t[key] = l end
  l[#l+1] = a
  if b then l[#l+1] = b end
end

-- ix_record collects the index entries of record id whose indexed fields hold vals (field ->
-- value), to add (add true) or to remove. Only fields present in vals count, so an update passes
-- just the fields it changed. It runs for each record a script writes: its loop is numeric, and it
-- appends an added sorted-set entry itself rather than through ix_push (a call for each).
local function ix_record(acc, spec, id, vals, add)
  local props, zadd, scores = spec.props, acc.zadd, acc.scores
  for i = 1, #props do
    local e = props[i]
    local v = vals[e[3]]
    if v and v ~= '' then
      local k = e[1]
      if k == 'v' then
        local key = e[4] .. v
        if add then ix_push(acc.sadd, key, id) else ix_push(acc.srem, key, id) end
      elseif not add then
        -- A removal needs only the member: the id, or for a text index the value and the id.
        if k == 's' then ix_push(acc.zrem, e[4], ascii_lower(v) .. '\0' .. id) else ix_push(acc.zrem, e[4], id) end
      else
        local score, member = '0', id
        if k == 's' then
          member = ascii_lower(v) .. '\0' .. id
        else
          local known = scores[k]
          if not known then known = {}; scores[k] = known end
          score = known[v]
          if score == nil then score = ix_score(k, v) or false; known[v] = score end
        end
        if score then
          local l = zadd[e[4]]
          if not l then l = {}; zadd[e[4]] = l end
          local n = #l
          l[n+1] = score; l[n+2] = member
        end
      end
    end
  end
  for _, u in ipairs(spec.uq) do
    local v = vals[u[1]]
    if v and v ~= '' then
      if add then ix_push(acc.hset, u[2], v, id) else ix_push(acc.hdel, u[2], v, id) end
    end
  end
end

-- ix_flush writes the collected entries: removals first, so that an update's new value stays.
local function ix_flush(acc)
  for key, l in pairs(acc.zrem) do each_chunk(l, function(c) redis.call('ZREM', key, unpack(c)) end) end
  for key, l in pairs(acc.srem) do each_chunk(l, function(c) redis.call('SREM', key, unpack(c)) end) end
  for key, l in pairs(acc.zadd) do each_chunk(l, function(c) redis.call('ZADD', key, unpack(c)) end) end
  for key, l in pairs(acc.sadd) do each_chunk(l, function(c) redis.call('SADD', key, unpack(c)) end) end
  -- A unique value leaves its index only while it still names the record that gave it up.
  for key, l in pairs(acc.hdel) do
    local vs, ids = {}, {}
    for i = 1, #l, 2 do vs[#vs+1] = l[i]; ids[#ids+1] = l[i+1] end
    each_chunk_with(vs, ids, function(cv, ci)
      local cur, del = redis.call('HMGET', key, unpack(cv)), {}
      for j, v in ipairs(cv) do if cur[j] == ci[j] then del[#del+1] = v end end
      if #del > 0 then redis.call('HDEL', key, unpack(del)) end
    end)
  end
  for key, l in pairs(acc.hset) do each_chunk(l, function(c) redis.call('HSET', key, unpack(c)) end) end
end
