package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// auditMaxLen bounds the audit stream of a tenant (approximately, as XADD MAXLEN ~ does).
const auditMaxLen = "1000000"

// archiveCall is the call of archiveScript that moves records of o for by, without a job and with
// no ids yet: the caller adds the ids (withIDs) and Op, or sets Job, JobPending and Batch. Every
// key the script may touch is declared (in KEYS, all of the tenant's slot), the ones it reads only
// with an option (LimitKey, User, RulesVersionKey) too, with by's keys until the caller sets them.
func (s *Store) archiveCall(t crm.TenantID, o crm.ObjectType, by crm.Actor, sch crm.Schema) archiveCall {
	who, via, ref := actorFields(by)
	now := s.cfg.Clock.Now().UnixMilli()
	return archiveCall{
		Live: LiveKey(t, o), Trash: TrashKey(t, o), BinIDs: BinIDsKey(t, o), EmailIndex: EmailIndexKey(t),
		Changed: ChangedKey(t), ChangedEvents: ChangedEventsKey(t), Audit: AuditKey(t), FlowsOfType: FlowsOfTypeKey(t, o),
		Job: JobKey(t, noJob), JobPending: JobPendingKey(t, noJob),
		BinEmailDay: BinEmailDayKey(t, msDay(now)), BinEmailDays: BinEmailDaysKey(t), BinAssocIDs: BinAssocIDsKey(t, o),
		ActiveFlows: ActiveFlowsKey(t, o), At: now, Type: o, By: who, Via: via, Ref: ref, Revision: revArg(by),
		AuditMaxLen: auditMaxLen, RecordPrefix: recordKeyPrefix(t), BinRecordPrefix: binRecordKeyPrefix(t),
		AssocPrefix: assocKeyPrefix(t), BinAssocPrefix: binAssocKeyPrefix(t), BinLinksPrefix: binLinksKeyPrefix(t),
		MemberOfPrefix: memberOfKeyPrefix(t, o), ListPrefix: listKeyPrefix(t), ListMembersSuffix: listMembersKeySuffix,
		FlowPrefix: flowKeyPrefix(t), EnrollmentsPrefix: enrollmentsKeyPrefix(t), HistoriesPrefix: historiesKeyPrefix(t),
		IndexSpec: indexSpec(t, sch), OperationPrefix: operationKeyPrefix(t), Operations: OperationsKey(t),
		LimitKey: FlowDeletionsKey(t, by.Ref), User: UserKey(t, normalizeUserEmail(by.User)), RulesVersionKey: ProtectionVersionKey(t),
	}
}

func actorFields(by crm.Actor) (string, string, string) {
	via := by.Via
	if via == "" {
		via = crm.ViaAPI
	}
	who := by.User
	if who == "" && via == crm.ViaWorkflow {
		who = "workflow:" + by.Ref
	}
	return who, string(via), by.Ref
}

// revArg is the ARGV of a workflow actor's revision: "" when there is none.
func revArg(by crm.Actor) string {
	if by.Via != crm.ViaWorkflow || by.Revision <= 0 {
		return ""
	}
	return strconv.FormatInt(by.Revision, 10)
}

// checkIDs returns a *crm.ValidationError unless every id is a record id (a number).
func checkIDs(ids []crm.RecordID) error {
	for _, id := range ids {
		if _, err := strconv.ParseUint(string(id), 10, 64); err != nil {
			return &crm.ValidationError{Field: "id", Code: "INVALID_ID", Message: fmt.Sprintf("record id %q is not a number", id)}
		}
	}
	return nil
}

// ArchiveRecords implements Store.
func (s *Store) ArchiveRecords(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, by crm.Actor) (crm.ArchiveResult, error) {
	return s.archive(ctx, t, o, ids, by, nil, nil, 0)
}

// ArchiveWithLimit implements Store. The count lives in the workflow's FlowDeletionsKey, shared by
// all its activations, kept by archive.lua in the step that moves the records.
func (s *Store) ArchiveWithLimit(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, by crm.Actor, lim crm.ArchiveLimit) (crm.ArchiveResult, error) {
	l, err := limitOf(by, &lim)
	if err != nil {
		return crm.ArchiveResult{}, err
	}
	return s.archive(ctx, t, o, ids, by, l, nil, 0)
}

// FlowDeletionsInWindow implements Store: the members of the workflow's FlowDeletionsKey scored
// after now less per, as archive.lua counts them.
func (s *Store) FlowDeletionsInWindow(ctx context.Context, t crm.TenantID, name string, per time.Duration) (int64, error) {
	if per <= 0 {
		return 0, &crm.ValidationError{Field: "per", Code: "INVALID_LIMIT", Message: "give the limit's window, such as 1h"}
	}
	since := s.cfg.Clock.Now().Add(-per).UnixMilli()
	n, err := s.rdb.ZCount(ctx, FlowDeletionsKey(t, name), "("+strconv.FormatInt(since, 10), "+inf").Result()
	if err != nil {
		return 0, fmt.Errorf("count the deletions of workflow %s: %w", name, err)
	}
	return n, nil
}

// ArchiveChecked implements Store. The last modifications read go to archive.lua, which compares
// each with the record's _updated in the step that moves it.
func (s *Store) ArchiveChecked(ctx context.Context, t crm.TenantID, o crm.ObjectType, recs []crm.Record, by crm.Actor, opts crm.CheckedArchive) (crm.ArchiveResult, error) {
	ids := make([]crm.RecordID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	expect := expectations(recs)
	if opts.All {
		expect[allOrNone] = "1"
	}
	var lim *crm.ArchiveLimit
	if opts.Limit != nil {
		var err error
		if lim, err = limitOf(by, opts.Limit); err != nil {
			return crm.ArchiveResult{}, err
		}
	}
	return s.archive(ctx, t, o, ids, by, lim, expect, opts.RulesVersion)
}

// limitOf checks a workflow's blast-radius limit and its actor, and returns the limit the archive
// script is to count the deletions under (an unlimited one too: its deletions count against a
// limit set later).
func limitOf(by crm.Actor, lim *crm.ArchiveLimit) (*crm.ArchiveLimit, error) {
	if by.Via != crm.ViaWorkflow || by.Ref == "" {
		return nil, &crm.ValidationError{Field: "by", Code: "INVALID_ACTOR",
			Message: "a limited archive counts a workflow's deletions: give the actor Via workflow and the workflow's name as Ref"}
	}
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	if len(lim.Needs) > 0 && lim.ActivatedAt.IsZero() {
		return nil, &crm.ValidationError{Field: "activated_at", Code: "INVALID_LIMIT",
			Message: "a guarded archive checks one activation: give the workflow's activation time (crm.Flow.ActivatedAt)"}
	}
	return lim, nil
}

// allOrNone is the entry of archiveCall.Expect that asks for every record or none (it is no id).
const allOrNone crm.RecordID = "*"

// expectations are the last modifications of recs as read, for archive.lua (archiveCall.Expect):
// an empty map when none is known, so that the script still answers with the changed ids.
func expectations(recs []crm.Record) map[crm.RecordID]string {
	out := make(map[crm.RecordID]string, len(recs))
	for _, r := range recs {
		if !r.UpdatedAt.IsZero() {
			out[r.ID] = strconv.FormatInt(r.UpdatedAt.UnixMilli(), 10)
		}
	}
	return out
}

func (s *Store) archive(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, by crm.Actor, lim *crm.ArchiveLimit,
	expect map[crm.RecordID]string, rules int64) (crm.ArchiveResult, error) {
	if err := checkBatch(len(ids)); err != nil {
		return crm.ArchiveResult{}, err
	}
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return crm.ArchiveResult{}, err
	}
	if err := checkIDs(ids); err != nil {
		return crm.ArchiveResult{}, err
	}
	call := s.archiveCall(t, o, by, sch).withIDs(t, ids)
	call.Op = opID()
	// A workflow's deletions are counted even without a limit ("0"), so that a limit one of its
	// later revisions sets counts them.
	counted := lim != nil
	if counted {
		call.LimitMax = strconv.Itoa(lim.Max)
		call.LimitWindow = lim.Per.Milliseconds()
	}
	if lim != nil && len(lim.Needs) > 0 {
		call.Activation = strconv.FormatInt(lim.ActivatedAt.UnixMilli(), 10)
		if lim.Activation != 0 {
			call.ActivationNum = strconv.FormatInt(lim.Activation, 10)
		}
		call.Needs = crm.Permissions(lim.Needs).String()
	}
	call.Expect = expect // not nil when the caller checked: the script then answers {moved, refused, changed}
	if rules != 0 {
		call.RulesVersion = strconv.FormatInt(rules, 10)
	}
	reply, acked := archiveScript.runAcked(ctx, s, call)
	var moved, refused, changed, stopped []string
	parts, err := reply.Slice()
	if err != nil {
		return crm.ArchiveResult{}, fmt.Errorf("archive %s: %w", o, err)
	}
	switch {
	case len(parts) == 1 && parts[0] == "rules":
		// A rule was written since the caller's check: nothing moved, every record to check again.
		return crm.ArchiveResult{Changed: slices.Clone(ids)}, nil
	case len(parts) > 0 && parts[0] == "stopped":
		stopped = stringsOf(parts[1:])
	case counted || expect != nil:
		want := 2
		if expect != nil {
			want = 3
		}
		if len(parts) != want {
			return crm.ArchiveResult{}, fmt.Errorf("archive %s: unexpected reply %v", o, parts)
		}
		moved, refused = stringsOf(parts[0]), stringsOf(parts[1])
		if expect != nil {
			changed = stringsOf(parts[2])
		}
	default:
		moved = stringsOf(parts)
	}
	res := crm.ArchiveResult{}
	done := make(map[string]bool, len(moved)+len(refused))
	for _, id := range stopped {
		done[id] = true
		res.Stopped = append(res.Stopped, crm.RecordID(id))
	}
	for _, id := range moved {
		done[id] = true
		res.Archived = append(res.Archived, crm.RecordID(id))
	}
	for _, id := range refused {
		done[id] = true
		res.OverLimit = append(res.OverLimit, crm.RecordID(id))
	}
	for _, id := range changed {
		done[id] = true
		res.Changed = append(res.Changed, crm.RecordID(id))
	}
	for _, id := range ids {
		if !done[string(id)] {
			res.Missing = append(res.Missing, id)
		}
	}
	if acked != nil {
		return res, fmt.Errorf("archive %s: %w", o, acked)
	}
	return res, nil
}

// stringsOf returns the strings of a script's array reply (nil for anything else).
func stringsOf(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// RestoreRecords implements Store.
func (s *Store) RestoreRecords(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, by crm.Actor) (crm.RestoreResult, error) {
	if err := checkBatch(len(ids)); err != nil {
		return crm.RestoreResult{}, err
	}
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return crm.RestoreResult{}, err
	}
	if err := checkIDs(ids); err != nil {
		return crm.RestoreResult{}, err
	}
	reply, acked, err := s.restoreWithHashes(ctx, t, s.restoreCall(t, o, by, sch, ids))
	if err != nil {
		return crm.RestoreResult{}, fmt.Errorf("restore %s: %w", o, err)
	}
	raw, err := reply.Slice()
	if err != nil {
		return crm.RestoreResult{}, fmt.Errorf("restore %s: %w", o, err)
	}
	res, err := s.restoreResult(o, raw)
	if err != nil {
		return crm.RestoreResult{}, err
	}
	if acked != nil {
		return res, fmt.Errorf("restore %s: %w", o, acked)
	}
	return res, nil
}

// restoreCall is the call of restoreScript that brings records ids of o back for by, without a job.
func (s *Store) restoreCall(t crm.TenantID, o crm.ObjectType, by crm.Actor, sch crm.Schema, ids []crm.RecordID) restoreCall {
	who, via, ref := actorFields(by)
	now := s.cfg.Clock.Now()
	records := make([]recordKeys, len(ids))
	for i, id := range ids {
		records[i] = recordKeysOf(t, o, id)
	}
	// Without a job the script reads no user: User is a key of the tenant's slot that it leaves
	// untouched (restore.lua, KEYS[13]).
	return restoreCall{
		Live: LiveKey(t, o), Trash: TrashKey(t, o), BinIDs: BinIDsKey(t, o), EmailIndex: EmailIndexKey(t),
		Changed: ChangedKey(t), ChangedEvents: ChangedEventsKey(t), Audit: AuditKey(t),
		BinAssocIDs: BinAssocIDsKey(t, o), Job: JobKey(t, noJob), JobFailures: JobFailuresKey(t, noJob),
		ActiveFlows: ActiveFlowsKey(t, o), Blocklist: BlocklistKey(t), User: UserKey(t, ""), Records: records,
		At: now.UnixMilli(), Type: o, By: who, Via: via, Ref: ref, AuditMaxLen: auditMaxLen,
		RecordPrefix: recordKeyPrefix(t), BinRecordPrefix: binRecordKeyPrefix(t), AssocPrefix: assocKeyPrefix(t),
		BinAssocPrefix: binAssocKeyPrefix(t), BinAssocIDsPrefix: binAssocIDsKeyPrefix(t), BinLinksPrefix: binLinksKeyPrefix(t), Op: opID(),
		Horizon: now.Add(-s.Retention()).UnixMilli(), BinEmailDayPrefix: binEmailDayKeyPrefix(t),
		IndexSpec: indexSpec(t, sch), OperationPrefix: operationKeyPrefix(t), IDs: ids,
	}
}

// restoreAttempts bounds the calls of restoreScript that restoreWithHashes makes for one restore:
// a call after the first is needed only when the contacts' emails changed since the one before.
const restoreAttempts = 5

// restoreWithHashes runs call. When the tenant has blocklisted emails, the script needs the salted
// hash of each email of the contacts it restores, to check them against the blocklist in the step
// that restores: it answers with the emails it has no hash for and changes nothing, and the call is
// made again with their hashes. So a batch costs one more round trip in a tenant with an erasure,
// none otherwise, and the check holds against an erasure at any moment.
func (s *Store) restoreWithHashes(ctx context.Context, t crm.TenantID, call restoreCall) (reply *redis.Cmd, acked, err error) {
	for attempt := 0; attempt < restoreAttempts; attempt++ {
		reply, acked = restoreScript.runAcked(ctx, s, call)
		raw, rerr := reply.Slice()
		if rerr != nil || len(raw) == 0 || raw[0] != "hashes" {
			return reply, acked, nil
		}
		var need []any // restore.lua: {"hashes", {email...}}
		if len(raw) > 1 {
			need, _ = raw[1].([]any)
		}
		if call.Hashes == nil {
			call.Hashes = make(map[string]string, len(need))
		}
		for _, e := range need {
			if e, ok := e.(string); ok {
				call.Hashes[e] = s.emailHash(t, e)
			}
		}
	}
	return nil, nil, &crm.ConflictError{Message: "the contacts to restore kept changing their emails during the restore: try again"}
}

// restoreResult reads the per-record reply of restoreScript.
func (s *Store) restoreResult(o crm.ObjectType, raw []any) (crm.RestoreResult, error) {
	var res crm.RestoreResult
	for _, item := range raw {
		parts, _ := item.([]any)
		if len(parts) < 2 {
			return crm.RestoreResult{}, fmt.Errorf("restore %s: unexpected reply %v", o, item)
		}
		id := crm.RecordID(fmt.Sprint(parts[1]))
		switch parts[0] {
		case "ok":
			res.Restored = append(res.Restored, id)
		case "missing":
			res.Failed = append(res.Failed, crm.RestoreFailure{ID: id, Err: &crm.NotFoundError{Kind: "deleted record", ID: string(o) + "/" + string(id)}})
		case "expired":
			at := parseMS(fmt.Sprint(parts[2]))
			res.Failed = append(res.Failed, crm.RestoreFailure{ID: id,
				Err: &crm.RetentionExpiredError{ID: id, DeletedAt: at, ExpiredAt: at.Add(s.Retention())}})
		case "conflict":
			res.Failed = append(res.Failed, crm.RestoreFailure{ID: id,
				Err: &crm.EmailConflictError{Email: fmt.Sprint(parts[2]), BlockingID: crm.RecordID(fmt.Sprint(parts[3]))}})
		case "erased":
			res.Failed = append(res.Failed, crm.RestoreFailure{ID: id,
				Err: &crm.ErasedEmailError{Email: fmt.Sprint(parts[2]), Property: fmt.Sprint(parts[3])}})
		case "unique":
			res.Failed = append(res.Failed, crm.RestoreFailure{ID: id,
				Err: &crm.UniqueConflictError{Type: o, Property: fmt.Sprint(parts[2]), Value: fmt.Sprint(parts[3]),
					BlockingID: crm.RecordID(fmt.Sprint(parts[4]))}})
		}
	}
	return res, nil
}

// PurgeExpired implements Store.
func (s *Store) PurgeExpired(ctx context.Context, t crm.TenantID, o crm.ObjectType, horizon time.Time, limit int) (int, error) {
	if limit <= 0 || limit > crm.MaxScriptBatch {
		return 0, fmt.Errorf("crm: purge limit %d out of range 1..%d", limit, crm.MaxScriptBatch)
	}
	reply, acked := purgeScript.runAcked(ctx, s, purgeCall{
		Trash: TrashKey(t, o), BinIDs: BinIDsKey(t, o), BinAssocIDs: BinAssocIDsKey(t, o), Audit: AuditKey(t),
		BinEmailDays: BinEmailDaysKey(t),
		Horizon:      horizon.UnixMilli(), Limit: limit, BinRecordPrefix: binRecordKeyPrefix(t) + string(o) + ":",
		BinAssocPrefix: binAssocKeyPrefix(t) + string(o) + ":", Type: o, At: s.cfg.Clock.Now().UnixMilli(),
		AuditMaxLen: auditMaxLen, BinEmailDayPrefix: binEmailDayKeyPrefix(t), OperationPrefix: operationKeyPrefix(t),
		BinLinksPrefix: binLinksKeyPrefix(t),
	})
	n, err := reply.Int()
	if err != nil {
		return 0, fmt.Errorf("purge %s: %w", o, err)
	}
	if acked != nil {
		return n, fmt.Errorf("purge %s: %w", o, acked)
	}
	return n, nil
}

// CountExpired implements Store.
func (s *Store) CountExpired(ctx context.Context, t crm.TenantID, o crm.ObjectType, horizon time.Time) (int64, error) {
	n, err := s.rdb.ZCount(ctx, TrashKey(t, o), "-inf", ms(horizon)).Result()
	if err != nil {
		return 0, fmt.Errorf("count expired %s: %w", o, err)
	}
	return n, nil
}

// BinSize implements Store.
func (s *Store) BinSize(ctx context.Context, t crm.TenantID, o crm.ObjectType) (int64, error) {
	n, err := s.rdb.ZCard(ctx, TrashKey(t, o)).Result()
	if err != nil {
		return 0, fmt.Errorf("bin size %s: %w", o, err)
	}
	return n, nil
}

// opID names one call of a script that moves records, so that the same call run again (go-redis
// retries a command whose reply was lost) can tell the records it moved itself.
func opID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b[:])
}
