package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// uniqueSetup is setup with the custom type subscriptions, whose sub_ref (string) and seat (number)
// are unique and plan is not, and two records: s1 (S-1, gold) and s2 (S-2, seat 2).
func uniqueSetup(t *testing.T) (b *testBundle, s1, s2 crm.RecordID) {
	t.Helper()
	b = setup(t)
	r := b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{
		"name": "subscriptions", "labels": map[string]any{"singular": "Subscription", "plural": "Subscriptions"},
		"properties": []any{
			map[string]any{"name": "sub_ref", "label": "Reference", "type": "string", "hasUniqueValue": true},
			map[string]any{"name": "plan", "label": "Plan", "type": "string"},
		}})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	type prop struct {
		Name           string `json:"name"`
		HasUniqueValue bool   `json:"hasUniqueValue"`
	}
	created := expect[prop](t, b.call(t, "POST", "/crm/v3/properties/subscriptions", tokAll, map[string]any{
		"name": "seat", "label": "Seat", "type": "number", "fieldType": "number", "groupName": "subscriptioninformation", "hasUniqueValue": true}),
		http.StatusCreated)
	require.True(t, created.HasUniqueValue)
	got := expect[prop](t, b.call(t, "GET", "/crm/v3/properties/subscriptions/sub_ref", tokRead, nil), http.StatusOK)
	require.Equal(t, prop{Name: "sub_ref", HasUniqueValue: true}, got)
	got = expect[prop](t, b.call(t, "GET", "/crm/v3/properties/subscriptions/plan", tokRead, nil), http.StatusOK)
	require.False(t, got.HasUniqueValue)

	s1 = b.create(t, b.tenantA, "subscriptions", map[string]string{"sub_ref": "S-1", "plan": "gold"})
	s2 = b.create(t, b.tenantA, "subscriptions", map[string]string{"sub_ref": "S-2", "seat": "2"})
	return b, s1, s2
}

// TestUniqueProperties covers properties created with hasUniqueValue: their definition, the 409
// of a taken value, and naming records by them (idProperty) on reads, updates and upserts of a
// custom object type. Each subtest has its own tenants, so that it can check that a refusal
// changed nothing.
func TestUniqueProperties(t *testing.T) {
	t.Parallel()

	t.Run("BadDefinitions", func(t *testing.T) {
		t.Parallel()
		b, _, _ := uniqueSetup(t)
		e := expectError(t, b.call(t, "POST", "/crm/v3/properties/companies", tokAll, map[string]any{
			"name": "founded", "label": "Founded", "type": "datetime", "hasUniqueValue": true}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "only string and number properties can have unique values")
		require.Equal(t, []string{"hasUniqueValue"}, e.in())
	})

	t.Run("Duplicates", func(t *testing.T) {
		t.Parallel()
		b, s1, s2 := uniqueSetup(t)
		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/subscriptions", tokAll,
			map[string]any{"properties": map[string]any{"sub_ref": "S-1"}}), http.StatusConflict, "CONFLICT")
		require.Contains(t, e.Message, `sub_ref "S-1"`)
		require.Equal(t, []string{string(s1)}, e.Context["existingId"])
		require.Equal(t, "UNIQUE_VALUE_CONFLICT", e.Errors[0].Code)
		e = expectError(t, b.call(t, "PATCH", "/crm/v3/objects/subscriptions/"+string(s1), tokAll,
			map[string]any{"properties": map[string]any{"seat": "2.0"}}), http.StatusConflict, "CONFLICT")
		require.Equal(t, []string{string(s2)}, e.Context["existingId"])
		e = expectError(t, b.call(t, "POST", "/crm/v3/objects/subscriptions/batch/create", tokAll, map[string]any{"inputs": []any{
			map[string]any{"properties": map[string]any{"sub_ref": "S-new"}}, map[string]any{"properties": map[string]any{"sub_ref": "S-new"}}}}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, "DUPLICATE_VALUE", e.Errors[0].Code)
		require.Contains(t, e.Message, `inputs[0] and inputs[1] both give sub_ref "S-new"`)
		after := b.snapshot(t, b.tenantA)
		require.Equal(t, before, after)
	})

	t.Run("ReadByUnique", func(t *testing.T) {
		t.Parallel()
		b, s1, s2 := uniqueSetup(t)
		rec := expect[record](t, b.call(t, "GET", "/crm/v3/objects/subscriptions/S-1?idProperty=sub_ref", tokRead, nil), http.StatusOK)
		require.Equal(t, string(s1), rec.ID)
		rec = expect[record](t, b.call(t, "GET", "/crm/v3/objects/subscriptions/2?idProperty=seat", tokRead, nil), http.StatusOK)
		require.Equal(t, string(s2), rec.ID)
		expectError(t, b.call(t, "GET", "/crm/v3/objects/subscriptions/S-9?idProperty=sub_ref", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		e := expectError(t, b.call(t, "GET", "/crm/v3/objects/subscriptions/gold?idProperty=plan", tokRead, nil), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "not a unique property")
		require.Contains(t, e.Message, "hs_object_id, seat, sub_ref")
		e = expectError(t, b.call(t, "GET", "/crm/v3/objects/subscriptions/S-1?idProperty=sub_ref&archived=true", tokRead, nil), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "live subscriptions records only")

		out := b.call(t, "POST", "/crm/v3/objects/subscriptions/batch/read", tokRead, map[string]any{
			"idProperty": "sub_ref", "properties": []string{"plan"},
			"inputs": []any{map[string]any{"id": "S-2"}, map[string]any{"id": "S-1"}, map[string]any{"id": "S-9"}}})
		require.Equal(t, http.StatusMultiStatus, out.status, "body: %s", out.body)
		res := decode[batch](t, out)
		require.Len(t, res.Results, 2)
		require.Equal(t, []string{string(s2), string(s1)}, []string{res.Results[0].ID, res.Results[1].ID})
		require.Equal(t, map[string]string{"plan": "gold"}, res.Results[1].Properties)
		require.Equal(t, []string{"S-9"}, res.Errors[0].Context["ids"])
		e = expectError(t, b.call(t, "POST", "/crm/v3/objects/subscriptions/batch/read", tokRead, map[string]any{
			"idProperty": "plan", "inputs": []any{map[string]any{"id": "gold"}}}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "not a unique property")
	})

	t.Run("UpdateByUnique", func(t *testing.T) {
		t.Parallel()
		b, _, _ := uniqueSetup(t)
		s3 := b.create(t, b.tenantA, "subscriptions", map[string]string{"sub_ref": "S-3"})
		s4 := b.create(t, b.tenantA, "subscriptions", map[string]string{"sub_ref": "S-4"})
		rec := expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/subscriptions/S-3?idProperty=sub_ref", tokAll,
			map[string]any{"properties": map[string]any{"plan": "silver"}}), http.StatusOK)
		require.Equal(t, string(s3), rec.ID)
		require.Equal(t, "silver", rec.Properties["plan"])
		res := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/subscriptions/batch/update", tokAll, map[string]any{"inputs": []any{
			map[string]any{"id": "S-4", "idProperty": "sub_ref", "properties": map[string]any{"plan": "bronze"}},
			map[string]any{"id": string(s3), "properties": map[string]any{"plan": "iron"}},
		}}), http.StatusOK)
		require.Equal(t, string(s4), res.Results[0].ID)
		require.Equal(t, "bronze", res.Results[0].Properties["plan"])
		require.Equal(t, "iron", res.Results[1].Properties["plan"])
		before := b.snapshot(t, b.tenantA)
		expectError(t, b.call(t, "POST", "/crm/v3/objects/subscriptions/batch/update", tokAll, map[string]any{"inputs": []any{
			map[string]any{"id": "S-4", "idProperty": "sub_ref", "properties": map[string]any{"plan": "x"}},
			map[string]any{"id": "S-404", "idProperty": "sub_ref", "properties": map[string]any{"plan": "x"}},
		}}), http.StatusNotFound, "OBJECT_NOT_FOUND")
		expectError(t, b.call(t, "PATCH", "/crm/v3/objects/subscriptions/S-404?idProperty=sub_ref", tokAll,
			map[string]any{"properties": map[string]any{"plan": "x"}}), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	t.Run("UpsertByUnique", func(t *testing.T) {
		t.Parallel()
		b, _, _ := uniqueSetup(t)
		s5 := b.create(t, b.tenantA, "subscriptions", map[string]string{"sub_ref": "S-5", "plan": "gold"})
		type upserted struct {
			record
			New bool `json:"new"`
		}
		out := expect[struct {
			Results []upserted `json:"results"`
		}](t, b.call(t, "POST", "/crm/v3/objects/subscriptions/batch/upsert", tokAll, map[string]any{"inputs": []any{
			map[string]any{"idProperty": "sub_ref", "id": "S-6", "properties": map[string]any{"plan": "new"}},
			map[string]any{"idProperty": "sub_ref", "id": "S-5", "properties": map[string]any{"plan": "changed"}},
		}}), http.StatusOK)
		require.True(t, out.Results[0].New)
		require.Equal(t, "S-6", out.Results[0].Properties["sub_ref"])
		require.False(t, out.Results[1].New)
		require.Equal(t, string(s5), out.Results[1].ID)
		require.Equal(t, "changed", out.Results[1].Properties["plan"])
		rec := expect[record](t, b.call(t, "GET", "/crm/v3/objects/subscriptions/S-6?idProperty=sub_ref", tokRead, nil), http.StatusOK)
		require.Equal(t, out.Results[0].ID, rec.ID)

		before := b.snapshot(t, b.tenantA)
		for _, c := range []struct {
			name   string
			inputs []any
			want   string
		}{
			{"NotUnique", []any{map[string]any{"idProperty": "plan", "id": "gold"}}, "not a unique property"},
			{"NoIDProperty", []any{map[string]any{"id": "S-7"}}, "upsert names records by a unique property"},
			{"Mixed", []any{map[string]any{"idProperty": "sub_ref", "id": "S-7"}, map[string]any{"idProperty": "seat", "id": "7"}}, "one upsert names all its records by the same property"},
			{"BadNumber", []any{map[string]any{"idProperty": "seat", "id": "seven"}}, "not a valid number value"},
			{"Mismatch", []any{map[string]any{"idProperty": "sub_ref", "id": "S-7", "properties": map[string]any{"sub_ref": "S-8"}}}, "is not the id"},
		} {
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/subscriptions/batch/upsert", tokAll, map[string]any{"inputs": c.inputs}),
				http.StatusBadRequest, "VALIDATION_ERROR")
			require.Contains(t, e.Message, c.want, c.name)
		}
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	t.Run("RestoreConflict", func(t *testing.T) {
		t.Parallel()
		b, _, _ := uniqueSetup(t)
		gone := b.create(t, b.tenantA, "subscriptions", map[string]string{"sub_ref": "S-10"})
		require.Equal(t, http.StatusNoContent, b.call(t, "DELETE", "/crm/v3/objects/subscriptions/"+string(gone), tokAll, nil).status)
		taker := b.create(t, b.tenantA, "subscriptions", map[string]string{"sub_ref": "S-10"})
		r := b.call(t, "POST", "/crm/v3/objects/subscriptions/batch/restore", tokAll, map[string]any{"inputs": []any{map[string]any{"id": string(gone)}}})
		require.Equal(t, http.StatusMultiStatus, r.status, "body: %s", r.body)
		res := decode[batch](t, r)
		require.Len(t, res.Errors, 1)
		require.Equal(t, []string{string(taker)}, res.Errors[0].Context["blockingId"])
		require.Equal(t, []string{"sub_ref"}, res.Errors[0].Context["property"])
		require.Contains(t, res.Errors[0].Message, `its sub_ref "S-10" now belongs to the live record `+string(taker))
	})
}
