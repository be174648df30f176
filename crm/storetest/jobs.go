package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

func testDeleteListMembersJob(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.jobCreator(t, "ops@x.example")
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
	require.Equal(t, crm.JobSelecting, j.State, "a list's members are selected by the worker")
	// A batch run before the selection ends deletes nothing.
	j, err = b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 500)
	require.NoError(t, err)
	require.Equal(t, crm.JobSelecting, j.State)
	j, err = b.store.StageListSelection(ctx, b.tenant, j, 1)
	require.NoError(t, err)
	require.Equal(t, crm.JobSelecting, j.State, "one member of two selected")
	require.EqualValues(t, 1, j.Matched)
	for j.State == crm.JobSelecting {
		j, err = b.store.StageListSelection(ctx, b.tenant, j, 1)
		require.NoError(t, err)
	}
	require.Equal(t, crm.JobPending, j.State)
	require.EqualValues(t, 2, j.Total)
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
}

func testJobLeaseAndUnfinished(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.jobCreator(t, "ops@x.example")
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
}

// testRecentJobs lists the tenant's jobs newest first, in pages, jobs created in the same
// millisecond included, and refuses a cursor that names no job.
func testRecentJobs(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.jobCreator(t, "ops@x.example")
	ctx := b.ctx
	var want []string
	for i := range 7 {
		c := b.contact(t, map[string]string{"firstname": "j"})
		j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: []crm.RecordID{c.ID}, ConfirmCount: 1, By: "ops@x.example"})
		require.NoError(t, err)
		want = append(want, j.ID)
		if i%3 == 2 {
			b.clock.Advance(time.Millisecond) // the others share their millisecond
		}
	}
	read := func(limit int) []string {
		t.Helper()
		var got []string
		before := ""
		for range 10 {
			jobs, next, err := b.store.RecentJobs(ctx, b.tenant, before, limit)
			require.NoError(t, err)
			for _, j := range jobs {
				require.Equal(t, "ops@x.example", j.By.User)
				got = append(got, j.ID)
			}
			if next == "" {
				return got
			}
			before = next
		}
		t.Fatal("the pages do not end")
		return nil
	}
	all := read(100)
	require.ElementsMatch(t, want, all)
	require.Equal(t, want[6], all[0], "the newest first")
	require.Equal(t, all, read(2), "pages of two, across jobs of the same millisecond")
	require.Equal(t, all, read(1))
	_, _, err := b.store.RecentJobs(ctx, b.tenant, "999999", 10)
	var ve *crm.ValidationError
	require.ErrorAs(t, err, &ve)
	_, _, err = b.store.RecentJobs(ctx, b.tenant, "", crm.MaxJobsLimit+1)
	require.ErrorAs(t, err, &ve)
}

// testJobSelectionActsWithItsCreatorsAuthority: the selection of a bulk or list delete job acts
// with its creator's authority as it is at each step, as its batches do. Its creator disabled (or
// deprived of bulk_delete) while it selects, the next step selects nothing and ends the job as
// stopped, naming the user, with nothing kept of the selection and nothing deleted; a step run
// again changes nothing.
func testJobSelectionActsWithItsCreatorsAuthority(t *testing.T, hn *Harness) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		list bool
		take func(b *bundle, who string)
		code string
		perm crm.Permission
	}{
		{name: "FilterCreatorDisabled", code: crm.StoppedUserDisabled, take: func(b *bundle, who string) {
			_, err := b.store.SetUserDisabled(b.ctx, b.tenant, who, true, "admin@x.example")
			require.NoError(t, err)
		}},
		{name: "ListCreatorLosesBulkDelete", list: true, code: crm.StoppedPermission, perm: crm.PermBulkDelete, take: func(b *bundle, who string) {
			_, err := b.store.SetUserPermissions(b.ctx, b.tenant, who, crm.Permissions{crm.PermDelete}, "admin@x.example")
			require.NoError(t, err)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, hn)
			ctx := b.ctx
			const who = "ann@x.example"
			b.jobCreator(t, who)
			var ids []crm.RecordID
			for range 4 {
				ids = append(ids, b.contact(t, map[string]string{"firstname": "x"}).ID)
			}
			p := crm.DeleteJobParams{ObjectType: crm.Contacts, Filter: `firstname == "x"`, ConfirmCount: 4, By: who}
			if tc.list {
				l, err := b.store.CreateList(ctx, b.tenant, "to go", crm.Contacts)
				require.NoError(t, err)
				_, _, err = b.store.AddListMembers(ctx, b.tenant, l.ID, ids)
				require.NoError(t, err)
				p.Filter, p.ListID = "", l.ID
			}
			j, err := b.store.CreateDeleteJob(ctx, b.tenant, p)
			require.NoError(t, err)
			require.Equal(t, crm.JobSelecting, j.State)
			step := func(j crm.Job, n int) crm.Job {
				t.Helper()
				if tc.list {
					j, err := b.store.StageListSelection(ctx, b.tenant, j, n)
					require.NoError(t, err)
					return j
				}
				next := ""
				if j.Cursor == "" {
					next = string(ids[n-1])
				}
				from := 0
				if j.Cursor != "" {
					from = n
				}
				j, err := b.store.StageSelection(ctx, b.tenant, j.ID, crm.Contacts,
					crm.SelectionStep{After: j.Cursor, Next: next, IDs: ids[from : from+n], Scanned: n})
				require.NoError(t, err)
				return j
			}
			j = step(j, 2)
			require.Equal(t, crm.JobSelecting, j.State)
			require.EqualValues(t, 2, j.Matched)

			tc.take(b, who)
			j = step(j, 2)
			require.Equal(t, crm.JobStopped, j.State)
			require.True(t, j.State.Finished())
			require.False(t, j.FinishedAt.IsZero())
			require.NotNil(t, j.Stop)
			require.Equal(t, tc.code, j.Stop.Code)
			require.Equal(t, who, j.Stop.User)
			require.Equal(t, tc.perm, j.Stop.Permission)
			require.Contains(t, j.Stop.Message, "stopped while it selected its records (2 looked at), before it deleted anything: nothing was deleted")
			require.EqualValues(t, 2, j.Scanned, "the step after the stop selected nothing")
			require.Empty(t, j.Filter, "the filter is not kept")

			before := b.dump(t)
			again, err := b.store.Job(ctx, b.tenant, j.ID)
			require.NoError(t, err)
			require.Equal(t, crm.JobStopped, again.State)
			j = step(again, 2)
			require.Equal(t, crm.JobStopped, j.State)
			require.Equal(t, before, b.dump(t), "a step of a stopped job changes nothing")
			for _, id := range ids {
				_, err := b.store.Record(ctx, b.tenant, crm.Contacts, id, nil)
				require.NoError(t, err, "nothing deleted")
			}
			_, err = b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 10)
			require.NoError(t, err)
			n, err := b.store.CountRecords(ctx, b.tenant, crm.Contacts)
			require.NoError(t, err)
			require.EqualValues(t, 4, n)
		})
	}
}

// testJobActsWithItsCreatorsAuthority: a bulk delete job acts with its creator's authority as it
// is at each batch (SPEC S2). Once its creator lacks bulk_delete or delete, is disabled or is no
// user, the next batch moves nothing and ends the job as stopped, naming the user and what it
// lacks: what it moved before stays in the bin, the rest stays live, and running it again changes
// nothing.
func testJobActsWithItsCreatorsAuthority(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.addUndoer(t)
	ctx := b.ctx
	var ids []crm.RecordID
	for range 6 {
		ids = append(ids, b.contact(t, map[string]string{"firstname": "x"}).ID)
	}
	all := crm.Permissions{crm.PermDelete, crm.PermBulkDelete}
	start := func(who string, sel []crm.RecordID) crm.Job {
		t.Helper()
		j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: sel, ConfirmCount: int64(len(sel)), By: who})
		require.NoError(t, err)
		return j
	}
	stopped := func(j crm.Job, code, who string, perm crm.Permission, done int64) {
		t.Helper()
		got, err := b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 2)
		require.NoError(t, err)
		require.Equal(t, crm.JobStopped, got.State)
		require.True(t, got.State.Finished())
		require.False(t, got.FinishedAt.IsZero())
		require.Equal(t, done, got.Done, "nothing more moved")
		require.NotNil(t, got.Stop)
		require.Equal(t, code, got.Stop.Code)
		require.Equal(t, who, got.Stop.User)
		require.Equal(t, perm, got.Stop.Permission)
		require.Contains(t, got.Stop.Message, who)
		if perm != "" {
			require.Contains(t, got.Stop.Message, "the "+string(perm)+" permission")
		}
		read, err := b.store.Job(ctx, b.tenant, j.ID)
		require.NoError(t, err)
		require.Equal(t, got, read)
		unfinished, err := b.store.UnfinishedJobs(ctx, b.tenant, b.clock.Now().Add(-time.Hour))
		require.NoError(t, err)
		require.NotContains(t, unfinished, j.ID)
		// Run again, with the authority back or not: the job stays stopped and moves nothing.
		before := b.dump(t)
		again, err := b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 2)
		require.NoError(t, err)
		require.Equal(t, got, again)
		require.Equal(t, before, b.dump(t))
	}
	live := func(want int) {
		t.Helper()
		n := 0
		for _, id := range ids {
			if _, err := b.store.Record(ctx, b.tenant, crm.Contacts, id, nil); err == nil {
				n++
			}
		}
		require.Equal(t, want, n)
	}

	// bulk_delete taken away between two batches: the first two stay in the bin, four stay live.
	_, err := b.store.CreateUser(ctx, b.tenant, "ann@x.example", all, "admin@x.example")
	require.NoError(t, err)
	j := start("ann@x.example", ids)
	j, err = b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 2)
	require.NoError(t, err)
	require.Equal(t, crm.JobRunning, j.State)
	require.EqualValues(t, 2, j.Done)
	_, err = b.store.SetUserPermissions(ctx, b.tenant, "ann@x.example", crm.Permissions{crm.PermDelete}, "admin@x.example")
	require.NoError(t, err)
	stopped(j, crm.StoppedPermission, "ann@x.example", crm.PermBulkDelete, 2)
	for _, id := range ids[:2] {
		rec, err := b.store.Record(ctx, b.tenant, crm.Contacts, id, &crm.ReadOpts{Archived: true})
		require.NoError(t, err)
		require.True(t, rec.Archived, "moved before the stop, %s stays in the bin", id)
	}
	live(4)
	// The message's advice holds: an undo of the job's operation restores what it moved.
	undo, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: crm.JobOperationID(j.ID), By: "admin@x.example"})
	require.NoError(t, err)
	require.EqualValues(t, 2, undo.Total)
	for !undo.State.Finished() {
		undo, err = b.store.RunUndoBatch(ctx, b.tenant, undo.ID, 4)
		require.NoError(t, err)
	}
	require.EqualValues(t, 2, undo.Done)
	live(6)
	stoppedJob, err := b.store.Job(ctx, b.tenant, j.ID)
	require.NoError(t, err)
	require.Equal(t, crm.JobStopped, stoppedJob.State, "the undo leaves the stopped job as it was")
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids[:2], crm.Actor{User: "admin@x.example"})
	require.NoError(t, err)
	live(4)

	// delete taken away (bulk_delete kept), before the first batch: nothing moves.
	_, err = b.store.CreateUser(ctx, b.tenant, "bob@x.example", all, "admin@x.example")
	require.NoError(t, err)
	j = start("bob@x.example", ids[2:])
	_, err = b.store.SetUserPermissions(ctx, b.tenant, "bob@x.example", crm.Permissions{crm.PermBulkDelete}, "admin@x.example")
	require.NoError(t, err)
	stopped(j, crm.StoppedPermission, "bob@x.example", crm.PermDelete, 0)

	// Disabled, with every permission.
	_, err = b.store.CreateUser(ctx, b.tenant, "cat@x.example", crm.AllPermissions, "admin@x.example")
	require.NoError(t, err)
	j = start("cat@x.example", ids[2:])
	_, err = b.store.SetUserDisabled(ctx, b.tenant, "cat@x.example", true, "admin@x.example")
	require.NoError(t, err)
	stopped(j, crm.StoppedUserDisabled, "cat@x.example", "", 0)
	_, err = b.store.SetUserDisabled(ctx, b.tenant, "cat@x.example", false, "admin@x.example")
	require.NoError(t, err)
	again, err := b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 2)
	require.NoError(t, err)
	require.Equal(t, crm.JobStopped, again.State, "enabled again, a stopped job stays stopped")

	// A creator who is no user of the tenant.
	j = start("ghost@x.example", ids[2:])
	stopped(j, crm.StoppedUserMissing, "ghost@x.example", "", 0)
	live(4)

	// With the authority held, the rest goes.
	_, err = b.store.CreateUser(ctx, b.tenant, "dan@x.example", all, "admin@x.example")
	require.NoError(t, err)
	j = start("dan@x.example", ids[2:])
	for !j.State.Finished() {
		j, err = b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 2)
		require.NoError(t, err)
	}
	require.Equal(t, crm.JobDone, j.State)
	require.Nil(t, j.Stop)
	live(0)
}
