package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/engine"
	"github.com/crmflow/crmflow/workflows"
)

// TypeWorkflowSteps is the type of the task that runs one step of a workflow on a batch of
// enrolled records, and the steps after it that are due at once.
const TypeWorkflowSteps = "workflow:steps"

// StepsRounding is how delayed steps are grouped: records whose next step is due within the same
// second (rounded up) share one scheduled task.
const StepsRounding = time.Second

// WorkflowStepsPayload is the payload of a workflow:steps task.
type WorkflowStepsPayload struct {
	// TenantID is the workflow's tenant.
	TenantID crm.TenantID `json:"tenant_id"`
	// Workflow is the workflow's name.
	Workflow string `json:"workflow"`
	// Revision is the revision the records are enrolled at; its actions run.
	Revision int64 `json:"revision"`
	// Step is the index of the action to run.
	Step int `json:"step"`
	// RecordIDs are the records, at most crm.MaxScriptBatch.
	RecordIDs []crm.RecordID `json:"record_ids"`
	// Counts are the records' enrollment counts (crm.Enrollment.Count), in the order of RecordIDs,
	// when known: a record enrolled again since the task was made is left to its own task. Empty
	// means any enrollment.
	Counts []int `json:"counts,omitempty"`
	// Attempt names a workflow:sweep's enqueue of overdue records: the sweep grace period it falls
	// in. A task of an earlier period that never finished (its worker was killed) then does not keep
	// the records from being enqueued again.
	Attempt string `json:"attempt,omitempty"`
	// Bulk puts the task in queue bulk rather than default, and the tasks of the steps after it too:
	// it is set for the enrollments of an enroll-existing backfill, and for the steps the
	// workflow:sweep enqueues again, so that they never queue in front of live enrollments.
	Bulk bool `json:"bulk,omitempty"`
}

func (p WorkflowStepsPayload) validate() error {
	if err := p.TenantID.Validate(); err != nil {
		return err
	}
	if err := workflows.ValidateName(p.Workflow); err != nil {
		return &crm.ValidationError{Field: "workflow", Code: "INVALID_WORKFLOW", Message: err.Error()}
	}
	switch {
	case p.Revision < 1:
		return &crm.ValidationError{Field: "revision", Code: "INVALID_REVISION", Message: fmt.Sprintf("revision %d is invalid: revisions start at 1", p.Revision)}
	case p.Step < 0:
		return &crm.ValidationError{Field: "step", Code: "INVALID_STEP", Message: fmt.Sprintf("step %d is invalid: steps start at 0", p.Step)}
	case len(p.RecordIDs) == 0 || len(p.RecordIDs) > crm.MaxScriptBatch:
		return &crm.ValidationError{Field: "record_ids", Code: "INVALID_BATCH",
			Message: fmt.Sprintf("%d record ids: give 1 to %d", len(p.RecordIDs), crm.MaxScriptBatch)}
	case len(p.Counts) != 0 && len(p.Counts) != len(p.RecordIDs):
		return &crm.ValidationError{Field: "counts", Code: "INVALID_COUNTS",
			Message: fmt.Sprintf("%d counts for %d record ids: give one per id, or none", len(p.Counts), len(p.RecordIDs))}
	}
	return nil
}

// NewWorkflowStepsTask returns a workflow:steps task for queue default (queue bulk when p.Bulk is
// set), to run at processAt (zero: at once). Its task id is derived from the tenant, the workflow, the revision, the step, the
// records (with their counts), processAt and the attempt, so a retry, a second enqueue or a sweep's
// re-enqueue of the same batch for the same time while it is queued enqueues nothing (ErrDuplicate). It returns a
// *crm.ValidationError naming a bad field.
func NewWorkflowStepsTask(p WorkflowStepsPayload, processAt time.Time) (*asynq.Task, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", TypeWorkflowSteps, err)
	}
	id := fmt.Sprintf("%s:%s:%s:%d:%d:%s", TypeWorkflowSteps, p.TenantID, p.Workflow, p.Revision, p.Step, idsHash(p.RecordIDs, p.Counts))
	if !processAt.IsZero() {
		// A step moved to another time (a delay's date written while the record waited) is a
		// task of its own, beside the one at the time before, which finds it not yet due.
		id += ":at-" + stamp(processAt)
	}
	if p.Attempt != "" {
		id += ":" + p.Attempt
	}
	queue := QueueDefault
	if p.Bulk {
		queue = QueueBulk
	}
	opts := []asynq.Option{asynq.Queue(queue), asynq.MaxRetry(10), asynq.TaskID(id)}
	if !processAt.IsZero() {
		opts = append(opts, asynq.ProcessAt(processAt))
	}
	return asynq.NewTask(TypeWorkflowSteps, raw, opts...), nil
}

// HandleWorkflowSteps handles a workflow:steps task. While the workflow is active it runs step Step
// of revision Revision on the records still enrolled at that revision and step (a record that an
// earlier run advanced, unenrolled or completed is left alone), records every result and moves each
// record on once (redisstore.Store.AdvanceSteps), then runs the next step at once for the records
// due now, and schedules a task at their due time for the others (a delay). A workflow that is
// paused runs nothing: its records stay enrolled where they are, and the workflow:resume of its
// next activation (or else the workflow:sweep) enqueues them again once it is active. The enrollment's own revision runs, whatever revision is active
// now.
//
// A record that is no longer live is not acted on: if this workflow's delete_contact moved it to
// the bin (a run that crashed before recording its result), the step is recorded as done;
// otherwise it is unenrolled as deleted (SPEC S8), or, when another revision is active, its
// enrollment ends as skipped. A workflow that deletes does so under its blast-radius limit (its
// own limits, or its tenant's; SPEC S24): the records the limit refuses get no result and stay
// enrolled at their step, the activator is emailed once per activation, and the workflow pauses
// with the reason (see LimitPauseReason); activated again, the workflow:resume (or else the
// workflow:sweep) runs their step.
// The store checks again, in the step that moves the records, that the workflow is still active at
// its activation and that its activator may still act (SPEC S23): the records it keeps stay
// enrolled at their step too, and a workflow whose activator lost authority pauses with the reason.
// An action error wrapping actions.ErrCannotRun ends the record's
// enrollment as failed; another error fails the task after the other records' results are
// recorded, and the retry runs the step again only for the records it did not advance. A bad
// payload wraps asynq.SkipRetry.
func (w *Worker) HandleWorkflowSteps(ctx context.Context, t *asynq.Task) error {
	var p WorkflowStepsPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode %s payload: %w: %w", TypeWorkflowSteps, asynq.SkipRetry, err)
	}
	if err := p.validate(); err != nil {
		return fmt.Errorf("%s payload: %w: %w", TypeWorkflowSteps, asynq.SkipRetry, err)
	}
	log := w.taskLogger(ctx, t).With("workflow_id", p.Workflow, "revision", p.Revision)
	step, ids, counts := p.Step, p.RecordIDs, p.Counts
	for len(ids) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if ids, counts, err = w.runStep(ctx, log, p.TenantID, p.Workflow, p.Revision, step, ids, counts, p.Bulk); err != nil {
			return err
		}
		step++
	}
	return nil
}

// runStep runs step `step` on ids and returns the records whose next step is due now, with their
// enrollment counts; the others are scheduled, in queue bulk when bulk is set.
func (w *Worker) runStep(ctx context.Context, log *slog.Logger, t crm.TenantID, name string, rev int64, step int,
	ids []crm.RecordID, counts []int, bulk bool) ([]crm.RecordID, []int, error) {
	flow, err := w.store.Flow(ctx, t, name)
	if errors.Is(err, crm.ErrNotFound) {
		log.Warn("workflow not found: its steps do not run")
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if flow.State != crm.FlowActive {
		log.Info("workflow is not active: its records stay enrolled and wait", "state", flow.State, "step", step, "records", len(ids))
		return nil, nil, nil
	}
	if flow.ActiveRevision != rev {
		return w.moveToActiveRevision(ctx, log, t, flow, rev, step, ids, bulk)
	}
	wf, err := w.workflow(ctx, t, crm.FlowRevision{Flow: name, Revision: rev})
	if err != nil {
		var ve *workflows.ValidationError
		if errors.As(err, &ve) {
			// Its records stay enrolled where they are, for a fixed revision to carry on.
			return nil, nil, w.pauseInvalid(ctx, log, t, flow, rev, ve)
		}
		if errors.Is(err, crm.ErrNotFound) {
			return nil, nil, fmt.Errorf("%w: %w", asynq.SkipRetry, err)
		}
		return nil, nil, err
	}
	if step >= len(wf.Actions) {
		return nil, nil, fmt.Errorf("workflow %s revision %d has %d steps, not %d: %w", name, rev, len(wf.Actions), step+1, asynq.SkipRetry)
	}
	// The workflow acts with its activator's authority: checked before every step, so that a
	// disabled activator, or one who lost a permission, stops it before its next action. An
	// activation that enrolled the existing records needed bulk_delete too when it deletes, and
	// needs it as long as it runs.
	many, err := w.enrolledExisting(ctx, t, flow, wf)
	if err != nil {
		return nil, nil, err
	}
	if why, err := w.authorityLost(ctx, t, flow, wf, many); err != nil {
		return nil, nil, err
	} else if why != nil {
		return nil, nil, w.pauseForAuthority(ctx, log, t, flow, why)
	}
	o := flow.ObjectType
	enrs, err := w.store.Enrollments(ctx, t, name, o, ids)
	if err != nil {
		return nil, nil, err
	}
	keep, countOf := engine.DueEnrollments(enrs, rev, step, counts)
	if len(keep) == 0 {
		return nil, nil, nil
	}
	recs, err := w.store.Records(ctx, t, o, keep, nil)
	if err != nil {
		return nil, nil, err
	}
	live := make(map[crm.RecordID]crm.Record, len(recs))
	for _, r := range recs {
		live[r.ID] = r
	}
	ref := crm.FlowRef{Name: name, Revision: rev, ObjectType: o, Reenrollment: wf.Reenrollment, By: flow.ActivatedBy,
		ActivatedAt: flow.ActivatedAt, Activation: flow.Activation}
	st := wf.Actions[step]
	now := w.clock.Now()
	var results []crm.StepResult
	var missing []crm.RecordID
	for _, id := range keep {
		if _, ok := live[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		if results, err = w.notLive(ctx, flow, ref, st.Type, missing, now, t); err != nil {
			return nil, nil, err
		}
	}
	if err := w.unenrollSuppressed(ctx, t, wf, ref, live, now); err != nil {
		return nil, nil, err
	}
	if err := w.unenrollNotMatching(ctx, t, wf, ref, enrs, countOf, live, now); err != nil {
		return nil, nil, err
	}
	if err := w.waitForMovedDates(ctx, log, t, wf, ref, step, keep, countOf, live, now, bulk); err != nil {
		return nil, nil, err
	}
	batch := make([]crm.Record, 0, len(keep))
	for _, id := range keep {
		if rec, ok := live[id]; ok {
			batch = append(batch, rec)
		}
	}
	lim, err := w.deletionLimit(ctx, t, flow, wf, many)
	if err != nil {
		return nil, nil, err
	}
	ran, errs := engine.RunStep(ctx, wf, engine.StepRun{Counts: countOf, Deps: w.workflowDeps(), Flow: ref, Limit: lim, Now: now,
		Records: batch, Step: step, Tenant: t})
	results = append(results, ran...)
	// The records the limit refused, or the guard of the move kept (the workflow paused, or its
	// activator lost authority, since the checks above), have no result: they stay enrolled at
	// this step.
	refused, stopped := 0, 0
	errs = slices.DeleteFunc(errs, func(err error) bool {
		switch {
		case errors.Is(err, crm.ErrLimitReached):
			refused++
			return true
		case errors.Is(err, crm.ErrWorkflowStopped):
			stopped++
			return true
		}
		return false
	})
	// The results are recorded even when ctx ends: the actions they report have run.
	advanced, err := w.store.AdvanceSteps(context.WithoutCancel(ctx), t, ref, step, len(wf.Actions), st.Type, results)
	if err != nil {
		return nil, nil, err
	}
	moved := make(map[crm.RecordID]bool, len(advanced))
	for _, id := range advanced {
		moved[id] = true
	}
	for _, r := range results {
		if moved[r.ID] {
			w.metrics.steps.WithLabelValues(r.Outcome).Inc()
		}
	}
	countsOf := func(ids []crm.RecordID) []int {
		out := make([]int, len(ids))
		for i, id := range ids {
			out[i] = countOf[id]
		}
		return out
	}
	dueNow, later := engine.NextRuns(results, advanced, step, len(wf.Actions), now, StepsRounding)
	next := func(step int) WorkflowStepsPayload {
		return WorkflowStepsPayload{TenantID: t, Workflow: name, Revision: rev, Step: step, Bulk: bulk}
	}
	for _, run := range later {
		w.enqueueSteps(ctx, log, next(run.Step), run.IDs, countsOf(run.IDs), run.Due)
	}
	if refused > 0 && lim != nil {
		if err := w.pauseAtLimit(ctx, log, t, flow, lim.DeletionLimit, refused); err != nil {
			errs = append(errs, err)
		}
	}
	if stopped > 0 {
		log.Info("workflow stopped while its step ran: the records not deleted stay enrolled and wait", "step", step, "records", stopped)
		if why, err := w.authorityLost(ctx, t, flow, wf, many); err != nil {
			errs = append(errs, err)
		} else if why != nil {
			if err := w.pauseForAuthority(ctx, log, t, flow, why); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 || refused > 0 || stopped > 0 {
		w.enqueueSteps(ctx, log, next(step+1), dueNow, countsOf(dueNow), time.Time{})
		return nil, nil, errors.Join(errs...)
	}
	return dueNow, countsOf(dueNow), nil
}

// notLive decides about enrolled records that are no longer live when their step is due.
func (w *Worker) notLive(ctx context.Context, flow crm.Flow, ref crm.FlowRef, action string, ids []crm.RecordID, now time.Time, t crm.TenantID) ([]crm.StepResult, error) {
	binned, err := w.store.Records(ctx, t, ref.ObjectType, ids, &crm.ReadOpts{Archived: true, Properties: []string{"-"}})
	if err != nil {
		return nil, err
	}
	results, deleted := engine.NotLive(ref, action, flow.ActiveRevision, ids, binned, now)
	if len(deleted) > 0 {
		// Unenrolled at once, and only a manual enrollment brings it back (SPEC S8), as the drain of
		// its deletion would do.
		if _, err := w.store.EvaluateFlow(ctx, t, ref, deleted); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// enqueueSteps enqueues workflow:steps tasks like of (its tenant, workflow, revision, step, attempt
// and queue) for ids, Config.WorkflowBatchSize records per task, to run at due (zero: at once), and
// returns how many it enqueued. A task already queued is not an error; an enqueue that fails is
// logged and left to the workflow:sweep, which finds the records enrolled and due.
func (w *Worker) enqueueSteps(ctx context.Context, log *slog.Logger, like WorkflowStepsPayload, ids []crm.RecordID, counts []int, due time.Time) int {
	n := 0
	for start := 0; start < len(ids); start += w.cfg.WorkflowBatchSize {
		end := min(start+w.cfg.WorkflowBatchSize, len(ids))
		p := like
		p.RecordIDs, p.Counts = ids[start:end], nil
		if len(counts) == len(ids) {
			p.Counts = counts[start:end]
		}
		task, err := NewWorkflowStepsTask(p, due)
		if err == nil {
			_, err = w.enq.Enqueue(ctx, task)
		}
		switch {
		case errors.Is(err, ErrDuplicate):
		case err != nil:
			log.Warn("could not enqueue a workflow step: the workflow sweep will", "workflow_id", p.Workflow, "step", p.Step,
				"records", end-start, "error", err)
		default:
			n++
		}
	}
	return n
}

// unenrollSuppressed unenrolls the records of live that its suppression holds now (they joined
// one of wf's suppression lists, or match its suppression trigger) before their next action runs
// (SPEC S19), and takes them out of live. The drain of the write or the list join does the same;
// this covers a step that comes due before that drain, and a suppression trigger that reads the
// time.
func (w *Worker) unenrollSuppressed(ctx context.Context, t crm.TenantID, wf *workflows.Workflow, ref crm.FlowRef,
	live map[crm.RecordID]crm.Record, now time.Time) error {
	if wf.Suppression == nil || len(live) == 0 {
		return nil
	}
	ids := make([]crm.RecordID, 0, len(live))
	for id := range live {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	lists := engine.ListSets{}
	for _, l := range wf.Suppression.Lists {
		in, err := w.store.ListMembersAmong(ctx, t, l, ids)
		if err != nil {
			return err
		}
		lists[l] = in
	}
	var vs []crm.FlowVerdict
	for _, id := range ids {
		if why := engine.SuppressedBy(wf, id, live[id], lists, now); why != "" {
			v := crm.FlowVerdict{ID: id, Verdict: crm.VerdictSuppressedNoMatch, Detail: why}
			if hit, err := wf.Matches(live[id], now); err == nil && hit {
				v.Verdict = crm.VerdictSuppressed
			}
			vs = append(vs, v)
			delete(live, id)
		}
	}
	if len(vs) == 0 {
		return nil
	}
	_, err := w.store.EvaluateFlow(ctx, t, ref, vs)
	return err
}

// unenrollNotMatching, for a workflow that unenrolls records that stop matching (whatever events
// it enrolls on), unenrolls the records of live written since they enrolled (in the same millisecond included)
// that its trigger no longer matches, before their next action runs, and takes them out of live.
// The drain of that write does the same; this covers a step that comes due before that drain, and
// a step due at once after the workflow's own set_property. A record not written since it
// enrolled (one enrolled by hand without matching) is left alone, as the drain leaves it. enrs
// are the records' enrollments, countOf the enrollment each step runs for.
func (w *Worker) unenrollNotMatching(ctx context.Context, t crm.TenantID, wf *workflows.Workflow, ref crm.FlowRef,
	enrs []crm.Enrollment, countOf map[crm.RecordID]int, live map[crm.RecordID]crm.Record, now time.Time) error {
	if !wf.UnenrollWhenNotMatching || len(live) == 0 {
		return nil
	}
	var vs []crm.FlowVerdict
	for _, e := range enrs {
		rec, ok := live[e.ID]
		if !ok || e.State != crm.Enrolled || e.Count != countOf[e.ID] || rec.UpdatedAt.Before(e.EnrolledAt) {
			continue
		}
		if hit, err := wf.Matches(rec, now); err == nil && !hit {
			vs = append(vs, crm.FlowVerdict{ID: e.ID, Verdict: crm.VerdictUnmatch})
			delete(live, e.ID)
		}
	}
	if len(vs) == 0 {
		return nil
	}
	_, err := w.store.EvaluateFlow(ctx, t, ref, vs)
	return err
}

// waitForMovedDates, for a step that comes after a delay until a date property, takes out of live
// the records whose date, as they hold it now, is still to come: it was moved later while they
// waited, and this is the task of the date read before (or the workflow:sweep's re-enqueue of it).
// Their step is moved to the new date in the store and enqueued for then (in queue bulk when bulk
// is set), so that it runs once, at that date. The drain of the write does the same; this covers a
// step that comes due before that drain, a drain that stopped between the move and the enqueue,
// and a workflow that was paused when the date was written.
func (w *Worker) waitForMovedDates(ctx context.Context, log *slog.Logger, t crm.TenantID, wf *workflows.Workflow, ref crm.FlowRef, step int,
	ids []crm.RecordID, countOf map[crm.RecordID]int, live map[crm.RecordID]crm.Record, now time.Time, bulk bool) error {
	ds := engine.NotYetDue(wf, step, ids, live, countOf, now)
	if len(ds) == 0 {
		return nil
	}
	for _, d := range ds {
		delete(live, d.ID)
	}
	moved, err := w.store.RescheduleSteps(ctx, t, ref, ds)
	if err != nil {
		return err
	}
	w.enqueueMoved(ctx, log, WorkflowStepsPayload{TenantID: t, Workflow: ref.Name, Revision: ref.Revision, Bulk: bulk}, ds, moved, len(wf.Actions), now)
	return nil
}

// enqueueMoved enqueues, for the records of ds that the store moved (moved), their step (like's
// tenant, workflow, revision and queue) at its new due time: at once when that has come, else at
// that time rounded up to StepsRounding, the records due in the same second at the same step
// sharing one task. An enqueue that fails is logged and left to the workflow:sweep, which finds
// the records enrolled and due.
func (w *Worker) enqueueMoved(ctx context.Context, log *slog.Logger, like WorkflowStepsPayload, ds []crm.StepDue, moved []crm.RecordID,
	nsteps int, now time.Time) {
	if len(moved) == 0 {
		return
	}
	var steps []int
	byStep := map[int][]crm.StepResult{}
	countOf := map[crm.RecordID]int{}
	for _, d := range ds {
		if _, ok := byStep[d.Step]; !ok {
			steps = append(steps, d.Step)
		}
		byStep[d.Step] = append(byStep[d.Step], crm.StepResult{ID: d.ID, Due: d.Due})
		countOf[d.ID] = d.Count
	}
	countsOf := func(ids []crm.RecordID) []int {
		out := make([]int, len(ids))
		for i, id := range ids {
			out[i] = countOf[id]
		}
		return out
	}
	for _, step := range steps {
		p := like
		p.Step = step
		// The records moved to step `step`, as if the step before it had just run.
		dueNow, later := engine.NextRuns(byStep[step], moved, step-1, nsteps, now, StepsRounding)
		w.enqueueSteps(ctx, log, p, dueNow, countsOf(dueNow), time.Time{})
		for _, run := range later {
			w.enqueueSteps(ctx, log, p, run.IDs, countsOf(run.IDs), run.Due)
		}
	}
}

// moveToActiveRevision moves the records of ids enrolled at revision rev, an older revision of
// flow, and waiting at step, on to the active revision at the same step (or completes them where
// it has no such step, see redisstore.Store.MoveEnrollments), and enqueues that step of the active
// revision for them at once. So an edited workflow's enrolled records never run a step of a
// revision that is no longer active, and none is dropped without a history entry.
func (w *Worker) moveToActiveRevision(ctx context.Context, log *slog.Logger, t crm.TenantID, flow crm.Flow, rev int64, step int,
	ids []crm.RecordID, bulk bool) ([]crm.RecordID, []int, error) {
	wf, err := w.workflow(ctx, t, crm.FlowRevision{Flow: flow.Name, Revision: flow.ActiveRevision})
	if err != nil {
		var ve *workflows.ValidationError
		if errors.As(err, &ve) || errors.Is(err, crm.ErrNotFound) {
			return nil, nil, fmt.Errorf("%w: %w", asynq.SkipRetry, err)
		}
		return nil, nil, err
	}
	ref := crm.FlowRef{Name: flow.Name, Revision: flow.ActiveRevision, ObjectType: flow.ObjectType}
	moved, err := w.store.MoveEnrollments(ctx, t, ref, rev, step, len(wf.Actions), ids)
	if err != nil {
		return nil, nil, err
	}
	log.Info("records enrolled at an older revision moved on to the active one", "from_revision", rev,
		"to_revision", flow.ActiveRevision, "step", step, "records", len(ids), "moved", len(moved))
	// A task of its own, so that the steps due after this one run at the active revision too; if
	// its enqueue fails, the workflow sweep finds the records due.
	w.enqueueSteps(ctx, log, WorkflowStepsPayload{TenantID: t, Workflow: flow.Name, Revision: flow.ActiveRevision, Step: step, Bulk: bulk},
		moved, nil, time.Time{})
	return nil, nil, nil
}

// enrolledExisting reports whether flow's activation enrolled the records that matched already (an
// enroll-existing backfill of that activation exists), for a workflow that deletes: its activation
// then needed bulk_delete (wf.Permissions(true)). False for a workflow that deletes nothing, without
// a read.
func (w *Worker) enrolledExisting(ctx context.Context, t crm.TenantID, flow crm.Flow, wf *workflows.Workflow) (bool, error) {
	if !wf.Deletes() {
		return false, nil
	}
	bf, ok, err := w.store.Backfill(ctx, t, flow.Name)
	if err != nil {
		return false, fmt.Errorf("read the backfill of workflow %s: %w", flow.Name, err)
	}
	return ok && bf.ActivatedAt.Equal(flow.ActivatedAt), nil
}
