package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

func testUpsertContacts(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ada := b.contact(t, map[string]string{"email": "ada@x.example", "firstname": "Ada"})
	out, err := b.store.UpsertContacts(b.ctx, b.tenant, []crm.ContactUpsert{
		{Email: "new@x.example", Properties: map[string]string{"firstname": "Neo"}},
		{Email: "Ada@X.example", Properties: map[string]string{"lastname": "L"}},
	}, crm.Actor{})
	require.NoError(t, err)
	require.True(t, out[0].Created)
	require.Equal(t, "new@x.example", out[0].Properties["email"])
	require.False(t, out[1].Created)
	require.Equal(t, ada.ID, out[1].ID)
	require.Equal(t, map[string]string{"email": "ada@x.example", "firstname": "Ada", "lastname": "L"}, out[1].Properties)
	id, err := b.store.ContactByEmail(b.ctx, b.tenant, "new@x.example")
	require.NoError(t, err)
	require.Equal(t, out[0].ID, id)

	before := b.dump(t)
	_, err = b.store.UpsertContacts(b.ctx, b.tenant, []crm.ContactUpsert{
		{Email: "other@x.example"}, {Email: "ada@x.example", Properties: map[string]string{"lifecyclestage": "boss"}},
	}, crm.Actor{})
	var ves crm.ValidationErrors
	require.ErrorAs(t, err, &ves)
	require.Contains(t, err.Error(), "inputs[1]")
	require.Equal(t, before, b.dump(t))
}
