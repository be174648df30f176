package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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

// WorkflowBackfillPayload is the payload of a workflow:backfill task. The cursor and the counts
// travel with the task: each continuation carries the progress so far, and a run that crashes is
// retried from its own cursor (the store enrolls nobody twice).
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
// from the tenant, the workflow, the revision and the cursor, so enqueueing the same activation's
// backfill twice (or a continuation twice) while it is queued enqueues nothing (ErrDuplicate). A
// *crm.ValidationError names a bad field.
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
	return asynq.NewTask(TypeWorkflowBackfill, raw, asynq.Queue(QueueBulk), asynq.MaxRetry(25), asynq.TaskID(id)), nil
}

// HandleWorkflowBackfill handles a workflow:backfill task. While the workflow is active at the
// payload's revision, it pages through the live records of the workflow's object type from the
// cursor, Config.WorkflowBatchSize at a time; per batch it asks the engine for the verdicts (each
// record evaluated as existing), applies them in one script, enqueues one workflow:steps task for
// the records it enrolled, and writes its progress (BackfillProgress) as the task's result. After
// BackfillBatchesPerTask batches it enqueues its continuation. A paused workflow stops the backfill
// (it enrolls nothing, SPEC S20): activating it again with enroll-existing starts a new one. A bad
// payload wraps asynq.SkipRetry.
func (w *Worker) HandleWorkflowBackfill(ctx context.Context, t *asynq.Task) error {
	var p WorkflowBackfillPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode %s payload: %w: %w", TypeWorkflowBackfill, asynq.SkipRetry, err)
	}
	if err := p.validate(); err != nil {
		return fmt.Errorf("%s payload: %w: %w", TypeWorkflowBackfill, asynq.SkipRetry, err)
	}
	log := w.taskLogger(ctx, t).With("workflow_id", p.Workflow, "revision", p.Revision)
	progress := BackfillProgress{Workflow: p.Workflow, Revision: p.Revision, Done: p.Done, Enrolled: p.Enrolled, After: p.After}
	lists := engine.ListSets{}
	for range BackfillBatchesPerTask {
		if err := ctx.Err(); err != nil {
			return err
		}
		flow, err := w.store.Flow(ctx, p.TenantID, p.Workflow)
		if errors.Is(err, crm.ErrNotFound) {
			log.Warn("workflow not found: its backfill stops")
			return nil
		}
		if err != nil {
			return err
		}
		if flow.State != crm.FlowActive || flow.ActiveRevision != p.Revision {
			log.Info("workflow is not active at this revision: its backfill stops", "state", flow.State,
				"active_revision", flow.ActiveRevision, "done", progress.Done, "enrolled", progress.Enrolled)
			return w.recordBackfill(ctx, p.TenantID, flow.ObjectType, progress, "stopped")
		}
		wf, err := w.workflow(ctx, p.TenantID, crm.FlowRevision{Flow: p.Workflow, Revision: p.Revision})
		if err != nil {
			var ve *workflows.ValidationError
			if errors.As(err, &ve) {
				return fmt.Errorf("%w: %w", asynq.SkipRetry, err)
			}
			return err
		}
		recs, next, err := w.store.NextRecords(ctx, p.TenantID, flow.ObjectType, progress.After, w.cfg.WorkflowBatchSize, readsOf(wf))
		if err != nil {
			return err
		}
		n, err := w.backfillBatch(ctx, log, p.TenantID, flow, wf, recs, lists)
		if err != nil {
			return err
		}
		progress.Done += int64(len(recs))
		progress.Enrolled += int64(n)
		progress.After = next
		progress.Finished = next == ""
		w.writeProgress(t, log, progress)
		state := "running"
		if progress.Finished {
			state = "done"
		}
		if err := w.recordBackfill(ctx, p.TenantID, flow.ObjectType, progress, state); err != nil {
			return err
		}
		if progress.Finished {
			log.Info("backfill done", "done", progress.Done, "enrolled", progress.Enrolled)
			return nil
		}
	}
	next := p
	next.After, next.Done, next.Enrolled = progress.After, progress.Done, progress.Enrolled
	task, err := NewWorkflowBackfillTask(next)
	if err != nil {
		return fmt.Errorf("%w: %w", asynq.SkipRetry, err)
	}
	if _, err := w.enq.Enqueue(ctx, task); err != nil && !errors.Is(err, ErrDuplicate) {
		return fmt.Errorf("enqueue the backfill's continuation: %w", err)
	}
	log.Info("backfill continues in a new task", "done", progress.Done, "enrolled", progress.Enrolled)
	return nil
}

// backfillBatch evaluates one batch of live records and returns how many it enrolled.
func (w *Worker) backfillBatch(ctx context.Context, log *slog.Logger, t crm.TenantID, flow crm.Flow, wf *workflows.Workflow, recs []crm.Record, lists engine.ListSets) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	changes := make([]engine.Change, len(recs))
	for i := range recs {
		changes[i] = engine.Change{ID: recs[i].ID, Existing: true, Record: &recs[i]}
	}
	var ls engine.Lists
	if wf.Suppression != nil && len(wf.Suppression.Lists) > 0 {
		var err error
		if ls, err = w.listSets(ctx, log, t, flow.ObjectType, wf.Suppression.Lists, lists); err != nil {
			return 0, err
		}
	}
	vs := engine.Decide(wf, changes, ls, w.clock.Now())
	if len(vs) == 0 {
		return 0, nil
	}
	ref := crm.FlowRef{Name: flow.Name, Revision: flow.ActiveRevision, ObjectType: flow.ObjectType, Reenrollment: wf.Reenrollment}
	enrolled, err := w.store.EvaluateFlow(ctx, t, ref, vs)
	if err != nil {
		return 0, err
	}
	if len(enrolled) > 0 {
		w.metrics.enrolled.WithLabelValues(string(flow.ObjectType)).Add(float64(len(enrolled)))
		w.enqueueSteps(ctx, log, t, flow.Name, ref.Revision, 0, enrolled, nil, time.Time{})
	}
	return len(enrolled), nil
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
// recordBackfill keeps the backfill's progress in the store, where the API shows it and the CLI
// waits on it. Total is the number of live records when the backfill started.
func (w *Worker) recordBackfill(ctx context.Context, t crm.TenantID, o crm.ObjectType, p BackfillProgress, state string) error {
	b, ok, err := w.store.Backfill(ctx, t, p.Workflow)
	if err != nil {
		return err
	}
	// A backfill that is not running any more (done, stopped) belongs to an earlier activation.
	if !ok || b.Revision != p.Revision || b.State != "running" {
		total, err := w.store.CountRecords(ctx, t, o)
		if err != nil {
			return err
		}
		b = crm.Backfill{Revision: p.Revision, Total: total, StartedAt: w.clock.Now()}
	}
	b.State, b.Done, b.Enrolled = state, p.Done, p.Enrolled
	b.Total = max(b.Total, p.Done)
	return w.store.SetBackfill(ctx, t, p.Workflow, b)
}

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
