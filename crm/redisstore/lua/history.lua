-- A shared function that appends an entry to a record's history in a workflow (key, keeping the
-- newest 500) and to the workflow's log (log, FlowLogKey: the record's member and the entry, the
-- newest 10,000 or so), where the workflow's history as a whole is read.
local function history(key, entry, log, member)
  local raw = cjson.encode(entry)
  if redis.call('LPUSH', key, raw) > 500 then redis.call('LTRIM', key, 0, 499) end
  redis.call('XADD', log, 'MAXLEN', '~', 10000, '*', 'm', member, 'e', raw)
end
