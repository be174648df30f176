package worker_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/worker"
)

// TestBulkJobsTakeTurns: a bulk job runs a slice of batches (Config.BulkSlice), then hands itself
// on to a new task at the back of the bulk queue, so that a job queued behind a long one does not
// wait for all of it. With one bulk slot, a slice of 2 batches, a job of 3,000 contacts (6 batches)
// queued first and one of 500 after it, the short job's batch is in the audit trail before the
// long job's last; each job moves its records once.
func TestBulkJobsTakeTurns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bulk := map[string]string{"firstname": "Bulk"}
	long, short := b.records(t, b.tenant, crm.Contacts, 3000, bulk), b.records(t, b.tenant, crm.Contacts, 500, bulk)
	jobs := make([]crm.Job, 2)
	jobCreator(t, b.store, b.tenant, "ops@example.com")
	for i, ids := range [][]crm.RecordID{long, short} {
		j, err := b.store.CreateDeleteJob(b.ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids,
			ConfirmCount: int64(len(ids)), By: "ops@example.com"})
		require.NoError(t, err)
		jobs[i] = j
	}
	c := b.client(t)
	for _, j := range jobs {
		_, err := c.Enqueue(b.ctx, worker.NewBulkDeleteTask(b.tenant, j.ID, "1"))
		require.NoError(t, err)
	}
	cfg := b.config()
	cfg.Concurrency, cfg.BulkConcurrency, cfg.BulkSlice = 1, 1, 2
	b.startWorker(t, cfg)
	require.Eventually(t, func() bool {
		for _, j := range jobs {
			got, err := b.store.Job(b.ctx, b.tenant, j.ID)
			require.NoError(t, err)
			if got.State != crm.JobDone {
				return false
			}
			require.Equal(t, got.Total, got.Done)
		}
		return true
	}, 30*time.Second, 10*time.Millisecond, "both jobs finish")

	entries, _, err := b.store.Audit(b.ctx, b.tenant, &crm.AuditOpts{Limit: 100, Actions: []string{"archive"}})
	require.NoError(t, err)
	isShort := map[crm.RecordID]bool{}
	for _, id := range short {
		isShort[id] = true
	}
	var order []string // the job of each archive entry, oldest first
	moved := map[crm.RecordID]int{}
	for _, e := range entries {
		require.NotEmpty(t, e.RecordIDs)
		if isShort[e.RecordIDs[0]] {
			order = append(order, "short")
		} else {
			order = append(order, "long")
		}
		for _, id := range e.RecordIDs {
			moved[id]++
		}
	}
	require.Len(t, moved, 3500)
	for id, n := range moved {
		require.Equal(t, 1, n, "record %s moved %d times", id, n)
	}
	require.Equal(t, []string{"long", "long", "short", "long", "long", "long", "long"}, order,
		"the short job runs after the long job's first slice")
}
