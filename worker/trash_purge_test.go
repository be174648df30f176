package worker_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/redistest"
	"github.com/crmflow/crmflow/worker"
)

const retention = crm.DefaultRetention

// binFixture fills the bundle's tenant: 6 companies and 2 records of a custom type deleted at t0,
// then 4 companies deleted at t0+10 days, and 3 live companies. The store clock ends at t0+10 days.
func binFixture(t *testing.T, b *testBundle, tenant crm.TenantID) {
	t.Helper()
	_, err := b.store.CreateObjectType(b.ctx, tenant, crm.ObjectTypeDef{Name: "pets",
		Properties: []crm.Property{{Name: "name", Type: crm.TypeString}}}, "ops@x.example")
	require.NoError(t, err)
	pets, err := b.store.CreateRecords(b.ctx, tenant, "pets", []crm.RecordInput{
		{Properties: map[string]string{"name": "Rex"}}, {Properties: map[string]string{"name": "Tom"}},
	}, crm.Actor{})
	require.NoError(t, err)
	ids := b.companies(t, tenant, 13)
	b.clock.Set(t0)
	b.archive(t, tenant, crm.Companies, ids[:6])
	b.archive(t, tenant, "pets", []crm.RecordID{pets[0].ID, pets[1].ID})
	b.clock.Set(t0.Add(10 * 24 * time.Hour))
	b.archive(t, tenant, crm.Companies, ids[6:10])
}

func TestPurge(t *testing.T) {
	t.Parallel()

	t.Run("NeverEarlyNeverTwice", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		binFixture(t, b, b.tenant)

		// One millisecond before the first deletions expire, nothing goes.
		got, err := worker.Purge(b.ctx, b.store, b.tenant, t0.Add(retention-time.Millisecond), nil)
		require.NoError(t, err)
		require.Equal(t, map[crm.ObjectType]int64{crm.Contacts: 0, crm.Companies: 0, crm.Deals: 0,
			crm.Tickets: 0, crm.Calls: 0, "pets": 0}, got[b.tenant])

		// A dry run counts and removes nothing.
		asOf := t0.Add(retention)
		got, err = worker.Purge(b.ctx, b.store, b.tenant, asOf, &worker.PurgeOpts{DryRun: true})
		require.NoError(t, err)
		require.EqualValues(t, 6, got[b.tenant][crm.Companies])
		require.EqualValues(t, 2, got[b.tenant]["pets"])
		require.EqualValues(t, 10, b.binSize(t, b.tenant, crm.Companies))

		// At the horizon exactly, what was deleted at t0 goes, in batches of 4.
		got, err = worker.Purge(b.ctx, b.store, b.tenant, asOf, &worker.PurgeOpts{BatchSize: 4})
		require.NoError(t, err)
		require.EqualValues(t, 6, got[b.tenant][crm.Companies])
		require.EqualValues(t, 2, got[b.tenant]["pets"])
		require.EqualValues(t, 4, b.binSize(t, b.tenant, crm.Companies))
		require.EqualValues(t, 0, b.binSize(t, b.tenant, "pets"))

		// Purging again removes nothing twice.
		got, err = worker.Purge(b.ctx, b.store, b.tenant, asOf, nil)
		require.NoError(t, err)
		require.EqualValues(t, 0, got[b.tenant][crm.Companies])
		require.EqualValues(t, 4, b.binSize(t, b.tenant, crm.Companies))

		// A longer retention is honoured: with 100 days, nothing more goes 95 days after t0+10d.
		got, err = worker.Purge(b.ctx, b.store, b.tenant, t0.Add(105*24*time.Hour), &worker.PurgeOpts{Retention: 100 * 24 * time.Hour})
		require.NoError(t, err)
		require.EqualValues(t, 0, got[b.tenant][crm.Companies])
		// Live records are never touched.
		page, err := b.store.ListRecords(b.ctx, b.tenant, crm.Companies, &crm.ListOpts{Limit: 100})
		require.NoError(t, err)
		require.Len(t, page.Records, 3)
	})

	t.Run("AllTenants", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		other := crm.TenantID(redistest.Tenant(t))
		_, err := b.store.CreateTenant(b.ctx, other, crm.PlanFree)
		require.NoError(t, err)
		binFixture(t, b, b.tenant)
		binFixture(t, b, other)

		got, err := worker.Purge(b.ctx, b.store, worker.AllTenants, t0.Add(retention+time.Second), nil)
		require.NoError(t, err)
		require.Len(t, got, 2)
		for _, tenant := range []crm.TenantID{b.tenant, other} {
			require.EqualValues(t, 6, got[tenant][crm.Companies])
			require.EqualValues(t, 4, b.binSize(t, tenant, crm.Companies))
		}
	})

	// Two purges at once (two workers, or the command beside the scheduled purge) remove each
	// entry once between them.
	t.Run("ConcurrentPurgesRemoveEachEntryOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.clock.Set(t0)
		b.archive(t, b.tenant, crm.Companies, b.companies(t, b.tenant, 1500))
		type result struct {
			n   int64
			err error
		}
		results := make(chan result, 2)
		for range 2 {
			go func() {
				got, err := worker.Purge(b.ctx, b.store, b.tenant, t0.Add(retention), &worker.PurgeOpts{BatchSize: 100})
				results <- result{got[b.tenant][crm.Companies], err}
			}()
		}
		r1, r2 := <-results, <-results
		require.NoError(t, r1.err)
		require.NoError(t, r2.err)
		require.EqualValues(t, 1500, r1.n+r2.n)
		require.EqualValues(t, 0, b.binSize(t, b.tenant, crm.Companies))
	})

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := worker.Purge(b.ctx, b.store, "no-such-tenant", t0, nil)
		require.ErrorIs(t, err, crm.ErrNotFound)
		_, err = worker.Purge(b.ctx, b.store, b.tenant, time.Time{}, nil)
		require.ErrorContains(t, err, "asOf")
		_, err = worker.Purge(b.ctx, b.store, b.tenant, t0, &worker.PurgeOpts{BatchSize: -1})
		require.ErrorContains(t, err, "BatchSize")
		ctx, cancel := context.WithCancel(b.ctx)
		cancel()
		_, err = worker.Purge(ctx, b.store, b.tenant, t0, nil)
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestTrashPurge(t *testing.T) {
	t.Parallel()

	t.Run("SweepThenPurgeOnTheWorker", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		binFixture(t, b, b.tenant)
		// 1203 more companies deleted at t0: more than two batches of 500.
		b.clock.Set(t0)
		b.archive(t, b.tenant, crm.Companies, b.companies(t, b.tenant, 1203))
		b.clock.Set(t0.Add(retention + time.Hour))
		cfg := b.config()
		b.startWorker(t, cfg)

		_, err := b.client(t).EnqueueTrashSweep(b.ctx, time.Time{}) // as of the worker's now
		require.NoError(t, err)
		eventually(t, 20*time.Second, "the purge to empty the expired part of the bin", func() bool {
			return b.binSize(t, b.tenant, crm.Companies) == 4 && b.binSize(t, b.tenant, "pets") == 0
		})
		// The metric is counted after each store call returns, so it may trail the bin by a moment.
		eventually(t, 10*time.Second, "the purge metric", func() bool {
			return metricValue(t, b.reg, "crmflow_trash_purged_records_total", "companies") == 1209 &&
				metricValue(t, b.reg, "crmflow_trash_purged_records_total", "custom") == 2 // pets: a custom type
		})
		require.Contains(t, b.logs.String(), `"msg":"trash purge done"`)
	})

	t.Run("FutureAsOfPurgesAsOfNow", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		binFixture(t, b, b.tenant) // clock at t0+10d: nothing has expired
		w, err := worker.New(b.store, b.queue, b.config())
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, w.Close()) })

		require.NoError(t, w.ProcessTask(b.ctx, worker.NewTrashPurgeTask(b.tenant, t0.Add(1000*24*time.Hour))))
		require.EqualValues(t, 10, b.binSize(t, b.tenant, crm.Companies))
		require.Contains(t, b.logs.String(), "purge as_of is in the future")

		b.clock.Set(t0.Add(retention))
		require.NoError(t, w.ProcessTask(b.ctx, worker.NewTrashPurgeTask(b.tenant, time.Time{})))
		require.EqualValues(t, 4, b.binSize(t, b.tenant, crm.Companies))
	})

	t.Run("BadPayloadIsNotRetried", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		w, err := worker.New(b.store, b.queue, b.config())
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, w.Close()) })
		err = w.ProcessTask(b.ctx, asynq.NewTask(worker.TypeTrashPurge, []byte(`{"tenant_id":"Bad Tenant"}`)))
		require.ErrorIs(t, err, asynq.SkipRetry)
		err = w.ProcessTask(b.ctx, asynq.NewTask(worker.TypeTrashPurge, []byte(`not json`)))
		require.ErrorIs(t, err, asynq.SkipRetry)
		err = w.ProcessTask(b.ctx, asynq.NewTask(worker.TypeMailSend, []byte(`{}`)))
		require.ErrorIs(t, err, asynq.SkipRetry)
	})

	t.Run("TwoSweepsOfOneTickEnqueueEachPurgeOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		other := crm.TenantID(redistest.Tenant(t))
		_, err := b.store.CreateTenant(b.ctx, other, crm.PlanFree)
		require.NoError(t, err)
		w, err := worker.New(b.store, b.queue, b.config()) // not running: the queue keeps what is enqueued
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, w.Close()) })

		tick := t0.Add(retention)
		// Two schedulers' sweeps of the same tick, both run (say the second arrived after the
		// first's dedupe window): the purges are enqueued once.
		require.NoError(t, w.ProcessTask(b.ctx, worker.NewTrashSweepTask(tick)))
		require.NoError(t, w.ProcessTask(b.ctx, worker.NewTrashSweepTask(tick)))
		tasks, err := b.insp.ListPendingTasks(worker.QueueBulk)
		require.NoError(t, err)
		require.Len(t, tasks, 2)
		seen := map[crm.TenantID]bool{}
		for _, task := range tasks {
			require.Equal(t, worker.TypeTrashPurge, task.Type)
			var p worker.TrashPurgePayload
			require.NoError(t, json.Unmarshal(task.Payload, &p))
			require.True(t, p.AsOf.Equal(tick))
			seen[p.TenantID] = true
		}
		require.Equal(t, map[crm.TenantID]bool{b.tenant: true, other: true}, seen)
		require.Contains(t, b.logs.String(), `"already_enqueued":2`)

		// The next tick enqueues new purges.
		require.NoError(t, w.ProcessTask(b.ctx, worker.NewTrashSweepTask(tick.Add(time.Hour))))
		tasks, err = b.insp.ListPendingTasks(worker.QueueBulk)
		require.NoError(t, err)
		require.Len(t, tasks, 4)
	})
}
