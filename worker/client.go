package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
)

// ErrDuplicate means a task was not enqueued because the same task is already queued (or was run
// recently): a task of the same id, or a unique task of the same payload. Producers usually treat
// it as success. Errors wrapping it also wrap asynq.ErrTaskIDConflict or asynq.ErrDuplicateTask.
var ErrDuplicate = errors.New("worker: task already enqueued")

// Enqueuer puts tasks on the queue. *Client implements it; producers (the API, the scheduler) may
// depend on this interface instead.
type Enqueuer interface {
	// Enqueue puts a task on the queue. A task that is already queued is an error wrapping ErrDuplicate.
	Enqueue(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Client enqueues the tasks of this package. Safe for concurrent use; Close it when done.
type Client struct {
	c     *asynq.Client
	rc    redis.UniversalClient
	owned bool // false when the connections belong to a Worker, which closes them
}

var _ Enqueuer = (*Client)(nil)

// NewClient returns a Client of the queue at queue (for example asynq.RedisClientOpt{Addr: ...} or
// the result of asynq.ParseRedisURI). It dials lazily but holds a connection pool from the start:
// Close it. It panics, as asynq.NewClient does, on a RedisConnOpt of an unknown type.
func NewClient(queue asynq.RedisConnOpt) *Client {
	rc, ok := queue.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		panic(fmt.Sprintf("worker: unsupported queue connection option %T", queue))
	}
	return &Client{c: asynq.NewClientFromRedisClient(rc), rc: rc, owned: true}
}

// newSharedClient returns a Client on connections its caller owns and closes.
func newSharedClient(rc redis.UniversalClient) *Client {
	return &Client{c: asynq.NewClientFromRedisClient(rc), rc: rc}
}

// Close closes the client's connections.
func (c *Client) Close() error {
	if !c.owned {
		return nil
	}
	if err := c.rc.Close(); err != nil {
		return fmt.Errorf("worker: close client: %w", err)
	}
	return nil
}

// Ping checks that the queue's Redis answers; a scheduler uses it as its readiness check.
func (c *Client) Ping(ctx context.Context) error { return ping(ctx, c.rc) }

func ping(ctx context.Context, rc redis.UniversalClient) error {
	if err := rc.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping queue redis: %w", err)
	}
	return nil
}

// Enqueue puts a task on the queue with the task's own options and then opts. A task that is
// already queued returns an error wrapping ErrDuplicate; other errors are the queue's, wrapped.
func (c *Client) Enqueue(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	info, err := c.c.EnqueueContext(ctx, task, opts...)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict), errors.Is(err, asynq.ErrDuplicateTask):
		return nil, fmt.Errorf("enqueue %s: %w: %w", task.Type(), ErrDuplicate, err)
	case err != nil:
		return nil, fmt.Errorf("enqueue %s: %w", task.Type(), err)
	}
	return info, nil
}

// archivedTask reports whether the task of id in queue is in the queue's archive (failed for good),
// with the error of its last run.
func (c *Client) archivedTask(queue, id string) (lastErr string, archived bool, err error) {
	info, err := asynq.NewInspectorFromRedisClient(c.rc).GetTaskInfo(queue, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("read task %s: %w", id, err)
	}
	return info.LastErr, info.State == asynq.TaskStateArchived, nil
}

// EnqueueDeleteJob enqueues the run of a confirmed bulk delete job (see NewBulkDeleteTask). A job
// already queued is not an error. It makes Client an api.Tasks job enqueuer.
func (c *Client) EnqueueDeleteJob(ctx context.Context, t crm.TenantID, jobID string) error {
	if _, err := c.Enqueue(ctx, NewBulkDeleteTask(t, jobID, "api")); err != nil && !errors.Is(err, ErrDuplicate) {
		return err
	}
	return nil
}

// EnqueueMail enqueues the delivery of a pending email the store wrote with the change that caused
// it (see NewPendingMailTask), such as crm.PermanentDeleteResult.Mail. An email already queued is
// not an error: enqueueing twice sends once. A *crm.ValidationError for a bad email. It makes
// Client an api.Tasks mail enqueuer.
func (c *Client) EnqueueMail(ctx context.Context, t crm.TenantID, m crm.Mail) error {
	task, err := NewPendingMailTask(t, m)
	if err != nil {
		return err
	}
	if _, err := c.Enqueue(ctx, task); err != nil && !errors.Is(err, ErrDuplicate) {
		return err
	}
	return nil
}

// EnqueueMailSend enqueues a mail:send task (see NewMailSendTask). A *crm.ValidationError for a bad
// payload; ErrDuplicate when a task of the same tenant and idempotency key is queued.
func (c *Client) EnqueueMailSend(ctx context.Context, p MailSendPayload) (*asynq.TaskInfo, error) {
	task, err := NewMailSendTask(p)
	if err != nil {
		return nil, err
	}
	return c.Enqueue(ctx, task)
}

// EnqueuePermanentDeleteConfirmation enqueues the confirmation email of a permanent delete to the
// acting user (see NewPermanentDeleteConfirmation). Errors as EnqueueMailSend.
func (c *Client) EnqueuePermanentDeleteConfirmation(ctx context.Context, tenant crm.TenantID, userEmail, what string, at time.Time) (*asynq.TaskInfo, error) {
	task, err := NewPermanentDeleteConfirmation(tenant, userEmail, what, at)
	if err != nil {
		return nil, err
	}
	return c.Enqueue(ctx, task)
}

// EnqueueTrashSweep enqueues a trash:sweep as of asOf (zero: the worker's now). ErrDuplicate when
// a sweep of the same asOf is queued or ran within the dedupe window.
func (c *Client) EnqueueTrashSweep(ctx context.Context, asOf time.Time) (*asynq.TaskInfo, error) {
	return c.Enqueue(ctx, NewTrashSweepTask(asOf))
}

// EnqueueTrashPurge enqueues the trash:purge of one tenant as of asOf (zero: the worker's now).
// A *crm.ValidationError for a bad tenant; ErrDuplicate as for EnqueueTrashSweep.
func (c *Client) EnqueueTrashPurge(ctx context.Context, tenant crm.TenantID, asOf time.Time) (*asynq.TaskInfo, error) {
	if err := tenant.Validate(); err != nil {
		return nil, err
	}
	return c.Enqueue(ctx, NewTrashPurgeTask(tenant, asOf))
}

// EnqueueChangesDrain enqueues a changes:drain of tenant t as of at (see NewChangesDrainTask): the
// API calls it after a record write so that the workflow engine sees the change at once, rather
// than at the next changes:sweep. It also pushes the tenant on WakeKey, which a waiting worker pops
// to drain at once rather than at its next poll of the queue. A drain already queued for the same
// DrainWindow is not an error. A *crm.ValidationError for a bad tenant.
func (c *Client) EnqueueChangesDrain(ctx context.Context, t crm.TenantID, at time.Time) error {
	if err := t.Validate(); err != nil {
		return err
	}
	// The wake-up first: it is what a waiting worker acts on at once. The task is the durable
	// half, for a wake-up no worker was waiting for or one whose worker died.
	werr := c.wake(ctx, t)
	if _, err := c.Enqueue(ctx, NewChangesDrainTask(t, at)); err != nil && !errors.Is(err, ErrDuplicate) {
		return errors.Join(err, werr)
	}
	return werr
}

// EnqueueWorkflowBackfill enqueues the enroll-existing run of a workflow just activated at
// revision (see NewWorkflowBackfillTask). One already queued is not an error. A
// *crm.ValidationError for a bad tenant, workflow name or revision.
func (c *Client) EnqueueWorkflowBackfill(ctx context.Context, t crm.TenantID, workflow string, revision int64) error {
	task, err := NewWorkflowBackfillTask(WorkflowBackfillPayload{TenantID: t, Workflow: workflow, Revision: revision})
	if err != nil {
		return err
	}
	if _, err := c.Enqueue(ctx, task); err != nil && !errors.Is(err, ErrDuplicate) {
		return err
	}
	return nil
}

// EnqueueWorkflowSteps enqueues the first step of records just enrolled in a workflow at revision
// (for example by redisstore.Store.EnrollManually), at most crm.MaxScriptBatch of them (see
// NewWorkflowStepsTask). A task already queued for the same records is not an error; a step that
// was enqueued nowhere runs anyway, a little later, through the workflow:sweep. A
// *crm.ValidationError for a bad payload.
func (c *Client) EnqueueWorkflowSteps(ctx context.Context, t crm.TenantID, workflow string, revision int64, ids []crm.RecordID) error {
	task, err := NewWorkflowStepsTask(WorkflowStepsPayload{TenantID: t, Workflow: workflow, Revision: revision, RecordIDs: ids}, time.Time{})
	if err != nil {
		return err
	}
	if _, err := c.Enqueue(ctx, task); err != nil && !errors.Is(err, ErrDuplicate) {
		return err
	}
	return nil
}

// EnqueueWorkflowResume enqueues the resume of a workflow just activated again at activatedAt (its
// crm.Flow.ActivatedAt; see NewWorkflowResumeTask): the steps of its enrolled records that came
// due while it was paused are enqueued at once, not at the next workflow:sweep. One already queued
// is not an error; a resume that was enqueued nowhere is done, a little later, by the
// workflow:sweep. A *crm.ValidationError for a bad tenant, workflow name or time.
func (c *Client) EnqueueWorkflowResume(ctx context.Context, t crm.TenantID, workflow string, activatedAt time.Time) error {
	task, err := NewWorkflowResumeTask(WorkflowResumePayload{TenantID: t, Workflow: workflow, ActivatedAt: activatedAt})
	if err != nil {
		return err
	}
	if _, err := c.Enqueue(ctx, task); err != nil && !errors.Is(err, ErrDuplicate) {
		return err
	}
	return nil
}
