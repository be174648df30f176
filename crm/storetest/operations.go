package storetest

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// binnedOperation returns the operation a record in the bin carries.
func (b *bundle) binnedOperation(t *testing.T, o crm.ObjectType, id crm.RecordID) string {
	t.Helper()
	r, err := b.store.Record(b.ctx, b.tenant, o, id, &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	require.NotEmpty(t, r.Deletion.Operation, "a record in the bin carries its operation")
	return r.Deletion.Operation
}

// contacts creates n contacts, with emails when email is set.
func (b *bundle) contacts(t *testing.T, n int, email string) []crm.RecordID {
	t.Helper()
	in := make([]crm.RecordInput, n)
	for i := range in {
		in[i].Properties = map[string]string{"firstname": "c" + strconv.Itoa(i)}
		if email != "" {
			in[i].Properties["email"] = email + strconv.Itoa(i) + "@example.com"
		}
	}
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, in, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	ids := make([]crm.RecordID, n)
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

func testOperationsOfEveryDelete(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.jobCreator(t, "alice@x.example")
	ctx := b.ctx
	ids := b.contacts(t, 8, "op")
	alice, bob := crm.Actor{User: "alice@x.example"}, crm.Actor{User: "bob@x.example"}

	// A single delete is an operation of its own, kind delete.
	_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids[:1], alice)
	require.NoError(t, err)
	single := b.binnedOperation(t, crm.Contacts, ids[0])
	b.clock.Advance(time.Minute)
	// A batch archive: kind batch, one operation for its records.
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids[1:4], bob)
	require.NoError(t, err)
	batch := b.binnedOperation(t, crm.Contacts, ids[1])
	require.NotEqual(t, single, batch)
	require.Equal(t, batch, b.binnedOperation(t, crm.Contacts, ids[3]))
	b.clock.Advance(time.Minute)
	// A bulk delete job: job-<id>, across its batches.
	j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids[4:6], ConfirmCount: 2, By: "alice@x.example"})
	require.NoError(t, err)
	for j.State != crm.JobDone {
		j, err = b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 1)
		require.NoError(t, err)
	}
	require.Equal(t, crm.JobOperationID(j.ID), b.binnedOperation(t, crm.Contacts, ids[4]))
	require.Equal(t, crm.JobOperationID(j.ID), b.binnedOperation(t, crm.Contacts, ids[5]))
	b.clock.Advance(time.Minute)
	// A workflow: one operation from its activation until it pauses, a new one when activated again.
	_, _, err = b.store.PutFlow(ctx, b.tenant, "bounced", crm.Contacts, flowSrc, "ops@x.example")
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "alice@x.example"})
	require.NoError(t, err)
	wf := crm.Actor{User: "alice@x.example", Via: crm.ViaWorkflow, Ref: "bounced", Revision: f.ActiveRevision}
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids[6:7], wf)
	require.NoError(t, err)
	first := b.binnedOperation(t, crm.Contacts, ids[6])
	require.Equal(t, "wf-bounced-"+strconv.FormatInt(b.clock.Now().UnixMilli(), 10), first)
	b.clock.Advance(time.Minute)
	_, err = b.store.PauseFlow(ctx, b.tenant, "bounced", nil)
	require.NoError(t, err)
	_, err = b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "alice@x.example"})
	require.NoError(t, err)
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids[7:8], wf)
	require.NoError(t, err)
	second := b.binnedOperation(t, crm.Contacts, ids[7])
	require.NotEqual(t, first, second, "activating again after a pause is a new operation")

	op, err := b.store.Operation(ctx, b.tenant, batch)
	require.NoError(t, err)
	require.Equal(t, crm.OpBatch, op.Kind)
	require.Equal(t, "bob@x.example", op.By.User)
	require.EqualValues(t, 3, op.Moved)
	require.EqualValues(t, 3, op.InBin)
	require.Equal(t, crm.Contacts, op.ObjectType)
	op, err = b.store.Operation(ctx, b.tenant, single)
	require.NoError(t, err)
	require.Equal(t, crm.OpDelete, op.Kind)
	op, err = b.store.Operation(ctx, b.tenant, crm.JobOperationID(j.ID))
	require.NoError(t, err)
	require.Equal(t, crm.OpBulk, op.Kind)
	require.EqualValues(t, 2, op.Moved)
	op, err = b.store.Operation(ctx, b.tenant, first)
	require.NoError(t, err)
	require.Equal(t, crm.OpWorkflow, op.Kind)
	require.Equal(t, "bounced", op.Workflow())
	require.Equal(t, "alice@x.example", op.By.User)
	_, err = b.store.Operation(ctx, b.tenant, "nope")
	require.ErrorIs(t, err, crm.ErrNotFound)

	// Listing: newest first, filtered, paged.
	all, next, err := b.store.Operations(ctx, b.tenant, nil)
	require.NoError(t, err)
	require.Empty(t, next)
	got := make([]string, len(all))
	for i, op := range all {
		got[i] = op.ID
	}
	require.Equal(t, []string{second, first, crm.JobOperationID(j.ID), batch, single}, got)
	page, next, err := b.store.Operations(ctx, b.tenant, &crm.OperationsOpts{Limit: 2})
	require.NoError(t, err)
	require.Len(t, page, 2)
	require.NotEmpty(t, next)
	page, next, err = b.store.Operations(ctx, b.tenant, &crm.OperationsOpts{Limit: 2, After: next})
	require.NoError(t, err)
	require.Equal(t, crm.JobOperationID(j.ID), page[0].ID)
	require.Equal(t, batch, page[1].ID)
	page, next, err = b.store.Operations(ctx, b.tenant, &crm.OperationsOpts{Limit: 2, After: next})
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Empty(t, next)
	wfs, _, err := b.store.Operations(ctx, b.tenant, &crm.OperationsOpts{Workflow: "bounced"})
	require.NoError(t, err)
	require.Len(t, wfs, 2)
	bobs, _, err := b.store.Operations(ctx, b.tenant, &crm.OperationsOpts{Actor: "bob@x.example"})
	require.NoError(t, err)
	require.Len(t, bobs, 1)
	require.Equal(t, batch, bobs[0].ID)
	kinds, _, err := b.store.Operations(ctx, b.tenant, &crm.OperationsOpts{Kind: crm.OpWorkflow, Actor: "alice@x.example"})
	require.NoError(t, err)
	require.Len(t, kinds, 2)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	window, _, err := b.store.Operations(ctx, b.tenant, &crm.OperationsOpts{From: start.Add(30 * time.Second), To: start.Add(150 * time.Second)})
	require.NoError(t, err)
	require.Len(t, window, 2) // the batch (at 1 minute) and the job (at 2 minutes)
	var ve *crm.ValidationError
	_, _, err = b.store.Operations(ctx, b.tenant, &crm.OperationsOpts{Kind: "purge"})
	require.ErrorAs(t, err, &ve)
	_, _, err = b.store.Operations(ctx, b.tenant, &crm.OperationsOpts{After: "x"})
	require.ErrorAs(t, err, &ve)

	// Restore, permanent delete and purge take records out of their operation's bin index.
	_, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, ids[1:2], crm.Actor{User: "admin@x.example"})
	require.NoError(t, err)
	_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: ids[2], By: "admin@x.example"})
	require.NoError(t, err)
	op, err = b.store.Operation(ctx, b.tenant, batch)
	require.NoError(t, err)
	require.EqualValues(t, 3, op.Moved)
	require.EqualValues(t, 1, op.InBin)
	back, err := b.store.Record(ctx, b.tenant, crm.Contacts, ids[1], nil)
	require.NoError(t, err)
	require.Nil(t, back.Deletion)
	b.clock.Advance(crm.DefaultRetention + time.Hour)
	n, err := b.store.PurgeExpired(ctx, b.tenant, crm.Contacts, b.clock.Now().Add(-crm.DefaultRetention), 100)
	require.NoError(t, err)
	require.Equal(t, 6, n)
	for _, id := range []string{single, batch, crm.JobOperationID(j.ID), first, second} {
		op, err = b.store.Operation(ctx, b.tenant, id)
		require.NoError(t, err)
		require.Zero(t, op.InBin, id)
	}
}

func testUndoOperation(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.addUndoer(t)
	ctx := b.ctx
	ids := b.contacts(t, 7, "undo")
	other := b.contacts(t, 1, "")
	_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids, crm.Actor{User: "bob@x.example"})
	require.NoError(t, err)
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, other, crm.Actor{User: "bob@x.example"})
	require.NoError(t, err)
	opID := b.binnedOperation(t, crm.Contacts, ids[0])
	// One record's email is taken in between by a new live contact.
	blocker := b.contact(t, map[string]string{"email": "undo3@example.com"})

	_, err = b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: "missing-op", By: "admin@x.example"})
	require.ErrorIs(t, err, crm.ErrNotFound)
	j, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: opID, By: "admin@x.example"})
	require.NoError(t, err)
	require.Equal(t, crm.JobKindUndo, j.Kind)
	require.Equal(t, crm.JobPending, j.State)
	require.EqualValues(t, 7, j.Total)
	again, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: opID, By: "admin@x.example"})
	require.NoError(t, err)
	require.Equal(t, j.ID, again.ID, "while an undo runs, undoing again answers the same job")
	// A bulk delete batch run on an undo job deletes nothing.
	_, err = b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 10)
	require.Error(t, err)

	batches := 0
	for !j.State.Finished() {
		j, err = b.store.RunUndoBatch(ctx, b.tenant, j.ID, 3)
		require.NoError(t, err)
		batches++
		require.LessOrEqual(t, batches, 5)
	}
	require.EqualValues(t, 6, j.Done)
	require.EqualValues(t, 1, j.Skipped)
	fails, err := b.store.JobFailures(ctx, b.tenant, j.ID, 100)
	require.NoError(t, err)
	require.Len(t, fails, 1)
	require.Equal(t, ids[3], fails[0].ID)
	require.Equal(t, "conflict", fails[0].Code)
	require.Equal(t, blocker.ID, fails[0].BlockingID)
	require.Contains(t, fails[0].Reason(crm.Contacts), string(blocker.ID))
	// A finished job comes back unchanged.
	done, err := b.store.RunUndoBatch(ctx, b.tenant, j.ID, 3)
	require.NoError(t, err)
	require.Equal(t, j.Done, done.Done)

	for i, id := range ids {
		_, err := b.store.Record(ctx, b.tenant, crm.Contacts, id, nil)
		if i == 3 {
			require.ErrorIs(t, err, crm.ErrNotFound)
		} else {
			require.NoError(t, err)
		}
	}
	// The record of another operation stays in the bin.
	_, err = b.store.Record(ctx, b.tenant, crm.Contacts, other[0], &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	op, err := b.store.Operation(ctx, b.tenant, opID)
	require.NoError(t, err)
	require.EqualValues(t, 1, op.InBin)
	require.Equal(t, j.ID, op.UndoJob)

	// Audited: the undo, and each record restored once, via undo of the operation.
	entries, _, err := b.store.Audit(ctx, b.tenant, &crm.AuditOpts{Limit: 1000})
	require.NoError(t, err)
	restores := map[crm.RecordID]int{}
	undos := 0
	for _, e := range entries {
		switch e.Action {
		case crm.AuditUndo:
			undos++
			require.Equal(t, opID, e.Ref)
			require.Equal(t, "admin@x.example", e.By)
		case crm.AuditRestore:
			require.Equal(t, crm.ViaUndo, e.Via)
			require.Equal(t, opID, e.Ref)
			for _, id := range e.RecordIDs {
				restores[id]++
			}
		}
	}
	require.Equal(t, 1, undos)
	require.Len(t, restores, 6)
	for id, n := range restores {
		require.Equal(t, 1, n, id)
	}

	// Undoing again once the blocker is gone restores the one left, and nothing twice.
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{blocker.ID}, crm.Actor{User: "bob@x.example"})
	require.NoError(t, err)
	j2, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: opID, By: "admin@x.example"})
	require.NoError(t, err)
	require.NotEqual(t, j.ID, j2.ID)
	require.EqualValues(t, 1, j2.Total)
	for !j2.State.Finished() {
		j2, err = b.store.RunUndoBatch(ctx, b.tenant, j2.ID, 3)
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, j2.Done)
	require.Zero(t, j2.Skipped)
	// With nothing of it left in the bin, undoing again is refused and starts no job.
	jobs, _, err := b.store.RecentJobs(ctx, b.tenant, "", 100)
	require.NoError(t, err)
	_, err = b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: opID, By: "admin@x.example"})
	var nothing *crm.NothingToUndoError
	require.ErrorAs(t, err, &nothing, "undo twice restores nothing the second time")
	require.Equal(t, crm.NothingToUndoError{Operation: opID, Moved: 7, UndoJob: j2.ID}, *nothing)
	after, _, err := b.store.RecentJobs(ctx, b.tenant, "", 100)
	require.NoError(t, err)
	require.Equal(t, jobs, after, "no job is started")
}

// testForgetOperationsThatAreOver: the purge's bookkeeping forgets an operation once its last
// move is past the horizon and no record of it is left in the bin, walking past the operations
// it keeps (one with a record in the bin, a workflow's activation that moved a record since).
func testForgetOperationsThatAreOver(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	ids := b.contacts(t, 5, "")
	by := crm.Actor{User: "bob@x.example"}
	archive := func(id crm.RecordID, who crm.Actor) string {
		t.Helper()
		_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{id}, who)
		require.NoError(t, err)
		return b.binnedOperation(t, crm.Contacts, id)
	}
	restore := func(id crm.RecordID) {
		t.Helper()
		res, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{id}, by)
		require.NoError(t, err)
		require.Len(t, res.Restored, 1)
	}
	start := b.clock.Now()
	inBin := archive(ids[0], by) // kept: its record stays in the bin
	b.clock.Advance(time.Second)
	_, _, err := b.store.PutFlow(ctx, b.tenant, "bounced", crm.Contacts, flowSrc, "ops@x.example")
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "alice@x.example"})
	require.NoError(t, err)
	wf := crm.Actor{User: "alice@x.example", Via: crm.ViaWorkflow, Ref: "bounced", Revision: f.ActiveRevision}
	running := archive(ids[1], wf) // kept: it moves another record after the horizon
	restore(ids[1])
	b.clock.Advance(time.Second)
	over := archive(ids[2], by) // forgotten: restored, and its last move is before the horizon
	restore(ids[2])
	horizon := b.clock.Now()
	b.clock.Advance(time.Minute)
	require.Equal(t, running, archive(ids[3], wf))
	restore(ids[3])
	late := archive(ids[4], by) // kept: begun after the horizon
	restore(ids[4])

	n, err := b.store.ForgetOperations(ctx, b.tenant, horizon, 1)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = b.store.Operation(ctx, b.tenant, over)
	require.ErrorIs(t, err, crm.ErrNotFound)
	ops, _, err := b.store.Operations(ctx, b.tenant, nil)
	require.NoError(t, err)
	var left []string
	for _, op := range ops {
		left = append(left, op.ID)
	}
	require.ElementsMatch(t, []string{inBin, running, late}, left)

	// Once its record is purged, the first goes too; forgetting again forgets nothing more.
	purged, err := b.store.PurgeExpired(ctx, b.tenant, crm.Contacts, start, 100)
	require.NoError(t, err)
	require.Equal(t, 1, purged)
	n, err = b.store.ForgetOperations(ctx, b.tenant, horizon, 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = b.store.Operation(ctx, b.tenant, inBin)
	require.ErrorIs(t, err, crm.ErrNotFound)
	n, err = b.store.ForgetOperations(ctx, b.tenant, horizon, 100)
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = b.store.ForgetOperations(ctx, b.tenant, horizon, 0)
	require.Error(t, err)
}

// testUndoCountsWhatLeftTheBinMeanwhile: records of the operation that leave the bin after the undo
// started and before it reaches them (one restored by someone, two purged) are not in its done or
// skipped; once done, the job counts them as gone, so that its counts add up to its total.
func testUndoCountsWhatLeftTheBinMeanwhile(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.addUndoer(t)
	ctx := b.ctx
	ids := b.contacts(t, 5, "gone")
	_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids, crm.Actor{User: "bob@x.example"})
	require.NoError(t, err)
	opID := b.binnedOperation(t, crm.Contacts, ids[0])
	j, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: opID, By: "admin@x.example"})
	require.NoError(t, err)
	require.EqualValues(t, 5, j.Total)

	res, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, ids[4:], crm.Actor{User: "carol@x.example"})
	require.NoError(t, err)
	require.Len(t, res.Restored, 1)
	j, err = b.store.RunUndoBatch(ctx, b.tenant, j.ID, 2)
	require.NoError(t, err)
	require.Equal(t, crm.JobRunning, j.State)
	require.EqualValues(t, 2, j.Done)
	require.Zero(t, j.Gone, "nothing is counted gone while the job runs")
	purged, err := b.store.PurgeExpired(ctx, b.tenant, crm.Contacts, b.clock.Now().Add(time.Second), 100)
	require.NoError(t, err)
	require.Equal(t, 2, purged)
	for n := 0; !j.State.Finished(); n++ {
		require.Less(t, n, 3)
		j, err = b.store.RunUndoBatch(ctx, b.tenant, j.ID, 2)
		require.NoError(t, err)
	}
	require.Equal(t, crm.JobDone, j.State)
	require.EqualValues(t, 5, j.Total)
	require.EqualValues(t, 2, j.Done)
	require.Zero(t, j.Skipped)
	require.EqualValues(t, 3, j.Gone)
	again, err := b.store.Job(ctx, b.tenant, j.ID)
	require.NoError(t, err)
	require.EqualValues(t, 3, again.Gone, "as read back")
}

// An undo of a bulk job's operation while the job still moves records stops the job in the same
// step: the job is canceled, naming the undo job, moves nothing after, and the undo restores every
// record the job had moved; the records it had not reached stay live. Undoing again answers the
// same undo job. A list job stopped while it still selects has moved nothing and has no operation
// yet: its undo restores nothing, and a second undo answers the same one.
func testUndoStopsTheOperationsJob(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.addUndoer(t, crm.JobNeeds...)
	b.jobCreator(t, "ops@x.example")
	ctx := b.ctx
	ids := b.contacts(t, 6, "")
	job, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids,
		ConfirmCount: 6, By: "ops@x.example", Selection: "6 ids"})
	require.NoError(t, err)
	job, err = b.store.RunDeleteJobBatch(ctx, b.tenant, job.ID, 2)
	require.NoError(t, err)
	require.Equal(t, crm.JobRunning, job.State)
	opID := crm.JobOperationID(job.ID)

	undo, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: opID, By: "admin@x.example"})
	require.NoError(t, err)
	require.EqualValues(t, 2, undo.Total)
	again, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: opID, By: "admin@x.example"})
	require.NoError(t, err)
	require.Equal(t, undo.ID, again.ID, "undoing again answers the same undo job")
	job, err = b.store.Job(ctx, b.tenant, job.ID)
	require.NoError(t, err)
	require.Equal(t, crm.JobCanceled, job.State)
	require.Equal(t, undo.ID, job.CanceledBy)
	require.True(t, job.State.Finished())
	// A worker that still runs the job moves nothing more.
	job, err = b.store.RunDeleteJobBatch(ctx, b.tenant, job.ID, 2)
	require.NoError(t, err)
	require.Equal(t, crm.JobCanceled, job.State)
	require.EqualValues(t, 2, job.Done)
	n, err := b.store.CountRecords(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 4, n, "the records the job had not reached stay live")

	for !undo.State.Finished() {
		undo, err = b.store.RunUndoBatch(ctx, b.tenant, undo.ID, 4)
		require.NoError(t, err)
	}
	require.EqualValues(t, 2, undo.Done)
	n, err = b.store.CountRecords(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 6, n)
	op, err := b.store.Operation(ctx, b.tenant, opID)
	require.NoError(t, err)
	require.Zero(t, op.InBin)

	// A list job stopped while it selects.
	l, err := b.store.CreateList(ctx, b.tenant, "leads", crm.Contacts)
	require.NoError(t, err)
	_, _, err = b.store.AddListMembers(ctx, b.tenant, l.ID, ids)
	require.NoError(t, err)
	lj, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, ListID: l.ID,
		ConfirmCount: 6, By: "ops@x.example", Selection: "members of list leads"})
	require.NoError(t, err)
	require.Equal(t, crm.JobSelecting, lj.State)
	_, err = b.store.Operation(ctx, b.tenant, crm.JobOperationID(lj.ID))
	require.ErrorIs(t, err, crm.ErrNotFound, "nothing moved yet")
	lundo, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: crm.JobOperationID(lj.ID), By: "admin@x.example"})
	require.NoError(t, err)
	require.Zero(t, lundo.Total)
	lj, err = b.store.Job(ctx, b.tenant, lj.ID)
	require.NoError(t, err)
	require.Equal(t, crm.JobCanceled, lj.State)
	require.Equal(t, lundo.ID, lj.CanceledBy)
	lj, err = b.store.StageListSelection(ctx, b.tenant, lj, 500)
	require.NoError(t, err)
	require.Equal(t, crm.JobCanceled, lj.State, "its selection takes no step more")
	for !lundo.State.Finished() {
		lundo, err = b.store.RunUndoBatch(ctx, b.tenant, lundo.ID, 4)
		require.NoError(t, err)
	}
	again, err = b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: crm.JobOperationID(lj.ID), By: "admin@x.example"})
	require.NoError(t, err)
	require.Equal(t, lundo.ID, again.ID)
	n, err = b.store.CountRecords(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 6, n)
}

// An undo of a workflow's operation while the workflow is still active at that activation pauses
// it in the same step, with a reason naming the undo job, so that it deletes nothing after: the
// undo restores every record of the activation. An undo of an earlier activation's operation
// leaves the workflow's new activation running.
func testUndoPausesTheOperationsWorkflow(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.addUndoer(t, crm.PermWorkflows)
	ctx := b.ctx
	ids := b.contacts(t, 3, "")
	_, _, err := b.store.PutFlow(ctx, b.tenant, "bounced", crm.Contacts, flowSrc, "ops@x.example")
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "alice@x.example"})
	require.NoError(t, err)
	wf := crm.Actor{User: "alice@x.example", Via: crm.ViaWorkflow, Ref: "bounced", Revision: f.ActiveRevision}
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids[:2], wf)
	require.NoError(t, err)
	op := b.binnedOperation(t, crm.Contacts, ids[0])

	undo, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: op, By: "admin@x.example"})
	require.NoError(t, err)
	require.EqualValues(t, 2, undo.Total)
	f, err = b.store.Flow(ctx, b.tenant, "bounced")
	require.NoError(t, err)
	require.Equal(t, crm.FlowPaused, f.State)
	require.Contains(t, f.PausedReason, "undo job "+undo.ID)
	require.Equal(t, crm.PauseUndo, f.PausedCode)
	require.Equal(t, map[string]string{"undoJob": undo.ID, "by": "admin@x.example"}, f.PausedParams)
	active, _, err := b.store.ActiveFlows(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.Empty(t, active)
	for !undo.State.Finished() {
		undo, err = b.store.RunUndoBatch(ctx, b.tenant, undo.ID, 4)
		require.NoError(t, err)
	}
	require.EqualValues(t, 2, undo.Done)

	// Activated again: a new operation; undoing the old one leaves this activation running.
	b.clock.Advance(time.Minute)
	_, err = b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "alice@x.example"})
	require.NoError(t, err)
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids[:1], wf)
	require.NoError(t, err)
	require.NotEqual(t, op, b.binnedOperation(t, crm.Contacts, ids[0]))
	_, err = b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: op, By: "admin@x.example"})
	var nothing *crm.NothingToUndoError
	require.ErrorAs(t, err, &nothing, "the old activation has nothing left in the bin")
	f, err = b.store.Flow(ctx, b.tenant, "bounced")
	require.NoError(t, err)
	require.Equal(t, crm.FlowActive, f.State)
}

// An undo that would cancel its operation's running job needs, beyond restore, the permissions
// the job deletes with (crm.JobNeeds), and one that would pause its operation's active workflow
// needs workflows, as the user who asks holds them in that step: without them it is an
// *UndoForbiddenError naming every permission lacking (or the user disabled, or no user), and
// nothing changes: no undo job, no cancel, no pause, no audit entry. An undo that cancels and
// pauses nothing needs nothing more.
func testUndoNeedsTheAuthorityOfWhatItStops(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.addUndoer(t)
	b.jobCreator(t, "ops@x.example")
	ctx := b.ctx
	for email, perms := range map[string]crm.Permissions{
		"half@x.example": {crm.PermRestore, crm.PermDelete},
		"dis@x.example":  {crm.PermRestore, crm.PermDelete, crm.PermBulkDelete, crm.PermWorkflows},
	} {
		_, err := b.store.CreateUser(ctx, b.tenant, email, perms, "root@x.example")
		require.NoError(t, err)
	}
	_, err := b.store.SetUserDisabled(ctx, b.tenant, "dis@x.example", true, "root@x.example")
	require.NoError(t, err)
	// refused asks for the undo of op as by and checks the refusal and that nothing changed.
	refused := func(t *testing.T, op, by string, want crm.UndoForbiddenError) {
		t.Helper()
		before := b.dump(t)
		_, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: op, By: by})
		var uf *crm.UndoForbiddenError
		require.ErrorAs(t, err, &uf)
		want.Tenant, want.Operation, want.User = b.tenant, op, by
		require.Equal(t, want, *uf)
		require.Contains(t, uf.Error(), "nothing was changed")
		require.Equal(t, before, b.dump(t), "a refused undo changes nothing")
	}

	ids := b.contacts(t, 6, "")
	job, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids[:4],
		ConfirmCount: 4, By: "ops@x.example", Selection: "4 ids"})
	require.NoError(t, err)
	job, err = b.store.RunDeleteJobBatch(ctx, b.tenant, job.ID, 2)
	require.NoError(t, err)
	require.Equal(t, crm.JobRunning, job.State)
	opID := crm.JobOperationID(job.ID)
	refused(t, opID, undoer, crm.UndoForbiddenError{Job: job.ID, Missing: []crm.Permission{crm.PermDelete, crm.PermBulkDelete}})
	refused(t, opID, "half@x.example", crm.UndoForbiddenError{Job: job.ID, Missing: []crm.Permission{crm.PermBulkDelete}})
	refused(t, opID, "dis@x.example", crm.UndoForbiddenError{Job: job.ID, Code: crm.StoppedUserDisabled})
	refused(t, opID, "ghost@x.example", crm.UndoForbiddenError{Job: job.ID, Code: crm.StoppedUserMissing})
	job, err = b.store.Job(ctx, b.tenant, job.ID)
	require.NoError(t, err)
	require.Equal(t, crm.JobRunning, job.State)

	// A list job that still selects (no operation yet) is canceled by an undo too: the same holds.
	l, err := b.store.CreateList(ctx, b.tenant, "leads", crm.Contacts)
	require.NoError(t, err)
	_, _, err = b.store.AddListMembers(ctx, b.tenant, l.ID, ids[4:])
	require.NoError(t, err)
	lj, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, ListID: l.ID,
		ConfirmCount: 2, By: "ops@x.example", Selection: "members of list leads"})
	require.NoError(t, err)
	require.Equal(t, crm.JobSelecting, lj.State)
	refused(t, crm.JobOperationID(lj.ID), undoer, crm.UndoForbiddenError{Job: lj.ID, Missing: []crm.Permission{crm.PermDelete, crm.PermBulkDelete}})

	// A workflow still active at the operation's activation.
	_, _, err = b.store.PutFlow(ctx, b.tenant, "bounced", crm.Contacts, flowSrc, "ops@x.example")
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "alice@x.example"})
	require.NoError(t, err)
	wfIDs := b.contacts(t, 2, "")
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, wfIDs,
		crm.Actor{User: "alice@x.example", Via: crm.ViaWorkflow, Ref: "bounced", Revision: f.ActiveRevision})
	require.NoError(t, err)
	wfOp := b.binnedOperation(t, crm.Contacts, wfIDs[0])
	refused(t, wfOp, undoer, crm.UndoForbiddenError{Workflow: "bounced", Missing: []crm.Permission{crm.PermWorkflows}})
	refused(t, wfOp, "dis@x.example", crm.UndoForbiddenError{Workflow: "bounced", Code: crm.StoppedUserDisabled})
	f, err = b.store.Flow(ctx, b.tenant, "bounced")
	require.NoError(t, err)
	require.Equal(t, crm.FlowActive, f.State)

	// Paused by someone who may, the workflow has nothing to pause: restore is enough.
	_, err = b.store.PauseFlow(ctx, b.tenant, "bounced", nil)
	require.NoError(t, err)
	undo, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: wfOp, By: undoer})
	require.NoError(t, err)
	require.EqualValues(t, 2, undo.Total)
	// So is an API delete, which has no job to cancel.
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids[5:], crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	_, err = b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: b.binnedOperation(t, crm.Contacts, ids[5]), By: undoer})
	require.NoError(t, err)
}

// Undos of one operation asked at once start one undo job: each asker gets it, the operation's
// running job is canceled once (naming it), and the audit trail has one undo entry.
func testConcurrentUndosStartOneJob(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.addUndoer(t, crm.JobNeeds...)
	b.jobCreator(t, "ops@x.example")
	ctx := b.ctx
	ids := b.contacts(t, 4, "")
	job, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids,
		ConfirmCount: 4, By: "ops@x.example", Selection: "4 ids"})
	require.NoError(t, err)
	job, err = b.store.RunDeleteJobBatch(ctx, b.tenant, job.ID, 2)
	require.NoError(t, err)
	require.Equal(t, crm.JobRunning, job.State)

	const n = 8
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: crm.JobOperationID(job.ID), By: undoer})
			got[i], errs[i] = j.ID, err
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, got[0], got[i], "every asker gets the one undo job")
	}
	job, err = b.store.Job(ctx, b.tenant, job.ID)
	require.NoError(t, err)
	require.Equal(t, crm.JobCanceled, job.State)
	require.Equal(t, got[0], job.CanceledBy)
	entries, _, err := b.store.Audit(ctx, b.tenant, &crm.AuditOpts{Actions: []string{crm.AuditUndo}})
	require.NoError(t, err)
	require.Len(t, entries, 1)
}
