package crm_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

func TestDeleteJobConfirmCount(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		var ids []crm.RecordID
		for i := 0; i < 5; i++ {
			ids = append(ids, b.contact(t, map[string]string{"firstname": "n" + strconv.Itoa(i)}).ID)
		}
		before := b.tenantDump(t)
		delete(before, crm.SeqKey(b.tenant, "jobs"))
		// Two of the seven ids do not exist: five match, and the user confirmed seven.
		sel := append(append([]crm.RecordID{}, ids...), "9001", "9002")
		_, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: sel, ConfirmCount: 7, By: "ops@x.example"})
		var cm *crm.CountMismatchError
		require.ErrorAs(t, err, &cm)
		require.Equal(t, &crm.CountMismatchError{Confirmed: 7, Matched: 5}, cm)
		require.Contains(t, cm.Error(), "7")
		require.Contains(t, cm.Error(), "5")
		after := b.tenantDump(t)
		delete(after, crm.SeqKey(b.tenant, "jobs"))
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

func TestDeleteListMembersJob(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		a := b.contact(t, map[string]string{"firstname": "a"})
		c := b.contact(t, map[string]string{"firstname": "c"})
		outside := b.contact(t, map[string]string{"firstname": "o"})
		l, err := b.store.CreateList(ctx, b.tenant, "to go", crm.Contacts)
		require.NoError(t, err)
		_, _, err = b.store.AddListMembers(ctx, b.tenant, l.ID, []crm.RecordID{a.ID, c.ID})
		require.NoError(t, err)
		_, err = b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Companies, ListID: l.ID, ConfirmCount: 2, By: "ops@x.example"})
		var ve *crm.ValidationError
		require.ErrorAs(t, err, &ve)
		j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, ListID: l.ID, ConfirmCount: 2, By: "ops@x.example"})
		require.NoError(t, err)
		for j.State != crm.JobDone {
			j, err = b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 500)
			require.NoError(t, err)
		}
		// The members went to the bin, marked as deleted through the list; the list stays (S15).
		got, err := b.store.List(ctx, b.tenant, l.ID)
		require.NoError(t, err)
		require.Zero(t, got.Size)
		arch, err := b.store.Record(ctx, b.tenant, crm.Contacts, a.ID, &crm.ReadOpts{Archived: true})
		require.NoError(t, err)
		require.Equal(t, crm.ViaList, arch.Deletion.Via)
		require.Equal(t, string(l.ID), arch.Deletion.Ref)
		_, err = b.store.Record(ctx, b.tenant, crm.Contacts, outside.ID, nil)
		require.NoError(t, err)
	})
}

func TestJobLeaseAndUnfinished(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		c := b.contact(t, map[string]string{"firstname": "x"})
		j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: []crm.RecordID{c.ID}, ConfirmCount: 1, By: "ops@x.example"})
		require.NoError(t, err)
		ids, err := b.store.UnfinishedJobs(ctx, b.tenant, b.clock.Now().Add(-time.Hour))
		require.NoError(t, err)
		require.Equal(t, []string{j.ID}, ids)

		ok, err := b.store.LeaseJob(ctx, b.tenant, j.ID, "worker-a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = b.store.LeaseJob(ctx, b.tenant, j.ID, "worker-b", time.Minute)
		require.NoError(t, err)
		require.False(t, ok, "another runner holds the lease")
		ok, err = b.store.LeaseJob(ctx, b.tenant, j.ID, "worker-a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok, "the holder renews")
		require.NoError(t, b.store.ReleaseJob(ctx, b.tenant, j.ID, "worker-b"))
		ok, err = b.store.LeaseJob(ctx, b.tenant, j.ID, "worker-b", time.Minute)
		require.NoError(t, err)
		require.False(t, ok, "only the holder releases")
		require.NoError(t, b.store.ReleaseJob(ctx, b.tenant, j.ID, "worker-a"))
		ok, err = b.store.LeaseJob(ctx, b.tenant, j.ID, "worker-b", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)

		_, err = b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 500)
		require.NoError(t, err)
		ids, err = b.store.UnfinishedJobs(ctx, b.tenant, b.clock.Now().Add(-time.Hour))
		require.NoError(t, err)
		require.Empty(t, ids)
	})
}
