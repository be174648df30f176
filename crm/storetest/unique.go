package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

func (b *bundle) subscriptions(t *testing.T) crm.ObjectType {
	t.Helper()
	_, err := b.store.CreateObjectType(b.ctx, b.tenant, crm.ObjectTypeDef{Name: "subscriptions", Properties: []crm.Property{
		{Name: "sub_ref", Type: crm.TypeString, Unique: true},
		{Name: "seat", Type: crm.TypeNumber, Unique: true},
		{Name: "note", Type: crm.TypeString},
	}}, "ops@x.example")
	require.NoError(t, err)
	return "subscriptions"
}

func testUpsertRecordsByUniqueProperty(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	o := b.subscriptions(t)
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, o, []crm.RecordInput{{Properties: map[string]string{"sub_ref": "S-1", "note": "old"}}}, crm.Actor{})
	require.NoError(t, err)
	out, err := b.store.UpsertRecords(b.ctx, b.tenant, o, "sub_ref", []crm.RecordUpsert{
		{ID: "S-2", Properties: map[string]string{"note": "new"}},
		{ID: "S-1", Properties: map[string]string{"note": "changed"}},
	}, crm.Actor{})
	require.NoError(t, err)
	require.True(t, out[0].Created)
	require.Equal(t, map[string]string{"sub_ref": "S-2", "note": "new"}, out[0].Properties)
	require.False(t, out[1].Created)
	require.Equal(t, recs[0].ID, out[1].ID)
	require.Equal(t, "changed", out[1].Properties["note"])
	found, err := b.store.RecordsByUnique(b.ctx, b.tenant, o, "sub_ref", []string{"S-1", "S-2", "S-3"})
	require.NoError(t, err)
	require.Equal(t, map[string]crm.RecordID{"S-1": recs[0].ID, "S-2": out[0].ID}, found)

	byNumber, err := b.store.UpsertRecords(b.ctx, b.tenant, o, "seat", []crm.RecordUpsert{{ID: "3.0"}}, crm.Actor{})
	require.NoError(t, err)
	require.Equal(t, "3", byNumber[0].Properties["seat"])

	before := b.dump(t)
	for _, c := range []struct {
		name, prop, want string
		in               []crm.RecordUpsert
	}{
		{"NotUnique", "note", "not a unique property", []crm.RecordUpsert{{ID: "x"}}},
		{"NoSuchProperty", "nope", "not a property of subscriptions", []crm.RecordUpsert{{ID: "x"}}},
		{"EmptyID", "sub_ref", "is not a valid string value", []crm.RecordUpsert{{ID: " "}}},
		{"BadNumber", "seat", "is not a valid number value", []crm.RecordUpsert{{ID: "three"}}},
		{"Twice", "sub_ref", "both name sub_ref", []crm.RecordUpsert{{ID: "S-7"}, {ID: "S-7"}}},
		{"Mismatch", "sub_ref", "is not the id", []crm.RecordUpsert{{ID: "S-7", Properties: map[string]string{"sub_ref": "S-8"}}}},
	} {
		_, err := b.store.UpsertRecords(b.ctx, b.tenant, o, c.prop, c.in, crm.Actor{})
		require.Error(t, err, c.name)
		require.Contains(t, err.Error(), c.want, c.name)
	}
	require.Equal(t, before, b.dump(t))
}
