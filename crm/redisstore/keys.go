package redisstore

import (
	"strconv"

	"github.com/crmflow/crmflow/crm"
)

// Every Redis key of the store is built in this file. A tenant's keys all start with
// "crm:{<tenant>}:", so the tenant is the Redis Cluster hash tag: a tenant lives in one slot and one
// Lua script can change any of its keys atomically. The only keys without a tenant tag are the
// global registry of tenants (TenantsKey), the fingerprint of the email salt (SaltFingerprintKey),
// the deployment's retention (RetentionKey), the sweeps' marks (ActiveKey, FullSweepKey) and the
// console's sign-in counts (SignInKey), which are a network address's, not a tenant's.

// prefix starts every key of tenant t.
func prefix(t crm.TenantID) string { return "crm:{" + string(t) + "}:" }

// TenantsKey is the SET of every tenant id (the one global key; no script touches it with tenant keys).
func TenantsKey() string { return "crm:tenants" }

// ActiveKey is the ZSET of the tenants that changed something lately, scored by the time (unix
// ms) of their last change a store process saw (Store.touch): the routine sweeps walk these
// tenants, and every tenant only now and then (crm.SweepStore). A global key, like TenantsKey.
func ActiveKey() string { return "crm:active" }

// FullSweepKey is the HASH of the sweeps' last walks over every tenant: sweep kind -> the sweep
// time (unix ms) of its last full walk. A global key, like TenantsKey.
func FullSweepKey() string { return "crm:sweeps:full" }

// SaltFingerprintKey is the STRING fingerprint of the deployment's email salt (see
// SaltFingerprint), written by the first process that starts on the Redis. A global key, like
// TenantsKey.
func SaltFingerprintKey() string { return "crm:salt:fingerprint" }

// RetentionKey is the STRING retention of the deployment, in ms: how long a deleted record stays
// restorable. The first process that starts on the Redis writes it (Store.CheckRetention), and only
// Store.SetRetention changes it. A global key, like TenantsKey: it is only ever read or written
// alone, so on a Redis Cluster it may live in any slot.
func RetentionKey() string { return "crm:retention" }

// SignInKey is the HASH of the console's sign-in attempts from one client address (crm.SessionStore
// CountSignIn): start (unix ms: when its window began) and n (the attempts counted in it); it
// expires with the window. A global key, like TenantsKey: the attempts are counted before any
// token is checked, so they belong to no tenant, and a client's count is one key, touched alone.
func SignInKey(client string) string { return "crm:signin:" + client }

// TenantKey is the HASH of a tenant: plan, created_at (unix ms), and, once set, max_deletions and
// deletions_per (ms): the blast-radius limit of its workflows that set none.
func TenantKey(t crm.TenantID) string { return prefix(t) + "tenant" }

// UserKey is the HASH of a user: perms, created_at, disabled ("1" for a disabled user, else absent).
func UserKey(t crm.TenantID, email string) string { return userKeyPrefix(t) + email }

// userKeyPrefix followed by a user's email gives UserKey.
func userKeyPrefix(t crm.TenantID) string { return prefix(t) + "user:" }

// UsersKey is the SET of a tenant's user emails.
func UsersKey(t crm.TenantID) string { return prefix(t) + "users" }

// TokenKey is the HASH of an API token, by the SHA-256 of the token: user, created_at, id (the
// public id, see TokenInfo), expires_at (unix ms; absent for a token that never expires). A token
// with an expiry has the same TTL, so Redis drops it by itself.
func TokenKey(t crm.TenantID, tokenHash string) string { return tokenKeyPrefix(t) + tokenHash }

// TokensKey is the HASH of a tenant's API tokens: public id -> SHA-256 of the token. It lets the
// tokens be listed and revoked by id without a SCAN; an entry whose TokenKey Redis dropped at its
// expiry is removed when next read.
func TokensKey(t crm.TenantID) string { return prefix(t) + "tokens" }

// tokenKeyPrefix followed by a token's SHA-256 gives TokenKey.
func tokenKeyPrefix(t crm.TenantID) string { return prefix(t) + "token:" }

// ObjectTypesKey is the HASH of a tenant's custom object types: name -> definition (JSON).
func ObjectTypesKey(t crm.TenantID) string { return prefix(t) + "objtypes" }

// SchemaKey is the HASH of a tenant's own properties of an object type: name -> definition (JSON).
// The standard properties of standard types are not stored; they come from the code.
func SchemaKey(t crm.TenantID, o crm.ObjectType) string { return prefix(t) + "schema:" + string(o) }

// ArchivedPropertiesKey is the HASH of a tenant's archived properties of an object type: name ->
// definition (JSON, with archivedAt and archivedBy). A property is in it or in SchemaKey, never
// both; its records keep their values.
func ArchivedPropertiesKey(t crm.TenantID, o crm.ObjectType) string {
	return prefix(t) + "archivedprops:" + string(o)
}

// SeqKey is the counter from which a tenant's ids of one kind ("contacts", "lists", ...) are drawn.
func SeqKey(t crm.TenantID, kind string) string { return prefix(t) + "seq:" + kind }

// RecordKey is the HASH of a live record: its properties, plus _created and _updated (unix ms).
func RecordKey(t crm.TenantID, o crm.ObjectType, id crm.RecordID) string {
	return prefix(t) + "obj:" + string(o) + ":" + string(id)
}

// LiveKey is the ZSET of the live ids of an object type, scored by the numeric id (for paging).
func LiveKey(t crm.TenantID, o crm.ObjectType) string { return prefix(t) + "live:" + string(o) }

// EmailIndexKey is the HASH from each lowercased email (primary or additional) of a live contact to its id.
func EmailIndexKey(t crm.TenantID) string { return prefix(t) + "uniq:contacts:email" }

// UniqueIndexKey is the HASH from each value of the unique property prop (Property.Unique) of a
// live record of type o to the record's id. Contacts' email, which is standard, has EmailIndexKey.
func UniqueIndexKey(t crm.TenantID, o crm.ObjectType, prop string) string {
	return prefix(t) + "uniq:" + string(o) + ":" + prop
}

// AssocKey is the SET of a live record's associations, as "<type>:<id>" members.
func AssocKey(t crm.TenantID, o crm.ObjectType, id crm.RecordID) string {
	return prefix(t) + "assoc:" + string(o) + ":" + string(id)
}

// ListsKey is the ZSET of a tenant's list ids, scored by the numeric id.
func ListsKey(t crm.TenantID) string { return prefix(t) + "lists" }

// ListKey is the HASH of a list: name, object_type, created_at.
func ListKey(t crm.TenantID, id crm.ListID) string { return prefix(t) + "list:" + string(id) }

// ListMembersKey is the ZSET of a list's member record ids, scored by the numeric id.
func ListMembersKey(t crm.TenantID, id crm.ListID) string {
	return prefix(t) + "list:" + string(id) + ":members"
}

// MemberOfKey is the SET of the list ids a live record belongs to.
func MemberOfKey(t crm.TenantID, o crm.ObjectType, id crm.RecordID) string {
	return prefix(t) + "memberof:" + string(o) + ":" + string(id)
}

// ChangedKey is the ZSET of records changed since the workflow engine last looked: member
// "<type>:<id>", score the time of the latest change (unix ms). Every record write of a type with
// an active workflow (ActiveFlowsKey not empty) adds to it in the same script, so no change can be
// lost; a write of a type none watches leaves no mark, which no workflow would read.
func ChangedKey(t crm.TenantID) string { return prefix(t) + "changed" }

// ChangedEventsKey is the HASH from a ChangedKey member to the states its writes left since it was
// last drained, one a line, oldest first: "<event><seq>" or "<event><seq>=<values>", event c
// created, u updated, d deleted, r restored, p permanently deleted, l added to a list; values (a
// JSON object) the properties the active triggers of its type read, as the write left them (see
// TriggerReadsKey). Its field "_seq" is the tenant's change counter, which numbers the states.
func ChangedEventsKey(t crm.TenantID) string { return prefix(t) + "changed:events" }

// TriggerReadsKey is the SET of the properties that the triggers of the active workflows of an
// object type read, plus the member "" (and "*" when one may read any property); absent when no
// workflow of the type is active. The activate and pause scripts keep it; each record write
// keeps the values of those properties with its change state.
func TriggerReadsKey(t crm.TenantID, o crm.ObjectType) string {
	return trigReadsKeyPrefix(t) + string(o)
}

func trigReadsKeyPrefix(t crm.TenantID) string { return prefix(t) + "trigreads:" }

// OutboxKey is the LIST of a tenant's emails kept because no SMTP server is configured (JSON each).
func OutboxKey(t crm.TenantID) string { return prefix(t) + "outbox" }

// BlocklistKey is the SET of salted SHA-256 hashes of the emails of permanently deleted contacts.
func BlocklistKey(t crm.TenantID) string { return prefix(t) + "blocklist" }

// AuditKey is the STREAM of a tenant's deletions and restores, and of the changes of its users,
// tokens and data model (ids, names, user emails and actors only, no record content).
func AuditKey(t crm.TenantID) string { return prefix(t) + "audit" }

// BinRecordKey is the HASH of a record in the recycle bin: its properties and _created, _updated,
// plus _deleted_at (unix ms), _deleted_by, _deleted_via, _deleted_ref and _deleted_operation (the
// operation that moved it, SPEC S26).
func BinRecordKey(t crm.TenantID, o crm.ObjectType, id crm.RecordID) string {
	return prefix(t) + "bin:" + string(o) + ":" + string(id)
}

// BinAssocKey is the SET of the associations a record had when it went into the bin ("<type>:<id>").
func BinAssocKey(t crm.TenantID, o crm.ObjectType, id crm.RecordID) string {
	return prefix(t) + "binassoc:" + string(o) + ":" + string(id)
}

// BinLinksKey is the SET of the records in the bin ("<type>:<id>") whose BinAssocKey names record id
// of type o: the reverse of the bin association sets, so that a permanent delete finds the binned
// records that name a contact or a call (a call binned while its contact was live) and takes the
// erased ids out of their bin association sets, without reading the bin. archive.lua adds a moved
// record to the BinLinksKey of each of its associations; restore.lua, purge.lua and
// permanent_delete.lua take it out as its bin association set goes or changes. A record's own
// BinLinksKey goes when the record goes for good: erased (permanent_delete.lua) or purged
// (purge.lua, which finds it by BinAssocIDsKey); nothing can read it after that, and the binned
// records it listed skip the record when restored. Records binned before it existed are added by
// Store.BackfillBinLinks (crmflow admin bin-links).
func BinLinksKey(t crm.TenantID, o crm.ObjectType, id crm.RecordID) string {
	return binLinksKeyPrefix(t) + string(o) + ":" + string(id)
}

// BinEmailDayKey is the HASH, for the contacts moved to the bin on one UTC day (day: days since the
// Unix epoch), from each of their emails (primary or additional, lowercased) to their ids joined
// by ',' (usually one), so that a permanent delete by email finds a binned contact without scanning
// the bin. The archive script adds to the day's key; restore and permanent delete take a contact
// out of its day's key; the purge drops a day's whole key once no contact deleted that day is left
// in the bin, which costs it nothing per email.
func BinEmailDayKey(t crm.TenantID, day int64) string {
	return binEmailDayKeyPrefix(t) + strconv.FormatInt(day, 10)
}

// BinEmailDaysKey is the ZSET of the days that have a BinEmailDayKey (member and score the day).
func BinEmailDaysKey(t crm.TenantID) string { return prefix(t) + "binemails:contacts:days" }

func binEmailDayKeyPrefix(t crm.TenantID) string { return prefix(t) + "binemails:contacts:" }

// OutboxExpiryKey is the ZSET of the outbox entries that expire (workflow notifications): member the
// entry as stored in OutboxKey, score its expiry time (unix ms). Appending to the outbox and
// ExpireOutbox remove the expired ones from both keys.
func OutboxExpiryKey(t crm.TenantID) string { return prefix(t) + "outbox:expiry" }

// OutboxDroppedKey is the HASH that counts the workflow notifications the outbox dropped to stay
// within its cap: "count", and "last_at" (unix ms) the time of the last drop.
func OutboxDroppedKey(t crm.TenantID) string { return prefix(t) + "outbox:dropped" }

// BinAssocIDsKey is the SET of the ids of a type's binned records that have a BinAssocKey or a
// BinLinksKey, so that a purge unlinks only the association and bin links keys that exist (it may
// name a record whose sets have gone since; the record leaves it when it leaves the bin). A record
// joins it when it is binned with associations, or binned while its BinLinksKey exists (archive.lua
// looks for that only in a record flagged _assoc: a live record named by binned records keeps the
// flag), or when a restore or BackfillBinLinks gives it a bin association set or bin links.
func BinAssocIDsKey(t crm.TenantID, o crm.ObjectType) string {
	return prefix(t) + "binassocs:" + string(o)
}

// TrashKey is the ZSET of the ids in a type's bin, scored by deletion time (unix ms): the purge's index.
func TrashKey(t crm.TenantID, o crm.ObjectType) string { return prefix(t) + "trash:" + string(o) }

// BinIDsKey is the ZSET of the ids in a type's bin, scored by the numeric id: the archived reads' index.
func BinIDsKey(t crm.TenantID, o crm.ObjectType) string { return prefix(t) + "binids:" + string(o) }

// The prefixes below let a script build the key of a record it only learns about from a stored
// "<type>:<id>" member (the other side of an association) or a stored list id. Appending the member
// to the prefix gives exactly what RecordKey, AssocKey, BinRecordKey, BinAssocKey, BinLinksKey and
// ListMembersKey build; keys_test.go pins that. Every such key carries the same tenant hash tag as
// the script's KEYS, so the script stays within one cluster slot.

func recordKeyPrefix(t crm.TenantID) string { return prefix(t) + "obj:" }

func assocKeyPrefix(t crm.TenantID) string { return prefix(t) + "assoc:" }

func binRecordKeyPrefix(t crm.TenantID) string { return prefix(t) + "bin:" }

func binAssocKeyPrefix(t crm.TenantID) string { return prefix(t) + "binassoc:" }

func binAssocIDsKeyPrefix(t crm.TenantID) string { return prefix(t) + "binassocs:" }

func binLinksKeyPrefix(t crm.TenantID) string { return prefix(t) + "binlinks:" }

func listKeyPrefix(t crm.TenantID) string { return prefix(t) + "list:" }

// listMembersKeySuffix follows a list id in ListMembersKey.
const listMembersKeySuffix = ":members"

// memberOfKeyPrefix followed by a record id gives MemberOfKey for type o.
func memberOfKeyPrefix(t crm.TenantID, o crm.ObjectType) string {
	return memberOfKeysPrefix(t) + string(o) + ":"
}

// memberOfKeysPrefix followed by "<type>:<id>" gives MemberOfKey.
func memberOfKeysPrefix(t crm.TenantID) string { return prefix(t) + "memberof:" }

// PendingMailKey is the HASH of confirmation emails written atomically with the change that causes
// them (id -> JSON), until a worker has sent them. A sweep re-enqueues any left behind.
func PendingMailKey(t crm.TenantID) string { return prefix(t) + "mail:pending" }

// PendingMailStateKey is the HASH of what befell the delivery of the pending emails (PendingMailKey):
// "failed:<id>" -> the failure that stopped it (JSON: at, reason), "retries:<id>" -> how many
// times an operator retried it. An email's fields go with it.
func PendingMailStateKey(t crm.TenantID) string { return prefix(t) + "mail:pending:state" }

// liveKeyPrefix followed by an object type gives LiveKey; trashKeyPrefix and binIDsKeyPrefix likewise.
func liveKeyPrefix(t crm.TenantID) string { return prefix(t) + "live:" }

func trashKeyPrefix(t crm.TenantID) string { return prefix(t) + "trash:" }

func binIDsKeyPrefix(t crm.TenantID) string { return prefix(t) + "binids:" }

// JobsKey is the ZSET of a tenant's bulk job ids, scored by creation time (unix ms).
func JobsKey(t crm.TenantID) string { return prefix(t) + "jobs" }

// JobKey is the HASH of a bulk job: kind, object_type, state, total, done, skipped, by, via, ref,
// selection, created_at, updated_at, finished_at.
func JobKey(t crm.TenantID, id string) string { return prefix(t) + "job:" + id }

// JobPendingKey is the ZSET of the record ids a bulk job has still to process, scored by numeric id.
// It is the snapshot of the selection taken when the job was confirmed.
func JobPendingKey(t crm.TenantID, id string) string { return prefix(t) + "job:" + id + ":pending" }

// JobSelectedKey is the ZSET of the records a bulk delete job selecting by filter or list has
// selected so far, scored by numeric id: the selection's end renames it to JobPendingKey, or deletes
// it when the job is refused.
func JobSelectedKey(t crm.TenantID, id string) string { return prefix(t) + "job:" + id + ":selected" }

// JobsSelectingKey is the SET of the ids of a tenant's bulk jobs still selecting: a permanent delete
// looks there for filters that name the contact it erases.
func JobsSelectingKey(t crm.TenantID) string { return prefix(t) + "jobs:selecting" }

// JobStagingKey is the ZSET of a bulk delete's selection while it is staged, before it has a job id
// (token is random): the seal renames it to the job's JobPendingKey, or deletes it when the count
// differs. It expires after an hour, so that a selection whose request died is not kept.
func JobStagingKey(t crm.TenantID, token string) string { return prefix(t) + "jobstage:" + token }

// jobKeyPrefix is JobKey without the id, for the seal script, which draws the id.
func jobKeyPrefix(t crm.TenantID) string { return prefix(t) + "job:" }

// JobLeaseKey is the STRING naming the runner that holds a bulk job, with a TTL: one runner at a
// time works on a job, and a dead runner's job is free again when the lease runs out.
func JobLeaseKey(t crm.TenantID, id string) string { return prefix(t) + "job:" + id + ":lease" }

// FlowsKey is the SET of a tenant's workflow names.
func FlowsKey(t crm.TenantID) string { return prefix(t) + "flows" }

// FlowKey is the HASH of a workflow: object_type, state, revision (latest), active_revision,
// created_at, updated_at, activated_at, activation (the number of the last activation, counted
// from 1; absent before a version that numbered them), paused_reason (English), paused_reason_code (a
// crm.PauseCode) and paused_reason_params (the values the reason names, a JSON object of strings),
// the three empty when a user paused it.
func FlowKey(t crm.TenantID, name string) string { return prefix(t) + "flow:" + name }

// FlowRevisionKey is the HASH of one revision of a workflow: source (YAML), by, created_at, and
// erased (unix ms) once a permanent delete erased an email address from its source.
func FlowRevisionKey(t crm.TenantID, name string, rev int64) string {
	return prefix(t) + "flow:" + name + ":rev:" + strconv.FormatInt(rev, 10)
}

// ActiveFlowsKey is the SET of the names of a tenant's active workflows of one object type.
func ActiveFlowsKey(t crm.TenantID, o crm.ObjectType) string {
	return prefix(t) + "flows:active:" + string(o)
}

func flowKeyPrefix(t crm.TenantID) string { return prefix(t) + "flow:" }

// FlowDeletionsKey is the ZSET of the deletions a workflow made, scored by their time (unix ms):
// archive.lua counts the last window of them against the workflow's blast-radius limit (SPEC S24),
// and drops those older than the longest window a limit may have (crm.MaxLimitWindow), so that a
// window made longer counts the deletions made within it under a shorter one. It is one per workflow name, shared by all its activations and revisions,
// so that pausing and activating it again never resets the count: the window only passes. A
// workflow made again under the name of one whose deletions are still in the window inherits
// them (the safe direction: it may delete fewer, never more). It expires crm.MaxLimitWindow after
// its last deletion.
func FlowDeletionsKey(t crm.TenantID, name string) string {
	return prefix(t) + "flow:" + name + ":deletions"
}

func activeFlowsKeyPrefix(t crm.TenantID) string { return prefix(t) + "flows:active:" }

// EnrollmentKey is the HASH of one record's enrollment in a workflow (member "<type>:<id>"): state
// (enrolled, completed, unenrolled), revision, step, enrolled_at, count (times enrolled), blocked
// (1 when only a manual enrollment may enroll it again: it was deleted while enrolled), recent (the
// times, unix ms and comma-separated, of its enrollments by the trigger within
// crm.ReenrollmentWindow, kept only when the workflow allows re-enrollment).
func EnrollmentKey(t crm.TenantID, flow, member string) string {
	return enrollmentKeyPrefix(t, flow) + member
}

// FlowEnrolledKey is the ZSET of the records enrolled in a workflow now, scored by when their next
// step is due (unix ms): the index the step sweep reads.
func FlowEnrolledKey(t crm.TenantID, flow string) string {
	return prefix(t) + "flow:" + flow + ":enrolled"
}

// FlowLogKey is the STREAM of a workflow's history as a whole, newest last: each entry is a
// record's history entry (HistoryKey) with its member ("m", "<type>:<id>") and the entry's JSON
// ("e"), capped at about 10,000 entries (lua/history.lua). archive.lua names it as the workflow key
// prefix, the name and ":log".
func FlowLogKey(t crm.TenantID, flow string) string {
	return prefix(t) + "flow:" + flow + ":log"
}

// FlowMatchingKey is the SET of the records that matched a workflow's trigger at their latest
// evaluation; re-enrollment needs a record to go from not matching to matching.
func FlowMatchingKey(t crm.TenantID, flow string) string {
	return prefix(t) + "flow:" + flow + ":matching"
}

// HistoryKey is the LIST of a record's history in a workflow, newest first (JSON entries).
func HistoryKey(t crm.TenantID, flow, member string) string {
	return historyKeyPrefix(t, flow) + member
}

func enrollmentKeyPrefix(t crm.TenantID, flow string) string {
	return enrollmentsKeyPrefix(t) + flow + ":"
}

// enrollmentsKeyPrefix followed by "<flow>:<type>:<id>" gives EnrollmentKey, for the scripts that
// drop a record's enrollments in every workflow.
func enrollmentsKeyPrefix(t crm.TenantID) string { return prefix(t) + "enr:" }

func historyKeyPrefix(t crm.TenantID, flow string) string { return historiesKeyPrefix(t) + flow + ":" }

// historiesKeyPrefix followed by "<flow>:<type>:<id>" gives HistoryKey.
func historiesKeyPrefix(t crm.TenantID) string { return prefix(t) + "hist:" }

// FlowsOfTypeKey is the SET of the names of a tenant's workflows (in any state) of one object type:
// the workflows a deleted record of that type must leave.
func FlowsOfTypeKey(t crm.TenantID, o crm.ObjectType) string {
	return prefix(t) + "flows:type:" + string(o)
}

// FlowBackfillKey is the HASH of the position and progress of a workflow's enroll-existing
// backfill: revision, state (running, done, stopped), total, done, enrolled, after, prev,
// activated_at, started_at, updated_at.
func FlowBackfillKey(t crm.TenantID, flow string) string {
	return prefix(t) + "flow:" + flow + ":backfill"
}

// FlowBackfillLeaseKey is the STRING naming the runner that holds a workflow's backfill, with a
// TTL: one runner at a time.
func FlowBackfillLeaseKey(t crm.TenantID, flow string) string {
	return prefix(t) + "flow:" + flow + ":backfill:lease"
}

// SearchIndexKey is the ZSET that indexes one property of an object type's live records for search
// (see SearchIndexes): for a number, datetime or date, member the record id and score the value (a
// datetime or date in unix ms); for a string, score 0 and member the lowercased value, a NUL byte and the
// record id, so that ZRANGEBYLEX finds a value, a range or a prefix. The record write scripts keep
// it in the same step as the record.
func SearchIndexKey(t crm.TenantID, o crm.ObjectType, prop string) string {
	return searchIndexKeyPrefix(t, o) + prop
}

// SearchValueKey is the SET of the ids of an object type's live records whose enumeration or bool
// property prop has value v (see SearchIndexes). The record write scripts keep it in the same step
// as the record; an empty set is gone.
func SearchValueKey(t crm.TenantID, o crm.ObjectType, prop, v string) string {
	return searchValueKeyPrefix(t, o) + prop + ":" + v
}

// searchIndexKeyPrefix followed by a property name gives SearchIndexKey; searchValueKeyPrefix
// followed by "<property>:<value>" gives SearchValueKey.
func searchIndexKeyPrefix(t crm.TenantID, o crm.ObjectType) string {
	return prefix(t) + "ix:" + string(o) + ":"
}

func searchValueKeyPrefix(t crm.TenantID, o crm.ObjectType) string {
	return prefix(t) + "ixv:" + string(o) + ":"
}

// MailSentKey is the STRING that records the delivery of one email, by its idempotency key:
// "lease:<token>" while a worker is sending it, then "sent" (delivered over SMTP) or "outbox" (kept
// in OutboxKey), or "dropped", or "dropped:<activated_at>:<activation>" for a workflow's
// notification dropped for its workflow (which holds back that activation's copy only). It expires MailSentTTL after the delivery, or when the lease runs out.
// Key: crm:{<tenant>}:mailsent:<idempotency key>.
func MailSentKey(t crm.TenantID, idempotencyKey string) string {
	return prefix(t) + "mailsent:" + idempotencyKey
}

// ProtectionKey is the HASH of a tenant's protection rules (SPEC S25): rule name -> the rule as
// JSON ({"object_type", "when", "created_at", "updated_at", "updated_by"}, times in unix ms).
// Key: crm:{<tenant>}:protection.
func ProtectionKey(t crm.TenantID) string { return prefix(t) + "protection" }

// ProtectionVersionKey is the STRING counter of the writes to ProtectionKey: the scripts that
// write or remove a rule increment it, and a checked delete compares it with the version it read
// (crm.ProtectionStore.ProtectionVersion is the counter plus 1).
// Key: crm:{<tenant>}:protection:version.
func ProtectionVersionKey(t crm.TenantID) string { return prefix(t) + "protection:version" }

// OperationsKey is the ZSET of a tenant's operations (SPEC S26), each destructive call, job or
// workflow activation that moved records to the bin, scored by the time of its first move (unix
// ms): the index GET /crm/v3/operations pages through.
func OperationsKey(t crm.TenantID) string { return prefix(t) + "ops" }

// OperationKey is the HASH of an operation: kind, object_type, by, via, ref, rev, first_at,
// last_at (unix ms), moved (how many records it moved to the bin), undo_job (the id of its
// latest undo job, once undone) and, for a workflow's, activation (the number of the activation
// whose deletions it holds; absent when moved by a version that did not number activations).
func OperationKey(t crm.TenantID, id string) string { return operationKeyPrefix(t) + id }

// OperationBinKey is the ZSET of the records of an operation still in the bin, scored by numeric
// id: restore, purge and permanent delete take their records out, so its size is how many are
// left to undo, and an undo job walks it by id. The scripts build it as the operation's key
// followed by operationBinSuffix.
func OperationBinKey(t crm.TenantID, id string) string {
	return OperationKey(t, id) + operationBinSuffix
}

// operationBinSuffix follows an operation's key in its OperationBinKey.
const operationBinSuffix = ":bin"

// operationKeyPrefix followed by an operation id gives OperationKey.
func operationKeyPrefix(t crm.TenantID) string { return prefix(t) + "op:" }

// JobFailuresKey is the LIST of the records an undo job could not restore, one JSON entry each
// (id, code, and the blocking record and property for a conflict; never a property's value).
func JobFailuresKey(t crm.TenantID, id string) string { return prefix(t) + "job:" + id + ":failures" }

// SessionKey is the HASH of one session of the operator console (crm.Session): user, token (the
// sealed API token), csrf, created_at, expires_at and idle_expires_at (unix ms); it expires with
// the session, at the earlier of its two ends. id is
// a hash of the session's secret. Key: crm:{<tenant>}:session:<id>.
func SessionKey(t crm.TenantID, id string) string { return prefix(t) + "session:" + id }

// SessionTraceKey is the HASH of the trace of a session of the operator console
// (crm.SessionTrace): user, csrf, keep_until (unix ms) and, while the console keeps one, draft
// (sealed). It holds no token, and expires at keep_until, after the session. Key:
// crm:{<tenant>}:session-trace:<id>.
func SessionTraceKey(t crm.TenantID, id string) string { return prefix(t) + "session-trace:" + id }
