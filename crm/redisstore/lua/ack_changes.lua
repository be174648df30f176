-- Forgets the drained states of changed records: those numbered up to the last one drained. A
-- record written again since it was read keeps its newer states, and its mark, for the next drain.
-- States of the older format (no numbers) go when the mark's score is still the one read.
-- Acknowledging twice forgets nothing more.
-- KEYS[1] -> crm:{<tenant>}:changed
-- KEYS[2] -> crm:{<tenant>}:changed:events
-- ARGV[1..] -> triples: member, score read, the number of its last state drained (0: none numbered)
-- Returns the number of marks forgotten.
local n = 0
for i = 1, #ARGV, 3 do
  local m, last = ARGV[i], tonumber(ARGV[i+2])
  local cur = redis.call('HGET', KEYS[2], m)
  local keep = nil
  if cur and not string.find(cur, '^%a+$') and last > 0 then
    local left = {}
    for line in string.gmatch(cur, '[^\n]+') do
      if tonumber(string.match(line, '^%a(%d+)') or '0') > last then left[#left+1] = line end
    end
    if #left > 0 then keep = table.concat(left, '\n') end
  else
    local score = redis.call('ZSCORE', KEYS[1], m)
    if score and tonumber(score) ~= tonumber(ARGV[i+1]) then keep = cur end
  end
  if keep then
    if keep ~= cur then redis.call('HSET', KEYS[2], m, keep) end
  else
    redis.call('ZREM', KEYS[1], m)
    redis.call('HDEL', KEYS[2], m)
    n = n + 1
  end
end
return n
