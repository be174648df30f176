package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

func TestDeleteJobConfirmCount(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		jobUser(t, b.store, b.tenant, "ops@x.example")
		var ids []crm.RecordID
		for i := 0; i < 5; i++ {
			ids = append(ids, b.contact(t, map[string]string{"firstname": "n" + strconv.Itoa(i)}).ID)
		}
		before := b.tenantDump(t)
		delete(before, redisstore.SeqKey(b.tenant, "jobs"))
		// Two of the seven ids do not exist: five match, and the user confirmed seven.
		sel := append(append([]crm.RecordID{}, ids...), "9001", "9002")
		_, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: sel, ConfirmCount: 7, By: "ops@x.example"})
		var cm *crm.CountMismatchError
		require.ErrorAs(t, err, &cm)
		require.Equal(t, &crm.CountMismatchError{Confirmed: 7, Matched: 5}, cm)
		require.Contains(t, cm.Error(), "7")
		require.Contains(t, cm.Error(), "5")
		after := b.tenantDump(t)
		delete(after, redisstore.SeqKey(b.tenant, "jobs"))
		require.Equal(t, before, after, "a refused bulk delete keeps nothing")

		j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: sel, ConfirmCount: 5, By: "ops@x.example", Selection: "7 ids"})
		require.NoError(t, err)
		require.Equal(t, crm.JobPending, j.State)
		require.EqualValues(t, 5, j.Total)
		// Creating the job deletes nothing yet.
		page, err := b.store.ListRecords(ctx, b.tenant, crm.Contacts, nil)
		require.NoError(t, err)
		require.Len(t, page.Records, 5)

		j, err = b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 2)
		require.NoError(t, err)
		require.Equal(t, crm.JobRunning, j.State)
		require.EqualValues(t, 2, j.Done)
		for j.State != crm.JobDone {
			j, err = b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 2)
			require.NoError(t, err)
		}
		require.EqualValues(t, 5, j.Done)
		arch, err := b.store.Record(ctx, b.tenant, crm.Contacts, ids[0], &crm.ReadOpts{Archived: true})
		require.NoError(t, err)
		require.Equal(t, crm.ViaBulk, arch.Deletion.Via)
		require.Equal(t, j.ID, arch.Deletion.Ref)
		require.Equal(t, "ops@x.example", arch.Deletion.By)
	})
}

func TestDeleteJobConcurrentRunnersDeleteEachOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, "redis")
	ctx := b.ctx
	jobUser(t, b.store, b.tenant, "ops@x.example")
	in := make([]crm.RecordInput, 1000)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"firstname": "x"}}
	}
	recs, err := b.store.CreateRecords(ctx, b.tenant, crm.Contacts, in, crm.Actor{})
	require.NoError(t, err)
	ids := make([]crm.RecordID, 0, 700)
	for _, r := range recs[:700] {
		ids = append(ids, r.ID)
	}
	j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids, ConfirmCount: 700, By: "ops@x.example"})
	require.NoError(t, err)
	// Three runners at once, as after a redelivery to several workers.
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				cur, err := b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 50)
				if err != nil {
					errs <- err
					return
				}
				if cur.State == crm.JobDone {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	j, err = b.store.Job(ctx, b.tenant, j.ID)
	require.NoError(t, err)
	require.EqualValues(t, 700, j.Done+j.Skipped)
	require.EqualValues(t, 700, j.Done)
	n, err := b.store.BinSize(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 700, n)
	audit, _, err := b.store.Audit(ctx, b.tenant, &crm.AuditOpts{Limit: 1000})
	require.NoError(t, err)
	var audited []crm.RecordID
	for _, e := range audit {
		audited = append(audited, e.RecordIDs...)
	}
	require.ElementsMatch(t, ids, audited, "each record archived exactly once")
	page, err := b.store.ListRecords(ctx, b.tenant, crm.Contacts, &crm.ListOpts{Limit: 100})
	require.NoError(t, err)
	require.Equal(t, recs[700].ID, page.Records[0].ID, "records outside the selection untouched")
}

// selectAll runs a filter job's selection to its end as a worker would, selecting the records
// whose firstname is in match, n records per step.
func TestDeleteJobSelectsByFilter(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		jobUser(t, b.store, b.tenant, "ops@x.example")
		var leads []crm.RecordID
		for i := 0; i < 7; i++ {
			name := "keep"
			if i%2 == 0 {
				name = "lead"
			}
			c := b.contact(t, map[string]string{"firstname": name})
			if name == "lead" {
				leads = append(leads, c.ID)
			}
		}
		match := map[string]bool{"lead": true}
		const filter = `firstname == "lead"`

		t.Run("CountMismatchIsRefused", func(t *testing.T) {
			j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, Filter: filter, ConfirmCount: 3, By: "ops@x.example"})
			require.NoError(t, err)
			require.Equal(t, crm.JobSelecting, j.State)
			require.Equal(t, filter, j.Filter)
			require.EqualValues(t, 3, j.ConfirmCount)
			j = selectAll(t, b, j, 2, match)
			require.Equal(t, crm.JobRefused, j.State)
			require.EqualValues(t, 4, j.Matched)
			require.EqualValues(t, 7, j.Scanned)
			require.Equal(t, crm.RefusedCountMismatch, j.Refusal.Code)
			require.Contains(t, j.Refusal.Message, "you confirmed deleting 3 records but 4 match now")
			require.Empty(t, j.Filter, "the filter's text is not kept once the selection ends")
			require.False(t, j.FinishedAt.IsZero())
			// Nothing deleted, nothing of the selection kept, and no worker runs it again.
			page, err := b.store.ListRecords(ctx, b.tenant, crm.Contacts, &crm.ListOpts{Limit: 100})
			require.NoError(t, err)
			require.Len(t, page.Records, 7)
			n, err := b.rdb.Exists(ctx, redisstore.JobSelectedKey(b.tenant, j.ID), redisstore.JobPendingKey(b.tenant, j.ID)).Result()
			require.NoError(t, err)
			require.Zero(t, n)
			open, err := b.store.UnfinishedJobs(ctx, b.tenant, time.Time{})
			require.NoError(t, err)
			require.NotContains(t, open, j.ID)
			require.Zero(t, b.rdb.SCard(ctx, redisstore.JobsSelectingKey(b.tenant)).Val())
		})

		t.Run("StaleStepChangesNothing", func(t *testing.T) {
			j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, Filter: filter, ConfirmCount: 4, By: "ops@x.example"})
			require.NoError(t, err)
			// A step from a cursor that is not the job's (a runner that lost its lease) is ignored.
			got, err := b.store.StageSelection(ctx, b.tenant, j.ID, crm.Contacts, crm.SelectionStep{After: "999", Next: "", IDs: leads, Scanned: 7})
			require.NoError(t, err)
			require.Equal(t, crm.JobSelecting, got.State)
			require.Zero(t, got.Matched)
			j = selectAll(t, b, j, 3, match)
			require.Equal(t, crm.JobPending, j.State)
			require.EqualValues(t, 4, j.Total)
			// The same last step again (a retried task) changes nothing.
			again, err := b.store.StageSelection(ctx, b.tenant, j.ID, crm.Contacts, crm.SelectionStep{IDs: leads, Scanned: 7})
			require.NoError(t, err)
			require.Equal(t, crm.JobPending, again.State)
			require.EqualValues(t, 4, again.Total)
			for j.State != crm.JobDone {
				j, err = b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 500)
				require.NoError(t, err)
			}
			require.EqualValues(t, 4, j.Done)
			for _, id := range leads {
				_, err := b.store.Record(ctx, b.tenant, crm.Contacts, id, &crm.ReadOpts{Archived: true})
				require.NoError(t, err, "lead %s in the bin", id)
			}
		})
	})
}

func TestRefuseSelectingJob(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		c := b.contact(t, map[string]string{"firstname": "a", "email": "ann@x.example"})
		j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts,
			Filter: `email == "ANN@x.example" || firstname == "a"`, ConfirmCount: 1, By: "ops@x.example"})
		require.NoError(t, err)
		other, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts,
			Filter: `firstname == "a"`, ConfirmCount: 1, By: "ops@x.example"})
		require.NoError(t, err)
		// Erasing the contact refuses the job whose filter names its email, and erases the filter.
		_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: c.ID, By: "dpo@x.example"})
		require.NoError(t, err)
		j, err = b.store.Job(ctx, b.tenant, j.ID)
		require.NoError(t, err)
		require.Equal(t, crm.JobRefused, j.State)
		require.Equal(t, crm.RefusedFilterErased, j.Refusal.Code)
		require.Empty(t, j.Filter)
		raw, err := b.rdb.HGetAll(ctx, redisstore.JobKey(b.tenant, j.ID)).Result()
		require.NoError(t, err)
		for k, v := range raw {
			require.NotContains(t, strings.ToLower(v), "ann@x.example", "field %s", k)
		}
		other, err = b.store.Job(ctx, b.tenant, other.ID)
		require.NoError(t, err)
		require.Equal(t, crm.JobSelecting, other.State, "a filter that does not name the email is left alone")
		// Refusing a job that is no longer selecting changes nothing.
		again, err := b.store.RefuseJob(ctx, b.tenant, j.ID, crm.RefusedInvalidFilter, "x")
		require.NoError(t, err)
		require.Equal(t, crm.RefusedFilterErased, again.Refusal.Code)
		_, err = b.store.RefuseJob(ctx, b.tenant, "424242", crm.RefusedInvalidFilter, "x")
		var nf *crm.NotFoundError
		require.ErrorAs(t, err, &nf)
	})
}

// jobUser makes emails users of tenant tn who may create and run bulk delete jobs: a job acts
// with its creator's authority at each of its batches.
func jobUser(t *testing.T, st *redisstore.Store, tn crm.TenantID, emails ...string) {
	t.Helper()
	for _, e := range emails {
		_, err := st.CreateUser(context.Background(), tn, e, crm.Permissions{crm.PermDelete, crm.PermBulkDelete}, "admin@x.example")
		require.NoError(t, err)
	}
}

func selectAll(t *testing.T, b *testBundle, j crm.Job, n int, match map[string]bool) crm.Job {
	t.Helper()
	for j.State == crm.JobSelecting {
		recs, next, err := b.store.NextRecords(b.ctx, b.tenant, j.ObjectType, j.Cursor, n, nil)
		require.NoError(t, err)
		step := crm.SelectionStep{After: j.Cursor, Next: next, Scanned: len(recs)}
		for _, r := range recs {
			if match[r.Properties["firstname"]] {
				step.IDs = append(step.IDs, r.ID)
			}
		}
		j, err = b.store.StageSelection(b.ctx, b.tenant, j.ID, j.ObjectType, step)
		require.NoError(t, err)
	}
	return j
}
