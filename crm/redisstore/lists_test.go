package redisstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

func TestListMembersAddAndRemove(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ada := b.contact(t, map[string]string{"email": "ada@acme.example"})
		bob := b.contact(t, map[string]string{"email": "bob@acme.example"})
		l, err := b.store.CreateList(b.ctx, b.tenant, "VIP", crm.Contacts)
		require.NoError(t, err)

		added, missing, err := b.store.AddListMembers(b.ctx, b.tenant, l.ID, []crm.RecordID{ada.ID, bob.ID, "999"})
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{ada.ID, bob.ID}, added)
		require.Equal(t, []crm.RecordID{"999"}, missing)
		for _, id := range []crm.RecordID{ada.ID, bob.ID} {
			lists, err := b.rdb.SMembers(b.ctx, redisstore.MemberOfKey(b.tenant, crm.Contacts, id)).Result()
			require.NoError(t, err)
			require.Equal(t, []string{string(l.ID)}, lists)
		}

		removed, err := b.store.RemoveListMembers(b.ctx, b.tenant, l.ID, []crm.RecordID{ada.ID, "999"})
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{ada.ID}, removed)
		lists, err := b.rdb.SMembers(b.ctx, redisstore.MemberOfKey(b.tenant, crm.Contacts, ada.ID)).Result()
		require.NoError(t, err)
		require.Empty(t, lists)
		members, _, err := b.store.ListMembers(b.ctx, b.tenant, l.ID, nil)
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{bob.ID}, members)
	})
}

func TestReindexSearchIndexesEveryLiveRecord(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ada := b.contact(t, map[string]string{"email": "ada@acme.example", "firstname": "Ada", "lifecyclestage": "lead"})
		b.contact(t, map[string]string{"email": "bob@acme.example", "firstname": "Bob", "lifecyclestage": "customer"})
		n, err := b.store.ReindexSearch(b.ctx, b.tenant, crm.Contacts)
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		res, err := b.store.Search(b.ctx, b.tenant, crm.Contacts, crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{
			{PropertyName: "lifecyclestage", Operator: crm.OpEQ, Value: "lead", HasValue: true}}}})
		require.NoError(t, err)
		require.Equal(t, 1, res.Total)
		require.Equal(t, ada.ID, res.Records[0].ID)
	})
}

// A tenant has at most crm.MaxLists lists: one more is refused with TOO_MANY_LISTS, saying what to
// do, and nothing is stored; deleting one makes room again.
func TestListLimit(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		var first crm.ListDef
		for i := range crm.MaxLists {
			l, err := b.store.CreateList(b.ctx, b.tenant, "list", crm.Contacts)
			require.NoError(t, err)
			if i == 0 {
				first = l
			}
		}
		_, err := b.store.CreateList(b.ctx, b.tenant, "one more", crm.Contacts)
		var ve *crm.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "TOO_MANY_LISTS", ve.Code)
		require.Equal(t, `list "one more" was not created: the tenant has 1500 lists, the most it may have; `+
			"delete the lists no longer used (DELETE /crm/v3/lists/{listId}) first", ve.Message)
		lists, err := b.store.Lists(b.ctx, b.tenant)
		require.NoError(t, err)
		require.Len(t, lists, crm.MaxLists)

		require.NoError(t, b.store.DeleteList(b.ctx, b.tenant, first.ID))
		_, err = b.store.CreateList(b.ctx, b.tenant, "one more", crm.Contacts)
		require.NoError(t, err)
	})
}
