package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// EvaluateFlow applies verdicts on records of f.ObjectType to workflow f and returns the records it
// enrolled (at step 0, due now). Enrollment follows SPEC S19 and S8, re-checked inside one script:
// a retried batch enrolls nobody twice. Nothing happens when the workflow is not active at
// f.Revision.
func (s *Store) EvaluateFlow(ctx context.Context, t crm.TenantID, f crm.FlowRef, vs []crm.FlowVerdict) ([]crm.RecordID, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	if len(vs) > crm.MaxScriptBatch {
		return nil, fmt.Errorf("crm: %d verdicts in one call: at most %d", len(vs), crm.MaxScriptBatch)
	}
	call := s.evaluateFlowCall(t, f)
	call.addVerdicts(t, f, vs)
	res, err := evaluateFlowScript.run(ctx, s, call).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("evaluate workflow %s: %w", f.Name, err)
	}
	if len(res) > 0 && res[0] == "refused" {
		return nil, nil
	}
	return membersToIDs(res), nil
}

// ApplyBackfillBatch applies one batch of a backfill as EvaluateFlow does and, in the same step,
// records the backfill's progress b (as AdvanceBackfill does; b.Enrolled is the count before the
// batch, which the store adds the batch's enrollments to) if owner holds the backfill's lease and
// the workflow is active at f's revision. It returns the records enrolled, and what it did: nothing
// when owner lost the lease (crm.BatchLeaseLost) or the workflow is no longer active at f's
// revision (crm.BatchRefused). Without verdicts it records the progress alone (AdvanceBackfill).
func (s *Store) ApplyBackfillBatch(ctx context.Context, t crm.TenantID, f crm.FlowRef, vs []crm.FlowVerdict, owner string, b crm.Backfill) ([]crm.RecordID, crm.BatchOutcome, error) {
	if owner == "" {
		return nil, crm.BatchLeaseLost, fmt.Errorf("crm: a backfill's batch needs the owner of its lease: pass the runner that leased it")
	}
	if len(vs) == 0 {
		ok, err := s.AdvanceBackfill(ctx, t, f.Name, owner, b)
		if err != nil || !ok {
			return nil, crm.BatchLeaseLost, err
		}
		return nil, crm.BatchApplied, nil
	}
	if len(vs) > crm.MaxScriptBatch {
		return nil, crm.BatchLeaseLost, fmt.Errorf("crm: %d verdicts in one call: at most %d", len(vs), crm.MaxScriptBatch)
	}
	call := s.evaluateFlowCall(t, f)
	call.Runner, call.Progress = owner, b
	call.addVerdicts(t, f, vs)
	res, err := evaluateFlowScript.run(ctx, s, call).StringSlice()
	switch {
	case err != nil:
		return nil, crm.BatchLeaseLost, fmt.Errorf("evaluate workflow %s: %w", f.Name, err)
	case len(res) > 0 && res[0] == "lease_lost":
		return nil, crm.BatchLeaseLost, nil
	case len(res) > 0 && res[0] == "refused":
		return nil, crm.BatchRefused, nil
	}
	return membersToIDs(res), crm.BatchApplied, nil
}

// EnrollManually enrolls one record in an active workflow at a person's request. It honours
// re-enrollment (SPEC S19) but not the block a deletion leaves (SPEC S8: a restored record re-enters
// only this way). A *ConflictError says why it was refused; a *NotFoundError for a record not live.
func (s *Store) EnrollManually(ctx context.Context, t crm.TenantID, f crm.FlowRef, id crm.RecordID, by string) error {
	if _, err := s.Record(ctx, t, f.ObjectType, id, &crm.ReadOpts{Properties: []string{"-"}}); err != nil {
		return err
	}
	call := s.evaluateFlowCall(t, f)
	m := flowMember(f.ObjectType, id)
	call.Verdicts = []flowVerdict{{Enrollment: EnrollmentKey(t, f.Name, m), History: HistoryKey(t, f.Name, m),
		Record: RecordKey(t, f.ObjectType, id), Member: m, Verdict: verdictManual, Detail: by}}
	res, err := evaluateFlowScript.run(ctx, s, call).StringSlice()
	if err != nil {
		return fmt.Errorf("enroll in workflow %s: %w", f.Name, err)
	}
	if len(res) == 1 && res[0] == "gone" {
		return &crm.NotFoundError{Kind: "record", ID: fmt.Sprintf("%s/%s", f.ObjectType, id)}
	}
	if len(res) == 2 && res[0] == "refused" {
		return &crm.ConflictError{Message: fmt.Sprintf("record %s cannot be enrolled in workflow %s: %s", id, f.Name, res[1])}
	}
	return nil
}

// evaluateFlowCall is the call of evaluateFlowScript for workflow f, without verdicts.
func (s *Store) evaluateFlowCall(t crm.TenantID, f crm.FlowRef) evaluateFlowCall {
	return evaluateFlowCall{
		Flow: FlowKey(t, f.Name), Enrolled: FlowEnrolledKey(t, f.Name), Matching: FlowMatchingKey(t, f.Name),
		Log: FlowLogKey(t, f.Name), Backfill: FlowBackfillKey(t, f.Name), Lease: FlowBackfillLeaseKey(t, f.Name), At: s.cfg.Clock.Now().UnixMilli(), Revision: f.Revision, Reenrollment: f.Reenrollment,
	}
}

// addVerdicts adds the verdicts vs on records of workflow f to the call.
func (c *evaluateFlowCall) addVerdicts(t crm.TenantID, f crm.FlowRef, vs []crm.FlowVerdict) {
	for _, v := range vs {
		m := flowMember(f.ObjectType, v.ID)
		if v.Verdict == crm.VerdictNoMatch {
			c.NoMatch = append(c.NoMatch, m)
		} else {
			c.Verdicts = append(c.Verdicts, flowVerdict{Enrollment: EnrollmentKey(t, f.Name, m), History: HistoryKey(t, f.Name, m),
				Record: RecordKey(t, f.ObjectType, v.ID), Member: m, Verdict: v.Verdict, Detail: v.Detail})
		}
	}
}

func membersToIDs(ms []string) []crm.RecordID {
	out := make([]crm.RecordID, 0, len(ms))
	for _, m := range ms {
		if _, id, ok := strings.Cut(m, ":"); ok {
			out = append(out, crm.RecordID(id))
		}
	}
	return out
}

// AdvanceSteps records the results of step `step` (of nsteps) of workflow f and moves each record
// to its next step, once; it returns the records it advanced. A record not at that step is left alone.
func (s *Store) AdvanceSteps(ctx context.Context, t crm.TenantID, f crm.FlowRef, step, nsteps int, action string, rs []crm.StepResult) ([]crm.RecordID, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	call := advanceStepsCall{
		Enrolled: FlowEnrolledKey(t, f.Name), Log: FlowLogKey(t, f.Name), At: s.cfg.Clock.Now().UnixMilli(), Revision: f.Revision,
		Step: step, Steps: nsteps,
		Action: action, By: f.By,
	}
	for _, r := range rs {
		m := flowMember(f.ObjectType, r.ID)
		call.Results = append(call.Results, stepResult{Enrollment: EnrollmentKey(t, f.Name, m), History: HistoryKey(t, f.Name, m),
			Member: m, Outcome: r.Outcome, Detail: r.Detail, Due: r.Due.UnixMilli(), Stop: r.Stop})
	}
	res, err := advanceStepsScript.run(ctx, s, call).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("advance workflow %s step %d: %w", f.Name, step, err)
	}
	return membersToIDs(res), nil
}

// RescheduleSteps moves when the next step of records enrolled in workflow f is due, for those
// still enrolled at f.Revision, waiting at the step of their StepDue, in its enrollment (any when
// its Count is 0); it returns the records it moved. It enqueues nothing: the caller schedules the
// step at the new time, and the workflow:sweep finds a step whose task was lost. Moving a record
// twice to the same time changes nothing. At most crm.MaxScriptBatch records in one call.
func (s *Store) RescheduleSteps(ctx context.Context, t crm.TenantID, f crm.FlowRef, ds []crm.StepDue) ([]crm.RecordID, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	if len(ds) > crm.MaxScriptBatch {
		return nil, fmt.Errorf("crm: %d due times in one call: at most %d", len(ds), crm.MaxScriptBatch)
	}
	call := rescheduleStepsCall{Enrolled: FlowEnrolledKey(t, f.Name), Revision: f.Revision}
	for _, d := range ds {
		m := flowMember(f.ObjectType, d.ID)
		call.Dues = append(call.Dues, stepDue{Enrollment: EnrollmentKey(t, f.Name, m), Member: m, Step: d.Step, Count: d.Count,
			Due: d.Due.UnixMilli()})
	}
	res, err := rescheduleStepsScript.run(ctx, s, call).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("reschedule steps of workflow %s: %w", f.Name, err)
	}
	return membersToIDs(res), nil
}

// MoveEnrollments moves the records of ids enrolled in workflow f.Name at revision from and waiting
// at step on to f.Revision, which must be the active revision (else nothing happens), where they
// continue at the same step; those whose step f.Revision does not have (it has nsteps) complete
// there. Every record gets a history entry saying which. Returns the records moved.
func (s *Store) MoveEnrollments(ctx context.Context, t crm.TenantID, f crm.FlowRef, from int64, step, nsteps int, ids []crm.RecordID) ([]crm.RecordID, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	call := moveEnrollmentsCall{
		Flow: FlowKey(t, f.Name), Enrolled: FlowEnrolledKey(t, f.Name), Log: FlowLogKey(t, f.Name),
		At: s.cfg.Clock.Now().UnixMilli(), From: from, To: f.Revision, Step: step, Steps: nsteps,
	}
	for _, id := range ids {
		m := flowMember(f.ObjectType, id)
		call.Members = append(call.Members, m)
		call.Enrollments = append(call.Enrollments, EnrollmentKey(t, f.Name, m))
		call.Histories = append(call.Histories, HistoryKey(t, f.Name, m))
	}
	res, err := moveEnrollmentsScript.run(ctx, s, call).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("move enrollments of workflow %s to revision %d: %w", f.Name, f.Revision, err)
	}
	return membersToIDs(res), nil
}

// Enrollments reads the enrollments of records in a workflow, with when the next step of those
// enrolled is due, in one round trip.
func (s *Store) Enrollments(ctx context.Context, t crm.TenantID, flow string, o crm.ObjectType, ids []crm.RecordID) ([]crm.Enrollment, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	dues := make([]*redis.FloatCmd, len(ids))
	for i, id := range ids {
		m := flowMember(o, id)
		cmds[i] = pipe.HMGet(ctx, EnrollmentKey(t, flow, m), "state", "revision", "step", "count", "enrolled_at")
		dues[i] = pipe.ZScore(ctx, FlowEnrolledKey(t, flow), m)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read enrollments: %w", err)
	}
	out := make([]crm.Enrollment, len(ids))
	for i, c := range cmds {
		v := c.Val()
		str := func(j int) string { s, _ := v[j].(string); return s }
		rev, _ := strconv.ParseInt(str(1), 10, 64)
		step, _ := strconv.Atoi(str(2))
		count, _ := strconv.Atoi(str(3))
		out[i] = crm.Enrollment{ID: ids[i], State: crm.EnrollmentState(str(0)), Revision: rev, Step: step, Count: count, EnrolledAt: parseMS(str(4))}
		if due, err := dues[i].Result(); err == nil && out[i].State == crm.Enrolled {
			out[i].Due = time.UnixMilli(int64(due)).UTC()
		}
	}
	return out, nil
}

// DueEnrollments returns up to limit records enrolled in a workflow whose next step was due at or
// before until, earliest first.
func (s *Store) DueEnrollments(ctx context.Context, t crm.TenantID, flow string, until time.Time, limit int) ([]crm.RecordID, error) {
	raw, err := s.rdb.ZRangeByScore(ctx, FlowEnrolledKey(t, flow), &redis.ZRangeBy{Min: "-inf", Max: ms(until), Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("read due enrollments: %w", err)
	}
	return membersToIDs(raw), nil
}

// History returns a record's history in a workflow, oldest first (the newest 500 entries).
func (s *Store) History(ctx context.Context, t crm.TenantID, flow string, o crm.ObjectType, id crm.RecordID) ([]crm.HistoryEntry, error) {
	raw, err := s.rdb.LRange(ctx, HistoryKey(t, flow, flowMember(o, id)), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	out := make([]crm.HistoryEntry, 0, len(raw))
	for i := len(raw) - 1; i >= 0; i-- {
		var e crm.HistoryEntry
		if err := json.Unmarshal([]byte(raw[i]), &e); err != nil {
			return nil, fmt.Errorf("decode history entry: %w", err)
		}
		e.At = parseMS(e.RawAt)
		out = append(out, e)
	}
	return out, nil
}

// flowLogScan bounds how many log entries one FlowLog call reads when a filter keeps few of them:
// the page ends there, with a Next to go on from.
const flowLogScan = 5000

// FlowLog implements Store: XREVRANGE over the workflow's log (FlowLogKey), a chunk at a time,
// keeping the entries of q.Kinds.
func (s *Store) FlowLog(ctx context.Context, t crm.TenantID, flow string, q crm.FlowLogQuery) (crm.FlowLogPage, error) {
	limit := q.Limit
	if limit == 0 {
		limit = crm.DefaultFlowLogLimit
	}
	if limit < 1 || limit > crm.MaxFlowLogLimit {
		return crm.FlowLogPage{}, &crm.ValidationError{Field: "limit", Code: "INVALID_LIMIT",
			Message: fmt.Sprintf("limit %d is out of range: use 1 to %d", q.Limit, crm.MaxFlowLogLimit)}
	}
	top := "+"
	if q.Before != "" {
		prev, ok := streamIDBefore(q.Before)
		if !ok {
			return crm.FlowLogPage{}, &crm.ValidationError{Field: "after", Code: "INVALID_CURSOR",
				Message: fmt.Sprintf("cursor %q is not one this history gave: start again without it", q.Before)}
		}
		if prev == "" {
			return crm.FlowLogPage{Entries: []crm.FlowLogEntry{}}, nil
		}
		top = prev
	}
	keep := func(kind string) bool { return len(q.Kinds) == 0 || slices.Contains(q.Kinds, kind) }
	page := crm.FlowLogPage{Entries: []crm.FlowLogEntry{}}
	chunk := int64(max(limit, 100))
	for scanned := 0; scanned < flowLogScan; {
		msgs, err := s.rdb.XRevRangeN(ctx, FlowLogKey(t, flow), top, "-", chunk).Result()
		if err != nil {
			return crm.FlowLogPage{}, fmt.Errorf("read the history of workflow %s: %w", flow, err)
		}
		for i, m := range msgs {
			scanned++
			page.Next = m.ID
			member, _ := m.Values["m"].(string)
			raw, _ := m.Values["e"].(string)
			var e crm.HistoryEntry
			if err := json.Unmarshal([]byte(raw), &e); err != nil {
				return crm.FlowLogPage{}, fmt.Errorf("decode an entry of the history of workflow %s: %w", flow, err)
			}
			if !keep(e.Kind) {
				continue
			}
			e.At = parseMS(e.RawAt)
			o, id, _ := strings.Cut(member, ":")
			page.Entries = append(page.Entries, crm.FlowLogEntry{Cursor: m.ID, ObjectType: crm.ObjectType(o), ID: crm.RecordID(id), HistoryEntry: e})
			if len(page.Entries) == limit {
				if i == len(msgs)-1 && int64(len(msgs)) < chunk {
					page.Next = "" // that was the oldest entry
				}
				return page, nil
			}
		}
		if int64(len(msgs)) < chunk {
			page.Next = "" // the oldest entry was read
			return page, nil
		}
		prev, _ := streamIDBefore(msgs[len(msgs)-1].ID)
		if prev == "" {
			page.Next = ""
			return page, nil
		}
		top = prev
	}
	return page, nil
}

// streamIDBefore returns the stream id just before id ("" when id is the first there can be), or
// false when id is not a stream id.
func streamIDBefore(id string) (string, bool) {
	msPart, seqPart, ok := strings.Cut(id, "-")
	if !ok {
		return "", false
	}
	ms, err1 := strconv.ParseUint(msPart, 10, 64)
	seq, err2 := strconv.ParseUint(seqPart, 10, 64)
	if err1 != nil || err2 != nil {
		return "", false
	}
	switch {
	case seq > 0:
		return strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(seq-1, 10), true
	case ms > 0:
		return strconv.FormatUint(ms-1, 10) + "-" + strconv.FormatUint(math.MaxUint64, 10), true
	}
	return "", true
}

// parseStates reads a member's pending states (see ChangedEventsKey): one a line, as
// "<event><seq>" or "<event><seq>=<values as a JSON object>"; or letters of the older format, one
// per event. A line it cannot read is left out.
func parseStates(raw string) []crm.ChangeState {
	if strings.IndexFunc(raw, func(r rune) bool { return !unicode.IsLetter(r) }) < 0 {
		out := make([]crm.ChangeState, 0, len(raw))
		for _, l := range raw {
			out = append(out, crm.ChangeState{Event: crm.Event(l)})
		}
		return out
	}
	var out []crm.ChangeState
	for line := range strings.SplitSeq(raw, "\n") {
		if len(line) < 2 {
			continue
		}
		head, vals, hasVals := strings.Cut(line[1:], "=")
		seq, err := strconv.ParseInt(head, 10, 64)
		if err != nil {
			continue
		}
		st := crm.ChangeState{Seq: seq, Event: crm.Event(line[:1])}
		if hasVals && json.Unmarshal([]byte(vals), &st.Values) != nil {
			continue
		}
		out = append(out, st)
	}
	return out
}

// PendingChanges reads up to limit of a tenant's change marks, oldest first, in two round trips.
func (s *Store) PendingChanges(ctx context.Context, t crm.TenantID, limit int) ([]crm.Change, error) {
	zs, err := s.rdb.ZRangeWithScores(ctx, ChangedKey(t), 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("read changes: %w", err)
	}
	if len(zs) == 0 {
		return nil, nil
	}
	members := make([]string, len(zs))
	for i, z := range zs {
		members[i], _ = z.Member.(string)
	}
	evs, err := s.rdb.HMGet(ctx, ChangedEventsKey(t), members...).Result()
	if err != nil {
		return nil, fmt.Errorf("read change events: %w", err)
	}
	out := make([]crm.Change, 0, len(zs))
	for i, m := range members {
		typ, id, ok := strings.Cut(m, ":")
		if !ok {
			continue
		}
		raw, _ := evs[i].(string)
		states := parseStates(raw)
		var ev strings.Builder
		for _, st := range states {
			ev.WriteString(string(st.Event))
		}
		out = append(out, crm.Change{Type: crm.ObjectType(typ), ID: crm.RecordID(id), Events: ev.String(), States: states,
			Mark: crm.ChangeMark{Member: m, Score: zs[i].Score}})
	}
	return out, nil
}

// AckChanges forgets change marks the engine has handled, except those that changed again since
// PendingChanges read them. Returns how many it forgot.
func (s *Store) AckChanges(ctx context.Context, t crm.TenantID, cs []crm.Change) (int, error) {
	if len(cs) == 0 {
		return 0, nil
	}
	call := ackChangesCall{Changed: ChangedKey(t), ChangedEvents: ChangedEventsKey(t)}
	for _, c := range cs {
		call.Marks = append(call.Marks, ackMark{Member: c.Mark.Member, Score: c.Mark.Score, LastSeq: c.LastSeq()})
	}
	n, err := ackChangesScript.run(ctx, s, call).Int()
	if err != nil {
		return 0, fmt.Errorf("ack changes: %w", err)
	}
	return n, nil
}

// TenantsWithChanges returns which of tenants have change marks waiting, in one round trip.
func (s *Store) TenantsWithChanges(ctx context.Context, tenants []crm.TenantID) ([]crm.TenantID, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(tenants))
	for i, t := range tenants {
		cmds[i] = pipe.ZCard(ctx, ChangedKey(t))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("count changes: %w", err)
	}
	var out []crm.TenantID
	for i, c := range cmds {
		if c.Val() > 0 {
			out = append(out, tenants[i])
		}
	}
	return out, nil
}
