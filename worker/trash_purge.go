package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmflow/crmflow/crm"
)

// TypeTrashPurge is the type of the task that removes for good the expired recycle-bin entries of
// one tenant.
const TypeTrashPurge = "trash:purge"

// PurgeBatchSize is how many bin entries one store call removes at most.
const PurgeBatchSize = 500

// AllTenants, given to Purge as the tenant, purges every tenant.
const AllTenants crm.TenantID = ""

// TrashPurgePayload is the payload of a trash:purge task.
type TrashPurgePayload struct {
	// TenantID is the tenant whose bin is purged.
	TenantID crm.TenantID `json:"tenant_id"`
	// AsOf is the time the purge is computed from: it removes what was deleted at or before
	// AsOf minus the retention. Zero means the worker's now. A time after the worker's now is
	// taken as now, so that no task can purge early.
	AsOf time.Time `json:"as_of,omitzero"`
}

// NewTrashPurgeTask returns a trash:purge task of tenant for queue bulk. With a non-zero asOf its
// task id is derived from (tenant, asOf), so that a second purge of the same tenant and asOf
// within DedupeWindow is refused with ErrDuplicate.
func NewTrashPurgeTask(tenant crm.TenantID, asOf time.Time) *asynq.Task {
	p := TrashPurgePayload{TenantID: tenant, AsOf: asOf.UTC()}
	raw, _ := json.Marshal(p) // a string and a time.Time always encode
	opts := []asynq.Option{asynq.Queue(QueueBulk), asynq.MaxRetry(10)}
	if !asOf.IsZero() {
		opts = append(opts, asynq.TaskID(TypeTrashPurge+":"+string(tenant)+":"+stamp(asOf)), asynq.Retention(DedupeWindow))
	}
	return asynq.NewTask(TypeTrashPurge, raw, opts...)
}

// HandleTrashPurge handles a trash:purge task: for every object type of the tenant it calls
// store.PurgeExpired in batches of PurgeBatchSize, horizon as_of minus Config.Retention, until a
// batch comes back short, checking ctx between batches. The store re-checks every deletion time
// inside its script, so a purge run twice (a retry, two workers) deletes nothing twice and nothing
// early. An error (store, cancelled ctx) is retried; what was purged stays purged. A bad payload
// wraps asynq.SkipRetry.
func (w *Worker) HandleTrashPurge(ctx context.Context, t *asynq.Task) error {
	var p TrashPurgePayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode %s payload: %w: %w", TypeTrashPurge, asynq.SkipRetry, err)
	}
	if err := p.TenantID.Validate(); err != nil {
		return fmt.Errorf("%s payload: %w: %w", TypeTrashPurge, asynq.SkipRetry, err)
	}
	log := w.taskLogger(ctx, t)
	now := w.clock.Now()
	asOf := p.AsOf
	switch {
	case asOf.IsZero():
		asOf = now
	case asOf.After(now):
		log.Warn("purge as_of is in the future: purging as of now instead, so that nothing goes early",
			"as_of", asOf.Format(time.RFC3339Nano), "now", now.UTC().Format(time.RFC3339Nano))
		asOf = now
	}
	horizon := asOf.Add(-w.cfg.Retention)
	counts, forgot, err := purgeTenant(ctx, w.store, p.TenantID, horizon, PurgeBatchSize, false,
		func(o crm.ObjectType, n int) { w.metrics.purged.WithLabelValues(objectTypeLabel(o)).Add(float64(n)) })
	attrs := []any{"horizon", horizon.UTC().Format(time.RFC3339Nano), "operations_forgotten", forgot}
	var total int64
	for o, n := range counts {
		total += n
		if n > 0 {
			attrs = append(attrs, "purged_"+string(o), n)
		}
	}
	log.Info("trash purge done", append(attrs, "purged", total)...)
	return err
}

// PurgeOpts are options of Purge. nil means the defaults.
type PurgeOpts struct {
	// BatchSize is how many bin entries one store call removes at most. Defaults to PurgeBatchSize.
	BatchSize int
	// DryRun counts what would be purged (store.CountExpired) and removes nothing.
	DryRun bool
	// Retention is how long a deleted record stays restorable. Defaults to crm.DefaultRetention.
	Retention time.Duration
}

// Purge removes for good, at once, the bin entries deleted at or before asOf minus the retention:
// of one tenant, or of every tenant with AllTenants. It is the work of the trash:purge tasks, for
// the `crmflow purge` command; unlike a task it honours an asOf in the future, which the operator
// asked for. It returns, per tenant and object type (every type of the tenant, zeros included), how
// many entries it removed (or, with opts.DryRun, would remove). Purging twice removes nothing twice.
//
// It checks ctx between batches. On errors it goes on with the other tenants and returns what it
// did with the errors joined; an unknown tenant is a *crm.NotFoundError, a zero asOf or a bad
// option an error naming it.
func Purge(ctx context.Context, store crm.Store, tenant crm.TenantID, asOf time.Time, opts *PurgeOpts) (map[crm.TenantID]map[crm.ObjectType]int64, error) {
	var o PurgeOpts
	if opts != nil {
		o = *opts
	}
	if o.BatchSize == 0 {
		o.BatchSize = PurgeBatchSize
	}
	if o.Retention == 0 {
		o.Retention = crm.DefaultRetention
	}
	switch {
	case store == nil:
		return nil, errors.New("worker: Purge needs a store")
	case asOf.IsZero():
		return nil, errors.New("worker: Purge needs the time to purge as of (asOf): pass the current time for a purge now")
	case o.BatchSize < 0:
		return nil, fmt.Errorf("worker: PurgeOpts.BatchSize must be positive, got %d", o.BatchSize)
	case o.Retention < 0:
		return nil, fmt.Errorf("worker: PurgeOpts.Retention must be positive, got %s", o.Retention)
	}
	tenants := []crm.TenantID{tenant}
	if tenant == AllTenants {
		var err error
		if tenants, err = store.Tenants(ctx); err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
	} else if _, err := store.Tenant(ctx, tenant); err != nil {
		return nil, fmt.Errorf("purge tenant %s: %w", tenant, err)
	}
	horizon := asOf.Add(-o.Retention)
	out := make(map[crm.TenantID]map[crm.ObjectType]int64, len(tenants))
	var errs []error
	for _, t := range tenants {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		counts, _, err := purgeTenant(ctx, store, t, horizon, o.BatchSize, o.DryRun, nil)
		if counts != nil {
			out[t] = counts
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("purge tenant %s: %w", t, err))
		}
	}
	return out, errors.Join(errs...)
}

// purgeTenant purges (or with dryRun counts) the expired bin entries of every object type of a
// tenant, in batches of batch, until a batch comes back short; then, unless dryRun, it forgets the
// tenant's operations that are over (crm.OperationStore.ForgetOperations) and returns how many.
// onBatch, if set, is told each batch.
func purgeTenant(ctx context.Context, store crm.Store, t crm.TenantID, horizon time.Time, batch int, dryRun bool,
	onBatch func(crm.ObjectType, int)) (map[crm.ObjectType]int64, int, error) {
	out, err := purgeTypes(ctx, store, t, horizon, batch, dryRun, onBatch)
	if err != nil || dryRun {
		return out, 0, err
	}
	forgot, err := store.ForgetOperations(ctx, t, horizon, batch)
	if err != nil {
		return out, forgot, fmt.Errorf("forget the operations that are over: %w", err)
	}
	return out, forgot, nil
}

// purgeTypes is purgeTenant's purge of each object type's bin.
func purgeTypes(ctx context.Context, store crm.Store, t crm.TenantID, horizon time.Time, batch int, dryRun bool,
	onBatch func(crm.ObjectType, int)) (map[crm.ObjectType]int64, error) {
	types, err := store.AllObjectTypes(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("list object types: %w", err)
	}
	out := make(map[crm.ObjectType]int64, len(types))
	for _, o := range types {
		if dryRun {
			n, err := store.CountExpired(ctx, t, o, horizon)
			if err != nil {
				return out, fmt.Errorf("count expired %s: %w", o, err)
			}
			out[o] = n
			continue
		}
		for {
			if err := ctx.Err(); err != nil {
				return out, fmt.Errorf("purge %s: %w", o, err)
			}
			n, err := store.PurgeExpired(ctx, t, o, horizon, batch)
			if errors.Is(err, crm.ErrNotReplicated) {
				// The batch stands. Lost in a failover, it would be purged again by a later run:
				// nothing a purge removes comes back wrongly, so go on.
				err = nil
			}
			out[o] += int64(n)
			if n > 0 && onBatch != nil {
				onBatch(o, n)
			}
			if err != nil {
				return out, fmt.Errorf("purge %s: %w", o, err)
			}
			if n < batch {
				break
			}
		}
	}
	return out, nil
}
