-- Shared functions of the scripts that touch contacts' emails and the change log.
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

-- watched tells whether the writes of an object type's records are evaluated: active is its set
-- of active workflows (ActiveFlowsKey). A write of a type no active workflow watches leaves no
-- change mark (mark_changed is not called): a workflow activated later evaluates only the writes
-- numbered after its activation, so no one would ever read the mark.
local function watched(active) return redis.call('EXISTS', active) == 1 end

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
  if #list <= 1000 then
    if #list > 0 then fn(list, other) end
    return
  end
  local i = 1
  while i <= #list do
    local a, b = {}, {}
    for j = i, math.min(i + 999, #list) do a[j - i + 1] = list[j]; b[j - i + 1] = other[j] end
    fn(a, b)
    i = i + 1000
  end
end

-- each_chunk calls fn with slices of at most 1000 items of list, so unpack stays within Lua's
-- limits (8000 values on Redis, the stack of the embedded store's Lua); a list that fits is passed
-- as it is, not copied (fn only reads it), so a script of a batch of 500 records calls once per
-- index key and copies nothing.
local function each_chunk(list, fn)
  if #list <= 1000 then
    if #list > 0 then fn(list) end
    return
  end
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

-- lacks tells why the user of key ukey may not act with the permissions needs (comma-separated)
-- now: 'missing' (no such user), 'disabled', or 'permission' and the first of needs it does not
-- hold; nil when it may. The guard of a workflow's deletion and of a job's batch (archive.lua) and
-- of an undo job's batch (restore.lua), checked in the step that moves, so that a pause, a
-- disabled user or a permission taken away before it is never outrun.
local function lacks(ukey, needs)
  local u = redis.call('HMGET', ukey, 'perms', 'disabled')
  if not u[1] then return 'missing' end
  if u[2] == '1' then return 'disabled' end
  if u[1] == 'all' then return nil end
  local held = ',' .. u[1] .. ','
  for need in string.gmatch(needs, '[^,]+') do
    if not string.find(held, ',' .. need .. ',', 1, true) then return 'permission', need end
  end
  return nil
end

-- flow_operation returns the id of the operation (SPEC S26) of the current activation of the
-- workflow name, whose hash is flow_key: "wf-<name>-<activated_at>", as ever, unless that id is
-- already the operation of another activation, made in the same millisecond before a pause (the
-- operation records another "activation" number): the activation's operation is then
-- "wf-<name>-<activated_at>_<activation>". The '_' and the number after the last '-' keep it apart
-- from every other workflow's ids. An operation that records no number (made by a version that
-- did not number activations) is taken as the current activation's, and a workflow that carries
-- no number (activated by such a version) keeps the first id. The second value is the
-- activation's number, or nil, for the caller to record in a new operation.
local function flow_operation(flow_key, name, op_prefix)
  local f = redis.call('HMGET', flow_key, 'activated_at', 'activation')
  local id = 'wf-' .. name .. '-' .. (f[1] or '0')
  local n = f[2]
  if not n then return id, nil end
  local own = id .. '_' .. n
  if redis.call('EXISTS', op_prefix .. own) == 1 then return own, n end
  local had = redis.call('HGET', op_prefix .. id, 'activation')
  if not had or had == n then return id, n end
  return own, n
end
