package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TypeChangesSweep is the type of the task that makes sure every tenant's record changes reach the
// workflow engine: it enqueues a changes:drain for each tenant with change marks waiting (a drain
// the API did not enqueue, or one that ended while new writes came in). The scheduler enqueues one
// per tick, every 2 seconds by default.
const TypeChangesSweep = "changes:sweep"

// NewChangesSweepTask returns a changes:sweep task for queue default. With a non-zero asOf its task
// id is derived from asOf, so a second sweep of the same tick within a minute is refused with
// ErrDuplicate.
func NewChangesSweepTask(asOf time.Time) *asynq.Task {
	return newSweepTask(TypeChangesSweep, asOf, 1, time.Minute)
}

// HandleChangesSweep handles a changes:sweep task: it finds the tenants with change marks waiting
// (one round trip for all of them) and enqueues a changes:drain for each, as of the sweep's time;
// a drain already queued for that DrainWindow is not enqueued again.
func (w *Worker) HandleChangesSweep(ctx context.Context, t *asynq.Task) error {
	asOf, tenants, _, err := w.routineSweepStart(ctx, t)
	if err != nil {
		return err
	}
	with, err := w.store.TenantsWithChanges(ctx, tenants)
	if err != nil {
		return err
	}
	var enqueued int
	var errs []error
	for _, tenant := range with {
		_, err := w.enq.Enqueue(ctx, NewChangesDrainTask(tenant, asOf))
		switch {
		case errors.Is(err, ErrDuplicate):
		case err != nil:
			errs = append(errs, fmt.Errorf("tenant %s: %w", tenant, err))
		default:
			enqueued++
		}
	}
	if len(with) > 0 {
		w.taskLogger(ctx, t).Debug("changes sweep done", "tenants_with_changes", len(with), "enqueued", enqueued, "failed", len(errs))
	}
	if len(errs) > 0 {
		return fmt.Errorf("enqueue drains: %w", errors.Join(errs...))
	}
	return nil
}
