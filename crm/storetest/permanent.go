package storetest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

func testPermanentDeleteByEmail(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	c := b.contact(t, map[string]string{"email": "main@example.com", "additional_emails": "alias@example.com"})
	res, err := b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "ALIAS@example.com", By: "dpo@x.example"})
	require.NoError(t, err)
	require.Equal(t, c.ID, res.ID)
	for k, v := range b.dump(t) {
		for _, e := range []string{"alias@", "main@"} {
			require.NotContains(t, strings.ToLower(k+v), e, "the deleted contact's email is kept in %s", k)
		}
	}
	ok, err := b.store.IsBlocklisted(ctx, b.tenant, "main@example.com")
	require.NoError(t, err)
	require.True(t, ok)

	// An unknown email succeeds and is blocklisted.
	res, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "nobody@example.com", By: "dpo@x.example"})
	require.NoError(t, err)
	require.Empty(t, res.ID)
	ok, err = b.store.IsBlocklisted(ctx, b.tenant, "nobody@example.com")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = b.store.IsBlocklisted(ctx, b.tenant, "somebody@example.com")
	require.NoError(t, err)
	require.False(t, ok)
	for k := range b.dump(t) {
		require.NotContains(t, k, "nobody")
	}
	_, err = b.store.CreateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"email": "nobody@example.com"}}}, crm.Actor{})
	var be *crm.BlockedEmailError
	require.ErrorAs(t, err, &be)

	// Unknown id: not found, nothing changes.
	before := b.dump(t)
	_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: "99999", By: "dpo@x.example"})
	require.ErrorIs(t, err, crm.ErrNotFound)
	var ve *crm.ValidationError
	_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: "1", Email: "a@b.example", By: "dpo@x.example"})
	require.ErrorAs(t, err, &ve)
	require.Equal(t, before, b.dump(t))
}
