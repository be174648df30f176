package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
)

// createUndoJobScript starts an undo of an operation as a job.
// See lua/create_undo_job.lua for its KEYS and ARGV.
var createUndoJobScript = newScript[createUndoJobCall]("helpers", "trigger_reads", "undo_stops", "create_undo_job")

// createUndoJobCall is a call of createUndoJobScript (lua/create_undo_job.lua).
type createUndoJobCall struct {
	Operation, OperationBin, Seq, Jobs, Audit, Selecting, User string

	At                int64 // unix ms
	JobPrefix         string
	By                string
	OperationID       string
	AuditMaxLen       string
	FlowPrefix        string
	ActiveFlowsPrefix string
	TrigReadsPrefix   string
	OperationPrefix   string
}

func (c createUndoJobCall) keys() []string {
	return []string{c.Operation, c.OperationBin, c.Seq, c.Jobs, c.Audit, c.Selecting, c.User}
}

// cancelNeeds and pauseNeeds are what an undo's user needs, beyond restore, to cancel the
// operation's running job and to pause its active workflow (ARGV of create_undo_job.lua), as
// crm.UndoNeeds says.
var (
	cancelNeeds = crm.Permissions(crm.UndoCancelNeeds).String()
	pauseNeeds  = crm.Permissions(crm.UndoPauseNeeds).String()
)

func (c createUndoJobCall) argv() []any {
	return []any{c.At, c.JobPrefix, c.By, c.OperationID, c.AuditMaxLen, c.FlowPrefix, c.ActiveFlowsPrefix, c.TrigReadsPrefix,
		string(crm.PauseUndo), cancelNeeds, pauseNeeds, c.OperationPrefix}
}

// operationIDRE matches the ids an operation can have: a call's id (hex), "job-<id>" or
// "wf-<workflow>-<activated_at>", with "_<activation number>" after it for an activation made in
// the same millisecond as the one before (workflow names are lowercase letters, digits, '-' and '_'), at
// most 300 characters. Nothing else, a ':' above all: "<id>:bin" would name the operation's bin
// index, another key.
var operationIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,300}$`)

// operationHint is the Hint of an unknown operation's *crm.NotFoundError: where its ids are.
const operationHint = "take one from GET /crm/v3/operations (crmflow operations list) or a deleted record's archivedOperation"

// checkOperationID returns a *crm.ValidationError for an id that can name no operation.
func checkOperationID(id string) error {
	if !operationIDRE.MatchString(id) {
		return &crm.ValidationError{Field: "operation", Code: "INVALID_OPERATION",
			Message: fmt.Sprintf("%q is not an operation id: take one from GET /crm/v3/operations or a deleted record's archivedOperation", id)}
	}
	return nil
}

// Operation implements Store.
func (s *Store) Operation(ctx context.Context, t crm.TenantID, id string) (crm.Operation, error) {
	if err := checkOperationID(id); err != nil {
		return crm.Operation{}, &crm.NotFoundError{Kind: "operation", ID: id, Hint: operationHint}
	}
	ops, err := s.readOperations(ctx, t, []string{id})
	if err != nil {
		return crm.Operation{}, err
	}
	if len(ops) == 0 {
		return crm.Operation{}, &crm.NotFoundError{Kind: "operation", ID: id, Hint: operationHint}
	}
	return ops[0], nil
}

// readOperations reads operations by id in one round trip; unknown ones are left out.
func (s *Store) readOperations(ctx context.Context, t crm.TenantID, ids []string) ([]crm.Operation, error) {
	pipe := s.rdb.Pipeline()
	hs := make([]*redis.MapStringStringCmd, len(ids))
	ns := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		hs[i] = pipe.HGetAll(ctx, OperationKey(t, id))
		ns[i] = pipe.ZCard(ctx, OperationBinKey(t, id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read operations: %w", err)
	}
	out := make([]crm.Operation, 0, len(ids))
	for i, id := range ids {
		h := hs[i].Val()
		if h["first_at"] == "" {
			continue
		}
		moved, _ := strconv.ParseInt(h["moved"], 10, 64)
		out = append(out, crm.Operation{ID: id, Kind: h["kind"], ObjectType: crm.ObjectType(h["object_type"]),
			By:      crm.Actor{User: h["by"], Via: crm.Via(h["via"]), Ref: h["ref"], Revision: parseRev(h["rev"])},
			FirstAt: parseMS(h["first_at"]), LastAt: parseMS(h["last_at"]), Moved: moved, InBin: ns[i].Val(),
			UndoJob: h["undo_job"]})
	}
	return out, nil
}

// operationsScanBudget bounds how many operations one page of Operations looks at when filters
// leave most out: the page then ends early, with a cursor to go on from.
const operationsScanBudget = 2000

// Operations implements Store. It walks the tenant's index of operations by time, newest first,
// reading each candidate's hash in pipelined chunks; the filters are applied to what it reads, and
// a page looks at no more than operationsScanBudget operations (it may come back short, with a
// cursor). The cursor is "<first move, unix ms>:<id>" of the last operation of the page.
func (s *Store) Operations(ctx context.Context, t crm.TenantID, opts *crm.OperationsOpts) ([]crm.Operation, string, error) {
	var o crm.OperationsOpts
	if opts != nil {
		o = *opts
	}
	if o.Limit == 0 {
		o.Limit = 10
	}
	if o.Limit < 1 || o.Limit > 100 {
		return nil, "", &crm.ValidationError{Field: "limit", Code: "INVALID_LIMIT", Message: fmt.Sprintf("limit %d is out of range: use 1 to 100", o.Limit)}
	}
	if o.Kind != "" && !slices.Contains(crm.OperationKinds, o.Kind) {
		return nil, "", &crm.ValidationError{Field: "kind", Code: "INVALID_KIND",
			Message: fmt.Sprintf("kind %q is not one of %s", o.Kind, strings.Join(crm.OperationKinds, ", "))}
	}
	if !o.From.IsZero() && !o.To.IsZero() && o.To.Before(o.From) {
		return nil, "", &crm.ValidationError{Field: "to", Code: "INVALID_RANGE", Message: "the end of the time range is before its start: swap them"}
	}
	maxScore, minScore := "+inf", "-inf"
	if !o.To.IsZero() {
		maxScore = ms(o.To)
	}
	if !o.From.IsZero() {
		minScore = ms(o.From)
	}
	var afterScore float64
	afterID := ""
	if o.After != "" {
		sc, id, ok := strings.Cut(o.After, ":")
		n, err := strconv.ParseInt(sc, 10, 64)
		if !ok || err != nil || n < 0 || checkOperationID(id) != nil {
			return nil, "", &crm.ValidationError{Field: "after", Code: "INVALID_CURSOR",
				Message: fmt.Sprintf("cursor %q is not one this endpoint returned: pass paging.next.after of the previous page", o.After)}
		}
		afterScore, afterID = float64(n), id
		if o.To.IsZero() || n < o.To.UnixMilli() {
			maxScore = sc
		}
	}
	var out []crm.Operation
	scanned, offset := 0, int64(0)
	const chunk = 200
	for scanned < operationsScanBudget {
		zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, OperationsKey(t), &redis.ZRangeBy{Max: maxScore, Min: minScore, Offset: offset, Count: chunk}).Result()
		if err != nil {
			return nil, "", fmt.Errorf("list operations: %w", err)
		}
		offset += int64(len(zs))
		var ids []string
		last := ""
		for _, z := range zs {
			last = strconv.FormatInt(int64(z.Score), 10) + ":" + fmt.Sprint(z.Member)
			id, _ := z.Member.(string)
			// Those of the cursor's time at or above the cursor came on earlier pages (members of
			// one score come in reverse lexical order).
			if afterID != "" && z.Score == afterScore && id >= afterID {
				continue
			}
			ids = append(ids, id)
		}
		scanned += len(zs)
		ops, err := s.readOperations(ctx, t, ids)
		if err != nil {
			return nil, "", err
		}
		for _, op := range ops {
			if matchOperation(op, o) {
				out = append(out, op)
				if len(out) == o.Limit {
					return out, operationCursor(op), nil
				}
			}
		}
		if len(zs) < chunk {
			return out, "", nil
		}
		if scanned >= operationsScanBudget {
			return out, last, nil // out of budget: the next page goes on after the last one looked at
		}
	}
	return out, "", nil
}

func operationCursor(op crm.Operation) string {
	return strconv.FormatInt(op.FirstAt.UnixMilli(), 10) + ":" + op.ID
}

func matchOperation(op crm.Operation, o crm.OperationsOpts) bool {
	switch {
	case o.Kind != "" && op.Kind != o.Kind:
		return false
	case o.Actor != "" && !strings.EqualFold(op.By.User, o.Actor):
		return false
	case o.Workflow != "" && op.Workflow() != o.Workflow:
		return false
	}
	return true
}

// forgetOperationsScript forgets the operations that are over.
// See lua/forget_operations.lua for its KEYS and ARGV.
var forgetOperationsScript = newScript[forgetOperationsCall]("forget_operations").quiet()

// forgetOperationsCall is a call of forgetOperationsScript (lua/forget_operations.lua).
type forgetOperationsCall struct {
	Operations string

	Horizon         int64 // unix ms
	Limit, Skip     int
	OperationPrefix string
}

func (c forgetOperationsCall) keys() []string { return []string{c.Operations} }
func (c forgetOperationsCall) argv() []any {
	return []any{c.Horizon, c.Limit, c.Skip, c.OperationPrefix}
}

// ForgetOperations implements Store. It walks the operations begun at or before horizon, limit a
// script call, passing over those it keeps.
func (s *Store) ForgetOperations(ctx context.Context, t crm.TenantID, horizon time.Time, limit int) (int, error) {
	if limit <= 0 || limit > crm.MaxScriptBatch {
		return 0, fmt.Errorf("crm: operations limit %d out of range 1..%d", limit, crm.MaxScriptBatch)
	}
	forgot, kept := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return forgot, err
		}
		res, err := forgetOperationsScript.run(ctx, s, forgetOperationsCall{Operations: OperationsKey(t),
			Horizon: horizon.UnixMilli(), Limit: limit, Skip: kept, OperationPrefix: operationKeyPrefix(t)}).Int64Slice()
		if err != nil {
			return forgot, fmt.Errorf("forget operations: %w", err)
		}
		if len(res) != 2 {
			return forgot, fmt.Errorf("forget operations: unexpected reply %v", res)
		}
		forgot += int(res[0])
		kept += int(res[1] - res[0])
		if int(res[1]) < limit {
			return forgot, nil
		}
	}
}

// CreateUndoJob implements Store.
func (s *Store) CreateUndoJob(ctx context.Context, t crm.TenantID, p crm.UndoParams) (crm.Job, error) {
	if err := checkOperationID(p.Operation); err != nil {
		return crm.Job{}, err
	}
	if p.By == "" {
		return crm.Job{}, &crm.ValidationError{Field: "by", Code: "REQUIRED", Message: "an undo needs the user who asks for it"}
	}
	res, err := createUndoJobScript.run(ctx, s, createUndoJobCall{
		Operation: OperationKey(t, p.Operation), OperationBin: OperationBinKey(t, p.Operation), Seq: SeqKey(t, "jobs"),
		Jobs: JobsKey(t), Audit: AuditKey(t), Selecting: JobsSelectingKey(t),
		At: s.cfg.Clock.Now().UnixMilli(), JobPrefix: jobKeyPrefix(t), By: p.By, OperationID: p.Operation, AuditMaxLen: auditMaxLen,
		FlowPrefix: flowKeyPrefix(t), ActiveFlowsPrefix: activeFlowsKeyPrefix(t), TrigReadsPrefix: trigReadsKeyPrefix(t),
		OperationPrefix: operationKeyPrefix(t), User: UserKey(t, normalizeUserEmail(p.By)),
	}).StringSlice()
	if err != nil {
		return crm.Job{}, fmt.Errorf("undo operation %s: %w", p.Operation, err)
	}
	switch res[0] {
	case "missing":
		return crm.Job{}, &crm.NotFoundError{Kind: "operation", ID: p.Operation, Hint: operationHint}
	case "empty":
		moved, _ := strconv.ParseInt(res[1], 10, 64)
		return crm.Job{}, &crm.NothingToUndoError{Operation: p.Operation, Moved: moved, UndoJob: res[2]}
	case "forbidden":
		e := &crm.UndoForbiddenError{Tenant: t, Operation: p.Operation, User: p.By, Job: res[3], Workflow: res[4]}
		switch res[1] {
		case "disabled":
			e.Code = crm.StoppedUserDisabled
		case "missing":
			e.Code = crm.StoppedUserMissing
		default:
			for _, perm := range strings.Split(res[2], ",") {
				e.Missing = append(e.Missing, crm.Permission(perm))
			}
		}
		return crm.Job{}, e
	case "nomove":
		id := strings.TrimPrefix(p.Operation, "job-")
		detail := fmt.Sprintf("job %s is an undo job: it restores records and moves none to the recycle bin, so it has no operation to undo "+
			"(to undo again what it undid, delete those records again)", id)
		if res[1] != crm.JobKindUndo {
			detail = fmt.Sprintf("job %s moved no record to the recycle bin (it ended %s before its first batch), so none is there to restore", id, jobStateWord(crm.JobState(res[2])))
		}
		return crm.Job{}, &crm.NothingToUndoError{Operation: p.Operation, Detail: detail}
	}
	return s.Job(ctx, t, res[1])
}

// operationUndoStopsScript tells what an undo of an operation would stop now.
// See lua/operation_undo_stops.lua for its KEYS and ARGV.
var operationUndoStopsScript = newScript[operationUndoStopsCall]("helpers", "undo_stops", "operation_undo_stops").readOnly().quiet()

// operationUndoStopsCall is a call of operationUndoStopsScript (lua/operation_undo_stops.lua).
type operationUndoStopsCall struct {
	Operation                                           string
	JobPrefix, OperationID, FlowPrefix, OperationPrefix string
}

func (c operationUndoStopsCall) keys() []string { return []string{c.Operation} }
func (c operationUndoStopsCall) argv() []any {
	return []any{c.JobPrefix, c.OperationID, c.FlowPrefix, c.OperationPrefix}
}

// UndoStops implements Store, by the rule of CreateUndoJob (lua/undo_stops.lua).
func (s *Store) UndoStops(ctx context.Context, t crm.TenantID, id string) (crm.UndoStops, error) {
	if err := checkOperationID(id); err != nil {
		return crm.UndoStops{}, &crm.NotFoundError{Kind: "operation", ID: id, Hint: operationHint}
	}
	res, err := operationUndoStopsScript.run(ctx, s, operationUndoStopsCall{Operation: OperationKey(t, id),
		JobPrefix: jobKeyPrefix(t), OperationID: id, FlowPrefix: flowKeyPrefix(t), OperationPrefix: operationKeyPrefix(t)}).StringSlice()
	if err != nil {
		return crm.UndoStops{}, fmt.Errorf("what an undo of operation %s stops: %w", id, err)
	}
	if res[0] == "missing" {
		return crm.UndoStops{}, &crm.NotFoundError{Kind: "operation", ID: id, Hint: operationHint}
	}
	if len(res) != 3 {
		return crm.UndoStops{}, fmt.Errorf("what an undo of operation %s stops: unexpected reply %v", id, res)
	}
	return crm.UndoStops{Job: res[1], Workflow: res[2]}, nil
}

// jobStateWord names a finished job's state as the API's status does (COMPLETE, REFUSED, ...).
func jobStateWord(st crm.JobState) string {
	if st == crm.JobDone {
		return "COMPLETE"
	}
	return strings.ToUpper(string(st))
}

// undoJobState reads what a batch of undo job id needs: the job's state, type, actor, operation
// and cursor.
func (s *Store) undoJobState(ctx context.Context, t crm.TenantID, id string) (map[string]string, error) {
	vals, err := s.rdb.HMGet(ctx, JobKey(t, id), "kind", "state", "object_type", "by", "ref", "cursor").Result()
	if err != nil {
		return nil, fmt.Errorf("read job %s: %w", id, err)
	}
	names := []string{"kind", "state", "object_type", "by", "ref", "cursor"}
	h := make(map[string]string, len(names))
	for i, n := range names {
		v, _ := vals[i].(string)
		h[n] = v
	}
	if h["state"] == "" {
		return nil, &crm.NotFoundError{Kind: "job", ID: id}
	}
	if h["kind"] != crm.JobKindUndo {
		return nil, fmt.Errorf("crm: job %s is a %s job, not an undo", id, h["kind"])
	}
	return h, nil
}

// RunUndoBatch implements Store. It costs three round trips: the job's cursor, the next ids of the
// operation's bin index after it, and the restore script, which moves the cursor only if no other
// runner moved it meanwhile (else it changes nothing and the job is read again); in a tenant with
// blocklisted emails, a fourth for the hashes of the batch's emails (see restoreWithHashes). The
// script checks the job's creator (its user key) in the same step: see restore.lua.
func (s *Store) RunUndoBatch(ctx context.Context, t crm.TenantID, id string, limit int) (crm.Job, error) {
	if limit <= 0 || limit > crm.MaxScriptBatch {
		return crm.Job{}, fmt.Errorf("crm: undo batch limit %d out of range 1..%d", limit, crm.MaxScriptBatch)
	}
	h, err := s.undoJobState(ctx, t, id)
	if err != nil {
		return crm.Job{}, err
	}
	if crm.JobState(h["state"]).Finished() {
		return s.Job(ctx, t, id)
	}
	o, operation, cursor := crm.ObjectType(h["object_type"]), h["ref"], h["cursor"]
	if cursor == "" {
		cursor = "0"
	}
	raw, err := s.rdb.ZRangeByScore(ctx, OperationBinKey(t, operation),
		&redis.ZRangeBy{Min: "(" + cursor, Max: "+inf", Count: int64(limit)}).Result()
	if err != nil {
		return crm.Job{}, fmt.Errorf("run undo job %s: %w", id, err)
	}
	ids := make([]crm.RecordID, len(raw))
	for i, r := range raw {
		ids[i] = crm.RecordID(r)
	}
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return crm.Job{}, fmt.Errorf("run undo job %s: %w", id, err)
	}
	call := s.restoreCall(t, o, crm.Actor{User: h["by"], Via: crm.ViaUndo, Ref: operation}, sch, ids)
	call.Job, call.JobFailures, call.User = JobKey(t, id), JobFailuresKey(t, id), UserKey(t, normalizeUserEmail(h["by"]))
	call.Cursor, call.NextCursor, call.Operation = cursor, cursor, operation
	if len(raw) > 0 {
		call.NextCursor = raw[len(raw)-1]
	}
	call.Op = "undo-" + id + "-" + cursor
	reply, acked, err := s.restoreWithHashes(ctx, t, call)
	if err != nil {
		return crm.Job{}, fmt.Errorf("run undo job %s: %w", id, err)
	}
	res, err := reply.StringSlice()
	if err != nil {
		return crm.Job{}, fmt.Errorf("run undo job %s: %w", id, err)
	}
	if len(res) == 1 && res[0] == "stale" {
		return s.Job(ctx, t, id)
	}
	j := jobFromHash(t, id, pairs(res))
	if acked != nil {
		return j, fmt.Errorf("run undo job %s: %w", id, acked)
	}
	return j, nil
}

// jobFailureJSON is one entry of JobFailuresKey, as restore.lua writes it.
type jobFailureJSON struct {
	ID         string `json:"id"`
	Code       string `json:"code"`
	Property   string `json:"property"`
	BlockingID string `json:"blocking_id"`
	DeletedAt  string `json:"deleted_at"`
}

// JobFailures implements Store.
func (s *Store) JobFailures(ctx context.Context, t crm.TenantID, id string, limit int) ([]crm.JobFailure, error) {
	if limit <= 0 {
		return nil, nil
	}
	raw, err := s.rdb.LRange(ctx, JobFailuresKey(t, id), 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("read failures of job %s: %w", id, err)
	}
	out := make([]crm.JobFailure, 0, len(raw))
	for _, r := range raw {
		var f jobFailureJSON
		if err := json.Unmarshal([]byte(r), &f); err != nil {
			return nil, fmt.Errorf("read failures of job %s: %w", id, err)
		}
		jf := crm.JobFailure{ID: crm.RecordID(f.ID), Code: f.Code, Property: f.Property, BlockingID: crm.RecordID(f.BlockingID)}
		if f.DeletedAt != "" {
			jf.DeletedAt = parseMS(f.DeletedAt)
		}
		out = append(out, jf)
	}
	return out, nil
}
