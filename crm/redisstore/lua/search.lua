-- Runs a search plan over the search indexes of one object type and returns only live records: in
-- one step, which sees the records as one moment left them, when its work fits in one call (else in
-- slices and walks, below). A search of one filter (or none,
-- sorted by id or by a property every record has) whose index holds the records in the sorted
-- order reads only its page (ZRANGEBYSCORE / ZRANGEBYLEX with LIMIT). One value set by id is a
-- SORT of the set when the set is within the budget (SORT reads all of it); a larger one is paged
-- by walking the live index in id order and testing each id against the set (SMISMEMBER), the ids
-- read counting against the budget.
-- Otherwise each group reads the records of its smallest driver (the live set when it has none)
-- and tests the group's other filters on them; when those reads would pass the budget, nothing is
-- read.
-- KEYS[1] -> crm:{<tenant>}:live:<type>
-- KEYS[2..] -> the index keys the plan names (SearchIndexKey, SearchValueKey), each once: the plan
--   refers to them by name
-- A general search whose work (its records read, times each group's cost per record) passes the
-- plan's work for one call is not run here: the first call returns the drivers it chose, and the
-- caller runs each group in slices (ARGV[2]), each a call of at most that work, so that no call
-- holds Redis for long. A slice reads at most step.n records of one group's driver, from a
-- cursor, and returns those that pass the group's filters, with their sort values; the caller
-- unites, sorts and pages them as the last part of this script does.
-- ARGV[1] -> the plan (JSON, searchPlan): groups of drivers (index ranges that find the records of
--   one filter exactly) and checks (every filter, as a test of a record's value), each group's cost
--   per record, the sort, the offset, the page size, the work budget and the work of one call
-- ARGV[2] -> (optional) a slice (JSON, searchStep): g the group, d its driver (0: the live set), p
--   the driver's part and c the cursor in it (an offset, or SSCAN's cursor for a SET) to start at,
--   n the most records to read; or the rest of a walk (JSON, searchWalk: see the walk below)
-- Returns {"budget", records it would read} ({"budget", records, "deep"} when only a page less
-- deep would have fitted), {"walk", ...} (see the walk below), {"slices", driver of group 1, driver of group 2, ...} (0: the live
-- set) when the search must run in slices, or {total, id, id, ...}: the page's ids in order.
-- A slice returns {next part (0: the group is done), next cursor, id, sort value, id, sort value,
-- ...}: the sort value is false when the record has none or the order is by id, a number as
-- %.17g text, a text as it is.
local plan = cjson.decode(ARGV[1])
local step = nil
if ARGV[2] then step = cjson.decode(ARGV[2]) end
local off, lim = plan.off, plan.lim

local function part_count(p)
  if p.c == 'z' then return redis.call('ZCOUNT', p.key, p.min, p.max) end
  if p.c == 'l' then return redis.call('ZLEXCOUNT', p.key, p.min, p.max) end
  return redis.call('SCARD', p.key)
end

local function lex_id(m) return string.match(m, '^.*%z(.*)$') end

local function part_ids(p)
  if p.c == 'z' then return redis.call('ZRANGEBYSCORE', p.key, p.min, p.max) end
  if p.c == 's' then return redis.call('SMEMBERS', p.key) end
  local out = {}
  for i, m in ipairs(redis.call('ZRANGEBYLEX', p.key, p.min, p.max)) do out[i] = lex_id(m) end
  return out
end

local function conv(k, v)
  if v == nil or v == false or v == '' then return nil end
  if k == 'n' or k == 'm' or k == 'id' then return tonumber(v) end
  if k == 'd' then return ix_ms(v) end
  if k == 's' then return ascii_lower(v) end
  return v
end

-- glob_parts splits a CONTAINS_TOKEN pattern at its '*'s: the texts between them, in order (two
-- or more, some perhaps empty).
local function glob_parts(tok)
  local parts, i = {}, 1
  while true do
    local j = string.find(tok, '*', i, true)
    if not j then parts[#parts+1] = string.sub(tok, i); return parts end
    parts[#parts+1] = string.sub(tok, i, j - 1)
    i = j + 1
  end
end

-- glob_match reports whether the whole of x matches a pattern of parts (glob_parts), each '*'
-- matching any text. It starts with the first part, ends with the last, and finds each part
-- between at its first place after the one before: a match exists exactly when that finds one.
-- Its cost grows with the lengths of x and of the pattern only, however many '*'s it has (a Lua
-- pattern of '.*'s would backtrack, and a few dozen of them hold Redis for hours).
local function glob_match(x, parts)
  local first, last = parts[1], parts[#parts]
  if #x < #first + #last then return false end
  if string.sub(x, 1, #first) ~= first or string.sub(x, #x - #last + 1) ~= last then return false end
  local pos, stop = #first + 1, #x - #last
  for k = 2, #parts - 1 do
    local p = parts[k]
    if p ~= '' then
      local a, b = string.find(x, p, pos, true)
      if not a or b > stop then return false end
      pos = b + 1
    end
  end
  return true
end

local function has_token(x, c)
  if c.parts then return glob_match(x, c.parts) end
  local tok = c.a
  if x == tok then return true end
  if string.find(tok, '[^%w]') then return string.find(x, tok, 1, true) ~= nil end
  for w in string.gmatch(x, '%w+') do
    if w == tok then return true end
  end
  return false
end

-- less orders two values of one kind: numbers as numbers, texts byte by byte, as the text indexes
-- (ZRANGEBYLEX), the slices' sort in Go (searchOrder) and a server in the C locale do. Lua's < on
-- texts follows the collation of the server's environment (Redis calls setlocale(LC_COLLATE, "")):
-- under en_US.UTF-8 'a' < 'B' and "ab" < "a-c", so a search would order and filter text one way
-- when run here and another way through an index or in slices. The probes find a collation that is
-- not byte order; only such a server pays for comparing byte by byte.
local less = function(a, b) return a < b end
if not (('B' < 'a') and ('a-c' < 'ab') and ('Z' < 'a') and ('a b' < 'a-') and ('z' < '\195\169')) then
  local sbyte = string.byte
  less = function(a, b)
    if type(a) ~= 'string' or type(b) ~= 'string' then return a < b end
    if a == b then return false end
    local n = #a
    if #b < n then n = #b end
    for i = 1, n do
      local x, y = sbyte(a, i), sbyte(b, i)
      if x ~= y then return x < y end
    end
    return #a < #b
  end
end

local function test(c, x)
  local op = c.op
  if op == 'HAS_PROPERTY' then return x ~= nil end
  if op == 'NOT_HAS_PROPERTY' then return x == nil end
  if op == 'NEQ' then return x == nil or x ~= c.a end
  if op == 'NOT_IN' then return x == nil or not c.set[x] end
  if x == nil then return false end
  if op == 'EQ' then return x == c.a end
  if op == 'LT' then return less(x, c.a) end
  if op == 'LTE' then return x == c.a or less(x, c.a) end
  if op == 'GT' then return less(c.a, x) end
  if op == 'GTE' then return x == c.a or less(c.a, x) end
  if op == 'BETWEEN' then return (x == c.a or less(c.a, x)) and (x == c.b or less(x, c.b)) end
  if op == 'IN' then return c.set[x] == true end
  if op == 'CONTAINS_TOKEN' then return has_token(x, c) end
  return false
end

for _, g in ipairs(plan.groups) do
  for _, c in ipairs(g.checks) do
    if c.vs then
      c.set = {}
      for _, v in ipairs(c.vs) do c.set[v] = true end
    end
    if c.op == 'CONTAINS_TOKEN' and type(c.a) == 'string' and string.find(c.a, '*', 1, true) then
      c.parts = glob_parts(c.a)
    end
  end
end

local sort = plan.sort

-- page is the reply: the total, then the page's ids in order.
local function page(total, ids)
  local out = {total}
  for _, id in ipairs(ids) do out[#out+1] = id end
  return out
end

-- The fast paths: one group, at most one filter, found in sorted order by its index.
if (not step or step.w) and #plan.groups == 1 and #plan.groups[1].checks <= 1 then
  local g = plan.groups[1]
  local p = nil
  if #g.checks == 0 then
    p = {c = 'z', key = plan.live, min = '-inf', max = '+inf'}
    -- Sorted by a property every record has (createdate, lastmodifieddate...): its index is the order.
    if sort.c ~= '' and redis.call('ZCARD', sort.key) == redis.call('ZCARD', plan.live) then
      if sort.c == 'z' then p = {c = 'z', key = sort.key, min = '-inf', max = '+inf'}
      else p = {c = 'l', key = sort.key, min = '-', max = '+'} end
    end
  elseif #g.drivers == 1 and #g.drivers[1].parts == 1 then
    p = g.drivers[1].parts[1]
  end
  if p then
    local by_id = sort.k == 'id'
    if p.c == 'z' and ((by_id and p.key == plan.live) or (sort.c == 'z' and sort.key == p.key)) then
      local ids
      if sort.desc then
        ids = redis.call('ZREVRANGEBYSCORE', p.key, p.max, p.min, 'LIMIT', off, lim)
      else
        ids = redis.call('ZRANGEBYSCORE', p.key, p.min, p.max, 'LIMIT', off, lim)
      end
      return page(redis.call('ZCOUNT', p.key, p.min, p.max), ids)
    end
    if p.c == 'l' and sort.c == 'l' and sort.key == p.key then
      local ms
      if sort.desc then
        ms = redis.call('ZREVRANGEBYLEX', p.key, p.max, p.min, 'LIMIT', off, lim)
      else
        ms = redis.call('ZRANGEBYLEX', p.key, p.min, p.max, 'LIMIT', off, lim)
      end
      local ids = {}
      for i, m in ipairs(ms) do ids[i] = lex_id(m) end
      return page(redis.call('ZLEXCOUNT', p.key, p.min, p.max), ids)
    end
    if p.c == 's' and by_id then
      local n = redis.call('SCARD', p.key)
      if n <= plan.budget and not step then
        -- SORT reads the whole set, however small its LIMIT: only a set within the budget is sorted.
        local dir = 'ASC'
        if sort.desc then dir = 'DESC' end
        local ok, ids = pcall(redis.call, 'SORT', p.key, 'LIMIT', off, lim, dir)
        if ok then return page(n, ids) end
      else
        -- A larger set: the live index walked in id order (from its end when descending), 500 ids
        -- a call, each tested against the set, until the page is full. The ids read count against
        -- the budget; as the set holds more records than the budget, at least budget/live of the
        -- live records are in it, so a first page fills early, and a deep page of a sparse value
        -- runs out of budget and is refused. The live index is scored by the numeric id, so the
        -- walk gives the ids as numbers (9 before 10), as SORT and the general path order them.
        -- A call walks at most plan.work / 2 ids (a read and a probe each), then returns
        -- {"walk", ids read, ids found, the page's ids found}, and the caller goes on with a call
        -- of step {w = ids read, f = ids found}.
        local want = math.min(off + lim, n)
        local ids = {}
        if want <= off then return page(n, ids) end
        local found, read = 0, 0
        if step then found, read = step.f, step.w end
        local stop = read + math.max(1, math.floor(plan.work / 2))
        while found < want do
          local k = math.min(500, plan.budget - read)
          if k <= 0 then return {'budget', n, 'deep'} end
          if read >= stop then
            local out = {'walk', read, found}
            for _, id in ipairs(ids) do out[#out+1] = id end
            return out
          end
          k = math.min(k, stop - read)
          local chunk
          if sort.desc then
            chunk = redis.call('ZREVRANGE', plan.live, read, read + k - 1)
          else
            chunk = redis.call('ZRANGE', plan.live, read, read + k - 1)
          end
          if #chunk == 0 then break end
          read = read + #chunk
          local in_set = redis.call('SMISMEMBER', p.key, unpack(chunk))
          for j, id in ipairs(chunk) do
            if in_set[j] == 1 then
              found = found + 1
              if found > off then ids[#ids+1] = id end
              if found == want then break end
            end
          end
          if #chunk < k then break end
        end
        return page(n, ids)
      end
    end
  end
end

-- each_500 calls fn with slices of at most 500 of list, and the slice's offset in list.
local function each_500(list, fn)
  local i = 1
  while i <= #list do
    local c = {}
    for j = i, math.min(i + 499, #list) do c[#c+1] = list[j] end
    fn(c, i - 1)
    i = i + 500
  end
end

-- filter_group returns those of ids (read from driver d of group g, nil for the live set) that
-- pass the group's other filters, in their order.
local function filter_group(g, d, ids)
  local out = {}
  -- The checks that read an index go first, a call per 500 records; then those that read records.
  local ichecks, fchecks, fields = {}, {}, {}
  for _, c in ipairs(g.checks) do
    if not d or c.fi ~= d.fi then
      if c.ix then
        ichecks[#ichecks+1] = c
      else
        fchecks[#fchecks+1] = c
        if c.op == 'QUERY' then
          for _, f in ipairs(c.fs) do fields[#fields+1] = f end
        elseif c.k ~= 'id' then
          fields[#fields+1] = c.f
        end
      end
    end
  end
  each_500(ids, function(chunk)
    local alive = {}
    for j = 1, #chunk do alive[j] = true end
    for _, c in ipairs(ichecks) do
      if c.ix == 'z' then
        local sc = redis.call('ZMSCORE', c.key, unpack(chunk))
        for j = 1, #chunk do
          if alive[j] then
            local x = nil
            if sc[j] then x = tonumber(sc[j]) end
            alive[j] = test(c, x)
          end
        end
      else
        local m = {}
        for _, key in ipairs(c.keys) do
          local r = redis.call('SMISMEMBER', key, unpack(chunk))
          for j = 1, #chunk do if r[j] == 1 then m[j] = true end end
        end
        for j = 1, #chunk do
          if alive[j] then alive[j] = (m[j] == true) ~= (c.neg == true) end
        end
      end
    end
    for j, id in ipairs(chunk) do
      local ok = alive[j]
      if ok and #fchecks > 0 then
        local vals = {}
        if #fields > 0 then
          local got = redis.call('HMGET', plan.rec .. id, unpack(fields))
          for i, f in ipairs(fields) do vals[f] = got[i] end
        end
        for _, c in ipairs(fchecks) do
          if c.op == 'QUERY' then
            local any = false
            for _, f in ipairs(c.fs) do
              local x = conv('s', vals[f])
              if x and string.sub(x, 1, #c.a) == c.a then any = true; break end
            end
            ok = any
          elseif c.k == 'id' then
            ok = test(c, tonumber(id))
          else
            ok = test(c, conv(c.k, vals[c.f]))
          end
          if not ok then break end
        end
      end
      if ok then out[#out+1] = id end
    end
  end)
  return out
end

-- sort_values returns the sort's value of each record of list, by position (nil for none; none
-- at all when the order is by id).
local function sort_values(list)
  local vals = {}
  if sort.k == 'id' then return vals end
  if sort.c == 'z' then
    each_500(list, function(chunk, at)
      local sc = redis.call('ZMSCORE', sort.key, unpack(chunk))
      for j = 1, #chunk do
        if sc[j] then vals[at + j] = tonumber(sc[j]) end
      end
    end)
  else
    for i, id in ipairs(list) do vals[i] = conv(sort.k, redis.call('HGET', plan.rec .. id, sort.f)) end
  end
  return vals
end

if step then
  -- One slice: at most step.n records of the group's driver, from part step.p at cursor step.c.
  local g = plan.groups[step.g]
  local d = nil
  if step.d > 0 then d = g.drivers[step.d] end
  local ids, seen = {}, {}
  local pi, cur = step.p, step.c
  while pi > 0 and #ids < step.n do
    local want = step.n - #ids
    local got, done = {}, false
    if not d then
      local at = tonumber(cur)
      got = redis.call('ZRANGE', plan.live, at, at + want - 1)
      done, cur = #got < want, tostring(at + #got)
    else
      local p = d.parts[pi]
      if p.c == 's' then
        local r = redis.call('SSCAN', p.key, cur, 'COUNT', want)
        got, cur = r[2], r[1]
        done = cur == '0'
      else
        local at = tonumber(cur)
        if p.c == 'z' then
          got = redis.call('ZRANGEBYSCORE', p.key, p.min, p.max, 'LIMIT', at, want)
        else
          for i, m in ipairs(redis.call('ZRANGEBYLEX', p.key, p.min, p.max, 'LIMIT', at, want)) do got[i] = lex_id(m) end
        end
        done, cur = #got < want, tostring(at + #got)
      end
    end
    for _, id in ipairs(got) do
      if not seen[id] then seen[id] = true; ids[#ids+1] = id end
    end
    if done then
      pi, cur = pi + 1, '0'
      if not d or pi > #d.parts then pi = 0 end
    end
  end
  local list = filter_group(g, d, ids)
  local vals = sort_values(list)
  local out = {pi, cur}
  for i, id in ipairs(list) do
    local v = vals[i]
    if v == nil then v = false elseif type(v) == 'number' then v = string.format('%.17g', v) end
    out[#out+1] = id
    out[#out+1] = v
  end
  return out
end

-- The general path: the smallest driver of each group, then the group's other filters.
local reads, work, chosen, slices = 0, 0, {}, {'slices'}
for gi, g in ipairs(plan.groups) do
  local best, best_i, best_n = nil, 0, nil
  for di, d in ipairs(g.drivers) do
    local n = 0
    for _, p in ipairs(d.parts) do n = n + part_count(p) end
    if not best_n or n < best_n then best, best_i, best_n = d, di, n end
  end
  if not best then best_n = redis.call('ZCARD', plan.live) end
  chosen[gi] = best
  slices[gi + 1] = best_i
  reads = reads + best_n
  work = work + best_n * g.cost
end
if reads > plan.budget then return {'budget', reads} end
if work > plan.work then return slices end

local accepted, list = {}, {}
for gi, g in ipairs(plan.groups) do
  local d = chosen[gi]
  local ids = {}
  local seen = {}
  if d then
    for _, p in ipairs(d.parts) do
      for _, id in ipairs(part_ids(p)) do
        if not seen[id] and not accepted[id] then seen[id] = true; ids[#ids+1] = id end
      end
    end
  else
    for _, id in ipairs(redis.call('ZRANGE', plan.live, 0, -1)) do
      if not accepted[id] then ids[#ids+1] = id end
    end
  end
  for _, id in ipairs(filter_group(g, d, ids)) do accepted[id] = true; list[#list+1] = id end
end

-- Sort: by id, or by a property's value with the records without one last (ties: see below).
-- searchOrder sorts the slices' records alike.
local vals = sort_values(list)
local keyed = {}
for i, id in ipairs(list) do keyed[i] = {tonumber(id), vals[i], id} end
local desc = sort.desc
table.sort(keyed, function(a, b)
  if sort.k ~= 'id' then
    if a[2] == nil and b[2] ~= nil then return false end
    if a[2] ~= nil and b[2] == nil then return true end
    if a[2] ~= nil and a[2] ~= b[2] then
      if desc then return less(b[2], a[2]) end
      return less(a[2], b[2])
    end
    -- Ties in the order the indexes hold them, which the fast paths page through: by id as
    -- text, in the sort's direction. The records without a value: by id.
    if a[2] ~= nil then
      if desc then return less(b[3], a[3]) end
      return less(a[3], b[3])
    end
    return a[1] < b[1]
  end
  if desc then return a[1] > b[1] end
  return a[1] < b[1]
end)
local ids = {}
for i = off + 1, math.min(off + lim, #keyed) do ids[#ids+1] = keyed[i][3] end
return page(#keyed, ids)
