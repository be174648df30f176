package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmflow/crmflow/crm"
)

// TypeWorkflowSweep is the type of the task that makes sure every enrolled record's next step
// runs: it enqueues a workflow:steps task for the records of every active workflow whose next step
// is overdue by more than Config.WorkflowSweepGrace, because their task was lost (a crash between
// two writes, a queue outage) or because their workflow was paused when it came and is active again.
// It also makes sure every enroll-existing backfill under way has a runner: one whose runner died is
// continued. The scheduler enqueues one per tick, every 30 seconds by default.
const TypeWorkflowSweep = "workflow:sweep"

// WorkflowSweepLimit bounds how many overdue records of one workflow one sweep enqueues; the next
// sweep takes the rest.
const WorkflowSweepLimit = 10000

// NewWorkflowSweepTask returns a workflow:sweep task for queue default, unique per tick like the
// other sweeps.
func NewWorkflowSweepTask(asOf time.Time) *asynq.Task {
	return newSweepTask(TypeWorkflowSweep, asOf, 3, DedupeWindow)
}

// HandleWorkflowSweep handles a workflow:sweep task: for every tenant and every active workflow it
// reads the enrolled records whose next step was due at or before as_of minus
// Config.WorkflowSweepGrace (at most WorkflowSweepLimit), groups them by revision and step, and
// enqueues workflow:steps tasks for them in queue bulk (late already, they go behind live work,
// and a backfill's backlog found overdue stays bulk work), named by the grace period as_of falls
// in: a batch whose task of this period is still queued is not enqueued again, while one whose task never finished
// (its worker was killed) is enqueued again in the next period; one that runs twice does each step
// once (see HandleWorkflowSteps). When the workflow's backfill is
// running, it enqueues a workflow:backfill task for it, with the sweep's tick as its attempt: while
// the backfill's runner is alive it holds the lease and the task leaves it; once that runner has
// died, the task continues the backfill.
func (w *Worker) HandleWorkflowSweep(ctx context.Context, t *asynq.Task) error {
	asOf, tenants, _, err := w.routineSweepStart(ctx, t)
	if err != nil {
		return err
	}
	log := w.taskLogger(ctx, t)
	var overdue, enqueued, backfills int
	var errs []error
	for _, tenant := range tenants {
		if err := ctx.Err(); err != nil {
			return err
		}
		flows, err := w.store.Flows(ctx, tenant)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", tenant, err))
			continue
		}
		for _, f := range flows {
			if f.State != crm.FlowActive {
				if err := w.sweepStoppedBackfill(ctx, tenant, f); err != nil {
					errs = append(errs, fmt.Errorf("tenant %s, workflow %s backfill: %w", tenant, f.Name, err))
				}
				continue
			}
			n, e, err := w.sweepFlow(ctx, tenant, f, asOf)
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s, workflow %s: %w", tenant, f.Name, err))
			}
			overdue += n
			enqueued += e
			b, err := w.sweepBackfill(ctx, tenant, f, asOf)
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s, workflow %s backfill: %w", tenant, f.Name, err))
			}
			backfills += b
		}
	}
	log.Log(ctx, sweepLevel(overdue, enqueued, backfills, len(errs)), "workflow sweep done", "tenants", len(tenants), "overdue", overdue, "enqueued", enqueued,
		"backfills", backfills, "failed", len(errs))
	if len(errs) > 0 {
		return fmt.Errorf("sweep workflows: %w", errors.Join(errs...))
	}
	return nil
}

// sweepFlow enqueues the overdue steps of one workflow; it returns how many records were overdue
// and how many tasks it enqueued.
func (w *Worker) sweepFlow(ctx context.Context, t crm.TenantID, f crm.Flow, asOf time.Time) (int, int, error) {
	return w.enqueueDue(ctx, t, f, asOf.Add(-w.cfg.WorkflowSweepGrace), "sweep-"+stamp(asOf.Truncate(w.cfg.WorkflowSweepGrace)))
}

// enqueueDue enqueues, in queue bulk, the steps of the records enrolled in workflow f whose next
// step was due at or before until, at most WorkflowSweepLimit of them: one workflow:steps task per
// revision, step and Config.WorkflowBatchSize records, named by attempt. It returns how many
// records were due and how many tasks it enqueued. The workflow:sweep and the workflow:resume
// share it.
func (w *Worker) enqueueDue(ctx context.Context, t crm.TenantID, f crm.Flow, until time.Time, attempt string) (int, int, error) {
	ids, err := w.store.DueEnrollments(ctx, t, f.Name, until, WorkflowSweepLimit)
	if err != nil || len(ids) == 0 {
		return 0, 0, err
	}
	enrs, err := w.store.Enrollments(ctx, t, f.Name, f.ObjectType, ids)
	if err != nil {
		return 0, 0, err
	}
	type group struct {
		rev    int64
		step   int
		ids    []crm.RecordID
		counts []int
	}
	type key struct {
		rev  int64
		step int
	}
	var groups []*group
	byKey := map[key]*group{}
	for _, e := range enrs {
		if e.State != crm.Enrolled {
			continue
		}
		k := key{e.Revision, e.Step}
		g, ok := byKey[k]
		if !ok {
			g = &group{rev: e.Revision, step: e.Step}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.ids = append(g.ids, e.ID)
		g.counts = append(g.counts, e.Count)
	}
	log := w.log.With("tenant_id", t, "workflow_id", f.Name)
	enqueued := 0
	for _, g := range groups {
		p := WorkflowStepsPayload{TenantID: t, Workflow: f.Name, Revision: g.rev, Step: g.step, Attempt: attempt, Bulk: true}
		enqueued += w.enqueueSteps(ctx, log, p, g.ids, g.counts, time.Time{})
	}
	return len(ids), enqueued, nil
}

// sweepBackfill enqueues a workflow:backfill task for the backfill of f's activation when it is
// running, and returns how many it enqueued (0 or 1).
func (w *Worker) sweepBackfill(ctx context.Context, t crm.TenantID, f crm.Flow, asOf time.Time) (int, error) {
	bf, ok, err := w.store.Backfill(ctx, t, f.Name)
	if err != nil || !ok || bf.State != crm.BackfillRunning || bf.Revision != f.ActiveRevision || !bf.ActivatedAt.Equal(f.ActivatedAt) {
		return 0, err
	}
	task, err := NewWorkflowBackfillTask(WorkflowBackfillPayload{TenantID: t, Workflow: f.Name, Revision: bf.Revision,
		After: bf.After, Done: bf.Done, Enrolled: bf.Enrolled, ActivatedAt: bf.ActivatedAt, Attempt: "sweep-" + stamp(asOf)})
	if err != nil {
		return 0, err
	}
	switch _, err := w.enq.Enqueue(ctx, task); {
	case errors.Is(err, ErrDuplicate):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return 1, nil
}

// sweepStoppedBackfill marks stopped the backfill of a workflow that is no longer active when it
// still reads running and no runner holds it: its runner died before it saw the pause (a
// blast-radius limit's, say), and no task continues the backfill of a paused workflow, so it would
// read running for ever. A live runner stops it itself at its next batch.
func (w *Worker) sweepStoppedBackfill(ctx context.Context, t crm.TenantID, f crm.Flow) error {
	bf, ok, err := w.store.Backfill(ctx, t, f.Name)
	if err != nil || !ok || bf.State != crm.BackfillRunning {
		return err
	}
	owner := runnerID()
	leased, err := w.store.LeaseBackfill(ctx, t, f.Name, owner, w.cfg.JobLease)
	if err != nil || !leased {
		return err
	}
	defer func() { _ = w.store.ReleaseBackfill(context.WithoutCancel(ctx), t, f.Name, owner) }()
	// Read again under the lease: a runner may have moved it on, or finished it, meanwhile, and the
	// workflow may have been activated again (a new backfill, not yet started, reads running too).
	if bf, ok, err = w.store.Backfill(ctx, t, f.Name); err != nil || !ok || bf.State != crm.BackfillRunning {
		return err
	}
	now, err := w.store.Flow(ctx, t, f.Name)
	if err != nil {
		return err
	}
	if now.State == crm.FlowActive {
		return nil
	}
	bf.State = crm.BackfillStopped
	if err := w.store.SetBackfill(ctx, t, f.Name, bf); err != nil {
		return err
	}
	w.log.Info("backfill of a workflow no longer active marked stopped: its runner had stopped", "tenant_id", t,
		"workflow_id", f.Name, "state", f.State, "done", bf.Done, "total", bf.Total)
	return nil
}
