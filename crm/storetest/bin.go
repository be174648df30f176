package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

func testRestore(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	c := b.contact(t, map[string]string{"email": "back@example.com", "firstname": "Back"})
	cref := crm.AssociationRef{Type: crm.Contacts, ID: c.ID}
	cos, err := b.store.CreateRecords(ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Live"}}, {Properties: map[string]string{"name": "Dead"}}}, crm.Actor{})
	require.NoError(t, err)
	live, dead := crm.AssociationRef{Type: crm.Companies, ID: cos[0].ID}, crm.AssociationRef{Type: crm.Companies, ID: cos[1].ID}
	require.NoError(t, b.store.Associate(ctx, b.tenant, cref, live))
	require.NoError(t, b.store.Associate(ctx, b.tenant, cref, dead))
	l, err := b.store.CreateList(ctx, b.tenant, "l", crm.Contacts)
	require.NoError(t, err)
	_, _, err = b.store.AddListMembers(ctx, b.tenant, l.ID, []crm.RecordID{c.ID})
	require.NoError(t, err)

	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{c.ID}, crm.Actor{User: "a@x.example"})
	require.NoError(t, err)
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Companies, []crm.RecordID{dead.ID}, crm.Actor{User: "a@x.example"})
	require.NoError(t, err)

	res, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{c.ID, "777"}, crm.Actor{User: "admin@x.example"})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{c.ID}, res.Restored)
	require.Len(t, res.Failed, 1)
	require.ErrorIs(t, res.Failed[0].Err, crm.ErrNotFound)

	got, err := b.store.Record(ctx, b.tenant, crm.Contacts, c.ID, nil)
	require.NoError(t, err)
	require.Equal(t, "Back", got.Properties["firstname"])
	require.False(t, got.Archived)
	// Associations come back where the other side is live (S7)...
	assoc, err := b.store.Associations(ctx, b.tenant, cref, crm.Companies)
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{live.ID}, assoc)
	back, err := b.store.Associations(ctx, b.tenant, live, crm.Contacts)
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{c.ID}, back)
	// ...and the one whose other side was in the bin comes back with that side's restore.
	_, err = b.store.RestoreRecords(ctx, b.tenant, crm.Companies, []crm.RecordID{dead.ID}, crm.Actor{})
	require.NoError(t, err)
	assoc, err = b.store.Associations(ctx, b.tenant, cref, crm.Companies)
	require.NoError(t, err)
	require.ElementsMatch(t, []crm.RecordID{live.ID, dead.ID}, assoc)
	// List memberships do not come back (S7).
	members, _, err := b.store.ListMembers(ctx, b.tenant, l.ID, nil)
	require.NoError(t, err)
	require.Empty(t, members)
	// The email is taken again.
	id, err := b.store.ContactByEmail(ctx, b.tenant, "back@example.com")
	require.NoError(t, err)
	require.Equal(t, c.ID, id)
	n, err := b.store.BinSize(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.Zero(t, n)
}

func testRestoreRefusedWhenEmailTaken(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	old := b.contact(t, map[string]string{"email": "dup@example.com", "additional_emails": "alt@example.com"})
	fine := b.contact(t, map[string]string{"email": "fine@example.com"})
	_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{old.ID, fine.ID}, crm.Actor{})
	require.NoError(t, err)
	newer := b.contact(t, map[string]string{"email": "ALT@example.com"})
	before := b.dump(t)

	res, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{old.ID}, crm.Actor{})
	require.NoError(t, err)
	require.Empty(t, res.Restored)
	require.Len(t, res.Failed, 1)
	var ce *crm.EmailConflictError
	require.ErrorAs(t, res.Failed[0].Err, &ce)
	require.Equal(t, newer.ID, ce.BlockingID)
	require.Equal(t, "alt@example.com", ce.Email)
	require.Equal(t, before, b.dump(t), "a refused restore changes nothing")

	// The other inputs of a batch still go through.
	res, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{old.ID, fine.ID}, crm.Actor{})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{fine.ID}, res.Restored)
	require.Len(t, res.Failed, 1)
}

// testRestoreInOneCallKeepsEmailsAndIndexes restores in one call two binned contacts that had the
// same email at different times: the first one restored gets it back and the second is refused,
// naming the first. The restored contact is found again by its email and by the time of its restore.
func testRestoreInOneCallKeepsEmailsAndIndexes(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	first := b.contact(t, map[string]string{"email": "same@example.com", "lifecyclestage": "lead"})
	_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{first.ID}, crm.Actor{})
	require.NoError(t, err)
	second := b.contact(t, map[string]string{"email": "SAME@example.com", "lifecyclestage": "lead"})
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{second.ID}, crm.Actor{})
	require.NoError(t, err)

	b.clock.Advance(time.Hour)
	res, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{first.ID, second.ID}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{first.ID}, res.Restored)
	require.Len(t, res.Failed, 1)
	require.Equal(t, second.ID, res.Failed[0].ID)
	var ce *crm.EmailConflictError
	require.ErrorAs(t, res.Failed[0].Err, &ce)
	require.Equal(t, first.ID, ce.BlockingID, "the contact restored earlier in the call holds the email")

	id, err := b.store.ContactByEmail(ctx, b.tenant, "same@example.com")
	require.NoError(t, err)
	require.Equal(t, first.ID, id)
	search := func(f crm.SearchFilter) []crm.RecordID {
		t.Helper()
		out, err := b.store.Search(ctx, b.tenant, crm.Contacts, crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{f}}})
		require.NoError(t, err)
		var ids []crm.RecordID
		for _, r := range out.Records {
			ids = append(ids, r.ID)
		}
		return ids
	}
	require.Equal(t, []crm.RecordID{first.ID}, search(crm.SearchFilter{PropertyName: "lifecyclestage", Operator: crm.OpEQ, Value: "lead", HasValue: true}))
	restoredAt := crm.FormatDatetime(b.clock.Now().Add(-time.Second))
	require.Equal(t, []crm.RecordID{first.ID}, search(crm.SearchFilter{PropertyName: "lastmodifieddate", Operator: crm.OpGT, Value: restoredAt, HasValue: true}),
		"the restore is the contact's last modification")
	n, err := b.store.BinSize(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the refused contact stays in the bin")
}

// testAuditNewestFirstAndFiltered reads the audit trail oldest first and newest first, in pages,
// and filtered by action and by actor.
func testAuditNewestFirstAndFiltered(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	var ids []crm.RecordID
	for i := range 4 {
		ids = append(ids, b.contact(t, map[string]string{"email": fmt.Sprintf("a%d@example.com", i)}).ID)
	}
	for i, id := range ids {
		_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{id}, crm.Actor{User: fmt.Sprintf("user%d@example.com", i%2)})
		require.NoError(t, err)
	}
	_, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, ids[:1], crm.Actor{User: "fixer@example.com"})
	require.NoError(t, err)
	type seen struct{ action, by string }
	read := func(o crm.AuditOpts) []seen {
		t.Helper()
		var out []seen
		for range 10 {
			entries, next, err := b.store.Audit(ctx, b.tenant, &o)
			require.NoError(t, err)
			for _, e := range entries {
				out = append(out, seen{e.Action, e.By})
			}
			if next == "" {
				return out
			}
			o.After = next
		}
		t.Fatal("the pages do not end")
		return nil
	}
	oldest := []seen{{"archive", "user0@example.com"}, {"archive", "user1@example.com"}, {"archive", "user0@example.com"},
		{"archive", "user1@example.com"}, {"restore", "fixer@example.com"}}
	require.Equal(t, oldest, read(crm.AuditOpts{}))
	require.Equal(t, oldest, read(crm.AuditOpts{Limit: 2}))
	newest := slices.Clone(oldest)
	slices.Reverse(newest)
	require.Equal(t, newest, read(crm.AuditOpts{Newest: true}))
	require.Equal(t, newest, read(crm.AuditOpts{Newest: true, Limit: 2}))
	require.Equal(t, []seen{{"restore", "fixer@example.com"}}, read(crm.AuditOpts{Newest: true, Actions: []string{"restore"}}))
	require.Equal(t, []seen{{"archive", "user1@example.com"}, {"archive", "user1@example.com"}},
		read(crm.AuditOpts{Newest: true, By: "USER1@", Limit: 1}), "by actor, ignoring case, a page at a time")
	require.Empty(t, read(crm.AuditOpts{Actions: []string{"purge"}}))
}

// testRestoreTogetherKeepsTheirAssociation deletes two associated contacts one after the other and
// restores both in one call, in either order: they are associated again, and nothing of the link
// stays behind in the bin.
func testRestoreTogetherKeepsTheirAssociation(t *testing.T, hn *Harness) {
	t.Parallel()
	for _, order := range []string{"first-deleted-first", "last-deleted-first"} {
		t.Run(order, func(t *testing.T) {
			b := setup(t, hn)
			ctx := b.ctx
			a := b.contact(t, map[string]string{"firstname": "A"})
			c := b.contact(t, map[string]string{"firstname": "C"})
			aref, cref := crm.AssociationRef{Type: crm.Contacts, ID: a.ID}, crm.AssociationRef{Type: crm.Contacts, ID: c.ID}
			require.NoError(t, b.store.Associate(ctx, b.tenant, aref, cref))
			before := b.dump(t)
			for _, id := range []crm.RecordID{a.ID, c.ID} {
				_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{id}, crm.Actor{User: "a@x.example"})
				require.NoError(t, err)
			}
			ids := []crm.RecordID{a.ID, c.ID}
			if order == "last-deleted-first" {
				ids = []crm.RecordID{c.ID, a.ID}
			}
			res, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, ids, crm.Actor{User: "a@x.example"})
			require.NoError(t, err)
			require.ElementsMatch(t, ids, res.Restored)
			got, err := b.store.Associations(ctx, b.tenant, aref, crm.Contacts)
			require.NoError(t, err)
			require.Equal(t, []crm.RecordID{c.ID}, got)
			got, err = b.store.Associations(ctx, b.tenant, cref, crm.Contacts)
			require.NoError(t, err)
			require.Equal(t, []crm.RecordID{a.ID}, got)
			after := b.dump(t)
			for k := range after {
				if strings.Contains(k, ":binassoc") {
					require.Contains(t, before, k, "a bin association key left behind: %s", k)
				}
			}
		})
	}
}

// testBinFilters pages through the bin filtered by who deleted, how and when (ListOpts.Deleted):
// every record that matches, once, in id order, whatever the page size; a page that read
// crm.MaxBinScan records without filling up still hands on its cursor.
func testBinFilters(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	// First the records no filter below keeps, more than one page reads, then the ones they keep.
	var filler []crm.RecordID
	for len(filler) < crm.MaxBinScan+50 {
		filler = append(filler, b.contacts(t, min(crm.MaxScriptBatch, crm.MaxBinScan+50-len(filler)), "")...)
	}
	for i := 0; i < len(filler); i += crm.MaxScriptBatch {
		_, err := b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, filler[i:min(i+crm.MaxScriptBatch, len(filler))],
			crm.Actor{User: "carol@x.example"})
		require.NoError(t, err)
	}
	alice := b.contacts(t, 5, "")
	_, err := b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, alice, crm.Actor{User: "Alice@x.example"})
	require.NoError(t, err)
	b.clock.Advance(24 * time.Hour)
	since := b.clock.Now()
	bob := b.contacts(t, 3, "")
	_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, bob, crm.Actor{User: "bob@x.example", Via: crm.ViaBulk, Ref: "7"})
	require.NoError(t, err)

	// all pages through the bin with f, limit records a page, and returns the ids and the pages read.
	all := func(f crm.DeletionFilter, limit int) ([]crm.RecordID, int) {
		var ids []crm.RecordID
		after, pages := "", 0
		for {
			p, err := b.store.ListRecords(b.ctx, b.tenant, crm.Contacts, &crm.ListOpts{Archived: true, Deleted: f, Limit: limit, After: after})
			require.NoError(t, err)
			pages++
			require.LessOrEqual(t, len(p.Records), limit)
			for _, r := range p.Records {
				require.True(t, f.Matches(r.Deletion), "record %s: %+v", r.ID, r.Deletion)
				ids = append(ids, r.ID)
			}
			if p.After == "" {
				return ids, pages
			}
			require.Less(t, pages, 100, "paging does not end")
			after = p.After
		}
	}
	for _, tc := range []struct {
		name  string
		f     crm.DeletionFilter
		want  []crm.RecordID
		limit int
	}{
		{"ByAnyCase", crm.DeletionFilter{By: "ALICE"}, alice, 100},
		{"ByInPagesOfTwo", crm.DeletionFilter{By: "alice@"}, alice, 2},
		{"Via", crm.DeletionFilter{Via: crm.ViaBulk}, bob, 100},
		{"Since", crm.DeletionFilter{Since: since}, bob, 100},
		{"Until", crm.DeletionFilter{By: "x.example", Until: since}, append(slices.Clone(filler), alice...), 100},
		{"NoneMatch", crm.DeletionFilter{By: "alice", Via: crm.ViaBulk}, nil, 100},
	} {
		got, _ := all(tc.f, tc.limit)
		require.Equal(t, tc.want, got, tc.name)
	}
	// The records of bob come after more than one page reads: the first page is empty and goes on.
	first, err := b.store.ListRecords(b.ctx, b.tenant, crm.Contacts, &crm.ListOpts{Archived: true, Deleted: crm.DeletionFilter{Via: crm.ViaBulk}, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, first.Records)
	require.NotEmpty(t, first.After)
	_, pages := all(crm.DeletionFilter{Via: crm.ViaBulk}, 10)
	require.Equal(t, 2, pages)

	// The filters are the bin's: on the live records they are refused.
	_, err = b.store.ListRecords(b.ctx, b.tenant, crm.Contacts, &crm.ListOpts{Deleted: crm.DeletionFilter{By: "alice"}})
	var ve *crm.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Message, "archived=true")
}

// testArchiveCheckedMovesOnlyWhatWasNotWritten: a delete that checked records against the
// protection rules (SPEC S25) moves only those not written since it read them, however close the
// write came (the same millisecond included), as a single call and as a job's batch.
func testArchiveCheckedMovesOnlyWhatWasNotWritten(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.jobCreator(t, "ops@x.example")
	by := crm.Actor{User: "ops@x.example"}
	ids := b.contacts(t, 3, "")
	read := func(ids ...crm.RecordID) []crm.Record {
		recs, err := b.store.Records(b.ctx, b.tenant, crm.Contacts, ids, &crm.ReadOpts{Properties: []string{"lifecyclestage"}})
		require.NoError(t, err)
		require.Len(t, recs, len(ids))
		return recs
	}
	write := func(id crm.RecordID) {
		_, err := b.store.UpdateRecords(b.ctx, b.tenant, crm.Contacts,
			[]crm.RecordUpdate{{ID: id, Properties: map[string]string{"lifecyclestage": "customer"}}}, by)
		require.NoError(t, err)
	}
	checked := read(ids...)
	write(ids[1]) // at the clock's same millisecond as the records' creation and the read
	res, err := b.store.ArchiveChecked(b.ctx, b.tenant, crm.Contacts, checked, by, crm.CheckedArchive{})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{ids[0], ids[2]}, res.Archived)
	require.Equal(t, []crm.RecordID{ids[1]}, res.Changed)
	require.Empty(t, res.Missing)
	live, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, ids[1], nil)
	require.NoError(t, err)
	require.Equal(t, "customer", live.Properties["lifecyclestage"], "the record written since stays live, as written")
	// Read again, it moves; the ones already moved are missing now.
	res, err = b.store.ArchiveChecked(b.ctx, b.tenant, crm.Contacts, append(read(ids[1]), checked[0]), by, crm.CheckedArchive{})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{ids[1]}, res.Archived)
	require.Equal(t, []crm.RecordID{ids[0]}, res.Missing)
	require.Empty(t, res.Changed)

	// All or none: one record written since keeps them all live.
	ids = b.contacts(t, 2, "")
	checked = read(ids...)
	write(ids[0])
	res, err = b.store.ArchiveChecked(b.ctx, b.tenant, crm.Contacts, checked, by, crm.CheckedArchive{All: true})
	require.NoError(t, err)
	require.Empty(t, res.Archived)
	require.Equal(t, []crm.RecordID{ids[0]}, res.Changed)
	n, err := b.store.CountRecords(b.ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "both stay live")
	res, err = b.store.ArchiveChecked(b.ctx, b.tenant, crm.Contacts, read(ids...), by, crm.CheckedArchive{All: true})
	require.NoError(t, err)
	require.Equal(t, ids, res.Archived)

	// A job's batch: the written record and those after it stay pending for the next batch.
	ids = b.contacts(t, 3, "")
	j, err := b.store.CreateDeleteJob(b.ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids, ConfirmCount: 3, By: "ops@x.example"})
	require.NoError(t, err)
	pending, p, err := b.store.PendingJobRecords(b.ctx, b.tenant, j.ID, crm.Contacts, 10, []string{"lifecyclestage"})
	require.NoError(t, err)
	require.Equal(t, 3, p)
	write(ids[1])
	j, err = b.store.RunCheckedDeleteJobBatch(b.ctx, b.tenant, j.ID, p, pending, 0)
	require.NoError(t, err)
	require.EqualValues(t, 1, j.Done)
	require.False(t, j.State.Finished())
	pending, p, err = b.store.PendingJobRecords(b.ctx, b.tenant, j.ID, crm.Contacts, 10, []string{"lifecyclestage"})
	require.NoError(t, err)
	require.Equal(t, 2, p)
	require.Equal(t, ids[1], pending[0].ID)
	j, err = b.store.RunCheckedDeleteJobBatch(b.ctx, b.tenant, j.ID, p, pending, 0)
	require.NoError(t, err)
	require.EqualValues(t, 3, j.Done)
	require.True(t, j.State.Finished())
}

// testCheckedDeletesMoveOnlyUnderTheRulesChecked: the rules' version moves on with every rule
// written or removed, and a checked archive or job batch given an older version moves nothing.
func testCheckedDeletesMoveOnlyUnderTheRulesChecked(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.jobCreator(t, "ops@x.example")
	ctx := b.ctx
	v0, err := b.store.ProtectionVersion(ctx, b.tenant)
	require.NoError(t, err)
	require.EqualValues(t, 1, v0, "before any rule")
	_, _, err = b.store.PutProtectionRule(ctx, b.tenant, crm.ProtectionRule{Name: "vips", ObjectType: crm.Contacts, When: `firstname == "Vip"`}, "ops@x.example")
	require.NoError(t, err)
	v1, err := b.store.ProtectionVersion(ctx, b.tenant)
	require.NoError(t, err)
	require.Greater(t, v1, v0)
	rules, at, err := b.store.VersionedProtectionRules(ctx, b.tenant)
	require.NoError(t, err)
	require.Equal(t, v1, at, "the rules come with the version they were read at")
	require.Len(t, rules, 1)
	require.Equal(t, "vips", rules[0].Name)
	require.NoError(t, b.store.DeleteProtectionRule(ctx, b.tenant, "vips", "ops@x.example"))
	v2, err := b.store.ProtectionVersion(ctx, b.tenant)
	require.NoError(t, err)
	require.Greater(t, v2, v1)
	rules, at, err = b.store.VersionedProtectionRules(ctx, b.tenant)
	require.NoError(t, err)
	require.Equal(t, v2, at)
	require.Empty(t, rules)

	ids := b.contacts(t, 4, "")
	by := crm.Actor{User: "ops@x.example"}
	bare := []crm.Record{{ID: ids[0], Type: crm.Contacts}, {ID: ids[1], Type: crm.Contacts}}
	before := b.dump(t)
	res, err := b.store.ArchiveChecked(ctx, b.tenant, crm.Contacts, bare, by, crm.CheckedArchive{RulesVersion: v1})
	require.NoError(t, err)
	require.Empty(t, res.Archived)
	require.Equal(t, ids[:2], res.Changed, "every record to check again")
	require.Equal(t, before, b.dump(t), "nothing changes")
	res, err = b.store.ArchiveChecked(ctx, b.tenant, crm.Contacts, bare, by, crm.CheckedArchive{RulesVersion: v2, All: true})
	require.NoError(t, err)
	require.Equal(t, ids[:2], res.Archived)

	j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids[2:], ConfirmCount: 2, By: "ops@x.example"})
	require.NoError(t, err)
	before = b.dump(t)
	j, err = b.store.RunCheckedDeleteJobBatch(ctx, b.tenant, j.ID, 2, nil, v1)
	require.ErrorIs(t, err, crm.ErrRulesChanged)
	require.EqualValues(t, 0, j.Done)
	require.Equal(t, before, b.dump(t), "nothing changes")
	j, err = b.store.RunCheckedDeleteJobBatch(ctx, b.tenant, j.ID, 2, nil, v2)
	require.NoError(t, err)
	require.Equal(t, crm.JobDone, j.State)
	require.EqualValues(t, 2, j.Done)
}
