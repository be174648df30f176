package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TypeTrashSweep is the type of the task that starts a purge of every tenant's recycle bin: it
// enqueues one TypeTrashPurge per tenant. The scheduler enqueues one per tick.
const TypeTrashSweep = "trash:sweep"

// DedupeWindow is how long a finished sweep or purge of a given as_of keeps its task id taken, so
// that a second scheduler's sweep of the same tick, arriving late, enqueues nothing.
const DedupeWindow = time.Hour

// NewTrashSweepTask returns a trash:sweep task for queue default. With a non-zero asOf its task id
// is derived from asOf, so a second sweep of the same asOf within DedupeWindow is refused with
// ErrDuplicate.
func NewTrashSweepTask(asOf time.Time) *asynq.Task {
	return newSweepTask(TypeTrashSweep, asOf, 10, DedupeWindow)
}

// HandleTrashSweep handles a trash:sweep task: it enqueues one trash:purge per tenant, as of the
// sweep's as_of (or now), each with a task id derived from (tenant, as_of), so that two sweeps of
// the same tick enqueue each tenant's purge once. It returns an error (and is retried) if the
// tenants cannot be listed or a purge cannot be enqueued; the retry skips the purges already
// enqueued. A bad payload wraps asynq.SkipRetry.
func (w *Worker) HandleTrashSweep(ctx context.Context, t *asynq.Task) error {
	asOf, tenants, err := w.sweepStart(ctx, t)
	if err != nil {
		return err
	}
	log := w.taskLogger(ctx, t).With("as_of", asOf.UTC().Format(time.RFC3339Nano))
	var enqueued, duplicates int
	var errs []error
	for _, tenant := range tenants {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		_, err := w.enq.Enqueue(ctx, NewTrashPurgeTask(tenant, asOf))
		switch {
		case errors.Is(err, ErrDuplicate):
			duplicates++
		case err != nil:
			errs = append(errs, fmt.Errorf("tenant %s: %w", tenant, err))
		default:
			enqueued++
		}
	}
	log.Log(ctx, sweepLevel(enqueued, len(errs)), "trash sweep done", "tenants", len(tenants), "enqueued", enqueued, "already_enqueued", duplicates,
		"failed", len(errs))
	if len(errs) > 0 {
		return fmt.Errorf("enqueue purges: %w", errors.Join(errs...))
	}
	return nil
}

// stamp renders a time for a task id: UTC, to the millisecond (the precision of deletion times).
func stamp(t time.Time) string { return t.UTC().Format("20060102T150405.000Z") }
