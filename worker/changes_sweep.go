package worker

import (
	"context"
	"encoding/json"
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

// ChangesSweepPayload is the payload of a changes:sweep task. A sweep is for every tenant, so it
// has no tenant_id.
type ChangesSweepPayload struct {
	// AsOf is the sweep's time (the scheduler's tick). Zero means the worker's now.
	AsOf time.Time `json:"as_of,omitzero"`
}

// NewChangesSweepTask returns a changes:sweep task for queue default. With a non-zero asOf its task
// id is derived from asOf, so a second sweep of the same tick within a minute is refused with
// ErrDuplicate.
func NewChangesSweepTask(asOf time.Time) *asynq.Task {
	raw, _ := json.Marshal(ChangesSweepPayload{AsOf: asOf.UTC()}) // a struct of one time.Time always encodes
	opts := []asynq.Option{asynq.Queue(QueueDefault), asynq.MaxRetry(1)}
	if !asOf.IsZero() {
		opts = append(opts, asynq.TaskID(TypeChangesSweep+":"+stamp(asOf)), asynq.Retention(time.Minute))
	}
	return asynq.NewTask(TypeChangesSweep, raw, opts...)
}

// HandleChangesSweep handles a changes:sweep task: it finds the tenants with change marks waiting
// (one round trip for all of them) and enqueues a changes:drain for each, as of the sweep's time;
// a drain already queued for that DrainWindow is not enqueued again.
func (w *Worker) HandleChangesSweep(ctx context.Context, t *asynq.Task) error {
	var p ChangesSweepPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode %s payload: %w: %w", TypeChangesSweep, asynq.SkipRetry, err)
	}
	asOf := p.AsOf
	if asOf.IsZero() {
		asOf = w.clock.Now()
	}
	tenants, err := w.store.Tenants(ctx)
	if err != nil {
		return fmt.Errorf("list tenants: %w", err)
	}
	with, err := w.flows.TenantsWithChanges(ctx, tenants)
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
