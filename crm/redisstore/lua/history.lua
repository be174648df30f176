-- A shared function that appends an entry to a record's history in a workflow, keeping the newest 500.
local function history(key, entry)
  if redis.call('LPUSH', key, cjson.encode(entry)) > 500 then redis.call('LTRIM', key, 0, 499) end
end
