package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmflow/crmflow/crm"
)

// DefaultFullSweepEvery is Config.FullSweepEvery's default. A full walk of the four routine sweeps
// over 10,000 idle tenants costs about 115,000 Redis commands (the many-tenants bench scenario):
// every two hours that is 16 a second, a tenth of what an idle worker costs anyway. It is only the
// backstop for a lost activity mark (a process that died between a write and its mark, and lost
// the wake-up and the drain it was to enqueue too).
const DefaultFullSweepEvery = 2 * time.Hour

// SweepPayload is the payload of every sweep task (trash:sweep, jobs:sweep, mail:sweep,
// workflow:sweep, changes:sweep). A sweep is for every tenant, so it has no tenant_id.
type SweepPayload struct {
	// AsOf is the sweep's time: the scheduler's tick. Zero means the worker's now.
	AsOf time.Time `json:"as_of,omitzero"`
}

// newSweepTask returns a sweep task of type typ for queue default, retried at most maxRetry times.
// With a non-zero asOf its task id is derived from (typ, asOf), so a second sweep of the same tick
// within retention (several schedulers, or one ticking twice) is refused with ErrDuplicate.
func newSweepTask(typ string, asOf time.Time, maxRetry int, retention time.Duration) *asynq.Task {
	raw, _ := json.Marshal(SweepPayload{AsOf: asOf.UTC()}) // a struct of one time.Time always encodes
	opts := []asynq.Option{asynq.Queue(QueueDefault), asynq.MaxRetry(maxRetry)}
	if !asOf.IsZero() {
		opts = append(opts, asynq.TaskID(typ+":"+stamp(asOf)), asynq.Retention(retention))
	}
	return asynq.NewTask(typ, raw, opts...)
}

// sweepStart begins a sweep: it decodes the task's time (see sweepTime) and lists every tenant.
func (w *Worker) sweepStart(ctx context.Context, t *asynq.Task) (time.Time, []crm.TenantID, error) {
	asOf, err := w.sweepTime(t)
	if err != nil {
		return time.Time{}, nil, err
	}
	tenants, err := w.store.Tenants(ctx)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("list tenants: %w", err)
	}
	return asOf, tenants, nil
}

// routineSweepStart begins a routine sweep (changes:sweep, jobs:sweep, workflow:sweep and
// mail:sweep, which run every few seconds or minutes): it decodes the task's time and lists the tenants that changed something
// within twice Config.FullSweepEvery of it (crm.Store.ActiveTenants) or, for one sweep of each
// kind per FullSweepEvery (crm.Store.ClaimFullSweep), every tenant. So the cost of these sweeps
// follows activity, not the number of tenants, and a full walk finds what a lost activity mark
// hid. full says which it was.
func (w *Worker) routineSweepStart(ctx context.Context, t *asynq.Task) (asOf time.Time, tenants []crm.TenantID, full bool, err error) {
	if asOf, err = w.sweepTime(t); err != nil {
		return asOf, nil, false, err
	}
	full, err = w.store.ClaimFullSweep(ctx, t.Type(), asOf, w.cfg.FullSweepEvery)
	if err != nil {
		return asOf, nil, false, err
	}
	if full {
		tenants, err = w.store.Tenants(ctx)
	} else {
		tenants, err = w.store.ActiveTenants(ctx, asOf.Add(-2*w.cfg.FullSweepEvery))
	}
	if err != nil {
		return asOf, nil, false, fmt.Errorf("list tenants: %w", err)
	}
	return asOf, tenants, full, nil
}

// sweepTime decodes a sweep task's payload and returns its time: as_of, or the worker's now when it
// has none. A payload that does not decode wraps asynq.SkipRetry.
func (w *Worker) sweepTime(t *asynq.Task) (time.Time, error) {
	var p SweepPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return time.Time{}, fmt.Errorf("decode %s payload: %w: %w", t.Type(), asynq.SkipRetry, err)
	}
	if p.AsOf.IsZero() {
		return w.clock.Now(), nil
	}
	return p.AsOf, nil
}

// sweepTypes are the routine sweeps, which run every few seconds or minutes whether or not there is
// anything to do: their "task done" line is at debug level.
var sweepTypes = map[string]bool{
	TypeChangesSweep: true, TypeJobsSweep: true, TypeMailSweep: true, TypeTrashSweep: true, TypeWorkflowSweep: true,
}

// sweepLevel is the level of a sweep's summary line: info when it found something to do (any of
// counts is not zero), else debug, so that idle sweeps do not fill the journal.
func sweepLevel(counts ...int) slog.Level {
	for _, n := range counts {
		if n != 0 {
			return slog.LevelInfo
		}
	}
	return slog.LevelDebug
}
