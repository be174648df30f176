package redisstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

func TestArchiveHidesEverywhereAndRecordsWho(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		activeFlow(t, b, false) // a workflow watches contacts: the delete leaves its change mark
		c := b.contact(t, map[string]string{"email": "gone@example.com", "firstname": "Gone"})
		keep := b.contact(t, map[string]string{"email": "keep@example.com"})
		co, err := b.store.CreateRecords(ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
		require.NoError(t, err)
		coref := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
		require.NoError(t, b.store.Associate(ctx, b.tenant, crm.AssociationRef{Type: crm.Contacts, ID: c.ID}, coref))
		l, err := b.store.CreateList(ctx, b.tenant, "all", crm.Contacts)
		require.NoError(t, err)
		_, _, err = b.store.AddListMembers(ctx, b.tenant, l.ID, []crm.RecordID{c.ID, keep.ID})
		require.NoError(t, err)

		b.clock.Advance(time.Hour)
		res, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{c.ID, "4242"}, crm.Actor{User: "ops@x.example", Via: crm.ViaBulk, Ref: "job-1"})
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{c.ID}, res.Archived)
		require.Equal(t, []crm.RecordID{"4242"}, res.Missing)

		// Absent from reads, paging, lists and association reads (S5).
		_, err = b.store.Record(ctx, b.tenant, crm.Contacts, c.ID, nil)
		require.ErrorIs(t, err, crm.ErrNotFound)
		page, err := b.store.ListRecords(ctx, b.tenant, crm.Contacts, nil)
		require.NoError(t, err)
		require.Len(t, page.Records, 1)
		require.Equal(t, keep.ID, page.Records[0].ID)
		members, _, err := b.store.ListMembers(ctx, b.tenant, l.ID, nil)
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{keep.ID}, members)
		assoc, err := b.store.Associations(ctx, b.tenant, coref, crm.Contacts)
		require.NoError(t, err)
		require.Empty(t, assoc)
		// The company is untouched (S3).
		_, err = b.store.Record(ctx, b.tenant, crm.Companies, co[0].ID, nil)
		require.NoError(t, err)
		// The email is free for a new contact while the old one is in the bin.
		_, err = b.store.ContactByEmail(ctx, b.tenant, "gone@example.com")
		require.ErrorIs(t, err, crm.ErrNotFound)

		// The bin shows it with when, who and how (S4, S5).
		arch, err := b.store.Record(ctx, b.tenant, crm.Contacts, c.ID, &crm.ReadOpts{Archived: true})
		require.NoError(t, err)
		require.True(t, arch.Archived)
		require.Equal(t, "Gone", arch.Properties["firstname"])
		require.NotEmpty(t, arch.Deletion.Operation, "the record carries the operation that deleted it (S26)")
		require.Equal(t, &crm.Deletion{At: b.clock.Now(), By: "ops@x.example", Via: crm.ViaBulk, Ref: "job-1",
			Operation: arch.Deletion.Operation}, arch.Deletion)
		binPage, err := b.store.ListRecords(ctx, b.tenant, crm.Contacts, &crm.ListOpts{Archived: true})
		require.NoError(t, err)
		require.Len(t, binPage.Records, 1)
		n, err := b.store.BinSize(ctx, b.tenant, crm.Contacts)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		// The engine learns of the delete from the change mark (S8).
		require.Equal(t, "cld", b.pendingChange(t, c.ID).Events, "created, added to a list, deleted")
		audit, err := b.rdb.XRange(ctx, redisstore.AuditKey(b.tenant), "-", "+").Result()
		require.NoError(t, err)
		require.Len(t, audit, 1)
		require.Equal(t, "archive", audit[0].Values["action"])
		require.Equal(t, string(c.ID), audit[0].Values["record_ids"])

		// Archiving again does nothing (idempotent under retries).
		before := b.tenantDump(t)
		res, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{c.ID}, crm.Actor{})
		require.NoError(t, err)
		require.Empty(t, res.Archived)
		require.Equal(t, before, b.tenantDump(t))
	})
}

func TestPurgeNeverEarlyNeverTwice(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		start := b.clock.Now()
		var ids []crm.RecordID
		for i := 0; i < 5; i++ {
			ids = append(ids, b.contact(t, map[string]string{"firstname": "p"}).ID)
		}
		// ids[0..2] deleted at start, ids[3] a day later, ids[4] deleted then restored.
		_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids[:3], crm.Actor{})
		require.NoError(t, err)
		b.clock.Advance(24 * time.Hour)
		_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids[3:], crm.Actor{})
		require.NoError(t, err)
		_, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, ids[4:], crm.Actor{})
		require.NoError(t, err)

		ret := crm.DefaultRetention
		// One millisecond before the retention ends, nothing goes.
		n, err := b.store.PurgeExpired(ctx, b.tenant, crm.Contacts, start.Add(ret-time.Millisecond).Add(-ret), 500)
		require.NoError(t, err)
		require.Zero(t, n)
		// At 90 days, the three oldest go, in batches of two, and a second run finds nothing.
		horizon := start.Add(ret).Add(-ret)
		cnt, err := b.store.CountExpired(ctx, b.tenant, crm.Contacts, horizon)
		require.NoError(t, err)
		require.EqualValues(t, 3, cnt)
		n1, err := b.store.PurgeExpired(ctx, b.tenant, crm.Contacts, horizon, 2)
		require.NoError(t, err)
		n2, err := b.store.PurgeExpired(ctx, b.tenant, crm.Contacts, horizon, 2)
		require.NoError(t, err)
		n3, err := b.store.PurgeExpired(ctx, b.tenant, crm.Contacts, horizon, 2)
		require.NoError(t, err)
		require.Equal(t, []int{2, 1, 0}, []int{n1, n2, n3})
		for _, id := range ids[:3] {
			_, err := b.store.Record(ctx, b.tenant, crm.Contacts, id, &crm.ReadOpts{Archived: true})
			require.ErrorIs(t, err, crm.ErrNotFound)
			res, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{id}, crm.Actor{})
			require.NoError(t, err)
			require.ErrorIs(t, res.Failed[0].Err, crm.ErrNotFound)
		}
		// The younger one stays; the restored one is live and never purged.
		_, err = b.store.Record(ctx, b.tenant, crm.Contacts, ids[3], &crm.ReadOpts{Archived: true})
		require.NoError(t, err)
		n, err = b.store.PurgeExpired(ctx, b.tenant, crm.Contacts, start.Add(1000*24*time.Hour), 500)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		_, err = b.store.Record(ctx, b.tenant, crm.Contacts, ids[4], nil)
		require.NoError(t, err)
		keys, err := b.rdb.Keys(ctx, "crm:{"+string(b.tenant)+"}:bin*").Result()
		require.NoError(t, err)
		require.Empty(t, keys)
	})
}

func TestBinIsPerTenant(t *testing.T) {
	t.Parallel()
	b := setup(t, "redis")
	c := b.contact(t, map[string]string{"email": "x@example.com"})
	_, err := b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{c.ID}, crm.Actor{})
	require.NoError(t, err)
	other := crm.TenantID(redistest.Tenant(t))
	_, err = b.store.CreateTenant(b.ctx, other, crm.PlanFree)
	require.NoError(t, err)
	_, err = b.store.Record(b.ctx, other, crm.Contacts, c.ID, &crm.ReadOpts{Archived: true})
	require.ErrorIs(t, err, crm.ErrNotFound)
	res, err := b.store.RestoreRecords(b.ctx, other, crm.Contacts, []crm.RecordID{c.ID}, crm.Actor{})
	require.NoError(t, err)
	require.Empty(t, res.Restored)
	n, err := b.store.PurgeExpired(b.ctx, other, crm.Contacts, b.clock.Now().Add(time.Hour), 500)
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = b.store.Record(b.ctx, b.tenant, crm.Contacts, c.ID, &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
}

// TestPurgeLeavesNothingBehind deletes and restores records with associations (one side, then
// both sides in the bin) and purges the bins: no key of a purged record remains, its association
// keys included, and the set of binned records with associations is empty again.
func TestPurgeLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		a := b.contact(t, map[string]string{"email": "a@example.com"})
		c := b.contact(t, map[string]string{"email": "c@example.com"})
		plain := b.contact(t, map[string]string{"email": "plain@example.com"})
		co, err := b.store.CreateRecords(ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
		require.NoError(t, err)
		coref := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
		for _, id := range []crm.RecordID{a.ID, c.ID} {
			require.NoError(t, b.store.Associate(ctx, b.tenant, crm.AssociationRef{Type: crm.Contacts, ID: id}, coref))
		}
		who := crm.Actor{User: "ops@example.com"}
		_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{a.ID, plain.ID}, who)
		require.NoError(t, err)
		_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Companies, []crm.RecordID{co[0].ID}, who)
		require.NoError(t, err)
		// a comes back while its company is in the bin: the company's bin associations name it.
		rr, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{a.ID}, who)
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{a.ID}, rr.Restored)
		_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{a.ID, c.ID}, who)
		require.NoError(t, err)
		require.Positive(t, b.rdb.Exists(ctx, redisstore.BinAssocKey(b.tenant, crm.Companies, co[0].ID)).Val())
		// d goes to the bin while its company stays live: its associations go to the bin with it.
		d := b.contact(t, map[string]string{"email": "d@example.com"})
		live, err := b.store.CreateRecords(ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Live"}}}, crm.Actor{})
		require.NoError(t, err)
		require.NoError(t, b.store.Associate(ctx, b.tenant, crm.AssociationRef{Type: crm.Contacts, ID: d.ID}, crm.AssociationRef{Type: crm.Companies, ID: live[0].ID}))
		_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{d.ID}, who)
		require.NoError(t, err)
		require.Positive(t, b.rdb.Exists(ctx, redisstore.BinAssocKey(b.tenant, crm.Contacts, d.ID)).Val())

		horizon := b.clock.Now().Add(time.Hour)
		for _, o := range []crm.ObjectType{crm.Contacts, crm.Companies} {
			n, err := b.store.PurgeExpired(ctx, b.tenant, o, horizon, 500)
			require.NoError(t, err)
			require.Positive(t, n)
		}
		var left []string
		for _, pattern := range []string{"bin:*", "binassoc:*", "binassocs:*", "trash:*", "binids:*", "assoc:*"} {
			keys, err := b.rdb.Keys(ctx, "crm:{"+string(b.tenant)+"}:"+pattern).Result()
			require.NoError(t, err)
			left = append(left, keys...)
		}
		require.Empty(t, left, "nothing of the purged records remains")
	})
}

// TestPurgeEmptiesTheBinOfEveryOperation purges, in one batch, the records of seven operations
// (more than the purge places by reading one record of an operation) and asserts that each
// record left the bin index of its own operation, and of no other.
func TestPurgeEmptiesTheBinOfEveryOperation(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		ops := make([]string, 8)
		for i := range ops {
			ids := []crm.RecordID{b.contact(t, nil).ID, b.contact(t, nil).ID}
			_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids, crm.Actor{User: "ops@example.com"})
			require.NoError(t, err)
			rec, err := b.store.Record(ctx, b.tenant, crm.Contacts, ids[0], &crm.ReadOpts{Archived: true})
			require.NoError(t, err)
			ops[i] = rec.Deletion.Operation
			b.clock.Advance(time.Minute)
		}
		require.Len(t, slices.Compact(slices.Clone(ops)), len(ops), "one operation per call")
		// The last operation's records were deleted after the horizon.
		horizon := b.clock.Now().Add(-time.Minute - time.Millisecond)
		n, err := b.store.PurgeExpired(ctx, b.tenant, crm.Contacts, horizon, 500)
		require.NoError(t, err)
		require.Equal(t, 14, n)
		for i, id := range ops {
			op, err := b.store.Operation(ctx, b.tenant, id)
			require.NoError(t, err)
			want := int64(0)
			if i == len(ops)-1 {
				want = 2
			}
			require.Equal(t, want, op.InBin, "operation %d of %d", i+1, len(ops))
		}
	})
}

// TestDeletionLimitWindow pins where a blast-radius limit's window ends (SPEC S24), for the
// shortest and the longest window: a deletion counts while it is less than Per old, so the limit
// refuses one more a millisecond before the window rolls and allows it at the exact moment it
// rolls; a lower limit refuses at once what the deletions made count for; unlimited refuses none.
func TestDeletionLimitWindow(t *testing.T) {
	t.Parallel()
	for _, per := range []time.Duration{crm.MinLimitWindow, crm.MaxLimitWindow} {
		t.Run(crm.FormatWindow(per), func(t *testing.T) {
			t.Parallel()
			b := setup(t, "redis")
			ctx := b.ctx
			_, err := b.store.CreateUser(ctx, b.tenant, "ops@x.example", crm.Permissions(crm.AllPermissions), "root@x.example")
			require.NoError(t, err)
			var ids []crm.RecordID
			for i := range 6 {
				ids = append(ids, b.contact(t, map[string]string{"email": fmt.Sprintf("c%d@x.example", i)}).ID)
			}
			_, _, err = b.store.PutFlow(ctx, b.tenant, "bounced", crm.Contacts,
				"name: bounced\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n", "ops@x.example")
			require.NoError(t, err)
			f, err := b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "ops@x.example"})
			require.NoError(t, err)
			wf := crm.Actor{User: "ops@x.example", Via: crm.ViaWorkflow, Ref: "bounced", Revision: f.ActiveRevision}
			archive := func(max int, ids ...crm.RecordID) crm.ArchiveResult {
				t.Helper()
				res, err := b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids, wf,
					crm.ArchiveLimit{DeletionLimit: crm.DeletionLimit{Max: max, Per: per}, ActivatedAt: f.ActivatedAt})
				require.NoError(t, err)
				return res
			}
			inWindow := func() int64 {
				t.Helper()
				n, err := b.store.FlowDeletionsInWindow(ctx, b.tenant, "bounced", per)
				require.NoError(t, err)
				return n
			}

			require.Equal(t, ids[:2], archive(2, ids[:2]...).Archived)
			b.clock.Advance(per - time.Millisecond)
			require.EqualValues(t, 2, inWindow())
			res := archive(2, ids[2])
			require.Empty(t, res.Archived)
			require.Equal(t, []crm.RecordID{ids[2]}, res.OverLimit)

			b.clock.Advance(time.Millisecond) // the window rolls past the first two
			require.EqualValues(t, 0, inWindow())
			res = archive(2, ids[2:5]...)
			require.Equal(t, ids[2:4], res.Archived)
			require.Equal(t, []crm.RecordID{ids[4]}, res.OverLimit)

			res = archive(1, ids[4]) // lowered below what the window already holds
			require.Empty(t, res.Archived)
			require.Equal(t, []crm.RecordID{ids[4]}, res.OverLimit)
			require.Equal(t, []crm.RecordID{ids[4]}, archive(0, ids[4]).Archived, "unlimited")
			require.EqualValues(t, 3, inWindow(), "an unlimited deletion counts all the same")
		})
	}
}

// TestRestoreLeavesChangeMarksOnlyWhereAWorkflowWatches restores contacts by id and by an undo
// job, first with no workflow of contacts active (no change mark), then with one (each restored
// record's mark ends with the restore, so the engine sees it).
func TestRestoreLeavesChangeMarksOnlyWhereAWorkflowWatches(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		_, err := b.store.CreateUser(ctx, b.tenant, "admin@x.example", crm.Permissions{crm.PermRestore}, "root@x.example")
		require.NoError(t, err)
		// restoreBoth deletes a and u, brings a back by id and u by undoing its operation.
		restoreBoth := func(a, u crm.RecordID) {
			t.Helper()
			_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{a}, crm.Actor{User: "ops@x.example"})
			require.NoError(t, err)
			_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{u}, crm.Actor{User: "ops@x.example"})
			require.NoError(t, err)
			res, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{a}, crm.Actor{User: "admin@x.example"})
			require.NoError(t, err)
			require.Equal(t, []crm.RecordID{a}, res.Restored)
			binned, err := b.store.Record(ctx, b.tenant, crm.Contacts, u, &crm.ReadOpts{Archived: true})
			require.NoError(t, err)
			j, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: binned.Deletion.Operation, By: "admin@x.example"})
			require.NoError(t, err)
			for !j.State.Finished() {
				j, err = b.store.RunUndoBatch(ctx, b.tenant, j.ID, 10)
				require.NoError(t, err)
			}
			require.EqualValues(t, 1, j.Done)
		}

		quiet := b.contact(t, map[string]string{"email": "quiet@example.com"})
		quietUndo := b.contact(t, map[string]string{"email": "quiet-undo@example.com"})
		restoreBoth(quiet.ID, quietUndo.ID)
		pending, err := b.store.PendingChanges(ctx, b.tenant, 100)
		require.NoError(t, err)
		require.Empty(t, pending, "no workflow watches contacts: no change mark")

		activeFlow(t, b, false)
		watched := b.contact(t, map[string]string{"email": "watched@example.com"})
		watchedUndo := b.contact(t, map[string]string{"email": "watched-undo@example.com"})
		restoreBoth(watched.ID, watchedUndo.ID)
		require.Equal(t, "cdr", b.pendingChange(t, watched.ID).Events, "created, deleted, restored")
		require.Equal(t, "cdr", b.pendingChange(t, watchedUndo.ID).Events, "created, deleted, restored by the undo")
	})
}

// TestRestoreOfARecordLiveAgain restores, in one call, a contact whose live key exists again
// beside its bin hash (which no store path makes): that one is not found and stays in the bin as
// it is, and the others of the call are restored.
func TestRestoreOfARecordLiveAgain(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		a := b.contact(t, map[string]string{"email": "a@example.com"})
		c := b.contact(t, map[string]string{"email": "c@example.com"})
		_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{a.ID, c.ID}, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
		require.NoError(t, b.rdb.HSet(ctx, redisstore.RecordKey(b.tenant, crm.Contacts, c.ID), "_created", "1", "email", "c@example.com").Err())
		bin, err := b.rdb.HGetAll(ctx, redisstore.BinRecordKey(b.tenant, crm.Contacts, c.ID)).Result()
		require.NoError(t, err)

		res, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{a.ID, c.ID}, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{a.ID}, res.Restored)
		require.Len(t, res.Failed, 1)
		require.Equal(t, c.ID, res.Failed[0].ID)
		require.ErrorIs(t, res.Failed[0].Err, crm.ErrNotFound)
		after, err := b.rdb.HGetAll(ctx, redisstore.BinRecordKey(b.tenant, crm.Contacts, c.ID)).Result()
		require.NoError(t, err)
		require.Equal(t, bin, after)
		_, err = b.store.Record(ctx, b.tenant, crm.Contacts, a.ID, nil)
		require.NoError(t, err)
	})
}

// TestFullScriptBatchesOnEveryBackend creates, deletes and restores crm.MaxScriptBatch contacts,
// each in one call, on every backend: the scripts' index writes then take lists of 1000 items
// and more (the live index's pairs, the search indexes' entries, the emails), and every entry
// lands.
func TestFullScriptBatchesOnEveryBackend(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		const n = crm.MaxScriptBatch
		in := make([]crm.RecordInput, n)
		for i := range in {
			in[i] = crm.RecordInput{Properties: map[string]string{"email": fmt.Sprintf("full%d@example.com", i),
				"firstname": fmt.Sprintf("First%d", i), "lifecyclestage": []string{"lead", "customer"}[i%2],
				"last_activity_date": fmt.Sprintf("2025-%02d-%02dT10:00:00.000Z", i%12+1, i%28+1)}}
		}
		recs, err := b.store.CreateRecords(ctx, b.tenant, crm.Contacts, in, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
		ids := make([]crm.RecordID, n)
		for i, r := range recs {
			ids[i] = r.ID
		}
		counts := func() []int64 {
			t.Helper()
			var out []int64
			for _, key := range []string{redisstore.LiveKey(b.tenant, crm.Contacts),
				redisstore.SearchIndexKey(b.tenant, crm.Contacts, "email"), redisstore.SearchIndexKey(b.tenant, crm.Contacts, "firstname"),
				redisstore.SearchIndexKey(b.tenant, crm.Contacts, "last_activity_date"), redisstore.SearchIndexKey(b.tenant, crm.Contacts, "createdate"),
				redisstore.SearchIndexKey(b.tenant, crm.Contacts, "lastmodifieddate")} {
				c, err := b.rdb.ZCard(ctx, key).Result()
				require.NoError(t, err)
				out = append(out, c)
			}
			for _, v := range []string{"lead", "customer"} {
				c, err := b.rdb.SCard(ctx, redisstore.SearchValueKey(b.tenant, crm.Contacts, "lifecyclestage", v)).Result()
				require.NoError(t, err)
				out = append(out, c)
			}
			c, err := b.rdb.HLen(ctx, redisstore.EmailIndexKey(b.tenant)).Result()
			require.NoError(t, err)
			c2, err := b.rdb.ZCard(ctx, redisstore.TrashKey(b.tenant, crm.Contacts)).Result()
			require.NoError(t, err)
			return append(out, c, c2)
		}
		live := []int64{n, n, n, n, n, n, n / 2, n / 2, n, 0}
		require.Equal(t, live, counts())

		res, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
		require.Len(t, res.Archived, n)
		require.Equal(t, []int64{0, 0, 0, 0, 0, 0, 0, 0, 0, n}, counts())

		back, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, ids, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
		require.Len(t, back.Restored, n)
		require.Equal(t, live, counts())
		got, err := b.store.ContactByEmail(ctx, b.tenant, "full999@example.com")
		require.NoError(t, err)
		require.Equal(t, ids[999], got)
	})
}

// TestDeleteLeavesScoreIndexes deletes contacts with and without a datetime, by ids and by a job:
// each leaves every score index (its datetime's, its creation's and its modification's) and its
// text and value indexes, a contact without the datetime leaves the others as well, and the
// contact kept keeps each of its entries, with its score. A restore puts each entry back.
func TestDeleteLeavesScoreIndexes(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		jobUser(t, b.store, b.tenant, "ops@x.example")
		dated := map[string]string{"firstname": "Dated", "lifecyclestage": "lead", "last_activity_date": "2025-03-04T10:00:00.000Z"}
		plain := map[string]string{"firstname": "Plain", "lifecyclestage": "lead"}
		kept := b.contact(t, map[string]string{"firstname": "Kept", "lifecyclestage": "lead", "last_activity_date": "2025-05-06T10:00:00.000Z"})
		keys := []string{redisstore.SearchIndexKey(b.tenant, crm.Contacts, "last_activity_date"),
			redisstore.SearchIndexKey(b.tenant, crm.Contacts, "createdate"), redisstore.SearchIndexKey(b.tenant, crm.Contacts, "lastmodifieddate"),
			redisstore.SearchIndexKey(b.tenant, crm.Contacts, "firstname")}
		index := func() map[string][]redis.Z {
			t.Helper()
			out := map[string][]redis.Z{}
			for _, key := range keys {
				z, err := b.rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
				require.NoError(t, err)
				out[key] = z
			}
			m, err := b.rdb.SMembers(ctx, redisstore.SearchValueKey(b.tenant, crm.Contacts, "lifecyclestage", "lead")).Result()
			require.NoError(t, err)
			out["lead"] = []redis.Z{{Member: len(m)}}
			return out
		}
		only := index()
		require.Equal(t, string(kept.ID), only[keys[0]][0].Member)
		for _, byJob := range []bool{false, true} {
			ids := []crm.RecordID{b.contact(t, dated).ID, b.contact(t, plain).ID}
			with := index()
			require.Len(t, with[keys[0]], 2, "the plain contact has no datetime entry")
			require.Len(t, with[keys[1]], 3)
			if byJob {
				j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids, ConfirmCount: 2, By: "ops@x.example"})
				require.NoError(t, err)
				j, err = b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 500)
				require.NoError(t, err)
				require.Equal(t, crm.JobDone, j.State)
				require.EqualValues(t, 2, j.Done)
			} else {
				res, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids, crm.Actor{User: "ops@x.example"})
				require.NoError(t, err)
				require.Len(t, res.Archived, 2)
			}
			require.Equal(t, only, index(), "byJob %v: the deleted contacts leave every index, the kept one keeps its entries", byJob)
			_, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, ids, crm.Actor{User: "ops@x.example"})
			require.NoError(t, err)
			require.Equal(t, with, index(), "byJob %v: a restore puts each entry back", byJob)
			_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids, crm.Actor{User: "ops@x.example"})
			require.NoError(t, err)
			require.Equal(t, only, index())
		}
	})
}
