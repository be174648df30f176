-- Erases from every revision of a workflow the email addresses of a contact deleted permanently
-- (SPEC S9): each revision whose source names one of them (compared without case) has every
-- occurrence replaced by a placeholder and a first line that no workflow file may hold, so that it
-- no longer parses, and is marked erased (activate_flow.lua refuses to activate it). An active
-- workflow whose active revision is among them is paused first, with a reason that names no
-- address (one active at a later revision that never named them runs on: its records waiting at
-- an older revision move on to the active one without it being read), and the erasure is audited
-- as done by "permanent-delete".
-- KEYS[1] -> crm:{<tenant>}:flow:<name>
-- KEYS[2] -> crm:{<tenant>}:audit
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> active flows key prefix ("crm:{<tenant>}:flows:active:")
-- ARGV[3] -> name
-- ARGV[4] -> the reason the workflow is paused
-- ARGV[5] -> flow key prefix ("crm:{<tenant>}:flow:"); revision n is the prefix, the name, ':rev:'
--   and n
-- ARGV[6] -> trigger-reads key prefix
-- ARGV[7] -> audit stream max length
-- ARGV[8] -> the line an erased revision's source starts with
-- ARGV[9] -> the placeholder each address is replaced with
-- ARGV[10] -> the code of the reason the workflow is paused (crm.PauseContactErased), which
--   names no value
-- ARGV[11..] -> the addresses, in lower case, and each spelling of one that the caller found in a
--   revision (ÅSA@EXEMPEL.SE for åsa@exempel.se), with its ASCII letters in lower case: a source is
--   compared with its ASCII letters lowered, and no other (Lua's string.lower is ASCII on Redis,
--   but not on every server that runs these scripts, and a lowered letter outside ASCII may change
--   its length, which would move the positions)
-- Returns the number of revisions erased: 0 when none named an address, or the workflow is gone
-- (nothing changes).
local ascii_upper = {}
for c = 65, 90 do ascii_upper[string.char(c)] = string.char(c + 32) end

local function erase(src)
  local low = string.gsub(src, '[A-Z]', ascii_upper)
  local out, pos, hit = {}, 1, false
  while true do
    local at, len
    for i = 11, #ARGV do
      if ARGV[i] ~= '' then
        local s = string.find(low, ARGV[i], pos, true)
        if s and (not at or s < at or (s == at and #ARGV[i] > len)) then at, len = s, #ARGV[i] end
      end
    end
    if not at then break end
    out[#out + 1] = string.sub(src, pos, at - 1)
    out[#out + 1] = ARGV[9]
    pos, hit = at + len, true
  end
  if not hit then return nil end
  out[#out + 1] = string.sub(src, pos)
  local s = table.concat(out)
  if string.sub(s, 1, #ARGV[8]) ~= ARGV[8] then s = ARGV[8] .. s end
  return s
end

local cur = redis.call('HMGET', KEYS[1], 'revision', 'state', 'object_type', 'active_revision')
if not cur[1] then return 0 end
local erased, active = {}, false
for rev = 1, tonumber(cur[1]) do
  local key = ARGV[5] .. ARGV[3] .. ':rev:' .. rev
  local src = redis.call('HGET', key, 'source')
  local s = src and erase(src)
  if s then
    erased[#erased + 1] = {key, s}
    if tostring(rev) == cur[4] then active = true end
  end
end
if #erased == 0 then return 0 end
if cur[2] == 'active' and active then
  pause_active(ARGV[5], ARGV[2], ARGV[6], ARGV[3], cur[3], ARGV[1], ARGV[4], ARGV[10], '')
end
for _, e in ipairs(erased) do
  redis.call('HSET', e[1], 'source', e[2], 'erased', ARGV[1])
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'action', 'workflow_erased', 'object_type', cur[3],
  'count', #erased, 'by', 'permanent-delete', 'via', 'api', 'ref', ARGV[3], 'at', ARGV[1])
return #erased
