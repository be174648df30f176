package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TypeJobsSweep is the type of the task that makes sure every unfinished bulk job has a runner: it
// re-enqueues jobs whose enqueue was lost (the API crashed, the queue was down) and jobs whose
// runner died (a SIGKILL): the job's lease runs out, and the new runner continues from what is still
// pending. The scheduler enqueues one per tick.
const TypeJobsSweep = "jobs:sweep"

// JobsSweepHorizon is how far back a sweep looks for unfinished jobs.
const JobsSweepHorizon = 7 * 24 * time.Hour

// NewJobsSweepTask returns a jobs:sweep task for queue default, unique per tick like the other sweeps.
func NewJobsSweepTask(asOf time.Time) *asynq.Task {
	return newSweepTask(TypeJobsSweep, asOf, 3, DedupeWindow)
}

// HandleJobsSweep handles a jobs:sweep task: for every tenant it enqueues a bulk:delete task, with
// the sweep's tick as its attempt, for each job created within JobsSweepHorizon that is not done.
// A job whose runner is alive is left alone by the new task (the runner holds its lease).
func (w *Worker) HandleJobsSweep(ctx context.Context, t *asynq.Task) error {
	asOf, tenants, _, err := w.routineSweepStart(ctx, t)
	if err != nil {
		return err
	}
	var enqueued int
	var errs []error
	for _, tenant := range tenants {
		if err := ctx.Err(); err != nil {
			return err
		}
		ids, err := w.store.UnfinishedJobs(ctx, tenant, asOf.Add(-JobsSweepHorizon))
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", tenant, err))
			continue
		}
		for _, id := range ids {
			_, err := w.enq.Enqueue(ctx, NewBulkDeleteTask(tenant, id, "sweep-"+stamp(asOf)))
			switch {
			case errors.Is(err, ErrDuplicate):
			case err != nil:
				errs = append(errs, fmt.Errorf("tenant %s, job %s: %w", tenant, id, err))
			default:
				enqueued++
			}
		}
	}
	w.taskLogger(ctx, t).Log(ctx, sweepLevel(enqueued, len(errs)), "jobs sweep done", "tenants", len(tenants), "enqueued", enqueued, "failed", len(errs))
	if len(errs) > 0 {
		return fmt.Errorf("enqueue unfinished jobs: %w", errors.Join(errs...))
	}
	return nil
}
