package bench

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
)

// DefaultFairnessRecords is the default size of the backfill of the fairness scenario.
const DefaultFairnessRecords = 1_000_000

// FairnessOpts are the options of Fairness; nil means the defaults.
type FairnessOpts struct {
	// IdleWrites is how many writes tenant B makes while tenant A does nothing. Defaults to 400.
	IdleWrites int
	// Rate is how many writes a second tenant B makes. Defaults to 20.
	Rate float64
	// BusyLimit bounds the measurement while tenant A works: when A's work is not done by then,
	// B's writes stop and A's workflow is paused (its queued steps then end at once), so that the
	// enrollments of B's last writes are not held up by the rest. Defaults to 5 minutes.
	BusyLimit time.Duration
}

func (o *FairnessOpts) withDefaults() FairnessOpts {
	var out FairnessOpts
	if o != nil {
		out = *o
	}
	if out.IdleWrites == 0 {
		out.IdleWrites = 400
	}
	if out.Rate == 0 {
		out.Rate = 20
	}
	if out.BusyLimit == 0 {
		out.BusyLimit = 5 * time.Minute
	}
	return out
}

// fairFlow is tenant A's workflow: every contact Seed makes matches it, and each enrollment's one
// step writes the contact.
const fairFlow = `name: bench-fair
object_type: contacts
trigger: hasSuffix(email, ".com")
actions:
  - type: set_property
    property: jobtitle
    value: Manager
`

// Fairness measures whether one tenant's big backfill stalls another tenant's enrollments. Tenant
// B (Professional plan) has an active workflow (lagFlow) and gets writes through the API at a
// steady opts.Rate a second, each making a contact match it. First, while tenant A does nothing,
// it measures B's write-to-enrollment lag over opts.IdleWrites writes. Then tenant A (n contacts,
// seeded through the store) activates fairFlow with enroll-existing, which enrolls all n contacts
// and runs a set_property step on each; B's writes go on at the same rate until A's backfill is
// done and none of its enrollments waits for its step, or for opts.BusyLimit (then A's workflow is
// paused, and Extra's a_steps_waiting says how many of A's steps were still to run), and their lag
// is measured again. One worker with the defaults of `crmflow worker` serves the queue. The ratio is
// B's p99 lag while A works over its p99 lag while A is idle: lower is better, and the goal is at
// most 2. Records is n, Seconds how long A's work took (RawSeconds the idle phase).
func Fairness(ctx context.Context, rdb redis.UniversalClient, queue asynq.RedisConnOpt, n int, opts *FairnessOpts) (Result, error) {
	o := opts.withDefaults()
	res := Result{Name: "fairness", Records: n, Goal: 2, LowerIsBetter: true, Extra: map[string]float64{}}
	a := randomTenant("bench-faira")
	defer Drop(context.WithoutCancel(ctx), rdb, a) // after the worker stopped
	s, err := startStackOn(ctx, rdb, queue, "bench-fairb", crm.PlanProfessional)
	if err != nil {
		return res, err
	}
	defer s.close(rdb, queue)
	if _, err := Seed(ctx, s.store, a, n); err != nil {
		return res, err
	}
	if _, err := s.store.CreateUser(ctx, a, benchUser, crm.AllPermissions, "crmflow-bench"); err != nil {
		return res, err
	}
	if _, _, err := s.store.PutFlow(ctx, a, "bench-fair", crm.Contacts, fairFlow, benchUser); err != nil {
		return res, err
	}

	// Tenant B: enough contacts for one write each, its workflow active, and the changes of its
	// seed drained before the first write.
	ids, err := seedContacts(ctx, s.store, s.tenant, o.IdleWrites+int(o.Rate*o.BusyLimit.Seconds()))
	if err != nil {
		return res, err
	}
	if err := s.activateLagFlow(ctx); err != nil {
		return res, err
	}
	if err := s.tasks.EnqueueChangesDrain(ctx, s.tenant, time.Now()); err != nil {
		return res, err
	}
	if err := waitFor(ctx, 5*time.Minute, "the drain of tenant B's seed", func() (bool, error) {
		cs, err := s.store.PendingChanges(ctx, s.tenant, 1)
		return len(cs) == 0, err
	}); err != nil {
		return res, err
	}

	// Idle: tenant A does nothing.
	start := time.Now()
	idleIDs := ids[:o.IdleWrites]
	sent, err := s.sendWrites(ctx, idleIDs, o.Rate, nil)
	if err != nil {
		return res, err
	}
	idle, err := s.enrollLags(ctx, s.tenant, "bench-lag", idleIDs, sent)
	if err != nil {
		return res, err
	}
	idleD := time.Since(start)

	// Busy: tenant A's backfill and its steps.
	f, err := s.store.ActivateFlow(ctx, a, "bench-fair", crm.ActivateFlowParams{By: benchUser})
	if err != nil {
		return res, err
	}
	start = time.Now()
	if err := s.tasks.EnqueueWorkflowBackfill(ctx, a, f.Name, f.ActiveRevision); err != nil {
		return res, err
	}
	var busy, finished atomic.Bool
	busy.Store(true)
	watch := make(chan error, 1)
	extra := map[string]float64{} // written by the watcher only, until it is done
	go func() {
		defer busy.Store(false)
		limit := time.Now().Add(o.BusyLimit)
		for time.Now().Before(limit) {
			bf, ok, err := s.store.Backfill(ctx, a, f.Name)
			if err != nil {
				watch <- err
				return
			}
			if ok && bf.State == crm.BackfillDone {
				if _, seen := extra["backfill_seconds"]; !seen {
					extra["backfill_seconds"] = time.Since(start).Seconds()
					extra["enrolled"] = float64(bf.Enrolled)
				}
				due, err := s.store.DueEnrollments(ctx, a, f.Name, time.Now().Add(24*time.Hour), 1)
				if err != nil {
					watch <- err
					return
				}
				if len(due) == 0 {
					finished.Store(true)
					watch <- nil
					return
				}
			}
			select {
			case <-ctx.Done():
				watch <- ctx.Err()
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		watch <- nil
	}()
	busyIDs := ids[o.IdleWrites:]
	sent, err = s.sendWrites(ctx, busyIDs, o.Rate, busy.Load)
	if err != nil {
		return res, err
	}
	d := time.Since(start)
	if err := <-watch; err != nil {
		return res, err
	}
	maps.Copy(res.Extra, extra)
	if !finished.Load() {
		// Measured for BusyLimit: A's workflow pauses, and its queued steps end at once.
		due, err := s.store.DueEnrollments(ctx, a, f.Name, time.Now().Add(24*time.Hour), n)
		if err != nil {
			return res, err
		}
		res.Extra["a_steps_waiting"] = float64(len(due))
		if bf, ok, err := s.store.Backfill(ctx, a, f.Name); err == nil && ok {
			res.Extra["enrolled"] = float64(bf.Enrolled)
		}
		if _, err := s.store.PauseFlow(ctx, a, f.Name, nil); err != nil {
			return res, err
		}
	}
	if len(sent) == 0 {
		return res, fmt.Errorf("tenant A's work was done before tenant B's first write: use more records")
	}
	loaded, err := s.enrollLags(ctx, s.tenant, "bench-lag", busyIDs, sent)
	if err != nil {
		return res, err
	}
	res.Seconds, res.RawSeconds = d.Seconds(), idleD.Seconds()
	res.Rate = float64(n) / res.Seconds
	idleP99, busyP99 := percentile(idle, 0.99), percentile(loaded, 0.99)
	res.Ratio = busyP99 / idleP99
	res.Extra["idle_p50_ms"], res.Extra["idle_p99_ms"] = percentile(idle, 0.50), idleP99
	res.Extra["busy_p50_ms"], res.Extra["busy_p99_ms"] = percentile(loaded, 0.50), busyP99
	res.Extra["busy_max_ms"] = loaded[len(loaded)-1]
	res.Extra["idle_writes"], res.Extra["busy_writes"] = float64(len(idle)), float64(len(loaded))
	return res, nil
}
