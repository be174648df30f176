package redisstore_test

import (
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// linksNaming returns the association keys of the tenant (live, in the bin, and the bin links)
// that are the record's own or whose members name it.
func (b *testBundle) linksNaming(t *testing.T, o crm.ObjectType, id crm.RecordID) []string {
	t.Helper()
	named := regexp.MustCompile(regexp.QuoteMeta(string(o)+":"+string(id)) + `\b`)
	var out []string
	for k, v := range b.tenantDump(t) {
		if !strings.Contains(k, ":assoc:") && !strings.Contains(k, ":binassoc:") && !strings.Contains(k, ":binlinks:") {
			continue
		}
		if named.MatchString(k) || named.MatchString(v) {
			out = append(out, k+" = "+v)
		}
	}
	sort.Strings(out)
	return out
}

// binLinkKeys returns the tenant's keys of bin associations and bin links, with their content.
func (b *testBundle) binLinkKeys(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range b.tenantDump(t) {
		if strings.Contains(k, ":binassoc") || strings.Contains(k, ":binlinks:") {
			out[k] = v
		}
	}
	return out
}

func (b *testBundle) archive(t *testing.T, o crm.ObjectType, ids ...crm.RecordID) {
	t.Helper()
	moved, err := b.store.ArchiveRecords(b.ctx, b.tenant, o, ids, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	require.Len(t, moved.Archived, len(ids))
}

func (b *testBundle) restore(t *testing.T, o crm.ObjectType, ids ...crm.RecordID) {
	t.Helper()
	res, err := b.store.RestoreRecords(b.ctx, b.tenant, o, ids, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	require.Empty(t, res.Failed)
}

// A call moved to the bin while its contact was live names the contact on its own side only: the
// contact's bin links name it, so the contact's erasure finds it in the bin and erases it, and
// no association key names the contact afterwards (SPEC S9).
func TestPermanentDeleteErasesCallBinnedWhileContactLive(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ann := b.contact(t, map[string]string{"email": "ann@example.com", "firstname": "Annabeth"})
		co, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
		require.NoError(t, err)
		annRef := crm.AssociationRef{Type: crm.Contacts, ID: ann.ID}
		coRef := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
		call := b.call(t, "Annabeth Quillfeather called about her invoice")
		callRef := crm.AssociationRef{Type: crm.Calls, ID: call}
		b.link(t, annRef, callRef)
		b.link(t, coRef, callRef)
		b.archive(t, crm.Calls, call)
		members, err := b.rdb.SMembers(b.ctx, redisstore.BinLinksKey(b.tenant, crm.Contacts, ann.ID)).Result()
		require.NoError(t, err)
		require.Equal(t, []string{"calls:" + string(call)}, members)

		res, err := b.store.PermanentDeleteContact(b.ctx, b.tenant, crm.PermanentDeleteParams{ID: ann.ID, By: "dpo@x.example"})
		require.NoError(t, err)
		require.Equal(t, 1, res.CallsErased)
		_, err = b.callRecord(t, call)
		require.ErrorIs(t, err, crm.ErrNotFound)
		require.Empty(t, b.linksNaming(t, crm.Contacts, ann.ID))
		require.Empty(t, b.linksNaming(t, crm.Calls, call))
		require.Empty(t, b.binLinkKeys(t))
		for k, v := range b.tenantDump(t) {
			require.NotContains(t, strings.ToLower(k+v), "quillfeather", "key %s", k)
		}
	})
}

// A contact and its call both in the bin, in either order, and a binned contact and a binned
// company that name an erased call or the erased contact: the erasure erases the call, and the
// binned records that named the erased ones no longer do; restored, they come back without them.
func TestPermanentDeleteCleansBinnedPartners(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ann := b.contact(t, map[string]string{"email": "ann@example.com"})
		bob := b.contact(t, map[string]string{"email": "bob@example.com"})
		co, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
		require.NoError(t, err)
		annRef := crm.AssociationRef{Type: crm.Contacts, ID: ann.ID}
		bobRef := crm.AssociationRef{Type: crm.Contacts, ID: bob.ID}
		coRef := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
		callFirst, contactFirst := b.call(t, "binned before Ann"), b.call(t, "binned after Ann")
		b.link(t, annRef, crm.AssociationRef{Type: crm.Calls, ID: callFirst})
		b.link(t, annRef, crm.AssociationRef{Type: crm.Calls, ID: contactFirst})
		b.link(t, bobRef, crm.AssociationRef{Type: crm.Calls, ID: contactFirst})
		b.link(t, annRef, coRef)
		b.archive(t, crm.Calls, callFirst)
		b.archive(t, crm.Contacts, ann.ID, bob.ID)
		b.archive(t, crm.Calls, contactFirst)
		b.archive(t, crm.Companies, co[0].ID)

		res, err := b.store.PermanentDeleteContact(b.ctx, b.tenant, crm.PermanentDeleteParams{ID: ann.ID, By: "dpo@x.example"})
		require.NoError(t, err)
		require.Equal(t, 2, res.CallsErased)
		for _, id := range []crm.RecordID{callFirst, contactFirst} {
			_, err = b.callRecord(t, id)
			require.ErrorIs(t, err, crm.ErrNotFound)
			require.Empty(t, b.linksNaming(t, crm.Calls, id))
		}
		require.Empty(t, b.linksNaming(t, crm.Contacts, ann.ID))
		require.Empty(t, b.binLinkKeys(t), "Bob and the company named only the erased records")

		b.restore(t, crm.Contacts, bob.ID)
		b.restore(t, crm.Companies, co[0].ID)
		assoc, err := b.store.Associations(b.ctx, b.tenant, bobRef, crm.Calls)
		require.NoError(t, err)
		require.Empty(t, assoc)
		assoc, err = b.store.Associations(b.ctx, b.tenant, coRef, crm.Contacts)
		require.NoError(t, err)
		require.Empty(t, assoc)
		require.Empty(t, b.linksNaming(t, crm.Contacts, ann.ID))
	})
}

// Restores and undos keep the bin links: a record restored leaves the bin links of the records it named, and
// one restored while its partner is in the bin is named by the partner's bin set, so its bin
// links name the partner. A purge of everything leaves no bin association or bin link key.
func TestBinLinksFollowRestoreAndPurge(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ann := b.contact(t, map[string]string{"email": "ann@example.com"})
		bob := b.contact(t, map[string]string{"email": "bob@example.com"})
		co, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
		require.NoError(t, err)
		annRef := crm.AssociationRef{Type: crm.Contacts, ID: ann.ID}
		coRef := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
		call := b.call(t, "the call")
		callRef := crm.AssociationRef{Type: crm.Calls, ID: call}
		b.link(t, annRef, callRef)
		b.link(t, coRef, callRef)
		b.link(t, crm.AssociationRef{Type: crm.Contacts, ID: bob.ID}, coRef)
		links := func(o crm.ObjectType, id crm.RecordID) []string {
			t.Helper()
			m, err := b.rdb.SMembers(b.ctx, redisstore.BinLinksKey(b.tenant, o, id)).Result()
			require.NoError(t, err)
			sort.Strings(m)
			return m
		}

		b.archive(t, crm.Calls, call)
		require.Equal(t, []string{"calls:" + string(call)}, links(crm.Contacts, ann.ID))
		require.Equal(t, []string{"calls:" + string(call)}, links(crm.Companies, co[0].ID))
		// Ann goes too, then comes back while the call is in the bin: the call's bin set still names
		// her, and her restore's relinking keeps the call named by her bin links.
		b.archive(t, crm.Contacts, ann.ID)
		b.restore(t, crm.Contacts, ann.ID)
		require.Equal(t, []string{"calls:" + string(call)}, links(crm.Contacts, ann.ID))
		// The call comes back by an undo of its deletion: both live again, no bin link left.
		_, err = b.store.CreateUser(b.ctx, b.tenant, "admin@x.example", crm.Permissions{crm.PermRestore}, "root@x.example")
		require.NoError(t, err)
		binned, err := b.store.Record(b.ctx, b.tenant, crm.Calls, call, &crm.ReadOpts{Archived: true})
		require.NoError(t, err)
		j, err := b.store.CreateUndoJob(b.ctx, b.tenant, crm.UndoParams{Operation: binned.Deletion.Operation, By: "admin@x.example"})
		require.NoError(t, err)
		for !j.State.Finished() {
			j, err = b.store.RunUndoBatch(b.ctx, b.tenant, j.ID, 10)
			require.NoError(t, err)
		}
		require.EqualValues(t, 1, j.Done)
		require.Empty(t, b.binLinkKeys(t))
		assoc, err := b.store.Associations(b.ctx, b.tenant, annRef, crm.Calls)
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{call}, assoc)

		// Ann first, then the call: the call is restored while Ann is in the bin, and Ann's bin set
		// names it from then on.
		b.archive(t, crm.Contacts, ann.ID)
		require.Equal(t, []string{"contacts:" + string(ann.ID)}, links(crm.Calls, call))
		b.archive(t, crm.Calls, call)
		b.restore(t, crm.Calls, call)
		require.Equal(t, []string{"contacts:" + string(ann.ID)}, links(crm.Calls, call))
		b.archive(t, crm.Calls, call)
		b.archive(t, crm.Companies, co[0].ID)
		b.archive(t, crm.Contacts, bob.ID)
		require.NotEmpty(t, b.binLinkKeys(t))

		b.clock.Advance(91 * 24 * time.Hour)
		for _, o := range []crm.ObjectType{crm.Contacts, crm.Calls, crm.Companies} {
			_, err := b.store.PurgeExpired(b.ctx, b.tenant, o, b.clock.Now(), 500)
			require.NoError(t, err)
		}
		require.Empty(t, b.binLinkKeys(t), "a purge of every record leaves no bin association or bin link key")
	})
}

// Bins kept before the bin links existed: BackfillBinLinks builds them, as the archive would have,
// idempotently; the erasure then finds a call binned while its contact was live.
func TestBackfillBinLinks(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ann := b.contact(t, map[string]string{"email": "ann@example.com"})
		co, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
		require.NoError(t, err)
		annRef := crm.AssociationRef{Type: crm.Contacts, ID: ann.ID}
		coRef := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
		var calls []crm.RecordID
		for range 3 {
			c := b.call(t, "Annabeth's call")
			b.link(t, annRef, crm.AssociationRef{Type: crm.Calls, ID: c})
			b.link(t, coRef, crm.AssociationRef{Type: crm.Calls, ID: c})
			calls = append(calls, c)
		}
		plain := b.call(t, "no associations")
		b.archive(t, crm.Calls, append(calls, plain)...)
		want := b.binLinkKeys(t)
		var drop []string
		for k := range want {
			if strings.Contains(k, ":binlinks:") {
				drop = append(drop, k)
			}
		}
		require.Len(t, drop, 2, "Ann's and the company's bin links")
		require.NoError(t, b.rdb.Del(b.ctx, drop...).Err())

		var added int64
		for _, o := range []crm.ObjectType{crm.Contacts, crm.Calls, crm.Companies} {
			n, err := b.store.BackfillBinLinks(b.ctx, b.tenant, o)
			require.NoError(t, err)
			added += n
		}
		require.EqualValues(t, 6, added)
		require.Equal(t, want, b.binLinkKeys(t))
		n, err := b.store.BackfillBinLinks(b.ctx, b.tenant, crm.Calls)
		require.NoError(t, err)
		require.Zero(t, n, "run again, it adds nothing")
		require.Equal(t, want, b.binLinkKeys(t))

		res, err := b.store.PermanentDeleteContact(b.ctx, b.tenant, crm.PermanentDeleteParams{ID: ann.ID, By: "dpo@x.example"})
		require.NoError(t, err)
		require.Equal(t, 3, res.CallsErased)
		require.Empty(t, b.linksNaming(t, crm.Contacts, ann.ID))
	})
}

// A company binned while its contact was live names the contact in its bin set, so the contact's
// bin links name the company. When the contact follows it into the bin and is purged first, its
// bin links go with it (nothing can read them again: it can be neither restored nor erased); the
// company is restored without it, and an erasure afterwards still finds what it must.
func TestPurgeDropsThePurgedRecordsBinLinks(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		xena := b.contact(t, map[string]string{"email": "xena@example.com"})
		zed := b.contact(t, map[string]string{"email": "zed@example.com"})
		co, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
		require.NoError(t, err)
		coRef := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
		zedRef := crm.AssociationRef{Type: crm.Contacts, ID: zed.ID}
		b.link(t, crm.AssociationRef{Type: crm.Contacts, ID: xena.ID}, coRef)
		b.archive(t, crm.Companies, co[0].ID)
		b.clock.Advance(time.Hour)
		b.archive(t, crm.Contacts, xena.ID)
		xenaLinks := redisstore.BinLinksKey(b.tenant, crm.Contacts, xena.ID)
		require.EqualValues(t, 1, b.rdb.Exists(b.ctx, xenaLinks).Val(), "the company's bin set names Xena")

		// Xena's deletion is past the horizon, the company's bin is not purged.
		n, err := b.store.PurgeExpired(b.ctx, b.tenant, crm.Contacts, b.clock.Now(), 500)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Zero(t, b.rdb.Exists(b.ctx, xenaLinks).Val(), "the purged contact's bin links are gone")

		b.restore(t, crm.Companies, co[0].ID)
		assoc, err := b.store.Associations(b.ctx, b.tenant, coRef, crm.Contacts)
		require.NoError(t, err)
		require.Empty(t, assoc, "the purged contact is skipped")
		require.Empty(t, b.binLinkKeys(t))
		require.Empty(t, b.linksNaming(t, crm.Contacts, xena.ID))

		// The company goes to the bin again while Zed is live: Zed's erasure takes Zed out of the
		// company's bin set, and the company comes back without Zed.
		b.link(t, zedRef, coRef)
		b.archive(t, crm.Companies, co[0].ID)
		require.EqualValues(t, 1, b.rdb.Exists(b.ctx, redisstore.BinLinksKey(b.tenant, crm.Contacts, zed.ID)).Val())
		_, err = b.store.PermanentDeleteContact(b.ctx, b.tenant, crm.PermanentDeleteParams{ID: zed.ID, By: "dpo@x.example"})
		require.NoError(t, err)
		require.Empty(t, b.linksNaming(t, crm.Contacts, zed.ID))
		b.restore(t, crm.Companies, co[0].ID)
		assoc, err = b.store.Associations(b.ctx, b.tenant, coRef, crm.Contacts)
		require.NoError(t, err)
		require.Empty(t, assoc)
		require.Empty(t, b.binLinkKeys(t))
	})
}

// An erasure that leaves a contact without associations, live or in the bin, keeps what the purge
// needs to find the contact's own bin links: purged, the contact leaves none behind.
func TestPurgeDropsBinLinksAfterErasureUnlinks(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		binned := b.contact(t, map[string]string{"email": "binned@example.com"})
		live := b.contact(t, map[string]string{"email": "live@example.com"})
		zed := b.contact(t, map[string]string{"email": "zed@example.com"})
		co, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
		require.NoError(t, err)
		coRef := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
		callRef := crm.AssociationRef{Type: crm.Calls, ID: b.call(t, "shared call")}
		for _, c := range []crm.Record{binned, live, zed} {
			ref := crm.AssociationRef{Type: crm.Contacts, ID: c.ID}
			b.link(t, ref, callRef)
			if c.ID != zed.ID {
				b.link(t, ref, coRef)
			}
		}
		b.archive(t, crm.Companies, co[0].ID)
		b.archive(t, crm.Contacts, binned.ID)
		// Zed's erasure erases the call: the binned contact's bin set and the live contact's set
		// lose their last member.
		res, err := b.store.PermanentDeleteContact(b.ctx, b.tenant, crm.PermanentDeleteParams{ID: zed.ID, By: "dpo@x.example"})
		require.NoError(t, err)
		require.Equal(t, 1, res.CallsErased)
		b.archive(t, crm.Contacts, live.ID)
		for _, id := range []crm.RecordID{binned.ID, live.ID} {
			require.EqualValues(t, 1, b.rdb.Exists(b.ctx, redisstore.BinLinksKey(b.tenant, crm.Contacts, id)).Val())
		}

		n, err := b.store.PurgeExpired(b.ctx, b.tenant, crm.Contacts, b.clock.Now(), 500)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		for _, id := range []crm.RecordID{binned.ID, live.ID} {
			require.Zero(t, b.rdb.Exists(b.ctx, redisstore.BinLinksKey(b.tenant, crm.Contacts, id)).Val(), "contact %s", id)
		}
		b.restore(t, crm.Companies, co[0].ID)
		require.Empty(t, b.binLinkKeys(t))
	})
}

// A bin kept before the purge dropped bin links: BackfillBinLinks links a binned record named by
// another's bin set so that its purge drops its bin links, and builds none for a record gone for
// good.
func TestBackfillBinLinksOfBinnedAndPurgedRecords(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		kept := b.contact(t, map[string]string{"email": "kept@example.com"})
		gone := b.contact(t, map[string]string{"email": "gone@example.com"})
		live := b.contact(t, map[string]string{"email": "live@example.com"})
		co, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
		require.NoError(t, err)
		coRef := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
		b.link(t, crm.AssociationRef{Type: crm.Contacts, ID: kept.ID}, coRef)
		b.link(t, crm.AssociationRef{Type: crm.Contacts, ID: gone.ID}, coRef)
		b.link(t, crm.AssociationRef{Type: crm.Contacts, ID: live.ID}, coRef)
		b.archive(t, crm.Companies, co[0].ID)
		b.archive(t, crm.Contacts, gone.ID)
		_, err = b.store.PurgeExpired(b.ctx, b.tenant, crm.Contacts, b.clock.Now(), 500)
		require.NoError(t, err)
		b.clock.Advance(time.Hour)
		b.archive(t, crm.Contacts, kept.ID)
		// As the store kept them before: no bin links, and the binned contact not among the ids
		// the purge reads.
		for k := range b.binLinkKeys(t) {
			if strings.Contains(k, ":binlinks:") {
				require.NoError(t, b.rdb.Del(b.ctx, k).Err())
			}
		}
		require.NoError(t, b.rdb.SRem(b.ctx, redisstore.BinAssocIDsKey(b.tenant, crm.Contacts), string(kept.ID)).Err())
		// An erasure could leave a live contact named by a binned record without its _assoc flag.
		require.NoError(t, b.rdb.HDel(b.ctx, redisstore.RecordKey(b.tenant, crm.Contacts, live.ID), "_assoc").Err())

		n, err := b.store.BackfillBinLinks(b.ctx, b.tenant, crm.Companies)
		require.NoError(t, err)
		require.EqualValues(t, 2, n, "the purged contact gets no bin links")
		keptLinks := redisstore.BinLinksKey(b.tenant, crm.Contacts, kept.ID)
		require.Equal(t, []string{"companies:" + string(co[0].ID)}, b.rdb.SMembers(b.ctx, keptLinks).Val())
		require.Zero(t, b.rdb.Exists(b.ctx, redisstore.BinLinksKey(b.tenant, crm.Contacts, gone.ID)).Val())

		b.archive(t, crm.Contacts, live.ID)
		_, err = b.store.PurgeExpired(b.ctx, b.tenant, crm.Contacts, b.clock.Now(), 500)
		require.NoError(t, err)
		require.Zero(t, b.rdb.Exists(b.ctx, keptLinks).Val())
		require.Zero(t, b.rdb.Exists(b.ctx, redisstore.BinLinksKey(b.tenant, crm.Contacts, live.ID)).Val())
	})
}

// A record restored while its partner is in the bin is named by the partner's bin set; binned
// again and purged, it leaves no bin links.
func TestPurgeDropsBinLinksGainedByRestore(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ann := b.contact(t, map[string]string{"email": "ann@example.com"})
		co, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
		require.NoError(t, err)
		b.link(t, crm.AssociationRef{Type: crm.Contacts, ID: ann.ID}, crm.AssociationRef{Type: crm.Companies, ID: co[0].ID})
		b.archive(t, crm.Contacts, ann.ID)
		b.archive(t, crm.Companies, co[0].ID)
		b.restore(t, crm.Contacts, ann.ID)
		annLinks := redisstore.BinLinksKey(b.tenant, crm.Contacts, ann.ID)
		require.Equal(t, []string{"companies:" + string(co[0].ID)}, b.rdb.SMembers(b.ctx, annLinks).Val())
		b.archive(t, crm.Contacts, ann.ID)
		_, err = b.store.PurgeExpired(b.ctx, b.tenant, crm.Contacts, b.clock.Now(), 500)
		require.NoError(t, err)
		require.Zero(t, b.rdb.Exists(b.ctx, annLinks).Val())
		b.restore(t, crm.Companies, co[0].ID)
		require.Empty(t, b.binLinkKeys(t))
	})
}
