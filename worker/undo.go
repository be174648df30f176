package worker

import (
	"context"
	"errors"
	"log/slog"

	"github.com/crmflow/crmflow/crm"
)

// UndoBatchSize is how many records one batch of an undo job restores.
const UndoBatchSize = 500

// runUndo runs undo job j (SPEC S26) for the bulk:delete task that named it: an undo job is a job
// like a bulk delete's, found and re-enqueued by the same sweep, so it runs under the same task
// type and lease. Each batch restores the next UndoBatchSize records of the operation still in the
// bin, in one script that also moves the job's cursor and records its progress and failures, so a
// crash, a SIGKILL or a handed-back task loses nothing and restores nothing twice: the next runner
// goes on from the cursor. The lease is renewed before each batch and ctx checked between them.
// Each batch acts with the job creator's authority as it is then: once the creator is disabled,
// gone or without restore, the store ends the job stopped in the batch's step and nothing more is
// restored.
func (w *Worker) runUndo(ctx context.Context, p BulkDeletePayload, j crm.Job, owner string, log *slog.Logger) error {
	t := p.TenantID
	log = log.With("operation", j.By.Ref)
	unacked := false
	for step := 0; ; step++ {
		first := step == 0
		if err := ctx.Err(); err != nil {
			return err
		}
		if step == w.cfg.BulkSlice {
			return w.handOn(ctx, log, p, owner)
		}
		if !first {
			ok, err := w.store.LeaseJob(ctx, t, j.ID, owner, w.cfg.JobLease)
			if err != nil {
				return err
			}
			if !ok {
				log.Info("undo job is run by another worker; leaving it")
				return nil
			}
		}
		next, err := w.store.RunUndoBatch(ctx, t, j.ID, UndoBatchSize)
		if errors.Is(err, crm.ErrNotReplicated) {
			if !unacked {
				log.Warn("undo batches are not acknowledged by enough replicas; going on", "error", err.Error())
			}
			unacked, err = true, nil
		}
		if err != nil {
			return err
		}
		// This batch's count (no other runner moves the job while this one holds the lease).
		w.metrics.undone.WithLabelValues(objectTypeLabel(next.ObjectType)).Add(float64(max(0, next.Done-j.Done)))
		w.metrics.undoFailed.WithLabelValues(objectTypeLabel(next.ObjectType)).Add(float64(max(0, next.Skipped-j.Skipped)))
		j = next
		if j.State == crm.JobStopped {
			// The reason names the user: it stays on the job, out of the logs.
			log.Warn("undo job stopped: its creator may no longer restore (the job's status says why)",
				"total", j.Total, "restored", j.Done, "not_restored", j.Skipped)
			return nil
		}
		if j.State.Finished() {
			log.Info("undo job done", "total", j.Total, "restored", j.Done, "not_restored", j.Skipped)
			return nil
		}
	}
}
