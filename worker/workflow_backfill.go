package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/engine"
	"github.com/crmflow/crmflow/workflows"
)

// TypeWorkflowBackfill is the type of the task that enrolls the existing records of a workflow's
// object type that match its trigger, when the workflow is activated with enroll-existing: every
// live record is evaluated, in batches, as if it had just been updated (whatever events the
// workflow listens to).
const TypeWorkflowBackfill = "workflow:backfill"

// BackfillBatchesPerTask bounds one workflow:backfill run: after that many batches (of
// Config.WorkflowBatchSize records) it enqueues its continuation, with its cursor, and returns.
const BackfillBatchesPerTask = 100

// WorkflowBackfillPayload is the payload of a workflow:backfill task. The backfill's position and
// progress live in the store (crm.Backfill) once it has started, and a task continues from there; the
// payload's cursor and counts are where a backfill not yet recorded starts.
type WorkflowBackfillPayload struct {
	// TenantID is the workflow's tenant.
	TenantID crm.TenantID `json:"tenant_id"`
	// Workflow is the workflow's name.
	Workflow string `json:"workflow"`
	// Revision is the revision activated; the backfill stops if another one is active, or none.
	Revision int64 `json:"revision"`
	// After is the cursor: the id of the last record already looked at ("" to start).
	After string `json:"after,omitempty"`
	// Done is how many records were looked at before this task.
	Done int64 `json:"done,omitempty"`
	// Enrolled is how many of them were enrolled.
	Enrolled int64 `json:"enrolled,omitempty"`
	// ActivatedAt is the activation whose backfill the task continues (crm.Flow.ActivatedAt); zero
	// in the task that starts it. A task of an earlier activation does nothing.
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	// Attempt names a workflow:sweep's task for a backfill whose runner stopped (the sweep's tick),
	// so that it is not taken for the task it replaces.
	Attempt string `json:"attempt,omitempty"`
}

func (p WorkflowBackfillPayload) validate() error {
	if err := p.TenantID.Validate(); err != nil {
		return err
	}
	if err := workflows.ValidateName(p.Workflow); err != nil {
		return &crm.ValidationError{Field: "workflow", Code: "INVALID_WORKFLOW", Message: err.Error()}
	}
	if p.Revision < 1 {
		return &crm.ValidationError{Field: "revision", Code: "INVALID_REVISION", Message: fmt.Sprintf("revision %d is invalid: revisions start at 1", p.Revision)}
	}
	return nil
}

// BackfillProgress is what a workflow:backfill task writes as its result (asynq's TaskInfo.Result,
// as JSON) after each batch, and logs when it stops.
type BackfillProgress struct {
	Workflow string `json:"workflow"`
	Revision int64  `json:"revision"`
	// Done is how many live records were looked at so far; Enrolled how many of them enrolled.
	Done     int64 `json:"done"`
	Enrolled int64 `json:"enrolled"`
	// After is the cursor of the next batch.
	After string `json:"after,omitempty"`
	// Finished is true once every record was looked at.
	Finished bool `json:"finished"`
}

// NewWorkflowBackfillTask returns a workflow:backfill task for queue bulk. Its task id is derived
// from the tenant, the workflow, the revision, the cursor and the attempt, so enqueueing the same
// activation's backfill twice (or a continuation twice) while it is queued enqueues nothing
// (ErrDuplicate). A *crm.ValidationError names a bad field.
func NewWorkflowBackfillTask(p WorkflowBackfillPayload) (*asynq.Task, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", TypeWorkflowBackfill, err)
	}
	cursor := p.After
	if cursor == "" {
		cursor = "start"
	}
	id := fmt.Sprintf("%s:%s:%s:%d:%s", TypeWorkflowBackfill, p.TenantID, p.Workflow, p.Revision, cursor)
	if p.Attempt != "" {
		id += ":" + p.Attempt
	}
	return asynq.NewTask(TypeWorkflowBackfill, raw, asynq.Queue(QueueBulk), asynq.MaxRetry(25), asynq.TaskID(id)), nil
}

// HandleWorkflowBackfill handles a workflow:backfill task. While the workflow is active at the
// payload's revision, it pages through the live records of the workflow's object type,
// Config.WorkflowBatchSize at a time; per batch it asks the engine for the verdicts (each record
// evaluated as existing), applies them in one script, enqueues one workflow:steps task for the
// records it enrolled (in queue bulk, so that they never queue in front of any tenant's live
// enrollments), and writes its progress (BackfillProgress) as the task's result. After
// BackfillBatchesPerTask batches it enqueues its continuation.
//
// The backfill's position and progress live in the store (crm.Backfill), and one runner at a time
// holds its lease, renewed before each batch (Config.JobLease). Each batch is applied and counted
// in the store in one step, which the lease guards: a runner that dies (a SIGKILL) frees the
// backfill when its lease runs out, the next workflow:sweep enqueues a task for it, and that task
// goes on from the last batch counted, so every record is looked at, and counted, once. (A batch
// that an earlier version counted before applying it, and whose runner died in between, is applied
// again first: the store enrolls nobody twice.) A task finds the backfill run by another worker, finished, or of an earlier activation, and
// does nothing. A paused workflow stops the backfill (it enrolls nothing, SPEC S20): activating it
// again with enroll-existing starts a new one. A bad payload wraps asynq.SkipRetry.
func (w *Worker) HandleWorkflowBackfill(ctx context.Context, t *asynq.Task) error {
	var p WorkflowBackfillPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode %s payload: %w: %w", TypeWorkflowBackfill, asynq.SkipRetry, err)
	}
	if err := p.validate(); err != nil {
		return fmt.Errorf("%s payload: %w: %w", TypeWorkflowBackfill, asynq.SkipRetry, err)
	}
	log := w.taskLogger(ctx, t).With("workflow_id", p.Workflow, "revision", p.Revision)
	owner := runnerID()
	release := func() { _ = w.store.ReleaseBackfill(context.WithoutCancel(ctx), p.TenantID, p.Workflow, owner) }
	defer release()
	var bf crm.Backfill    // the backfill as this run recorded it
	var ahead *pageAhead   // the next page, read while a batch is applied
	var activatedBy string // the workflow's activator, as the last batch read it
	// A batch's steps are enqueued while the next batch starts; the task returns once they are.
	var enqueuing sync.WaitGroup
	defer enqueuing.Wait()
	// The first steps of the enrollments go to queue bulk, behind no tenant's live work.
	steps := WorkflowStepsPayload{TenantID: p.TenantID, Workflow: p.Workflow, Revision: p.Revision, Bulk: true}
	lists := engine.ListSets{}
	for batch := range BackfillBatchesPerTask {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The workflow's activator, as the last batch knew them, is read beside the workflow.
		var activator *userAhead
		if batch > 0 && activatedBy != "" {
			activator = readUser(ctx, w.store, p.TenantID, activatedBy)
		}
		// The workflow's state, and the lease (taken or renewed), in one round trip; the lease is
		// acted on once the workflow's state has said the backfill goes on.
		flow, leased, err := w.store.LeaseBackfillFlow(ctx, p.TenantID, p.Workflow, owner, w.cfg.JobLease)
		if activator != nil {
			<-activator.done
		}
		if errors.Is(err, crm.ErrNotFound) {
			log.Warn("workflow not found: its backfill stops")
			return nil
		}
		if err != nil {
			return err
		}
		activation := p.ActivatedAt
		if batch > 0 {
			activation = bf.ActivatedAt
		}
		if !activation.IsZero() && !activation.Equal(flow.ActivatedAt) {
			log.Info("the workflow was activated again since: this backfill is over")
			return nil
		}
		if flow.State != crm.FlowActive || flow.ActiveRevision != p.Revision {
			log.Info("workflow is not active at this revision: its backfill stops", "state", flow.State,
				"active_revision", flow.ActiveRevision)
			return w.stopBackfill(ctx, p, flow)
		}
		if batch == 0 {
			var finished bool
			if bf, finished, err = w.resumeBackfill(ctx, p, flow); err != nil || finished {
				return err
			}
		}
		if !leased {
			log.Info("backfill is run by another worker; leaving it")
			return nil
		}
		wf, err := w.workflow(ctx, p.TenantID, crm.FlowRevision{Flow: p.Workflow, Revision: p.Revision})
		if err != nil {
			var ve *workflows.ValidationError
			if errors.As(err, &ve) {
				return fmt.Errorf("%w: %w", asynq.SkipRetry, err)
			}
			return err
		}
		// Enrolling every matching record needs bulk_delete too when the workflow deletes.
		var why *crm.PauseOpts
		if activator != nil && activator.email == flow.ActivatedBy {
			why, err = authorityOf(p.TenantID, flow, wf, true, activator.u, activator.err)
		} else {
			why, err = w.authorityLost(ctx, p.TenantID, flow, wf, true)
		}
		activatedBy = flow.ActivatedBy
		if err != nil {
			return err
		} else if why != nil {
			if err := w.pauseForAuthority(ctx, log, p.TenantID, flow, why); err != nil {
				return err
			}
			return w.stopBackfill(ctx, p, flow)
		}
		if batch == 0 && bf.Prev != bf.After {
			// The batch counted last may not have been applied: its runner stopped. Apply it again.
			recs, _, err := w.store.NextRecords(ctx, p.TenantID, flow.ObjectType, bf.Prev, w.cfg.WorkflowBatchSize, readsOf(wf))
			if err != nil {
				return err
			}
			recs = recordsUpTo(recs, bf.After)
			before, err := w.enrolledBefore(ctx, p.TenantID, flow, bf.ActivatedAt, recs)
			if err != nil {
				return err
			}
			enrolled, err := w.backfillBatch(ctx, log, p.TenantID, flow, wf, recs, lists)
			if err != nil {
				return err
			}
			log.Info("backfill applied again the batch its last runner left", "records", len(recs),
				"enrolled_before", len(before), "enrolled", len(enrolled))
			bf.Enrolled += int64(len(before) + len(enrolled))
			bf.Prev = bf.After
			if ok, err := w.store.AdvanceBackfill(ctx, p.TenantID, p.Workflow, owner, bf); err != nil || !ok {
				return leaseLost(log, err)
			}
			w.enqueueSteps(ctx, log, steps, before, nil, time.Time{})
			w.enqueueSteps(ctx, log, steps, enrolled, nil, time.Time{})
		}
		recs, next, err := ahead.take(ctx, w.store, p.TenantID, flow.ObjectType, bf.After, w.cfg.WorkflowBatchSize, readsOf(wf))
		if err != nil {
			return err
		}
		recorded := bf
		if len(recs) > 0 {
			bf.After = string(recs[len(recs)-1].ID)
		}
		bf.Prev = bf.After
		// The next page is read while this one is applied.
		ahead = nil
		if next != "" && batch+1 < BackfillBatchesPerTask {
			ahead = readAhead(ctx, w.store, p.TenantID, flow.ObjectType, bf.After, w.cfg.WorkflowBatchSize, readsOf(wf))
		}
		bf.Done += int64(len(recs))
		bf.Total = max(bf.Total, bf.Done)
		finished := next == ""
		if finished {
			bf.State = crm.BackfillDone
		}
		// The batch is applied and counted in one step (the store adds its enrollments to
		// bf.Enrolled), before its steps can run: a runner that dies before it leaves the batch to
		// whoever continues, one that dies after leaves nothing in flight (the steps, to the workflow
		// sweep).
		enrolled, outcome, err := w.applyBackfillBatch(ctx, log, p.TenantID, flow, wf, recs, lists, owner, bf)
		if err != nil {
			return err
		}
		switch outcome {
		case crm.BatchLeaseLost:
			return leaseLost(log, nil)
		case crm.BatchRefused:
			// Paused, or at another revision, since it was read: the next turn sees it and stops.
			bf = recorded
			continue
		}
		bf.Enrolled += int64(len(enrolled))
		// Counted: their steps can run. (A runner that dies before they are enqueued leaves them to
		// the workflow sweep.)
		enqueuing.Wait()
		enqueuing.Go(func() { w.enqueueSteps(ctx, log, steps, enrolled, nil, time.Time{}) })
		w.writeProgress(t, log, BackfillProgress{Workflow: p.Workflow, Revision: p.Revision, Done: bf.Done, Enrolled: bf.Enrolled,
			After: next, Finished: finished})
		if finished {
			log.Info("backfill done", "done", bf.Done, "enrolled", bf.Enrolled)
			return nil
		}
	}
	// The continuation goes on from the next batch, under its own lease.
	release()
	next := p
	next.After, next.Done, next.Enrolled, next.ActivatedAt, next.Attempt = bf.After, bf.Done, bf.Enrolled, bf.ActivatedAt, ""
	task, err := NewWorkflowBackfillTask(next)
	if err != nil {
		return fmt.Errorf("%w: %w", asynq.SkipRetry, err)
	}
	if _, err := w.enq.Enqueue(ctx, task); err != nil && !errors.Is(err, ErrDuplicate) {
		return fmt.Errorf("enqueue the backfill's continuation: %w", err)
	}
	log.Info("backfill continues in a new task", "done", bf.Done, "enrolled", bf.Enrolled)
	return nil
}

// pageAhead is a page of records being read in the background (crm.Store.NextRecords).
type pageAhead struct {
	after string
	done  chan struct{}
	recs  []crm.Record
	next  string
	err   error
}

// readAhead starts reading the page after cursor after.
func readAhead(ctx context.Context, st crm.Store, t crm.TenantID, o crm.ObjectType, after string, n int, props []string) *pageAhead {
	a := &pageAhead{after: after, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.recs, a.next, a.err = st.NextRecords(ctx, t, o, after, n, props)
	}()
	return a
}

// take returns the page after cursor after: the one read ahead when it is that page (nil a reads
// none), else one read now.
func (a *pageAhead) take(ctx context.Context, st crm.Store, t crm.TenantID, o crm.ObjectType, after string, n int, props []string) ([]crm.Record, string, error) {
	if a != nil {
		<-a.done
		if a.after == after && a.err == nil {
			return a.recs, a.next, nil
		}
	}
	return st.NextRecords(ctx, t, o, after, n, props)
}

// userAhead is a user being read in the background (crm.Store.User).
type userAhead struct {
	email string
	done  chan struct{}
	u     crm.User
	err   error
}

// readUser starts reading the user email.
func readUser(ctx context.Context, st crm.Store, t crm.TenantID, email string) *userAhead {
	a := &userAhead{email: email, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.u, a.err = st.User(ctx, t, email)
	}()
	return a
}

// leaseLost returns err, or logs that the backfill's lease went to another runner, which goes on
// from what was recorded.
func leaseLost(log *slog.Logger, err error) error {
	if err == nil {
		log.Warn("the backfill's lease ran out and another worker took it over; leaving it")
	}
	return err
}

// resumeBackfill returns the recorded backfill of flow's activation, and whether it is finished.
// When there is none, the task starts it: it records it, from the payload's cursor and counts,
// with the number of live records as its total.
func (w *Worker) resumeBackfill(ctx context.Context, p WorkflowBackfillPayload, flow crm.Flow) (crm.Backfill, bool, error) {
	bf, ok, err := w.store.Backfill(ctx, p.TenantID, p.Workflow)
	if err != nil {
		return crm.Backfill{}, false, err
	}
	if ok && bf.Revision == p.Revision && bf.ActivatedAt.Equal(flow.ActivatedAt) {
		return bf, bf.State != crm.BackfillRunning, nil
	}
	total, err := w.store.CountRecords(ctx, p.TenantID, flow.ObjectType)
	if err != nil {
		return crm.Backfill{}, false, err
	}
	bf = crm.Backfill{Revision: p.Revision, State: "running", Total: max(total, p.Done), Done: p.Done, Enrolled: p.Enrolled,
		After: p.After, Prev: p.After, ActivatedAt: flow.ActivatedAt, StartedAt: w.clock.Now()}
	return bf, false, w.store.SetBackfill(ctx, p.TenantID, p.Workflow, bf)
}

// stopBackfill records that the backfill of the task's revision stopped, its workflow being paused
// or at another revision; one finished already stays as it is.
func (w *Worker) stopBackfill(ctx context.Context, p WorkflowBackfillPayload, flow crm.Flow) error {
	bf, ok, err := w.store.Backfill(ctx, p.TenantID, p.Workflow)
	if err != nil {
		return err
	}
	if !ok || bf.Revision != p.Revision || !bf.ActivatedAt.Equal(flow.ActivatedAt) {
		total, err := w.store.CountRecords(ctx, p.TenantID, flow.ObjectType)
		if err != nil {
			return err
		}
		bf = crm.Backfill{Revision: p.Revision, Total: max(total, p.Done), Done: p.Done, Enrolled: p.Enrolled,
			After: p.After, Prev: p.After, ActivatedAt: flow.ActivatedAt, StartedAt: w.clock.Now()}
	} else if bf.State != crm.BackfillRunning {
		return nil
	}
	bf.State = crm.BackfillStopped
	return w.store.SetBackfill(ctx, p.TenantID, p.Workflow, bf)
}

// enrolledBefore returns the records of recs that an earlier run of the backfill enrolled (at the
// active revision, since the activation) and that still wait for their first step: that run died
// before it counted them and enqueued their steps.
func (w *Worker) enrolledBefore(ctx context.Context, t crm.TenantID, flow crm.Flow, since time.Time, recs []crm.Record) ([]crm.RecordID, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	ids := make([]crm.RecordID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	enrs, err := w.store.Enrollments(ctx, t, flow.Name, flow.ObjectType, ids)
	if err != nil {
		return nil, err
	}
	var out []crm.RecordID
	for _, e := range enrs {
		if e.State == crm.Enrolled && e.Revision == flow.ActiveRevision && e.Step == 0 && !e.EnrolledAt.Before(since) {
			out = append(out, e.ID)
		}
	}
	return out, nil
}

// recordsUpTo returns the records of recs (by ascending id) whose ids are at most last.
func recordsUpTo(recs []crm.Record, last string) []crm.Record {
	end, err := strconv.ParseUint(last, 10, 64)
	if err != nil {
		return recs
	}
	for i, r := range recs {
		if id, err := strconv.ParseUint(string(r.ID), 10, 64); err == nil && id > end {
			return recs[:i]
		}
	}
	return recs
}

// backfillVerdicts evaluates one batch of live records: the verdicts to apply (none when recs is
// empty) and the workflow they apply to.
func (w *Worker) backfillVerdicts(ctx context.Context, log *slog.Logger, t crm.TenantID, flow crm.Flow, wf *workflows.Workflow, recs []crm.Record, lists engine.ListSets) ([]crm.FlowVerdict, crm.FlowRef, error) {
	ref := crm.FlowRef{Name: flow.Name, Revision: flow.ActiveRevision, ObjectType: flow.ObjectType, Reenrollment: wf.Reenrollment}
	if len(recs) == 0 {
		return nil, ref, nil
	}
	changes := make([]engine.Change, len(recs))
	for i := range recs {
		changes[i] = engine.Change{ID: recs[i].ID, Existing: true, Record: &recs[i]}
	}
	var ls engine.Lists
	if wf.Suppression != nil && len(wf.Suppression.Lists) > 0 {
		var err error
		if ls, err = w.listSets(ctx, log, t, flow.ObjectType, wf.Suppression.Lists, lists); err != nil {
			return nil, ref, err
		}
	}
	return engine.Decide(wf, changes, ls, w.clock.Now()), ref, nil
}

// backfillBatch evaluates one batch of live records and applies the verdicts, and returns those it
// enrolled; the caller counts them, then enqueues their first step. It records no progress: it
// applies again a batch that a runner left in flight.
func (w *Worker) backfillBatch(ctx context.Context, log *slog.Logger, t crm.TenantID, flow crm.Flow, wf *workflows.Workflow, recs []crm.Record, lists engine.ListSets) ([]crm.RecordID, error) {
	vs, ref, err := w.backfillVerdicts(ctx, log, t, flow, wf, recs, lists)
	if err != nil || len(vs) == 0 {
		return nil, err
	}
	enrolled, err := w.store.EvaluateFlow(ctx, t, ref, vs)
	if err != nil {
		return nil, err
	}
	w.countEnrolled(flow, enrolled)
	return enrolled, nil
}

// applyBackfillBatch evaluates one batch of live records, applies the verdicts and records bf, the
// backfill's progress once the batch is applied (its Enrolled the count before the batch), in one
// step for owner (crm.BackfillStore.ApplyBackfillBatch); it returns those it enrolled and the
// outcome.
func (w *Worker) applyBackfillBatch(ctx context.Context, log *slog.Logger, t crm.TenantID, flow crm.Flow, wf *workflows.Workflow, recs []crm.Record, lists engine.ListSets,
	owner string, bf crm.Backfill) ([]crm.RecordID, crm.BatchOutcome, error) {
	vs, ref, err := w.backfillVerdicts(ctx, log, t, flow, wf, recs, lists)
	if err != nil {
		return nil, crm.BatchLeaseLost, err
	}
	enrolled, outcome, err := w.store.ApplyBackfillBatch(ctx, t, ref, vs, owner, bf)
	if err != nil {
		return nil, outcome, err
	}
	w.countEnrolled(flow, enrolled)
	return enrolled, outcome, nil
}

// countEnrolled counts the records a backfill's batch enrolled in the worker's metrics.
func (w *Worker) countEnrolled(flow crm.Flow, enrolled []crm.RecordID) {
	if len(enrolled) > 0 {
		w.metrics.enrolled.WithLabelValues(objectTypeLabel(flow.ObjectType)).Add(float64(len(enrolled)))
	}
}

// readsOf returns the properties the backfill reads of each record for wf: those its triggers
// read, or nil (all) when they may read any. A record always has one field read, so that none
// that was deleted meanwhile passes as a record without properties.
func readsOf(wf *workflows.Workflow) []string {
	props, all := wf.Reads()
	if all {
		return nil
	}
	if len(props) == 0 {
		return []string{"-"} // the record's existence alone: a trigger such as "true"
	}
	return props
}

// writeProgress writes the backfill's progress as the task's result, when the task came from a
// server (ProcessTask on a task built by hand has no result writer).
func (w *Worker) writeProgress(t *asynq.Task, log *slog.Logger, p BackfillProgress) {
	rw := t.ResultWriter()
	if rw == nil {
		return
	}
	raw, _ := json.Marshal(p) // strings, numbers and a bool always encode
	if _, err := rw.Write(raw); err != nil {
		log.Warn("could not write the backfill's progress", "error", err)
	}
}
