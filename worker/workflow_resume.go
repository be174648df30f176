package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/workflows"
)

// TypeWorkflowResume is the type of the task that carries on a workflow activated again after a
// pause (at its blast-radius limit, say): it enqueues at once the steps of its enrolled records
// that came due while it was paused, rather than leaving them to the next workflow:sweep, which
// finds them only once they are overdue by Config.WorkflowSweepGrace. The API enqueues one per
// activation ([Client.EnqueueWorkflowResume]).
const TypeWorkflowResume = "workflow:resume"

// WorkflowResumePayload is the payload of a workflow:resume task.
type WorkflowResumePayload struct {
	// TenantID is the workflow's tenant.
	TenantID crm.TenantID `json:"tenant_id"`
	// Workflow is the workflow's name.
	Workflow string `json:"workflow"`
	// ActivatedAt is the activation that resumed the workflow (crm.Flow.ActivatedAt). A task of an
	// earlier activation does nothing.
	ActivatedAt time.Time `json:"activated_at"`
}

func (p WorkflowResumePayload) validate() error {
	if err := p.TenantID.Validate(); err != nil {
		return err
	}
	if err := workflows.ValidateName(p.Workflow); err != nil {
		return &crm.ValidationError{Field: "workflow", Code: "INVALID_WORKFLOW", Message: err.Error()}
	}
	if p.ActivatedAt.IsZero() {
		return &crm.ValidationError{Field: "activated_at", Code: "REQUIRED",
			Message: "activated_at is missing: give the activation's time (the workflow's activatedAt)"}
	}
	return nil
}

// NewWorkflowResumeTask returns a workflow:resume task for queue default. Its task id is derived
// from the tenant, the workflow and the activation, so enqueueing the same activation's resume
// twice while it is queued enqueues nothing (ErrDuplicate). A *crm.ValidationError names a bad
// field.
func NewWorkflowResumeTask(p WorkflowResumePayload) (*asynq.Task, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	p.ActivatedAt = p.ActivatedAt.UTC()
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", TypeWorkflowResume, err)
	}
	id := fmt.Sprintf("%s:%s:%s:%s", TypeWorkflowResume, p.TenantID, p.Workflow, stamp(p.ActivatedAt))
	return asynq.NewTask(TypeWorkflowResume, raw, asynq.Queue(QueueDefault), asynq.MaxRetry(3), asynq.TaskID(id)), nil
}

// HandleWorkflowResume handles a workflow:resume task. While the workflow is still active at the
// payload's activation, it does what the workflow:sweep does for one workflow, without the grace:
// it reads the enrolled records whose next step is due now (at most WorkflowSweepLimit; the sweep
// takes the rest), groups them by revision and step and enqueues workflow:steps tasks for them in
// batches, in queue bulk, named by the activation, so that a second run of the task enqueues
// nothing new. A record whose step is still to come (a delay) is not due, and its scheduled task
// runs it when it comes. A step enqueued both here and by a sweep runs once (see
// HandleWorkflowSteps). A workflow paused or activated again since, or gone, is left alone: a
// later activation has its own task. A bad payload wraps asynq.SkipRetry.
func (w *Worker) HandleWorkflowResume(ctx context.Context, t *asynq.Task) error {
	var p WorkflowResumePayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode %s payload: %w: %w", TypeWorkflowResume, asynq.SkipRetry, err)
	}
	if err := p.validate(); err != nil {
		return fmt.Errorf("%s payload: %w: %w", TypeWorkflowResume, asynq.SkipRetry, err)
	}
	log := w.taskLogger(ctx, t).With("tenant_id", p.TenantID, "workflow_id", p.Workflow)
	f, err := w.store.Flow(ctx, p.TenantID, p.Workflow)
	switch {
	case errors.Is(err, crm.ErrNotFound):
		log.Info("workflow not found: nothing to resume")
		return nil
	case err != nil:
		return fmt.Errorf("resume workflow %s: %w", p.Workflow, err)
	}
	if f.State != crm.FlowActive || !f.ActivatedAt.Equal(p.ActivatedAt) {
		log.Info("workflow paused or activated again since: nothing to resume for this activation", "state", f.State)
		return nil
	}
	due, enqueued, err := w.enqueueDue(ctx, p.TenantID, f, w.clock.Now(), "resume-"+stamp(p.ActivatedAt))
	if err != nil {
		return fmt.Errorf("resume workflow %s: %w", p.Workflow, err)
	}
	log.Info("workflow resumed: due steps enqueued", "due", due, "enqueued", enqueued)
	return nil
}
