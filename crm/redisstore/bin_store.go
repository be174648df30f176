package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// auditMaxLen bounds the audit stream of a tenant (approximately, as XADD MAXLEN ~ does).
const auditMaxLen = "1000000"

func (s *Store) binKeys(t crm.TenantID, o crm.ObjectType) []string {
	return []string{LiveKey(t, o), TrashKey(t, o), BinIDsKey(t, o), EmailIndexKey(t), ChangedKey(t), ChangedEventsKey(t), AuditKey(t)}
}

// archiveKeys are the KEYS of archiveScript without a job.
func (s *Store) archiveKeys(t crm.TenantID, o crm.ObjectType) []string {
	return append(s.binKeys(t, o), FlowsOfTypeKey(t, o))
}

// archiveArgs are the ARGV of archiveScript.
func (s *Store) archiveArgs(t crm.TenantID, o crm.ObjectType, by crm.Actor, ids []any) []any {
	who, via, ref := actorFields(by)
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = fmt.Sprint(id)
	}
	return []any{ms(s.cfg.Clock.Now()), string(o), who, via, ref, auditMaxLen,
		recordKeyPrefix(t), binRecordKeyPrefix(t), assocKeyPrefix(t), binAssocKeyPrefix(t),
		memberOfKeyPrefix(t, o), listKeyPrefix(t), listMembersKeySuffix, strings.Join(list, ","),
		flowKeyPrefix(t), enrollmentsKeyPrefix(t), historiesKeyPrefix(t), binAssocIDsKeyPrefix(t)}
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

func idArgs(ids []crm.RecordID) ([]any, error) {
	out := make([]any, 0, len(ids))
	for _, id := range ids {
		if _, err := strconv.ParseUint(string(id), 10, 64); err != nil {
			return nil, &crm.ValidationError{Field: "id", Code: "INVALID_ID", Message: fmt.Sprintf("record id %q is not a number", id)}
		}
		out = append(out, string(id))
	}
	return out, nil
}

// ArchiveRecords implements Store.
func (s *Store) ArchiveRecords(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, by crm.Actor) (crm.ArchiveResult, error) {
	if err := checkBatch(len(ids)); err != nil {
		return crm.ArchiveResult{}, err
	}
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return crm.ArchiveResult{}, err
	}
	rest, err := idArgs(ids)
	if err != nil {
		return crm.ArchiveResult{}, err
	}
	args := append(s.archiveArgs(t, o, by, rest), 0, opID(), binEmailDayKeyPrefix(t), BinEmailDaysKey(t), revArg(by), indexSpec(t, sch))
	reply, acked := s.runAcked(ctx, archiveScript, s.archiveKeys(t, o), args...)
	moved, err := reply.StringSlice()
	if err != nil {
		return crm.ArchiveResult{}, fmt.Errorf("archive %s: %w", o, err)
	}
	res := crm.ArchiveResult{}
	done := make(map[string]bool, len(moved))
	for _, id := range moved {
		done[id] = true
		res.Archived = append(res.Archived, crm.RecordID(id))
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

// RestoreRecords implements Store.
func (s *Store) RestoreRecords(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, by crm.Actor) (crm.RestoreResult, error) {
	if err := checkBatch(len(ids)); err != nil {
		return crm.RestoreResult{}, err
	}
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return crm.RestoreResult{}, err
	}
	rest, err := idArgs(ids)
	if err != nil {
		return crm.RestoreResult{}, err
	}
	who, via, ref := actorFields(by)
	now := s.cfg.Clock.Now()
	args := append([]any{ms(now), string(o), who, via, ref, auditMaxLen,
		recordKeyPrefix(t), binRecordKeyPrefix(t), assocKeyPrefix(t), binAssocKeyPrefix(t), binAssocIDsKeyPrefix(t), opID(),
		ms(now.Add(-s.cfg.Retention)), binEmailDayKeyPrefix(t), indexSpec(t, sch)}, rest...)
	reply, acked := s.runAcked(ctx, restoreScript, s.binKeys(t, o), args...)
	raw, err := reply.Slice()
	if err != nil {
		return crm.RestoreResult{}, fmt.Errorf("restore %s: %w", o, err)
	}
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
				Err: &crm.RetentionExpiredError{ID: id, DeletedAt: at, ExpiredAt: at.Add(s.cfg.Retention)}})
		case "conflict":
			res.Failed = append(res.Failed, crm.RestoreFailure{ID: id,
				Err: &crm.EmailConflictError{Email: fmt.Sprint(parts[2]), BlockingID: crm.RecordID(fmt.Sprint(parts[3]))}})
		case "unique":
			res.Failed = append(res.Failed, crm.RestoreFailure{ID: id,
				Err: &crm.UniqueConflictError{Type: o, Property: fmt.Sprint(parts[2]), Value: fmt.Sprint(parts[3]),
					BlockingID: crm.RecordID(fmt.Sprint(parts[4]))}})
		}
	}
	if acked != nil {
		return res, fmt.Errorf("restore %s: %w", o, acked)
	}
	return res, nil
}

// PurgeExpired implements Store.
func (s *Store) PurgeExpired(ctx context.Context, t crm.TenantID, o crm.ObjectType, horizon time.Time, limit int) (int, error) {
	if limit <= 0 || limit > crm.MaxScriptBatch {
		return 0, fmt.Errorf("crm: purge limit %d out of range 1..%d", limit, crm.MaxScriptBatch)
	}
	reply, acked := s.runAcked(ctx, purgeScript, []string{TrashKey(t, o), BinIDsKey(t, o), BinAssocIDsKey(t, o), AuditKey(t), BinEmailDaysKey(t)},
		ms(horizon), limit, binRecordKeyPrefix(t)+string(o)+":", binAssocKeyPrefix(t)+string(o)+":",
		string(o), ms(s.cfg.Clock.Now()), auditMaxLen, binEmailDayKeyPrefix(t))
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
