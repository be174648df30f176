package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"
)

// Verdict is the workflow engine's finding about one record for one workflow (see evaluateFlowScript).
type Verdict string

// The verdicts.
const (
	VerdictMatch      Verdict = "match"
	VerdictNoMatch    Verdict = "nomatch"
	VerdictUnmatch    Verdict = "unmatch"
	VerdictError      Verdict = "error"
	VerdictSuppressed Verdict = "suppressed"
	// VerdictSuppressedNoMatch: the record matches the suppression criteria but not the trigger. It
	// is unenrolled if enrolled, and otherwise leaves no history entry (most suppressed records of a
	// backfill never matched).
	VerdictSuppressedNoMatch Verdict = "suppressed_nomatch"
	VerdictDeleted           Verdict = "deleted"
)

// FlowVerdict is a verdict on one record.
type FlowVerdict struct {
	ID      RecordID
	Verdict Verdict
	// Detail is kept in the history (the trigger's run-time error, the suppression's reason). It names
	// no property values.
	Detail string
}

// FlowRef names one revision of one workflow of an object type.
type FlowRef struct {
	Name         string
	Revision     int64
	ObjectType   ObjectType
	Reenrollment bool
	// By is the user the workflow acts for (its activator, SPEC S23): AdvanceSteps records it in
	// each action's history entry. Optional.
	By string
}

// EvaluateFlow applies verdicts on records of f.ObjectType to workflow f and returns the records it
// enrolled (at step 0, due now). Enrollment follows SPEC S19 and S8, re-checked inside one script:
// a retried batch enrolls nobody twice. Nothing happens when the workflow is not active at
// f.Revision.
func (s *RedisStore) EvaluateFlow(ctx context.Context, t TenantID, f FlowRef, vs []FlowVerdict) ([]RecordID, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	if len(vs) > MaxScriptBatch {
		return nil, fmt.Errorf("crm: %d verdicts in one call: at most %d", len(vs), MaxScriptBatch)
	}
	args := make([]any, 6, 6+3*len(vs))
	args[0], args[1], args[2], args[3], args[4] = ms(s.cfg.Clock.Now()), f.Revision, boolArg(f.Reenrollment), enrollmentKeyPrefix(t, f.Name), historyKeyPrefix(t, f.Name)
	for _, v := range vs {
		if v.Verdict == VerdictNoMatch {
			args = append(args, flowMember(f.ObjectType, v.ID))
		}
	}
	args[5] = len(args) - 6
	for _, v := range vs {
		if v.Verdict != VerdictNoMatch {
			args = append(args, flowMember(f.ObjectType, v.ID), string(v.Verdict), v.Detail)
		}
	}
	res, err := evaluateFlowScript.Run(ctx, s.rdb, []string{FlowKey(t, f.Name), FlowEnrolledKey(t, f.Name), FlowMatchingKey(t, f.Name)}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("evaluate workflow %s: %w", f.Name, err)
	}
	if len(res) > 0 && res[0] == "refused" {
		return nil, nil
	}
	return membersToIDs(res), nil
}

// EnrollManually enrolls one record in an active workflow at a person's request. It honours
// re-enrollment (SPEC S19) but not the block a deletion leaves (SPEC S8: a restored record re-enters
// only this way). A *ConflictError says why it was refused; a *NotFoundError for a record not live.
func (s *RedisStore) EnrollManually(ctx context.Context, t TenantID, f FlowRef, id RecordID, by string) error {
	if _, err := s.Record(ctx, t, f.ObjectType, id, &ReadOpts{Properties: []string{"-"}}); err != nil {
		return err
	}
	args := []any{ms(s.cfg.Clock.Now()), f.Revision, boolArg(f.Reenrollment), enrollmentKeyPrefix(t, f.Name), historyKeyPrefix(t, f.Name),
		0, flowMember(f.ObjectType, id), "manual", by}
	res, err := evaluateFlowScript.Run(ctx, s.rdb, []string{FlowKey(t, f.Name), FlowEnrolledKey(t, f.Name), FlowMatchingKey(t, f.Name)}, args...).StringSlice()
	if err != nil {
		return fmt.Errorf("enroll in workflow %s: %w", f.Name, err)
	}
	if len(res) == 2 && res[0] == "refused" {
		return &ConflictError{Message: fmt.Sprintf("record %s cannot be enrolled in workflow %s: %s", id, f.Name, res[1])}
	}
	return nil
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func membersToIDs(ms []string) []RecordID {
	out := make([]RecordID, 0, len(ms))
	for _, m := range ms {
		if _, id, ok := strings.Cut(m, ":"); ok {
			out = append(out, RecordID(id))
		}
	}
	return out
}

// StepResult is what one step did to one record.
type StepResult struct {
	ID      RecordID
	Outcome string // done, unchanged, skipped, wait, failed
	Detail  string
	// Due is when the next step may run (now, or the end of a delay).
	Due time.Time
	// Stop ends the enrollment after this step (a failure that cannot be retried, a deleted record).
	Stop bool
}

// AdvanceSteps records the results of step `step` (of nsteps) of workflow f and moves each record
// to its next step, once; it returns the records it advanced. A record not at that step is left alone.
func (s *RedisStore) AdvanceSteps(ctx context.Context, t TenantID, f FlowRef, step, nsteps int, action string, rs []StepResult) ([]RecordID, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	args := []any{ms(s.cfg.Clock.Now()), f.Revision, step, nsteps, enrollmentKeyPrefix(t, f.Name), historyKeyPrefix(t, f.Name), action, f.By}
	for _, r := range rs {
		args = append(args, flowMember(f.ObjectType, r.ID), r.Outcome, r.Detail, ms(r.Due), boolArg(r.Stop))
	}
	res, err := advanceStepsScript.Run(ctx, s.rdb, []string{FlowEnrolledKey(t, f.Name)}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("advance workflow %s step %d: %w", f.Name, step, err)
	}
	return membersToIDs(res), nil
}

// MoveEnrollments moves the records of ids enrolled in workflow f.Name at revision from and waiting
// at step on to f.Revision, which must be the active revision (else nothing happens), where they
// continue at the same step; those whose step f.Revision does not have (it has nsteps) complete
// there. Every record gets a history entry saying which. Returns the records moved.
func (s *RedisStore) MoveEnrollments(ctx context.Context, t TenantID, f FlowRef, from int64, step, nsteps int, ids []RecordID) ([]RecordID, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := []any{ms(s.cfg.Clock.Now()), from, f.Revision, step, nsteps, enrollmentKeyPrefix(t, f.Name), historyKeyPrefix(t, f.Name)}
	for _, id := range ids {
		args = append(args, flowMember(f.ObjectType, id))
	}
	res, err := moveEnrollmentsScript.Run(ctx, s.rdb, []string{FlowKey(t, f.Name), FlowEnrolledKey(t, f.Name)}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("move enrollments of workflow %s to revision %d: %w", f.Name, f.Revision, err)
	}
	return membersToIDs(res), nil
}

// Enrollment is one record's enrollment in a workflow.
type Enrollment struct {
	ID         RecordID
	State      EnrollmentState // "" when never enrolled
	Revision   int64
	Step       int
	Count      int
	EnrolledAt time.Time
}

// EnrollmentState is the state of a record's enrollment in a workflow.
type EnrollmentState string

// The states of an enrollment.
const (
	Enrolled   EnrollmentState = "enrolled"   // the record is in the workflow; its steps run
	Completed  EnrollmentState = "completed"  // every step ran
	Unenrolled EnrollmentState = "unenrolled" // it left before the end (suppressed, deleted, no longer matching)
)

// Enrollments reads the enrollments of records in a workflow, in one round trip.
func (s *RedisStore) Enrollments(ctx context.Context, t TenantID, flow string, o ObjectType, ids []RecordID) ([]Enrollment, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, EnrollmentKey(t, flow, flowMember(o, id)), "state", "revision", "step", "count", "enrolled_at")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read enrollments: %w", err)
	}
	out := make([]Enrollment, len(ids))
	for i, c := range cmds {
		v := c.Val()
		str := func(j int) string { s, _ := v[j].(string); return s }
		rev, _ := strconv.ParseInt(str(1), 10, 64)
		step, _ := strconv.Atoi(str(2))
		count, _ := strconv.Atoi(str(3))
		out[i] = Enrollment{ID: ids[i], State: EnrollmentState(str(0)), Revision: rev, Step: step, Count: count, EnrolledAt: parseMS(str(4))}
	}
	return out, nil
}

// DueEnrollments returns up to limit records enrolled in a workflow whose next step was due at or
// before until, earliest first.
func (s *RedisStore) DueEnrollments(ctx context.Context, t TenantID, flow string, until time.Time, limit int) ([]RecordID, error) {
	raw, err := s.rdb.ZRangeByScore(ctx, FlowEnrolledKey(t, flow), &redis.ZRangeBy{Min: "-inf", Max: ms(until), Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("read due enrollments: %w", err)
	}
	return membersToIDs(raw), nil
}

// HistoryEntry is one event of a record in a workflow.
type HistoryEntry struct {
	At       time.Time `json:"-"`
	RawAt    string    `json:"at"`
	Kind     string    `json:"kind"` // enrolled, suppressed, trigger_error, action, unenrolled, completed
	Revision string    `json:"revision"`
	Step     *int      `json:"step,omitempty"`
	Action   string    `json:"action,omitempty"`
	Outcome  string    `json:"outcome,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	// By is, for an action, the user the workflow acted for (its activator).
	By string `json:"by,omitempty"`
}

// Actor describes who an action entry acted as: "USER via workflow FLOW (revision R)".
func (h HistoryEntry) Actor(flow string) string {
	if h.Kind != "action" {
		return ""
	}
	rev, _ := strconv.ParseInt(h.Revision, 10, 64)
	return describeWorkflowActor(h.By, flow, rev)
}

// History returns a record's history in a workflow, oldest first (the newest 500 entries).
func (s *RedisStore) History(ctx context.Context, t TenantID, flow string, o ObjectType, id RecordID) ([]HistoryEntry, error) {
	raw, err := s.rdb.LRange(ctx, HistoryKey(t, flow, flowMember(o, id)), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	out := make([]HistoryEntry, 0, len(raw))
	for i := len(raw) - 1; i >= 0; i-- {
		var e HistoryEntry
		if err := json.Unmarshal([]byte(raw[i]), &e); err != nil {
			return nil, fmt.Errorf("decode history entry: %w", err)
		}
		e.At = parseMS(e.RawAt)
		out = append(out, e)
	}
	return out, nil
}

// Event is the kind of write a change state records, as one letter (the form the change marks keep
// in Redis and the engine reads in Change.Events).
type Event string

// The events of record writes.
const (
	EventCreated   Event = "c" // the record was created
	EventUpdated   Event = "u" // its properties changed
	EventDeleted   Event = "d" // it was moved to the bin
	EventRestored  Event = "r" // it was restored from the bin
	EventPermanent Event = "p" // it was deleted permanently
	EventListed    Event = "l" // it was added to a static list
)

// Change is a record the engine has still to look at: the states its writes left since it last
// looked, oldest first.
type Change struct {
	Type ObjectType
	ID   RecordID
	// Events are the letters of the states' events (Event), in order: c created, u updated, d
	// deleted, r restored, p permanently deleted, l added to a list.
	Events string
	// States are what each write left, oldest first.
	States []ChangeState
	// Mark is the store's handle on the marks the change was read from: AckChanges compares it,
	// so that it removes only what was read. Callers pass it back untouched.
	Mark ChangeMark
}

// ChangeMark is a store's handle on one record's change marks (see Change.Mark).
type ChangeMark struct {
	Member string  // the marked record, as the store names it
	Score  float64 // the mark's version when it was read
}

// ChangeState is what one record write left for the engine.
type ChangeState struct {
	// Seq numbers the write among the tenant's writes; 0 for a state of the older format, which
	// every active workflow evaluates. A workflow evaluates the states numbered after its
	// activation (Flow.ActivatedSeq).
	Seq int64
	// Event is the write's event.
	Event Event
	// Values are the properties that the active triggers of the record's type read, as the write
	// left them (a property not set is absent); nil when the write kept none (a delete, a list
	// join, or no workflow of the type active).
	Values map[string]string
}

// LastSeq is the number of the change's last state, 0 when none is numbered.
func (c Change) LastSeq() int64 {
	var last int64
	for _, st := range c.States {
		last = max(last, st.Seq)
	}
	return last
}

// parseStates reads a member's pending states (see ChangedEventsKey): one a line, as
// "<event><seq>" or "<event><seq>=<values as a JSON object>"; or letters of the older format, one
// per event. A line it cannot read is left out.
func parseStates(raw string) []ChangeState {
	if strings.IndexFunc(raw, func(r rune) bool { return !unicode.IsLetter(r) }) < 0 {
		out := make([]ChangeState, 0, len(raw))
		for _, l := range raw {
			out = append(out, ChangeState{Event: Event(l)})
		}
		return out
	}
	var out []ChangeState
	for line := range strings.SplitSeq(raw, "\n") {
		if len(line) < 2 {
			continue
		}
		head, vals, hasVals := strings.Cut(line[1:], "=")
		seq, err := strconv.ParseInt(head, 10, 64)
		if err != nil {
			continue
		}
		st := ChangeState{Seq: seq, Event: Event(line[:1])}
		if hasVals && json.Unmarshal([]byte(vals), &st.Values) != nil {
			continue
		}
		out = append(out, st)
	}
	return out
}

// PendingChanges reads up to limit of a tenant's change marks, oldest first, in two round trips.
func (s *RedisStore) PendingChanges(ctx context.Context, t TenantID, limit int) ([]Change, error) {
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
	out := make([]Change, 0, len(zs))
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
		out = append(out, Change{Type: ObjectType(typ), ID: RecordID(id), Events: ev.String(), States: states,
			Mark: ChangeMark{Member: m, Score: zs[i].Score}})
	}
	return out, nil
}

// AckChanges forgets change marks the engine has handled, except those that changed again since
// PendingChanges read them. Returns how many it forgot.
func (s *RedisStore) AckChanges(ctx context.Context, t TenantID, cs []Change) (int, error) {
	if len(cs) == 0 {
		return 0, nil
	}
	args := make([]any, 0, 3*len(cs))
	for _, c := range cs {
		args = append(args, c.Mark.Member, strconv.FormatFloat(c.Mark.Score, 'f', -1, 64), c.LastSeq())
	}
	n, err := ackChangesScript.Run(ctx, s.rdb, []string{ChangedKey(t), ChangedEventsKey(t)}, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("ack changes: %w", err)
	}
	return n, nil
}

// TenantsWithChanges returns which of tenants have change marks waiting, in one round trip.
func (s *RedisStore) TenantsWithChanges(ctx context.Context, tenants []TenantID) ([]TenantID, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(tenants))
	for i, t := range tenants {
		cmds[i] = pipe.ZCard(ctx, ChangedKey(t))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("count changes: %w", err)
	}
	var out []TenantID
	for i, c := range cmds {
		if c.Val() > 0 {
			out = append(out, tenants[i])
		}
	}
	return out, nil
}
