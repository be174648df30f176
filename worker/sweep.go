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
