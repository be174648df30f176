package worker_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
	"github.com/crmflow/crmflow/worker"
)

func TestBulkDeleteTask(t *testing.T) {
	t.Parallel()
	ctx, st, tn := bulkStore(t)
	in := make([]crm.RecordInput, 1200)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"firstname": "x"}}
	}
	recs, err := st.CreateRecords(ctx, tn, crm.Contacts, in[:600], crm.Actor{})
	require.NoError(t, err)
	more, err := st.CreateRecords(ctx, tn, crm.Contacts, in[600:], crm.Actor{})
	require.NoError(t, err)
	recs = append(recs, more...)
	ids := make([]crm.RecordID, 0, 1100)
	for _, r := range recs[:1100] {
		ids = append(ids, r.ID)
	}
	jobCreator(t, st, tn, "ops@x.example")
	job, err := st.CreateDeleteJob(ctx, tn, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids, ConfirmCount: 1100, By: "ops@x.example"})
	require.NoError(t, err)

	w, reg := bulkWorker(t, st)

	// A runner that holds the lease keeps a second one away.
	held, err := st.LeaseJob(ctx, tn, job.ID, "someone-else", time.Minute)
	require.NoError(t, err)
	require.True(t, held)
	job = processJob(t, ctx, w, st, tn, job.ID, "1")
	require.Equal(t, crm.JobPending, job.State)
	require.NoError(t, st.ReleaseJob(ctx, tn, job.ID, "someone-else"))

	job = processJob(t, ctx, w, st, tn, job.ID, "2")
	require.Equal(t, crm.JobDone, job.State)
	require.EqualValues(t, 1100, job.Done)
	n, err := st.BinSize(ctx, tn, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 1100, n)
	// Run again (a redelivery): nothing more happens.
	require.NoError(t, w.ProcessTask(ctx, worker.NewBulkDeleteTask(tn, job.ID, "3")))
	n, err = st.BinSize(ctx, tn, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 1100, n)
	// Each record counts once in the metric, however many runs saw the job done.
	n2, err := testutil.GatherAndCount(reg, "crmflow_bulk_deleted_records_total")
	require.NoError(t, err)
	require.Equal(t, 1, n2)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "crmflow_bulk_deleted_records_total" {
			require.EqualValues(t, 1100, mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	page, err := st.ListRecords(ctx, tn, crm.Contacts, &crm.ListOpts{Limit: 100})
	require.NoError(t, err)
	require.Len(t, page.Records, 100)

	// A bad payload is not retried.
	err = w.ProcessTask(ctx, asynq.NewTask(worker.TypeBulkDelete, []byte("{")))
	require.ErrorIs(t, err, asynq.SkipRetry)
}

// A task of a job that was refused (a sweep's task enqueued while the job was selecting) returns at
// once: it neither deletes anything nor holds a worker slot.

// bulkStore returns a store on the test Redis with a new tenant of its own.
func bulkStore(t *testing.T) (context.Context, *redisstore.Store, crm.TenantID) {
	t.Helper()
	ctx := context.Background()
	st, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	tn := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	return ctx, st, tn
}

// bulkWorker returns a worker on st whose tasks the test runs itself (ProcessTask), and the
// registry of its metrics.
func bulkWorker(t *testing.T, st *redisstore.Store) (*worker.Worker, *prometheus.Registry) {
	t.Helper()
	opt, err := redis.ParseURL(redistest.URL(t))
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	w, err := worker.New(st, asynq.RedisClientOpt{Addr: opt.Addr, DB: opt.DB}, &worker.Config{Registerer: reg})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return w, reg
}

// processJob runs a task of bulk delete or undo job id of tenant tn through w, with attempt as
// its unique suffix, and returns the job as it then is.
func processJob(t *testing.T, ctx context.Context, w *worker.Worker, st crm.Store, tn crm.TenantID, id, attempt string) crm.Job {
	t.Helper()
	require.NoError(t, w.ProcessTask(ctx, worker.NewBulkDeleteTask(tn, id, attempt)))
	job, err := st.Job(ctx, tn, id)
	require.NoError(t, err)
	return job
}

// sliceRunner makes a worker that runs one step of a job a task (Config.BulkSlice 1), and returns
// a function that runs the next task of job id through it and returns the job as it then is.
func (b *testBundle) sliceRunner(t *testing.T, id string) func() crm.Job {
	t.Helper()
	cfg := b.config()
	cfg.BulkSlice = 1
	w, err := worker.New(b.store, b.queue, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	attempt := 0
	return func() crm.Job {
		t.Helper()
		attempt++
		return processJob(t, b.ctx, w, b.store, b.tenant, id, strconv.Itoa(attempt))
	}
}

func TestBulkDeleteTaskOfRefusedJob(t *testing.T) {
	t.Parallel()
	ctx, st, tn := bulkStore(t)
	_, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "x"}}}, crm.Actor{})
	require.NoError(t, err)
	jobCreator(t, st, tn, "ops@x.example")
	job, err := st.CreateDeleteJob(ctx, tn, crm.DeleteJobParams{ObjectType: crm.Contacts, Filter: `firstname == "x"`, ConfirmCount: 2, By: "ops@x.example"})
	require.NoError(t, err)
	w, _ := bulkWorker(t, st)

	job = processJob(t, ctx, w, st, tn, job.ID, "1")
	require.Equal(t, crm.JobRefused, job.State)
	// Another task of the job, as the jobs sweep enqueues: it must return, not spin on the job.
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, w.ProcessTask(tctx, worker.NewBulkDeleteTask(tn, job.ID, "sweep-2")))
	require.NoError(t, tctx.Err(), "the task of a refused job ran until its deadline")
	n, err := st.BinSize(ctx, tn, crm.Contacts)
	require.NoError(t, err)
	require.Zero(t, n)
}

// A filter that does not compile when the worker selects refuses the job, and the refusal, which
// outlives the filter, does not quote it: it may name a contact's data.
func TestBulkDeleteInvalidFilterRefusal(t *testing.T) {
	t.Parallel()
	ctx, st, tn := bulkStore(t)
	jobCreator(t, st, tn, "ops@x.example")
	job, err := st.CreateDeleteJob(ctx, tn, crm.DeleteJobParams{ObjectType: crm.Contacts,
		// A name written without quotes reads as a property that does not exist: the compiler's
		// message would quote it.
		Filter: `firstname == Annabelle_Smith`, ConfirmCount: 1, By: "ops@x.example"})
	require.NoError(t, err)
	w, _ := bulkWorker(t, st)
	job = processJob(t, ctx, w, st, tn, job.ID, "1")
	require.Equal(t, crm.JobRefused, job.State)
	require.Equal(t, crm.RefusedInvalidFilter, job.Refusal.Code)
	require.Contains(t, job.Refusal.Message, "no longer compiles")
	dump := redistest.Dump(t, redistest.Client(t), string(tn))
	for k, v := range dump {
		require.NotContains(t, v, "Annabelle_Smith", "key %s", k)
	}
}

// TestBulkJobStopsWhenItsCreatorLosesTheAuthority: a bulk or list delete job acts with its
// creator's authority as it is at each batch (SPEC S2). Its creator disabled, or deprived of
// delete, between two batches (two tasks, one batch a slice), the next task moves nothing and ends
// the job as stopped, naming the user and what it lacks: the records moved before stay in the bin,
// the rest stay live, and a task run again changes nothing.
func TestBulkJobStopsWhenItsCreatorLosesTheAuthority(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		list bool
		take func(b *testBundle, who string)
		code string
		perm crm.Permission
	}{
		{name: "Disabled", code: crm.StoppedUserDisabled, take: func(b *testBundle, who string) {
			_, err := b.store.SetUserDisabled(b.ctx, b.tenant, who, true, "admin@example.com")
			require.NoError(t, err)
		}},
		{name: "ListJobLosesDelete", list: true, code: crm.StoppedPermission, perm: crm.PermDelete, take: func(b *testBundle, who string) {
			_, err := b.store.SetUserPermissions(b.ctx, b.tenant, who, crm.Permissions{crm.PermRead, crm.PermBulkDelete}, "admin@example.com")
			require.NoError(t, err)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			const who = "ann@example.com"
			_, err := b.store.CreateUser(b.ctx, b.tenant, who, crm.Permissions{crm.PermRead, crm.PermDelete, crm.PermBulkDelete}, "admin@example.com")
			require.NoError(t, err)
			ids := b.records(t, b.tenant, crm.Contacts, 1200, map[string]string{"firstname": "x"})
			params := crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids, ConfirmCount: 1200, By: who}
			if tc.list {
				l, err := b.store.CreateList(b.ctx, b.tenant, "to go", crm.Contacts)
				require.NoError(t, err)
				for i := 0; i < len(ids); i += 500 {
					_, _, err = b.store.AddListMembers(b.ctx, b.tenant, l.ID, ids[i:min(i+500, len(ids))])
					require.NoError(t, err)
				}
				params.IDs, params.ListID = nil, l.ID
			}
			job, err := b.store.CreateDeleteJob(b.ctx, b.tenant, params)
			require.NoError(t, err)
			run := b.sliceRunner(t, job.ID) // one step a task: the selection, then one batch
			j := run()
			for j.State == crm.JobSelecting {
				j = run()
			}
			for j.Done == 0 {
				j = run()
			}
			require.Equal(t, crm.JobRunning, j.State)
			require.EqualValues(t, worker.BulkDeleteBatchSize, j.Done, "one batch moved")

			tc.take(b, who)
			j = run()
			require.Equal(t, crm.JobStopped, j.State)
			require.True(t, j.State.Finished())
			require.EqualValues(t, worker.BulkDeleteBatchSize, j.Done, "nothing more moved")
			require.NotNil(t, j.Stop)
			require.Equal(t, tc.code, j.Stop.Code)
			require.Equal(t, who, j.Stop.User)
			require.Equal(t, tc.perm, j.Stop.Permission)
			require.Contains(t, j.Stop.Message, who)
			require.EqualValues(t, worker.BulkDeleteBatchSize, b.binSize(t, b.tenant, crm.Contacts), "what it moved before stays in the bin")
			require.EqualValues(t, 1200-worker.BulkDeleteBatchSize, b.liveCount(t, b.tenant, crm.Contacts), "the rest stay live")
			require.Contains(t, b.logs.String(), "bulk delete job stopped")
			require.NotContains(t, b.logs.String(), who, "the reason names the user on the job, not in the logs")

			again := run()
			require.Equal(t, j, again, "a stopped job is not run again")
			unfinished, err := b.store.UnfinishedJobs(b.ctx, b.tenant, b.clock.Now().Add(-time.Hour))
			require.NoError(t, err)
			require.NotContains(t, unfinished, job.ID, "no sweep hands it on")
		})
	}
}

// TestBulkJobStopsWhileSelectingWhenItsCreatorIsDisabled: a job selecting by filter whose creator
// is disabled between two steps of its selection (two tasks, one step a slice) stops at the next
// step: it does not go on reading the whole type for a user who may no longer delete, it deletes
// nothing, and its status says why.
func TestBulkJobStopsWhileSelectingWhenItsCreatorIsDisabled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const who = "ann@example.com"
	_, err := b.store.CreateUser(b.ctx, b.tenant, who, crm.Permissions{crm.PermRead, crm.PermDelete, crm.PermBulkDelete}, "admin@example.com")
	require.NoError(t, err)
	b.records(t, b.tenant, crm.Contacts, 1200, map[string]string{"firstname": "x"})
	job, err := b.store.CreateDeleteJob(b.ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, Filter: `firstname == "x"`, ConfirmCount: 1200, By: who})
	require.NoError(t, err)
	run := b.sliceRunner(t, job.ID) // one step a task
	j := run()
	require.Equal(t, crm.JobSelecting, j.State)
	require.EqualValues(t, worker.SelectBatchSize, j.Scanned)

	_, err = b.store.SetUserDisabled(b.ctx, b.tenant, who, true, "admin@example.com")
	require.NoError(t, err)
	j = run()
	require.Equal(t, crm.JobStopped, j.State)
	require.EqualValues(t, worker.SelectBatchSize, j.Scanned, "no more of the type was read")
	require.NotNil(t, j.Stop)
	require.Equal(t, crm.StoppedUserDisabled, j.Stop.Code)
	require.Contains(t, j.Stop.Message, "ann@example.com was disabled, so the job stopped while it selected its records (500 looked at), before it deleted anything")
	require.EqualValues(t, 1200, b.liveCount(t, b.tenant, crm.Contacts), "nothing deleted")
	require.Contains(t, b.logs.String(), "bulk delete job stopped while it selected its records")
	require.NotContains(t, b.logs.String(), who, "the reason names the user on the job, not in the logs")
	again := run()
	require.Equal(t, j, again, "a stopped job is not run again")
}
