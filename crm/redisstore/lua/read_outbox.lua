-- Checks a page of the outbox's workflow notifications as they are read (RecentOutbox: the API's
-- GET /crm/v3/outbox, the console's outbox page, crmflow admin outbox list) against what an SMTP
-- delivery would check (claim_mail.lua), so that a listing never shows a notification that would
-- not be sent: one whose recipient is no longer an enabled user of the tenant, whose workflow is
-- no longer active under the activation it was queued under, or whose workflow's activator no
-- longer holds the read its text needs (drop_if_refused, mail_drop.lua) is dropped as a delivery
-- drops it (audit entry "mail_dropped" with its reason, the ledger marked dropped, so that its
-- task run again does not keep it again) and removed from the outbox (and from its expiry
-- index). One about a record that exists neither live nor in the bin is kept: the read lists it
-- as erased, naming its record's id only. The caller read the page (LRANGE from the newest end)
-- just before; an entry no longer among the outbox's newest ARGV[5] entries (removed meanwhile,
-- by an expiry or the cap) is left alone. The work is bounded by the page: no scan of the outbox.
-- KEYS[1] -> crm:{<tenant>}:outbox
-- KEYS[2] -> crm:{<tenant>}:outbox:expiry
-- KEYS[3] -> crm:{<tenant>}:audit
-- Then, for each notification i of the page (from 0), five keys from KEYS[4 + 5*i]:
--   crm:{<tenant>}:obj:<type>:<id> and crm:{<tenant>}:bin:<type>:<id>, its record live and in the
--   bin; crm:{<tenant>}:user:<to>, its recipient; crm:{<tenant>}:flow:<name>, its workflow (read
--   only when it names one); crm:{<tenant>}:mailsent:<id>, its delivery ledger.
-- ARGV[1] -> now (unix ms)
-- ARGV[2] -> audit stream max length
-- ARGV[3] -> how long a dropped email's ledger key is kept (ms)
-- ARGV[4] -> the user key prefix ("crm:{<tenant>}:user:"): with the workflow's activated_by, the
--   activator's key
-- ARGV[5] -> how many of the outbox's newest entries the page was read from (the bound of the
--   search for each entry)
-- Then, for each notification i, nine arguments from ARGV[6 + 9*i]: the entry as kept (JSON),
-- the record's object type and id, the workflow's name ('' for none), the mail id, the
-- recipient's address, the activation it was queued under (activated_at, unix ms, or ''), that
-- activation's number (or ''), and "1" when its text shows the record's data.
-- Returns the numbers (from 1) of the notifications it dropped.
local dropped = {}
local n = (#KEYS - 3) / 5
for i = 0, n - 1 do
  local k, a = 4 + 5 * i, 6 + 9 * i
  local raw = ARGV[a]
  if redis.call('EXISTS', KEYS[k], KEYS[k+1]) > 0
    and redis.call('LPOS', KEYS[1], raw, 'RANK', -1, 'MAXLEN', ARGV[5]) then
    local flow = nil
    if ARGV[a+3] ~= '' then flow = KEYS[k+3] end
    local refused = drop_if_refused(3, KEYS[k+4], ARGV[3], ARGV[1], ARGV[a+1], ARGV[a+2], ARGV[a+3], ARGV[a+4], ARGV[2],
      {recipient = KEYS[k+2], to = ARGV[a+5], flow = flow, at = ARGV[a+6], seq = ARGV[a+7], shows = ARGV[a+8] == '1',
       users = ARGV[4]})
    if refused then
      redis.call('LREM', KEYS[1], -1, raw)
      redis.call('ZREM', KEYS[2], raw)
      dropped[#dropped+1] = i + 1
    end
  end
end
return dropped
