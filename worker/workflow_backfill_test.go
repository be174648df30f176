package worker_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/worker"
)

// TestWorkflowBackfillWhoseRunnerDiedIsContinued: a runner counted a batch, applied it and died
// before it recorded anything more or enqueued the steps. While its lease holds, a workflow sweep's
// task leaves the backfill alone; once it is gone, the next sweep's task applies the batch in
// flight again, enqueues the steps its enrollments were waiting for, and goes on: every contact
// looked at and counted once, every matching one enrolled once.
func TestWorkflowBackfillWhoseRunnerDiedIsContinued(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 50)
	in := make([]crm.RecordInput, 150)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"firstname": "c" + strconv.Itoa(i), "email_bounced": strconv.FormatBool(i%3 == 0)}}
	}
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, in, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	b.drain(t)
	f := b.activate(t, "clean-bounced-contacts", cleanBounced)
	ref := crm.FlowRef{Name: f.Name, Revision: f.ActiveRevision, ObjectType: crm.Contacts}

	// The dead runner's state: the first batch done (in this test it enrolled nobody, so that a
	// second look would show), the second counted and applied, its steps never enqueued.
	var inFlight []crm.FlowVerdict
	for _, r := range recs[50:100] {
		if r.Properties["email_bounced"] == "true" {
			inFlight = append(inFlight, crm.FlowVerdict{ID: r.ID, Verdict: crm.VerdictMatch})
		}
	}
	enrolled, err := b.store.EvaluateFlow(b.ctx, b.tenant, ref, inFlight)
	require.NoError(t, err)
	require.Len(t, enrolled, len(inFlight))
	ok, err := b.store.LeaseBackfill(b.ctx, b.tenant, f.Name, "dead-runner", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	dead := crm.Backfill{Revision: f.ActiveRevision, State: "running", Total: 150, Done: 100, After: string(recs[99].ID),
		Prev: string(recs[49].ID), ActivatedAt: f.ActivatedAt, StartedAt: b.clock.Now()}
	ok, err = b.store.AdvanceBackfill(b.ctx, b.tenant, f.Name, "dead-runner", dead)
	require.NoError(t, err)
	require.True(t, ok)
	sweep := func() {
		t.Helper()
		b.clock.Advance(time.Second) // a new tick
		_, err := b.client.Enqueue(b.ctx, worker.NewWorkflowSweepTask(b.clock.Now()))
		require.NoError(t, err)
		b.runTasks(t)
	}

	sweep()
	bf, _, err := b.store.Backfill(b.ctx, b.tenant, f.Name)
	require.NoError(t, err)
	require.Equal(t, crm.BackfillRunning, bf.State, "left alone while its lease holds")
	require.EqualValues(t, 100, bf.Done)

	require.NoError(t, b.store.ReleaseBackfill(b.ctx, b.tenant, f.Name, "dead-runner")) // as its running out would
	sweep()
	bf, _, err = b.store.Backfill(b.ctx, b.tenant, f.Name)
	require.NoError(t, err)
	require.Equal(t, crm.BackfillDone, bf.State)
	require.EqualValues(t, 150, bf.Total)
	require.EqualValues(t, 150, bf.Done, "every contact counted once")
	matched := 0
	for i, r := range recs {
		if r.Properties["email_bounced"] != "true" {
			require.Empty(t, b.history(t, f.Name, r.ID), "contact %d", i)
			continue
		}
		if i < 50 {
			require.Empty(t, b.history(t, f.Name, r.ID), "contact %d: before the cursor, not looked at again", i)
			continue
		}
		matched++
		require.Equal(t, []string{"enrolled", "action", "completed"}, kinds(b.history(t, f.Name, r.ID)), "contact %d", i)
		_, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, r.ID, nil)
		require.ErrorIs(t, err, crm.ErrNotFound, "contact %d is in the bin", i)
	}
	require.EqualValues(t, matched, bf.Enrolled, "the dead runner's enrollments are counted, once")
}

// TestWorkflowSweepStopsTheBackfillOfAPausedWorkflowWhoseRunnerDied: the workflow paused (its
// blast-radius limit, say) after its backfill's runner died. No task continues the backfill of a
// paused workflow, so the sweep marks it stopped once no runner holds it, and leaves it while one
// does (that runner stops it at its next batch).
func TestWorkflowSweepStopsTheBackfillOfAPausedWorkflowWhoseRunnerDied(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 50)
	in := make([]crm.RecordInput, 120)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"firstname": "c" + strconv.Itoa(i), "email_bounced": "true"}}
	}
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, in, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	b.drain(t)
	f := b.activate(t, "clean-bounced-contacts", cleanBounced)
	ok, err := b.store.LeaseBackfill(b.ctx, b.tenant, f.Name, "dead-runner", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	dead := crm.Backfill{Revision: f.ActiveRevision, State: crm.BackfillRunning, Total: 120, Done: 50, After: string(recs[49].ID),
		Prev: string(recs[49].ID), ActivatedAt: f.ActivatedAt, StartedAt: b.clock.Now()}
	ok, err = b.store.AdvanceBackfill(b.ctx, b.tenant, f.Name, "dead-runner", dead)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = b.store.PauseFlow(b.ctx, b.tenant, f.Name, &crm.PauseOpts{Reason: "the blast-radius limit was reached"})
	require.NoError(t, err)
	sweep := func() crm.Backfill {
		t.Helper()
		b.clock.Advance(time.Second) // a new tick
		_, err := b.client.Enqueue(b.ctx, worker.NewWorkflowSweepTask(b.clock.Now()))
		require.NoError(t, err)
		b.runTasks(t)
		bf, _, err := b.store.Backfill(b.ctx, b.tenant, f.Name)
		require.NoError(t, err)
		return bf
	}

	bf := sweep()
	require.Equal(t, crm.BackfillRunning, bf.State, "left to its runner while its lease holds")

	require.NoError(t, b.store.ReleaseBackfill(b.ctx, b.tenant, f.Name, "dead-runner")) // as its running out would
	bf = sweep()
	require.Equal(t, crm.BackfillStopped, bf.State)
	require.EqualValues(t, 50, bf.Done, "its progress is kept")
	require.EqualValues(t, 120, bf.Total)
	for i, r := range recs[50:] {
		require.Empty(t, b.history(t, f.Name, r.ID), "contact %d: not looked at by a paused workflow", 50+i)
	}
}

// TestWorkflowSweepEnqueuesAgainWhatItsEarlierTaskLeft: a workflow sweep's steps task that never
// ran (its worker killed while it held it) holds its records back for the rest of the sweep grace
// period at most; the first sweep of the next period enqueues them again, and the step runs once.
func TestWorkflowSweepEnqueuesAgainWhatItsEarlierTaskLeft(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	id := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	f := b.activate(t, "clean-bounced-contacts", cleanBounced)
	// Enrolled, and its step's task lost.
	enrolled, err := b.store.EvaluateFlow(b.ctx, b.tenant, crm.FlowRef{Name: f.Name, Revision: f.ActiveRevision, ObjectType: crm.Contacts},
		[]crm.FlowVerdict{{ID: id, Verdict: crm.VerdictMatch}})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{id}, enrolled)
	pending := func() int {
		t.Helper()
		tasks, err := b.insp.ListPendingTasks(worker.QueueBulk) // late already: behind live work
		require.NoError(t, err)
		return len(tasks)
	}
	sweep := func(after time.Duration) {
		t.Helper()
		b.clock.Advance(after)
		require.NoError(t, b.w.ProcessTask(b.ctx, worker.NewWorkflowSweepTask(b.clock.Now())))
	}

	sweep(time.Minute + time.Second) // overdue by more than the grace (1m)
	require.Equal(t, 1, pending(), "the sweep enqueued the step")
	sweep(time.Second)
	require.Equal(t, 1, pending(), "the same period: already enqueued")
	sweep(time.Minute)
	require.Equal(t, 2, pending(), "the next period: enqueued again, whatever became of the first task")
	b.runTasks(t)
	require.Equal(t, []string{"enrolled", "action", "completed"}, kinds(b.history(t, f.Name, id)), "the step ran once")
	_, err = b.store.Record(b.ctx, b.tenant, crm.Contacts, id, nil)
	require.ErrorIs(t, err, crm.ErrNotFound)
}

// meddlingStore runs meddle before the n-th backfill batch it is asked to apply (counting from
// 1), as a pause or another runner could come between the batch's read and its application.
type meddlingStore struct {
	crm.Store
	n      int
	meddle func()
}

func (s *meddlingStore) ApplyBackfillBatch(ctx context.Context, t crm.TenantID, f crm.FlowRef, vs []crm.FlowVerdict, owner string, b crm.Backfill) ([]crm.RecordID, crm.BatchOutcome, error) {
	if s.n--; s.n == 0 {
		s.meddle()
	}
	return s.Store.ApplyBackfillBatch(ctx, t, f, vs, owner, b)
}

// TestWorkflowBackfillBatchMetByAPauseOrAnotherRunner: a batch is applied and counted in one step,
// which sees what came after the batch was read. Paused meanwhile, the batch enrolls nobody and is
// not counted, and the backfill stops there; with its lease taken over by another runner, the batch
// enrolls nobody, and the backfill is left as recorded, to that runner.
func TestWorkflowBackfillBatchMetByAPauseOrAnotherRunner(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		state crm.BackfillState
	}{{"paused", crm.BackfillStopped}, {"lease taken", crm.BackfillRunning}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupFlows(t, 2)
			var ids []crm.RecordID
			for range 6 {
				ids = append(ids, b.contact(t, map[string]string{"email_bounced": "true"}))
			}
			b.drain(t)
			f := b.activate(t, "clean-bounced-contacts", cleanBounced)
			st := &meddlingStore{Store: b.store, n: 2, meddle: func() {
				if tc.state == crm.BackfillStopped {
					_, err := b.store.PauseFlow(b.ctx, b.tenant, f.Name, nil)
					require.NoError(t, err)
					return
				}
				require.NoError(t, b.rdb.Del(b.ctx, redisstore.FlowBackfillLeaseKey(b.tenant, f.Name)).Err()) // ran out
				ok, err := b.store.LeaseBackfill(b.ctx, b.tenant, f.Name, "other-runner", time.Minute)
				require.NoError(t, err)
				require.True(t, ok)
			}}
			cfg := b.config()
			cfg.WorkflowBatchSize = 2
			cfg.MailStore = b.store
			w, err := worker.New(st, b.queue, cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = w.Close() })
			task, err := worker.NewWorkflowBackfillTask(worker.WorkflowBackfillPayload{TenantID: b.tenant, Workflow: f.Name, Revision: f.ActiveRevision})
			require.NoError(t, err)
			require.NoError(t, w.ProcessTask(b.ctx, task))

			bf, _, err := b.store.Backfill(b.ctx, b.tenant, f.Name)
			require.NoError(t, err)
			require.Equal(t, tc.state, bf.State)
			require.EqualValues(t, 2, bf.Done, "the first batch counted, the second not")
			require.EqualValues(t, 2, bf.Enrolled)
			require.Equal(t, string(ids[1]), bf.After)
			require.Equal(t, bf.After, bf.Prev, "nothing in flight")
			for i, id := range ids {
				enr, err := b.store.Enrollments(b.ctx, b.tenant, f.Name, crm.Contacts, []crm.RecordID{id})
				require.NoError(t, err)
				if i < 2 {
					require.Equal(t, crm.Enrolled, enr[0].State, "contact %d", i)
				} else {
					require.Empty(t, enr[0].State, "contact %d: not enrolled", i)
				}
			}
		})
	}
}

// TestWorkflowBackfillSeesAuthorityLostBetweenBatches: the activator's bulk_delete is taken away
// while the first batch is applied; the second batch reads the activator anew, enrolls nobody, and
// the workflow is paused (SPEC S23).
func TestWorkflowBackfillSeesAuthorityLostBetweenBatches(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 2)
	b.setUser(t, "ann@example.com", crm.Permissions{crm.PermDelete, crm.PermBulkDelete, crm.PermWorkflows}, false)
	var ids []crm.RecordID
	for range 6 {
		ids = append(ids, b.contact(t, map[string]string{"email_bounced": "true"}))
	}
	b.drain(t)
	f := b.activateAs(t, "ann@example.com", "clean-bounced-contacts", cleanBounced)
	st := &meddlingStore{Store: b.store, n: 1, meddle: func() {
		b.setUser(t, "ann@example.com", crm.Permissions{crm.PermDelete, crm.PermWorkflows}, false)
	}}
	cfg := b.config()
	cfg.WorkflowBatchSize = 2
	cfg.MailStore = b.store
	w, err := worker.New(st, b.queue, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	task, err := worker.NewWorkflowBackfillTask(worker.WorkflowBackfillPayload{TenantID: b.tenant, Workflow: f.Name, Revision: f.ActiveRevision})
	require.NoError(t, err)
	require.NoError(t, w.ProcessTask(b.ctx, task))

	got, err := b.store.Flow(b.ctx, b.tenant, f.Name)
	require.NoError(t, err)
	require.Equal(t, crm.FlowPaused, got.State)
	bf, _, err := b.store.Backfill(b.ctx, b.tenant, f.Name)
	require.NoError(t, err)
	require.Equal(t, crm.BackfillStopped, bf.State)
	require.EqualValues(t, 2, bf.Done, "the first batch alone")
	for i, id := range ids {
		enr, err := b.store.Enrollments(b.ctx, b.tenant, f.Name, crm.Contacts, []crm.RecordID{id})
		require.NoError(t, err)
		if i < 2 {
			require.Equal(t, crm.Enrolled, enr[0].State, "contact %d", i)
		} else {
			require.Empty(t, enr[0].State, "contact %d: not enrolled", i)
		}
	}
}
