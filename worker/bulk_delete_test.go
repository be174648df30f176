package worker_test

import (
	"context"
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
	ctx := context.Background()
	rdb := redistest.Client(t)
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	tn := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
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
	job, err := st.CreateDeleteJob(ctx, tn, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids, ConfirmCount: 1100, By: "ops@x.example"})
	require.NoError(t, err)

	opt, err := redis.ParseURL(redistest.URL(t))
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	w, err := worker.New(st, asynq.RedisClientOpt{Addr: opt.Addr, DB: opt.DB}, &worker.Config{Registerer: reg})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })

	// A runner that holds the lease keeps a second one away.
	held, err := st.LeaseJob(ctx, tn, job.ID, "someone-else", time.Minute)
	require.NoError(t, err)
	require.True(t, held)
	require.NoError(t, w.ProcessTask(ctx, worker.NewBulkDeleteTask(tn, job.ID, "1")))
	job, err = st.Job(ctx, tn, job.ID)
	require.NoError(t, err)
	require.Equal(t, crm.JobPending, job.State)
	require.NoError(t, st.ReleaseJob(ctx, tn, job.ID, "someone-else"))

	require.NoError(t, w.ProcessTask(ctx, worker.NewBulkDeleteTask(tn, job.ID, "2")))
	job, err = st.Job(ctx, tn, job.ID)
	require.NoError(t, err)
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

// bulkWorker returns a worker on st whose tasks the test runs itself (ProcessTask).
func bulkWorker(t *testing.T, st *redisstore.Store) *worker.Worker {
	t.Helper()
	opt, err := redis.ParseURL(redistest.URL(t))
	require.NoError(t, err)
	w, err := worker.New(st, asynq.RedisClientOpt{Addr: opt.Addr, DB: opt.DB}, &worker.Config{Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func TestBulkDeleteTaskOfRefusedJob(t *testing.T) {
	t.Parallel()
	ctx, st, tn := bulkStore(t)
	_, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "x"}}}, crm.Actor{})
	require.NoError(t, err)
	job, err := st.CreateDeleteJob(ctx, tn, crm.DeleteJobParams{ObjectType: crm.Contacts, Filter: `firstname == "x"`, ConfirmCount: 2, By: "ops@x.example"})
	require.NoError(t, err)
	w := bulkWorker(t, st)

	require.NoError(t, w.ProcessTask(ctx, worker.NewBulkDeleteTask(tn, job.ID, "1")))
	job, err = st.Job(ctx, tn, job.ID)
	require.NoError(t, err)
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
	job, err := st.CreateDeleteJob(ctx, tn, crm.DeleteJobParams{ObjectType: crm.Contacts,
		// A name written without quotes reads as a property that does not exist: the compiler's
		// message would quote it.
		Filter: `firstname == Annabelle_Smith`, ConfirmCount: 1, By: "ops@x.example"})
	require.NoError(t, err)
	w := bulkWorker(t, st)
	require.NoError(t, w.ProcessTask(ctx, worker.NewBulkDeleteTask(tn, job.ID, "1")))
	job, err = st.Job(ctx, tn, job.ID)
	require.NoError(t, err)
	require.Equal(t, crm.JobRefused, job.State)
	require.Equal(t, crm.RefusedInvalidFilter, job.Refusal.Code)
	require.Contains(t, job.Refusal.Message, "no longer compiles")
	dump := redistest.Dump(t, redistest.Client(t), string(tn))
	for k, v := range dump {
		require.NotContains(t, v, "Annabelle_Smith", "key %s", k)
	}
}
