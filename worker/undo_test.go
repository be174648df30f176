package worker_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/worker"
)

func TestUndoJobTask(t *testing.T) {
	t.Parallel()
	ctx, st, tn := bulkStore(t)
	in := make([]crm.RecordInput, 1200)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"email": "u" + strconv.Itoa(i) + "@example.com"}}
	}
	var ids []crm.RecordID
	for start := 0; start < len(in); start += 600 {
		recs, err := st.CreateRecords(ctx, tn, crm.Contacts, in[start:start+600], crm.Actor{})
		require.NoError(t, err)
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
	}
	jobCreator(t, st, tn, "ops@x.example")
	job, err := st.CreateDeleteJob(ctx, tn, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids, ConfirmCount: 1200, By: "ops@x.example"})
	require.NoError(t, err)

	w, reg := bulkWorker(t, st)
	require.NoError(t, w.ProcessTask(ctx, worker.NewBulkDeleteTask(tn, job.ID, "1")))

	// A new live contact takes the email of one deleted.
	blocker, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"email": "u7@example.com"}}}, crm.Actor{})
	require.NoError(t, err)

	// The undo job acts with its creator's authority: a user with restore.
	_, err = st.CreateUser(ctx, tn, "admin@x.example", crm.Permissions{crm.PermRestore}, "root")
	require.NoError(t, err)
	undo, err := st.CreateUndoJob(ctx, tn, crm.UndoParams{Operation: crm.JobOperationID(job.ID), By: "admin@x.example"})
	require.NoError(t, err)
	// A runner holding the lease keeps the task away; then the task runs the undo to its end.
	held, err := st.LeaseJob(ctx, tn, undo.ID, "someone-else", time.Minute)
	require.NoError(t, err)
	require.True(t, held)
	undo = processJob(t, ctx, w, st, tn, undo.ID, "1")
	require.Equal(t, crm.JobPending, undo.State)
	require.NoError(t, st.ReleaseJob(ctx, tn, undo.ID, "someone-else"))
	undo = processJob(t, ctx, w, st, tn, undo.ID, "2")
	require.Equal(t, crm.JobDone, undo.State)
	require.EqualValues(t, 1199, undo.Done)
	require.EqualValues(t, 1, undo.Skipped)
	fails, err := st.JobFailures(ctx, tn, undo.ID, 10)
	require.NoError(t, err)
	require.Len(t, fails, 1)
	require.Equal(t, ids[7], fails[0].ID)
	require.Equal(t, blocker[0].ID, fails[0].BlockingID)
	// Run again (a redelivery): nothing more happens, and nothing more is counted.
	require.NoError(t, w.ProcessTask(ctx, worker.NewBulkDeleteTask(tn, undo.ID, "3")))
	require.Equal(t, 1199.0, metricValue(t, reg, "crmflow_undo_restored_records_total", "contacts"))
	require.Equal(t, 1.0, metricValue(t, reg, "crmflow_undo_not_restored_records_total", "contacts"))
	n, err := st.CountRecords(ctx, tn, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 1200, n) // 1199 restored and the blocker
	n, err = st.BinSize(ctx, tn, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
}

// TestUndoStopsARunningBulkJob undoes a bulk job's operation after its first batch: the job's next
// task finds it canceled and moves nothing, and the undo task restores the batch, so every record
// is live again and the audit trail has the one archive.
func TestUndoStopsARunningBulkJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.records(t, b.tenant, crm.Contacts, 1500, map[string]string{"firstname": "Bulk"})
	jobCreator(t, b.store, b.tenant, "ops@example.com")
	job, err := b.store.CreateDeleteJob(b.ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids,
		ConfirmCount: int64(len(ids)), By: "ops@example.com"})
	require.NoError(t, err)
	job, err = b.store.RunDeleteJobBatch(b.ctx, b.tenant, job.ID, worker.BulkDeleteBatchSize)
	require.NoError(t, err)
	require.Equal(t, crm.JobRunning, job.State)

	// Canceling the job takes what it deletes with, beyond restore.
	_, err = b.store.CreateUser(b.ctx, b.tenant, "admin@example.com", append(crm.Permissions{crm.PermRestore}, crm.JobNeeds...), "root")
	require.NoError(t, err)
	undo, err := b.store.CreateUndoJob(b.ctx, b.tenant, crm.UndoParams{Operation: crm.JobOperationID(job.ID), By: "admin@example.com"})
	require.NoError(t, err)
	require.EqualValues(t, worker.BulkDeleteBatchSize, undo.Total)
	w, err := worker.New(b.store, b.queue, b.config())
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	require.NoError(t, w.ProcessTask(b.ctx, worker.NewBulkDeleteTask(b.tenant, job.ID, "1")))
	require.NoError(t, w.ProcessTask(b.ctx, worker.NewBulkDeleteTask(b.tenant, undo.ID, "1")))

	job, err = b.store.Job(b.ctx, b.tenant, job.ID)
	require.NoError(t, err)
	require.Equal(t, crm.JobCanceled, job.State)
	require.Equal(t, undo.ID, job.CanceledBy)
	require.EqualValues(t, worker.BulkDeleteBatchSize, job.Done)
	undo, err = b.store.Job(b.ctx, b.tenant, undo.ID)
	require.NoError(t, err)
	require.Equal(t, crm.JobDone, undo.State)
	require.EqualValues(t, worker.BulkDeleteBatchSize, undo.Done)
	require.EqualValues(t, len(ids), b.liveCount(t, b.tenant, crm.Contacts))
	require.Zero(t, b.binSize(t, b.tenant, crm.Contacts))
	archives, _, err := b.store.Audit(b.ctx, b.tenant, &crm.AuditOpts{Limit: 100, Actions: []string{"archive"}})
	require.NoError(t, err)
	require.Len(t, archives, 1, "the job moved nothing after the undo")
}

// TestUndoJobStopsWhenItsCreatorLosesRestore: an undo job runs a batch, then its creator loses the
// restore permission before the next task of the job: that task restores nothing and the job ends
// stopped, naming the user and the permission; a redelivered task changes nothing more.
func TestUndoJobStopsWhenItsCreatorLosesRestore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.records(t, b.tenant, crm.Contacts, 2*worker.UndoBatchSize, map[string]string{"firstname": "Undo"})
	_, err := b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, ids[:crm.MaxScriptBatch], crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	r, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, ids[0], &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	_, err = b.store.CreateUser(b.ctx, b.tenant, "admin@example.com", crm.Permissions{crm.PermRestore, crm.PermRead}, "root")
	require.NoError(t, err)
	undo, err := b.store.CreateUndoJob(b.ctx, b.tenant, crm.UndoParams{Operation: r.Deletion.Operation, By: "admin@example.com"})
	require.NoError(t, err)
	require.Greater(t, undo.Total, int64(worker.UndoBatchSize))

	run := b.sliceRunner(t, undo.ID) // one batch a task: the next task comes after the permission is taken away
	undo = run()
	require.Equal(t, crm.JobRunning, undo.State)
	require.EqualValues(t, worker.UndoBatchSize, undo.Done)

	_, err = b.store.SetUserPermissions(b.ctx, b.tenant, "admin@example.com", crm.Permissions{crm.PermRead}, "root")
	require.NoError(t, err)
	for range 2 {
		undo = run()
		require.Equal(t, crm.JobStopped, undo.State)
		require.EqualValues(t, worker.UndoBatchSize, undo.Done, "nothing more is restored")
		require.NotNil(t, undo.Stop)
		require.Equal(t, crm.StoppedPermission, undo.Stop.Code)
		require.Equal(t, crm.PermRestore, undo.Stop.Permission)
		require.Contains(t, undo.Stop.Message, "admin@example.com")
		require.Contains(t, undo.Stop.Message, "no longer holds the restore permission")
	}
	require.EqualValues(t, crm.MaxScriptBatch-worker.UndoBatchSize, b.binSize(t, b.tenant, crm.Contacts))
}
