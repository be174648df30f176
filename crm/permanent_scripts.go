package crm

import "github.com/redis/go-redis/v9"

// permanentDeleteScript removes a contact for good (privacy law): the contact, live or in the bin,
// the activities (calls) associated with it, its associations and list memberships, its email index
// entries; it blocklists the salted hashes of its emails and writes the confirmation email to send,
// all in one step. It refuses when the contact's emails differ from those the caller read (a
// concurrent update), so that no email escapes the blocklist; the caller reads again and retries.
// KEYS[1] -> crm:{<tenant>}:uniq:contacts:email   KEYS[2] -> crm:{<tenant>}:changed
// KEYS[3] -> crm:{<tenant>}:changed:events        KEYS[4] -> crm:{<tenant>}:audit
// KEYS[5] -> crm:{<tenant>}:blocklist             KEYS[6] -> crm:{<tenant>}:mail:pending
// ARGV[1] -> now (unix ms)   ARGV[2] -> contact id, or ” when only an email is blocklisted
// ARGV[3] -> acting user     ARGV[4] -> audit stream max length
// ARGV[5] -> record key prefix      ARGV[6] -> bin record key prefix
// ARGV[7] -> association key prefix ARGV[8] -> bin association key prefix
// ARGV[9] -> member-of key prefix (no type)   ARGV[10] -> list key prefix   ARGV[11] -> list members key suffix
// ARGV[12] -> live ids key prefix   ARGV[13] -> trash key prefix   ARGV[14] -> bin ids key prefix
// ARGV[15] -> pending mail id       ARGV[16] -> pending mail (JSON)
// ARGV[17] -> the contact's emails as read, joined by ';'
// ARGV[18] -> workflow key prefix ("crm:{<tenant>}:flow:")   ARGV[19] -> enrollment key prefix base
// ("crm:{<tenant>}:enr:")   ARGV[20] -> history key prefix base ("crm:{<tenant>}:hist:")
// ARGV[21] -> bin association ids key prefix ("crm:{<tenant>}:binassocs:")
// ARGV[22..] -> salted hashes to blocklist
// KEYS[7] -> crm:{<tenant>}:flows: every wiped record also loses its enrollments and history in
// each workflow.
// Returns 1 when done, 0 when the contact id is unknown, -1 when its emails changed since read.
var permanentDeleteScript = redis.NewScript(luaHelpers + `
local now, id = ARGV[1], ARGV[2]
local P = {rec = ARGV[5], bin = ARGV[6], assoc = ARGV[7], binassoc = ARGV[8], memberof = ARGV[9],
  list = ARGV[10], listsfx = ARGV[11], live = ARGV[12], trash = ARGV[13], binids = ARGV[14], binassocs = ARGV[21]}

-- wipe removes every trace of one record "<type>:<rid>": its hash live or binned, its indexes, its
-- associations on both sides, its list memberships and its change mark.
local function wipe(otype, rid)
  local me = otype .. ':' .. rid
  for _, src in ipairs({P.assoc .. me, P.binassoc .. me}) do
    for _, other in ipairs(redis.call('SMEMBERS', src)) do
      redis.call('SREM', P.assoc .. other, me)
      redis.call('SREM', P.binassoc .. other, me)
    end
  end
  local memberof = P.memberof .. me
  for _, list in ipairs(redis.call('SMEMBERS', memberof)) do
    redis.call('ZREM', P.list .. list .. P.listsfx, rid)
  end
  redis.call('DEL', P.rec .. me, P.bin .. me, P.assoc .. me, P.binassoc .. me, memberof)
  redis.call('SREM', P.binassocs .. otype, rid)
  redis.call('ZREM', P.live .. otype, rid)
  redis.call('ZREM', P.trash .. otype, rid)
  redis.call('ZREM', P.binids .. otype, rid)
  redis.call('HDEL', KEYS[3], me)
  redis.call('ZREM', KEYS[2], me)
  for _, flow in ipairs(redis.call('SMEMBERS', KEYS[7])) do
    redis.call('DEL', ARGV[19] .. flow .. ':' .. me, ARGV[20] .. flow .. ':' .. me)
    redis.call('ZREM', ARGV[18] .. flow .. ':enrolled', me)
    redis.call('SREM', ARGV[18] .. flow .. ':matching', me)
  end
end

if id ~= '' then
  local me = 'contacts:' .. id
  local src = P.rec .. me
  if redis.call('EXISTS', src) == 0 then src = P.bin .. me end
  if redis.call('EXISTS', src) == 0 then return 0 end
  local cur = redis.call('HMGET', src, 'email', 'additional_emails')
  local emails = split_emails(cur[1] or '', cur[2] or '')
  if table.concat(emails, ';') ~= ARGV[17] then return -1 end
  for _, e in ipairs(emails) do
    if redis.call('HGET', KEYS[1], e) == id then redis.call('HDEL', KEYS[1], e) end
  end
  for _, s in ipairs({P.assoc .. me, P.binassoc .. me}) do
    for _, other in ipairs(redis.call('SMEMBERS', s)) do
      local otype, oid = string.match(other, '^([^:]+):(.+)$')
      if otype == 'calls' then wipe(otype, oid) end
    end
  end
  wipe('contacts', id)
  -- The engine learns from this mark that the contact is gone and drops its enrollments.
  mark_changed(KEYS[2], KEYS[3], {me}, now, 'p')
end
for i = 22, #ARGV do redis.call('SADD', KEYS[5], ARGV[i]) end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'action', 'permanent_delete', 'object_type', 'contacts',
  'record_ids', id, 'by', ARGV[3], 'via', 'api', 'ref', '', 'at', now)
redis.call('HSET', KEYS[6], ARGV[15], ARGV[16])
return 1
`)
