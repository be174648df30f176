package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// testRestoreRefusedWhenEmailErased: a contact in the bin whose email (primary or additional) a
// permanent delete of another contact blocklisted since is not restored, by a restore of it alone,
// in a batch, or by an undo of its operation; each says the address was erased, and nothing
// changes for it. A contact erased by an email only it holds, in the bin, is gone itself.
func testRestoreRefusedWhenEmailErased(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.addUndoer(t)
	ctx := b.ctx
	a := b.contact(t, map[string]string{"email": "shared@example.com", "firstname": "A"})
	a2 := b.contact(t, map[string]string{"email": "own2@example.com", "additional_emails": "alias2@example.com"})
	fine := b.contact(t, map[string]string{"email": "fine@example.com"})
	for _, id := range []crm.RecordID{a.ID, a2.ID, fine.ID} {
		_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{id}, crm.Actor{User: "bob@x.example"})
		require.NoError(t, err)
	}
	// Their emails were released: new contacts take them, and are then erased by id.
	for _, e := range []string{"SHARED@example.com", "alias2@example.com"} {
		taker := b.contact(t, map[string]string{"email": e})
		_, err := b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: taker.ID, By: "dpo@x.example"})
		require.NoError(t, err)
	}
	before := b.dump(t)

	res, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{a.ID}, crm.Actor{User: "fixer@x.example"})
	require.NoError(t, err)
	require.Empty(t, res.Restored)
	require.Len(t, res.Failed, 1)
	var ee *crm.ErasedEmailError
	require.ErrorAs(t, res.Failed[0].Err, &ee)
	require.Equal(t, "shared@example.com", ee.Email)
	require.Equal(t, "email", ee.Property)
	require.Contains(t, ee.Error(), "permanently deleted under a privacy request")
	require.Contains(t, ee.Error(), "cannot be restored with that address")
	require.Equal(t, before, b.dump(t), "a refused restore changes nothing")
	ok, err := b.store.IsBlocklisted(ctx, b.tenant, "shared@example.com")
	require.NoError(t, err)
	require.True(t, ok)

	// In a batch, each erased one fails on its own, naming the property, and the others come back.
	res, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{a.ID, fine.ID, a2.ID}, crm.Actor{User: "fixer@x.example"})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{fine.ID}, res.Restored)
	require.Len(t, res.Failed, 2)
	byID := map[crm.RecordID]*crm.ErasedEmailError{}
	for _, f := range res.Failed {
		var e *crm.ErasedEmailError
		require.ErrorAs(t, f.Err, &e)
		byID[f.ID] = e
	}
	require.Equal(t, &crm.ErasedEmailError{Email: "alias2@example.com", Property: "additional_emails"}, byID[a2.ID])
	require.Equal(t, "shared@example.com", byID[a.ID].Email)
	for _, id := range []crm.RecordID{a.ID, a2.ID} {
		_, err := b.store.Record(ctx, b.tenant, crm.Contacts, id, nil)
		require.ErrorIs(t, err, crm.ErrNotFound, "an erased address never comes back live")
		_, err = b.store.Record(ctx, b.tenant, crm.Contacts, id, &crm.ReadOpts{Archived: true})
		require.NoError(t, err, "the refused contact stays in the bin")
	}
	_, err = b.store.ContactByEmail(ctx, b.tenant, "shared@example.com")
	require.ErrorIs(t, err, crm.ErrNotFound)

	// An undo of an operation: the erased one is reported with the reason, the others restored.
	d := b.contact(t, map[string]string{"email": "d@example.com"})
	e := b.contact(t, map[string]string{"email": "e@example.com"})
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{d.ID, e.ID}, crm.Actor{User: "bob@x.example"})
	require.NoError(t, err)
	op := b.binnedOperation(t, crm.Contacts, d.ID)
	taker := b.contact(t, map[string]string{"email": "d@example.com"})
	_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: taker.ID, By: "dpo@x.example"})
	require.NoError(t, err)
	j, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: op, By: undoer})
	require.NoError(t, err)
	for n := 0; !j.State.Finished(); n++ {
		require.Less(t, n, 5)
		j, err = b.store.RunUndoBatch(ctx, b.tenant, j.ID, 1)
		require.NoError(t, err)
	}
	require.Equal(t, crm.JobDone, j.State)
	require.EqualValues(t, 1, j.Done)
	require.EqualValues(t, 1, j.Skipped)
	fails, err := b.store.JobFailures(ctx, b.tenant, j.ID, 10)
	require.NoError(t, err)
	require.Len(t, fails, 1)
	require.Equal(t, d.ID, fails[0].ID)
	require.Equal(t, "erased", fails[0].Code)
	require.Equal(t, "email", fails[0].Property)
	require.Contains(t, fails[0].Reason(crm.Contacts), "permanently deleted under a privacy request")
	_, err = b.store.Record(ctx, b.tenant, crm.Contacts, e.ID, nil)
	require.NoError(t, err)
	_, err = b.store.Record(ctx, b.tenant, crm.Contacts, d.ID, &crm.ReadOpts{Archived: true})
	require.NoError(t, err)

	// Erased by an email that only a contact in the bin holds: that contact is erased itself, and
	// there is nothing left to restore.
	g := b.contact(t, map[string]string{"email": "g@example.com"})
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{g.ID}, crm.Actor{User: "bob@x.example"})
	require.NoError(t, err)
	pd, err := b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "g@example.com", By: "dpo@x.example"})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{g.ID}, pd.IDs)
	res, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{g.ID}, crm.Actor{User: "fixer@x.example"})
	require.NoError(t, err)
	require.Empty(t, res.Restored)
	require.Len(t, res.Failed, 1)
	require.ErrorIs(t, res.Failed[0].Err, crm.ErrNotFound)
	_, err = b.store.Record(ctx, b.tenant, crm.Contacts, g.ID, &crm.ReadOpts{Archived: true})
	require.ErrorIs(t, err, crm.ErrNotFound)

	// A contact of the bin whose emails were never erased still comes back in a tenant with a
	// blocklist.
	h := b.contact(t, map[string]string{"email": "h@example.com", "additional_emails": "h2@example.com"})
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{h.ID}, crm.Actor{User: "bob@x.example"})
	require.NoError(t, err)
	res, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{h.ID}, crm.Actor{User: "fixer@x.example"})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{h.ID}, res.Restored)
}

// testUndoStopsWhenItsCreatorMayNoLongerRestore: an undo job acts with its creator's authority as
// it is at each batch. Once the creator lost restore, was disabled, or is no user, the next batch
// restores nothing and the job ends stopped with a reason naming the user and the permission; a
// new undo by a user who may restore carries on with the rest.
func testUndoStopsWhenItsCreatorMayNoLongerRestore(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.addUndoer(t)
	ctx := b.ctx
	// undo deletes four contacts in one operation and undoes it as by, running a first batch of
	// two unless first is false.
	undo := func(t *testing.T, by string, first bool) (crm.Job, []crm.RecordID, string) {
		t.Helper()
		ids := b.contacts(t, 4, "")
		_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids, crm.Actor{User: "bob@x.example"})
		require.NoError(t, err)
		op := b.binnedOperation(t, crm.Contacts, ids[0])
		j, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: op, By: by})
		require.NoError(t, err)
		if first {
			j, err = b.store.RunUndoBatch(ctx, b.tenant, j.ID, 2)
			require.NoError(t, err)
		}
		return j, ids, op
	}
	stopped := func(t *testing.T, j crm.Job, ids []crm.RecordID, restored int64, why ...string) {
		t.Helper()
		before := b.dump(t)
		j, err := b.store.RunUndoBatch(ctx, b.tenant, j.ID, 2)
		require.NoError(t, err)
		require.Equal(t, crm.JobStopped, j.State)
		require.True(t, j.State.Finished())
		require.EqualValues(t, restored, j.Done)
		require.False(t, j.FinishedAt.IsZero())
		for _, w := range why {
			require.NotNil(t, j.Stop)
			require.Contains(t, j.Stop.Message, w)
		}
		for _, id := range ids[restored:] {
			_, err := b.store.Record(ctx, b.tenant, crm.Contacts, id, &crm.ReadOpts{Archived: true})
			require.NoError(t, err, "nothing more is restored")
		}
		// Finished: running it again changes nothing.
		again, err := b.store.RunUndoBatch(ctx, b.tenant, j.ID, 2)
		require.NoError(t, err)
		require.Equal(t, j, again)
		// The batch that stopped it changed the job alone: one item of the dump.
		after := b.dump(t)
		changed := 0
		for k, v := range after {
			if before[k] != v {
				changed++
			}
		}
		require.Len(t, after, len(before))
		require.Equal(t, 1, changed, "stopping the job changes nothing but the job")
	}

	t.Run("PermissionTakenAway", func(t *testing.T) {
		j, ids, op := undo(t, undoer, true)
		require.EqualValues(t, 2, j.Done)
		_, err := b.store.SetUserPermissions(ctx, b.tenant, undoer, crm.Permissions{crm.PermRead, crm.PermDelete}, "root@x.example")
		require.NoError(t, err)
		stopped(t, j, ids, 2, undoer, "no longer holds the restore permission")
		// The same user given restore again undoes what is left, in a new job.
		_, err = b.store.SetUserPermissions(ctx, b.tenant, undoer, crm.Permissions{crm.PermRestore}, "root@x.example")
		require.NoError(t, err)
		next, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: op, By: undoer})
		require.NoError(t, err)
		require.NotEqual(t, j.ID, next.ID, "a stopped undo is over: undoing again starts a new job")
		require.EqualValues(t, 2, next.Total)
		next, err = b.store.RunUndoBatch(ctx, b.tenant, next.ID, 10)
		require.NoError(t, err)
		require.Equal(t, crm.JobDone, next.State)
		require.EqualValues(t, 2, next.Done)
	})
	t.Run("Disabled", func(t *testing.T) {
		_, err := b.store.CreateUser(ctx, b.tenant, "dis@x.example", crm.Permissions{crm.PermRestore}, "root@x.example")
		require.NoError(t, err)
		j, ids, _ := undo(t, "dis@x.example", true)
		_, err = b.store.SetUserDisabled(ctx, b.tenant, "dis@x.example", true, "root@x.example")
		require.NoError(t, err)
		stopped(t, j, ids, 2, "dis@x.example", "disabled", "restore")
	})
	t.Run("NoSuchUser", func(t *testing.T) {
		j, ids, _ := undo(t, "ghost@x.example", false)
		stopped(t, j, ids, 0, "ghost@x.example", "no longer a user", "restore")
	})
	// With nothing of the operation left in the bin (restored one by one meanwhile), the undo has
	// nothing to act on: it ends done whatever its creator, as a delete job with nothing pending.
	t.Run("NothingLeft", func(t *testing.T) {
		_, err := b.store.CreateUser(ctx, b.tenant, "gone@x.example", crm.Permissions{crm.PermRestore}, "root@x.example")
		require.NoError(t, err)
		j, ids, _ := undo(t, "gone@x.example", true)
		res, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, ids[2:], crm.Actor{User: undoer})
		require.NoError(t, err)
		require.Len(t, res.Restored, 2)
		_, err = b.store.SetUserDisabled(ctx, b.tenant, "gone@x.example", true, "root@x.example")
		require.NoError(t, err)
		j, err = b.store.RunUndoBatch(ctx, b.tenant, j.ID, 2)
		require.NoError(t, err)
		require.Equal(t, crm.JobDone, j.State, "nothing was left to restore: the undo is done, not stopped")
		require.Nil(t, j.Stop)
		require.EqualValues(t, 2, j.Done)
	})
}
