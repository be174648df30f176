package redisstore

import (
	"encoding/json"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// archiveScript moves live records into their type's bin.
// See lua/archive.lua for its KEYS and ARGV.
var archiveScript = newScript[archiveCall]("helpers", "index", "history", "archive")

// noJob is the job id whose keys an archive without a job names: job ids are drawn by INCR from 1,
// so no job has it, and the script does not touch them when Batch is 0.
const noJob = "0"

// archiveCall is a call of archiveScript (lua/archive.lua).
type archiveCall struct {
	Live, Trash, BinIDs, EmailIndex, Changed, ChangedEvents, Audit string
	// FlowsOfType is the set of the type's workflows, whose enrollments the records leave.
	FlowsOfType string
	// Job and JobPending are the bulk delete job's keys (those of noJob without a job).
	Job, JobPending string
	// BinEmailDay is the bin email key of the day of At; BinEmailDays the set of such days.
	BinEmailDay, BinEmailDays string
	// BinAssocIDs is the set of the type's ids whose bin association key exists.
	BinAssocIDs string
	// ActiveFlows is the type's ActiveFlowsKey: without an active workflow, no change mark.
	ActiveFlows string
	// Operations is the tenant's OperationsKey.
	Operations string
	// LimitKey is a limited workflow's FlowDeletionsKey (one per workflow, whatever the
	// activation), read and written only with LimitMax.
	LimitKey string
	// User is the UserKey of the user whose authority the archive acts with: a workflow's
	// activator (with Activation) or a job's creator; read only then.
	User string
	// RulesVersionKey is the tenant's ProtectionVersionKey, read only with RulesVersion.
	RulesVersionKey string
	// Records and MemberOf are the keys of each of IDs (none with a job: see withIDs).
	Records  []recordKeys
	MemberOf []string

	At                int64 // unix ms
	Type              crm.ObjectType
	By, Via, Ref      string
	Revision          string // of the deleting workflow, else ""
	Op                string // the call's id, "" with a job
	Batch             int    // the number of ids the job takes from its pending set, 0 without a job
	IDs               []crm.RecordID
	AuditMaxLen       string
	RecordPrefix      string
	BinRecordPrefix   string
	AssocPrefix       string
	BinAssocPrefix    string
	BinLinksPrefix    string
	MemberOfPrefix    string // of the type
	ListPrefix        string
	ListMembersSuffix string
	FlowPrefix        string
	EnrollmentsPrefix string
	HistoriesPrefix   string
	IndexSpec         string
	// Operation is the operation the records join (crm.JobOperationID for a job); "" for Op, or
	// the workflow's current activation when Via is workflow.
	Operation       string
	OperationPrefix string
	// LimitMax and LimitWindow are a workflow's blast-radius limit (most deletions, window in
	// ms), counted in LimitKey; LimitMax "" for none.
	LimitMax    string
	LimitWindow int64
	// Activation and Needs guard a workflow's archive (crm.ArchiveLimit.Needs) with User: the
	// activation's time (unix ms, "" for no guard) and the permissions, comma-separated. With a
	// job, Needs is crm.JobNeeds, always checked against User, its creator.
	Activation string
	// ActivationNum is, with Activation, that activation's number (crm.ArchiveLimit.Activation),
	// "" when the caller has none: Activation alone then names it.
	ActivationNum string
	Needs         string
	// RulesVersion is the version of the protection rules the records were checked against ("" for
	// none), read from RulesVersionKey.
	RulesVersion string
	// Expect holds, for records a caller checked against the protection rules, the last
	// modification (_updated, unix ms) it read: a record modified since is not moved (see
	// ArchiveChecked). Nil for none; the script then answers as without it.
	Expect map[crm.RecordID]string
}

func (c archiveCall) keys() []string {
	out := []string{c.Live, c.Trash, c.BinIDs, c.EmailIndex, c.Changed, c.ChangedEvents, c.Audit, c.FlowsOfType,
		c.Job, c.JobPending, c.BinEmailDay, c.BinEmailDays, c.BinAssocIDs, c.ActiveFlows,
		c.Operations, c.LimitKey, c.User, c.RulesVersionKey}
	for i, r := range c.Records {
		out = append(out, r.Record, r.Bin, r.Assoc, r.BinAssoc, c.MemberOf[i])
	}
	return out
}

// withIDs returns c moving the records ids of tenant t, without a job.
func (c archiveCall) withIDs(t crm.TenantID, ids []crm.RecordID) archiveCall {
	c.IDs, c.Records, c.MemberOf = ids, make([]recordKeys, len(ids)), make([]string, len(ids))
	for i, id := range ids {
		c.Records[i], c.MemberOf[i] = recordKeysOf(t, c.Type, id), MemberOfKey(t, c.Type, id)
	}
	return c
}

func (c archiveCall) argv() []any {
	return []any{c.At, string(c.Type), c.By, c.Via, c.Ref, c.Revision, c.Op, c.Batch, joinIDs(c.IDs), c.AuditMaxLen,
		c.RecordPrefix, c.BinRecordPrefix, c.AssocPrefix, c.BinAssocPrefix, c.MemberOfPrefix,
		c.ListPrefix, c.ListMembersSuffix, c.FlowPrefix, c.EnrollmentsPrefix, c.HistoriesPrefix, c.IndexSpec,
		c.Operation, c.OperationPrefix, c.LimitMax, c.LimitWindow, c.expect(), c.Activation, c.Needs, c.RulesVersion,
		crm.MaxLimitWindow.Milliseconds(), c.ActivationNum, c.BinLinksPrefix}
}

// expect encodes Expect for the script: a JSON object id -> _updated ("{}" for an empty map, so
// that the script still answers with the changed ids), "" for nil.
func (c archiveCall) expect() string {
	if c.Expect == nil {
		return ""
	}
	raw, _ := json.Marshal(c.Expect) // strings only: cannot fail
	return string(raw)
}

// restoreScript brings records back from their type's bin.
// See lua/restore.lua for its KEYS and ARGV.
var restoreScript = newScript[restoreCall]("helpers", "index", "restore")

// restoreCall is a call of restoreScript (lua/restore.lua).
type restoreCall struct {
	Live, Trash, BinIDs, EmailIndex, Changed, ChangedEvents, Audit string
	// BinAssocIDs is the set of the type's ids whose bin association key exists.
	BinAssocIDs string
	// Job and JobFailures are the undo job's keys (those of noJob, untouched, without one).
	Job, JobFailures string
	// ActiveFlows is the type's ActiveFlowsKey: without an active workflow, no change mark.
	ActiveFlows string
	// Blocklist is the tenant's BlocklistKey; User the UserKey of an undo job's creator (By),
	// whose authority the job acts with (of the empty email, untouched, without a job).
	Blocklist, User string
	// Records are the keys of each of IDs.
	Records []recordKeys

	// Hashes are the salted hashes (emailHash) of the emails of the contacts to restore, by email:
	// the script asks for those it misses (see restoreWithHashes).
	Hashes map[string]string

	At           int64 // unix ms
	Type         crm.ObjectType
	By, Via, Ref string
	AuditMaxLen  string
	// RecordPrefix to BinAssocIDsPrefix are the key prefixes of the records associated with a
	// restored one.
	RecordPrefix      string
	BinRecordPrefix   string
	AssocPrefix       string
	BinAssocPrefix    string
	BinAssocIDsPrefix string
	BinLinksPrefix    string
	Op                string // the call's id
	Horizon           int64  // unix ms: a record deleted at or before it stays in the bin
	BinEmailDayPrefix string
	IndexSpec         string
	OperationPrefix   string
	// Cursor is the undo job's cursor the batch starts after ("" without a job), NextCursor its
	// cursor after, and Operation the operation it undoes.
	Cursor, NextCursor, Operation string
	IDs                           []crm.RecordID
}

func (c restoreCall) keys() []string {
	out := make([]string, 0, 13+4*len(c.Records))
	out = append(out, c.Live, c.Trash, c.BinIDs, c.EmailIndex, c.Changed, c.ChangedEvents, c.Audit, c.BinAssocIDs,
		c.Job, c.JobFailures, c.ActiveFlows, c.Blocklist, c.User)
	for _, r := range c.Records {
		out = append(out, r.Record, r.Bin, r.Assoc, r.BinAssoc)
	}
	return out
}

// recordKeys are the keys of one record, live and in the bin, and of its associations.
type recordKeys struct {
	Record, Bin, Assoc, BinAssoc string
}

// recordKeysOf returns the recordKeys of record id of type o.
func recordKeysOf(t crm.TenantID, o crm.ObjectType, id crm.RecordID) recordKeys {
	return recordKeys{Record: RecordKey(t, o, id), Bin: BinRecordKey(t, o, id), Assoc: AssocKey(t, o, id), BinAssoc: BinAssocKey(t, o, id)}
}

func (c restoreCall) argv() []any {
	out := []any{c.At, string(c.Type), c.By, c.Via, c.Ref, c.AuditMaxLen, c.RecordPrefix, c.BinRecordPrefix,
		c.AssocPrefix, c.BinAssocPrefix, c.BinAssocIDsPrefix, c.Op, c.Horizon, c.BinEmailDayPrefix, c.IndexSpec,
		c.OperationPrefix, c.Cursor, c.NextCursor, c.Operation, c.hashes(), c.BinLinksPrefix}
	for _, id := range c.IDs {
		out = append(out, string(id))
	}
	return out
}

// hashes is ARGV[20] of restore.lua: the JSON object of Hashes, "" for none.
func (c restoreCall) hashes() string {
	if len(c.Hashes) == 0 {
		return ""
	}
	raw, _ := json.Marshal(c.Hashes) // strings only: cannot fail
	return string(raw)
}

// purgeScript removes for good the bin entries of a type deleted at or before a horizon.
// See lua/purge.lua for its KEYS and ARGV.
var purgeScript = newScript[purgeCall]("helpers", "purge").quiet()

// purgeCall is a call of purgeScript (lua/purge.lua).
type purgeCall struct {
	Trash, BinIDs, BinAssocIDs, Audit, BinEmailDays string

	Horizon           int64 // unix ms
	Limit             int
	BinRecordPrefix   string // of the type
	BinAssocPrefix    string // of the type
	Type              crm.ObjectType
	At                int64 // unix ms
	AuditMaxLen       string
	BinEmailDayPrefix string
	OperationPrefix   string
	BinLinksPrefix    string // without a type
}

func (c purgeCall) keys() []string {
	return []string{c.Trash, c.BinIDs, c.BinAssocIDs, c.Audit, c.BinEmailDays}
}

func (c purgeCall) argv() []any {
	return []any{c.Horizon, c.Limit, c.BinRecordPrefix, c.BinAssocPrefix, string(c.Type), c.At, c.AuditMaxLen,
		c.BinEmailDayPrefix, c.OperationPrefix, c.BinLinksPrefix}
}

// joinIDs joins record ids with commas, as the scripts that take a list in one ARGV read them.
func joinIDs(ids []crm.RecordID) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(id))
	}
	return b.String()
}

// msDay is the day (days since the Unix epoch, UTC) of a unix ms time, as the scripts compute it.
func msDay(at int64) int64 { return at / 86400000 }
