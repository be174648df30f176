-- Shared function of the scripts that change a tenant's data model: its custom object types and
-- the properties of its object types.

-- audit_schema writes to the tenant's audit stream audit (trimmed to about maxlen entries) the
-- entry of one change of the data model: action, the object type otype, the property prop (''
-- for a change of the type itself), who made it (by, via the API) and when (now, unix ms), then
-- the field/value pairs of extra (what an update changed). It holds names and counts only, never a
-- value of a record, so that an entry stays small.
local function audit_schema(audit, maxlen, action, otype, prop, by, now, extra)
  local entry = {'action', action, 'object_type', otype}
  if prop ~= '' then
    entry[#entry+1] = 'property'; entry[#entry+1] = prop
  end
  for _, v in ipairs(extra or {}) do entry[#entry+1] = v end
  entry[#entry+1] = 'by'; entry[#entry+1] = by
  entry[#entry+1] = 'via'; entry[#entry+1] = 'api'
  entry[#entry+1] = 'at'; entry[#entry+1] = now
  redis.call('XADD', audit, 'MAXLEN', '~', maxlen, '*', unpack(entry))
end
