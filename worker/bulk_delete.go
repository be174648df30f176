package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmflow/crmflow/crm"
)

// TypeBulkDelete is the type of the task that runs a confirmed bulk delete job (see
// crm.RedisStore.CreateDeleteJob): the selection moves to the bin in batches.
const TypeBulkDelete = "bulk:delete"

// BulkDeleteBatchSize is how many records one store call moves to the bin.
const BulkDeleteBatchSize = 500

// BulkDeletePayload is the payload of a bulk:delete task.
type BulkDeletePayload struct {
	// TenantID is the job's tenant.
	TenantID crm.TenantID `json:"tenant_id"`
	// JobID is the job to run.
	JobID string `json:"job_id"`
}

// NewBulkDeleteTask returns a bulk:delete task for queue bulk. Its task id is derived from the
// tenant, the job and attempt, so the API's enqueue and a sweep's re-enqueue of the same attempt
// collapse into one; a sweep passes a new attempt to hand a job whose runner died to a new one.
func NewBulkDeleteTask(tenant crm.TenantID, jobID, attempt string) *asynq.Task {
	raw, _ := json.Marshal(BulkDeletePayload{TenantID: tenant, JobID: jobID}) // strings always encode
	return asynq.NewTask(TypeBulkDelete, raw, asynq.Queue(QueueBulk), asynq.MaxRetry(25),
		asynq.TaskID(TypeBulkDelete+":"+string(tenant)+":"+jobID+":"+attempt), asynq.Retention(time.Hour))
}

// HandleBulkDelete handles a bulk:delete task. It takes the job's lease (or leaves the job alone
// while another runner holds it), then moves the job's pending records to the bin BulkDeleteBatchSize
// at a time, each batch one script that also records the progress, renewing the lease before each
// batch and checking ctx between them. A crash, a SIGKILL or a handed-back task loses nothing and
// repeats nothing: the next runner continues from what is still pending.
func (w *Worker) HandleBulkDelete(ctx context.Context, t *asynq.Task) error {
	var p BulkDeletePayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode %s payload: %w: %w", TypeBulkDelete, asynq.SkipRetry, err)
	}
	if err := p.TenantID.Validate(); err != nil || p.JobID == "" {
		return fmt.Errorf("%s payload names no valid tenant and job: %w", TypeBulkDelete, asynq.SkipRetry)
	}
	log := w.taskLogger(ctx, t).With("job_id", p.JobID)
	owner := runnerID()
	defer func() { _ = w.store.ReleaseJob(context.WithoutCancel(ctx), p.TenantID, p.JobID, owner) }()
	var before crm.Job
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return err
		}
		ok, err := w.store.LeaseJob(ctx, p.TenantID, p.JobID, owner, w.cfg.JobLease)
		if err != nil {
			return err
		}
		if !ok {
			log.Info("bulk delete job is run by another worker; leaving it")
			return nil
		}
		if first {
			if before, err = w.store.Job(ctx, p.TenantID, p.JobID); err != nil {
				return err
			}
		}
		job, err := w.store.RunDeleteJobBatch(ctx, p.TenantID, p.JobID, BulkDeleteBatchSize)
		if err != nil {
			return err
		}
		// Count what this batch moved (the job's done count is the job's, across runners; while
		// this runner holds the lease, no other moves any).
		w.metrics.bulkDeleted.WithLabelValues(objectTypeLabel(job.ObjectType)).Add(float64(job.Done - before.Done))
		before = job
		if job.State == crm.JobDone {
			log.Info("bulk delete job done", "total", job.Total, "done", job.Done, "skipped", job.Skipped)
			return nil
		}
	}
}

// runnerID names this process and one handler run, for leases.
func runnerID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), randomToken())
}
