package redisstore_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

func TestPermanentDeleteLeavesNoTrace(t *testing.T) {
	t.Parallel()
	for _, inBin := range []bool{false, true} {
		name := "Live"
		if inBin {
			name = "FromBin"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, b *testBundle) {
				ctx := b.ctx
				secret := map[string]string{"email": "grace.hopper@navy.example", "additional_emails": "amazing.grace@cobol.example",
					"firstname": "Gracewind", "lastname": "Hopperstein", "phone": "+1-555-0199-777", "city": "Arlingtonshire"}
				c := b.contact(t, secret)
				other := b.contact(t, map[string]string{"email": "other@example.com", "firstname": "Other"})
				co, err := b.store.CreateRecords(ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Navy"}}}, crm.Actor{})
				require.NoError(t, err)
				call, err := b.store.CreateRecords(ctx, b.tenant, crm.Calls, []crm.RecordInput{{Properties: map[string]string{"hs_call_body": "Talked to Gracewind about compilers"}}}, crm.Actor{})
				require.NoError(t, err)
				cref := crm.AssociationRef{Type: crm.Contacts, ID: c.ID}
				coref := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
				callref := crm.AssociationRef{Type: crm.Calls, ID: call[0].ID}
				require.NoError(t, b.store.Associate(ctx, b.tenant, cref, coref))
				require.NoError(t, b.store.Associate(ctx, b.tenant, cref, callref))
				require.NoError(t, b.store.Associate(ctx, b.tenant, callref, coref))
				l, err := b.store.CreateList(ctx, b.tenant, "speakers", crm.Contacts)
				require.NoError(t, err)
				_, _, err = b.store.AddListMembers(ctx, b.tenant, l.ID, []crm.RecordID{c.ID, other.ID})
				require.NoError(t, err)
				f := activeFlow(t, b, false)
				_, err = b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, c.ID))
				require.NoError(t, err)
				if inBin {
					_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{c.ID}, crm.Actor{User: "ops@x.example"})
					require.NoError(t, err)
				}

				res, err := b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: c.ID, By: "dpo@x.example"})
				require.NoError(t, err)
				require.Equal(t, c.ID, res.ID)
				require.Equal(t, 2, res.Blocklisted)

				dump := b.tenantDump(t)
				for k, v := range dump {
					for _, val := range []string{"grace.hopper", "amazing.grace", "Gracewind", "Hopperstein", "555-0199", "Arlingtonshire"} {
						require.NotContains(t, strings.ToLower(k), strings.ToLower(val), "key %s", k)
						require.NotContains(t, strings.ToLower(v), strings.ToLower(val), "value of %s", k)
					}
				}
				// Its enrollments and workflow history went too (S9).
				me := "contacts:" + string(c.ID)
				n, err := b.rdb.Exists(ctx, redisstore.EnrollmentKey(b.tenant, "wf", me), redisstore.HistoryKey(b.tenant, "wf", me)).Result()
				require.NoError(t, err)
				require.Zero(t, n)
				_, err = b.rdb.ZScore(ctx, redisstore.FlowEnrolledKey(b.tenant, "wf"), me).Result()
				require.ErrorIs(t, err, redis.Nil)
				// Gone from reads, the bin, the list, the company's associations; the call went with it.
				_, err = b.store.Record(ctx, b.tenant, crm.Contacts, c.ID, nil)
				require.ErrorIs(t, err, crm.ErrNotFound)
				_, err = b.store.Record(ctx, b.tenant, crm.Contacts, c.ID, &crm.ReadOpts{Archived: true})
				require.ErrorIs(t, err, crm.ErrNotFound)
				rr, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{c.ID}, crm.Actor{})
				require.NoError(t, err)
				require.Empty(t, rr.Restored)
				_, err = b.store.Record(ctx, b.tenant, crm.Calls, call[0].ID, nil)
				require.ErrorIs(t, err, crm.ErrNotFound)
				require.Equal(t, 1, res.CallsErased, "the call the company shares is erased too (SPEC S9)")
				members, _, err := b.store.ListMembers(ctx, b.tenant, l.ID, nil)
				require.NoError(t, err)
				require.Equal(t, []crm.RecordID{other.ID}, members)
				assoc, err := b.store.Associations(ctx, b.tenant, coref, crm.Contacts)
				require.NoError(t, err)
				require.Empty(t, assoc)
				assoc, err = b.store.Associations(ctx, b.tenant, coref, crm.Calls)
				require.NoError(t, err)
				require.Empty(t, assoc)
				// The company is untouched.
				_, err = b.store.Record(ctx, b.tenant, crm.Companies, co[0].ID, nil)
				require.NoError(t, err)

				// Its emails are blocklisted, stored only as hashes (S10).
				for _, e := range []string{"grace.hopper@navy.example", "AMAZING.grace@cobol.example"} {
					ok, err := b.store.IsBlocklisted(ctx, b.tenant, e)
					require.NoError(t, err)
					require.True(t, ok, e)
					_, err = b.store.CreateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"email": e}}}, crm.Actor{})
					var be *crm.BlockedEmailError
					require.ErrorAs(t, err, &be)
					_, err = b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: other.ID, Properties: map[string]string{"additional_emails": e}}}, crm.Actor{})
					require.ErrorAs(t, err, &be)
				}

				// The confirmation was written with the delete, for the acting user, naming only what they typed.
				pending, err := b.store.PendingMails(ctx, b.tenant)
				require.NoError(t, err)
				require.Len(t, pending, 1)
				require.Equal(t, "dpo@x.example", pending[0].To)
				require.Contains(t, pending[0].Body, "with id "+string(c.ID))
				require.NoError(t, b.store.AckPendingMail(ctx, b.tenant, pending[0].ID))
				pending, err = b.store.PendingMails(ctx, b.tenant)
				require.NoError(t, err)
				require.Empty(t, pending)

				audit, _, err := b.store.Audit(ctx, b.tenant, nil)
				require.NoError(t, err)
				require.Equal(t, "permanent_delete", audit[len(audit)-1].Action)
				require.Equal(t, []crm.RecordID{c.ID}, audit[len(audit)-1].RecordIDs)
			})
		})
	}
}

func TestPermanentDeleteFindsBinnedContactsByAnyEmail(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		// One person's data in two contacts: a binned one with the address as an additional email,
		// a live one with it as the primary.
		binned := b.contact(t, map[string]string{"email": "gdpr-edge@example.com", "additional_emails": "edge-alias@example.com", "firstname": "Edgewina"})
		co, err := b.store.CreateRecords(ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Edge Co"}}}, crm.Actor{})
		require.NoError(t, err)
		call, err := b.store.CreateRecords(ctx, b.tenant, crm.Calls, []crm.RecordInput{{Properties: map[string]string{"hs_call_body": "Edgewina called"}}}, crm.Actor{})
		require.NoError(t, err)
		coref := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
		require.NoError(t, b.store.Associate(ctx, b.tenant, crm.AssociationRef{Type: crm.Contacts, ID: binned.ID}, crm.AssociationRef{Type: crm.Calls, ID: call[0].ID}))
		_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{binned.ID}, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
		live := b.contact(t, map[string]string{"email": "edge-alias@example.com", "firstname": "Edgewina"})
		require.NoError(t, b.store.Associate(ctx, b.tenant, crm.AssociationRef{Type: crm.Contacts, ID: live.ID}, coref))
		bystander := b.contact(t, map[string]string{"email": "bystander@example.com"})

		ids, err := b.store.ContactsByAnyEmail(ctx, b.tenant, "Edge-Alias@example.com")
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{binned.ID, live.ID}, ids)

		res, err := b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "edge-alias@example.com", By: "dpo@x.example"})
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{binned.ID, live.ID}, res.IDs)
		require.Equal(t, 2, res.Blocklisted)

		// Nothing can bring either back.
		rr, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{binned.ID, live.ID}, crm.Actor{})
		require.NoError(t, err)
		require.Empty(t, rr.Restored)
		for k, v := range b.tenantDump(t) {
			for _, s := range []string{"gdpr-edge", "edge-alias", "edgewina"} {
				require.NotContains(t, strings.ToLower(k+v), s, "kept in %s", k)
			}
		}
		ok, err := b.store.IsBlocklisted(ctx, b.tenant, "gdpr-edge@example.com")
		require.NoError(t, err)
		require.True(t, ok)

		// The company's association flag went with its last association.
		flag, err := b.rdb.HExists(ctx, redisstore.RecordKey(b.tenant, crm.Companies, co[0].ID), "_assoc").Result()
		require.NoError(t, err)
		require.False(t, flag)

		// The audit names every contact, and the cascaded call, by id and count only.
		audit, _, err := b.store.Audit(ctx, b.tenant, nil)
		require.NoError(t, err)
		last, cascade := audit[len(audit)-1], audit[len(audit)-2]
		require.Equal(t, "permanent_delete", last.Action)
		require.Equal(t, []crm.RecordID{binned.ID, live.ID}, last.RecordIDs)
		require.Equal(t, 2, last.Count)
		require.Equal(t, "permanent_delete_cascade", cascade.Action)
		require.Equal(t, crm.Calls, cascade.ObjectType)
		require.Equal(t, []crm.RecordID{call[0].ID}, cascade.RecordIDs)
		require.Equal(t, 1, cascade.Count)

		_, err = b.store.Record(ctx, b.tenant, crm.Contacts, bystander.ID, nil)
		require.NoError(t, err)
	})
}

// binEmails reads the bin email index of every day: email -> ids, the days' entries joined by ','.
func (b *testBundle) binEmails(t *testing.T) map[string]string {
	t.Helper()
	days, err := b.rdb.ZRange(b.ctx, redisstore.BinEmailDaysKey(b.tenant), 0, -1).Result()
	require.NoError(t, err)
	out := map[string]string{}
	for _, d := range days {
		day, err := strconv.ParseInt(d, 10, 64)
		require.NoError(t, err)
		h, err := b.rdb.HGetAll(b.ctx, redisstore.BinEmailDayKey(b.tenant, day)).Result()
		require.NoError(t, err)
		for e, ids := range h {
			if out[e] != "" {
				ids = out[e] + "," + ids
			}
			out[e] = ids
		}
	}
	return out
}

func TestBinEmailIndexFollowsTheBin(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		c := b.contact(t, map[string]string{"email": "a@example.com", "additional_emails": "b@example.com"})
		byEmail := func(e string) []crm.RecordID {
			ids, err := b.store.ContactsByAnyEmail(ctx, b.tenant, e)
			require.NoError(t, err)
			return ids
		}
		require.Equal(t, []crm.RecordID{c.ID}, byEmail("b@example.com"))
		_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{c.ID}, crm.Actor{})
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{c.ID}, byEmail("b@example.com"))
		require.Empty(t, byEmail("b@example.co"))
		require.Equal(t, map[string]string{"a@example.com": string(c.ID), "b@example.com": string(c.ID)}, b.binEmails(t))

		_, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{c.ID}, crm.Actor{})
		require.NoError(t, err)
		require.Empty(t, b.binEmails(t))

		// A purge removes the entries too, and writes an audit entry with the ids and their count.
		_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{c.ID}, crm.Actor{})
		require.NoError(t, err)
		b.clock.Advance(time.Hour)
		removed, err := b.store.PurgeExpired(ctx, b.tenant, crm.Contacts, b.clock.Now(), 100)
		require.NoError(t, err)
		require.Equal(t, 1, removed)
		require.Empty(t, b.binEmails(t))
		require.Empty(t, byEmail("a@example.com"))
		days, err := b.rdb.ZCard(ctx, redisstore.BinEmailDaysKey(b.tenant)).Result()
		require.NoError(t, err)
		require.Zero(t, days, "the day's index went with its last contact")
		audit, _, err := b.store.Audit(ctx, b.tenant, nil)
		require.NoError(t, err)
		last := audit[len(audit)-1]
		require.Equal(t, "purge", last.Action)
		require.Equal(t, []crm.RecordID{c.ID}, last.RecordIDs)
		require.Equal(t, 1, last.Count)
	})
}

// Two binned contacts may share an email (the second was created after the first went to the bin):
// the index names both, a restore removes only its own, and an erasure by that email takes every one.
// Contacts deleted on different days are indexed under their days: a purge drops a day's index
// once its last contact has gone, and the contacts of later days are still found by email.
func TestBinEmailIndexByDay(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		archive := func(ids ...crm.RecordID) {
			_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids, crm.Actor{})
			require.NoError(t, err)
		}
		old1 := b.contact(t, map[string]string{"email": "old1@example.com"})
		old2 := b.contact(t, map[string]string{"email": "old2@example.com", "additional_emails": "same@example.com"})
		archive(old1.ID, old2.ID)
		b.clock.Advance(3 * 24 * time.Hour)
		young := b.contact(t, map[string]string{"email": "young@example.com", "additional_emails": "same@example.com"})
		archive(young.ID)
		days, err := b.rdb.ZCard(ctx, redisstore.BinEmailDaysKey(b.tenant)).Result()
		require.NoError(t, err)
		require.EqualValues(t, 2, days)
		ids, err := b.store.ContactsByAnyEmail(ctx, b.tenant, "same@example.com")
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{old2.ID, young.ID}, ids, "across the days")

		// The first purge batch takes one of the two old contacts (old1, the lowest id): their day
		// keeps its index, whose entries of old1 a lookup no longer returns.
		horizon := b.clock.Now().Add(-24 * time.Hour)
		n, err := b.store.PurgeExpired(ctx, b.tenant, crm.Contacts, horizon, 1)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Len(t, b.binEmails(t), 4, "the old day's index stays while one of its contacts is in the bin")
		ids, err = b.store.ContactsByAnyEmail(ctx, b.tenant, "old1@example.com")
		require.NoError(t, err)
		require.Empty(t, ids, "purged")
		res, err := b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "old1@example.com", By: "dpo@x.example"})
		require.NoError(t, err, "an erasure by the email of a purged contact blocklists it")
		require.Empty(t, res.IDs)
		ids, err = b.store.ContactsByAnyEmail(ctx, b.tenant, "same@example.com")
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{old2.ID, young.ID}, ids)

		// The second takes the other: the old day's index goes whole; the young contact is still found.
		n, err = b.store.PurgeExpired(ctx, b.tenant, crm.Contacts, horizon, 10)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, map[string]string{"young@example.com": string(young.ID), "same@example.com": string(young.ID)}, b.binEmails(t))
		ids, err = b.store.ContactsByAnyEmail(ctx, b.tenant, "same@example.com")
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{young.ID}, ids)

		// And an erasure by that email reaches it, leaving no index behind.
		res, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "same@example.com", By: "dpo@x.example"})
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{young.ID}, res.IDs)
		require.Empty(t, b.binEmails(t))
	})
}

func TestBinEmailIndexSharedEmail(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		archive := func(id crm.RecordID) {
			_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{id}, crm.Actor{})
			require.NoError(t, err)
		}
		first := b.contact(t, map[string]string{"email": "shared@example.com"})
		archive(first.ID)
		second := b.contact(t, map[string]string{"email": "other@example.com", "additional_emails": "shared@example.com"})
		archive(second.ID)
		third := b.contact(t, map[string]string{"email": "shared@example.com"})
		archive(third.ID)
		ids, err := b.store.ContactsByAnyEmail(ctx, b.tenant, "shared@example.com")
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{first.ID, second.ID, third.ID}, ids)

		_, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{second.ID}, crm.Actor{})
		require.NoError(t, err)
		ids, err = b.store.ContactsByAnyEmail(ctx, b.tenant, "shared@example.com")
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{first.ID, second.ID, third.ID}, ids, "live or binned")
		require.Equal(t, string(first.ID)+","+string(third.ID), b.binEmails(t)["shared@example.com"])

		res, err := b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "shared@example.com", By: "dpo@x.example"})
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{first.ID, second.ID, third.ID}, res.IDs)
		for k, v := range b.tenantDump(t) {
			require.NotContains(t, k+v, "shared@", "kept in %s", k)
			require.NotContains(t, k+v, "other@", "kept in %s", k)
		}
	})
}

// The engine reaches its verdicts on records it read a moment before: a contact erased (or moved
// to the bin) in between gets nothing from them, neither an enrollment nor a history entry nor a
// place in the matching set, so that no trace of the erased contact comes back and a binned
// contact stays out of workflows (SPEC S8, S9). A manual enrollment of it is not found.
func TestVerdictsReadBeforeAnErasureLeaveNoTrace(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		f := activeFlow(t, b, false)
		erased := b.contact(t, map[string]string{"email": "stale-verdict@example.com"})
		binned := b.contact(t, map[string]string{"email": "binned@example.com"})
		live := b.contact(t, map[string]string{"email": "live@example.com"})
		_, err := b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: erased.ID, By: "dpo@x.example"})
		require.NoError(t, err)
		_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{binned.ID}, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)

		got, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, erased.ID, binned.ID, live.ID))
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{live.ID}, got)
		for _, v := range []crm.Verdict{crm.VerdictError, crm.VerdictSuppressed} {
			_, err = b.store.EvaluateFlow(ctx, b.tenant, f, []crm.FlowVerdict{{ID: erased.ID, Verdict: v, Detail: "stale-verdict@example.com"}})
			require.NoError(t, err)
		}
		err = b.store.EnrollManually(ctx, b.tenant, f, erased.ID, "ops@x.example")
		require.ErrorIs(t, err, crm.ErrNotFound)

		for k, v := range b.tenantDump(t) {
			require.NotContains(t, k, "contacts:"+string(erased.ID), "the erased contact is named by %s", k)
			require.NotContains(t, v, "stale-verdict", "the erased contact's email is kept in %s", k)
		}
		log, err := b.store.FlowLog(ctx, b.tenant, "wf", crm.FlowLogQuery{})
		require.NoError(t, err)
		require.Len(t, log.Entries, 1)
		require.Equal(t, live.ID, log.Entries[0].ID)
		for _, id := range []crm.RecordID{binned.ID, erased.ID} {
			me := "contacts:" + string(id)
			n, err := b.rdb.Exists(ctx, redisstore.EnrollmentKey(b.tenant, "wf", me), redisstore.HistoryKey(b.tenant, "wf", me)).Result()
			require.NoError(t, err)
			require.Zero(t, n, me)
			_, err = b.rdb.ZScore(ctx, redisstore.FlowEnrolledKey(b.tenant, "wf"), me).Result()
			require.ErrorIs(t, err, redis.Nil, me)
			in, err := b.rdb.SIsMember(ctx, redisstore.FlowMatchingKey(b.tenant, "wf"), me).Result()
			require.NoError(t, err)
			require.False(t, in, me)
		}
	})
}
