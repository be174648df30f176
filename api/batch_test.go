package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// createInputs returns n batch/create inputs of companies.
func createInputs(n int) map[string]any {
	in := make([]any, n)
	for i := range in {
		in[i] = map[string]any{"properties": map[string]any{"name": fmt.Sprintf("Co %d", i), "numberofemployees": i}}
	}
	return map[string]any{"inputs": in}
}

func idInputs(ids ...string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"id": id}
	}
	return out
}

func TestBatchCreate(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("HundredIsAccepted", func(t *testing.T) {
		t.Parallel()
		res := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/companies/batch/create", tokWrite, createInputs(100)),
			http.StatusCreated)
		require.Equal(t, "COMPLETE", res.Status)
		require.Len(t, res.Results, 100)
		require.NotEmpty(t, res.StartedAt)
		require.NotEmpty(t, res.CompletedAt)
		require.Equal(t, "Co 7", res.Results[7].Properties["name"])
		require.Equal(t, "7", res.Results[7].Properties["numberofemployees"])
		recs, err := b.store.Records(b.ctx, b.tenantA, crm.Companies, []crm.RecordID{crm.RecordID(res.Results[99].ID)}, nil)
		require.NoError(t, err)
		require.Len(t, recs, 1)
	})

	for _, tc := range []struct {
		name string
		body any
		msg  string
	}{
		{"HundredAndOneIsRefused", createInputs(101), "100"},
		{"NoInputsIsRefused", createInputs(0), "inputs"},
		{"MissingInputsIsRefused", map[string]any{}, "inputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := b.snapshot(t, b.tenantB)
			// Tenant B's own token: tenant A is busy creating in the subtest beside this one.
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/companies/batch/create", tokBAll, tc.body),
				http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{"inputs"}, e.in())
			require.Contains(t, e.Message, tc.msg)
			require.Equal(t, before, b.snapshot(t, b.tenantB))
		})
	}

	t.Run("OneBadInputRefusesAll", func(t *testing.T) {
		t.Parallel()
		before := b.snapshot(t, b.tenantB)
		body := createInputs(3)
		body["inputs"].([]any)[2] = map[string]any{"properties": map[string]any{"numberofemployees": "many"}}
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/companies/batch/create", tokBAll, body),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"numberofemployees"}, e.in())
		require.Contains(t, e.Message, "inputs[2]")
		require.Equal(t, before, b.snapshot(t, b.tenantB))
	})
}

func TestBatchRead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c1 := string(b.contact(t, map[string]string{"firstname": "One", "lastname": "L1"}))
	c2 := string(b.contact(t, map[string]string{"firstname": "Two", "lastname": "L2"}))

	t.Run("AllFound", func(t *testing.T) {
		t.Parallel()
		res := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/read", tokRead,
			map[string]any{"inputs": idInputs(c1, c2, c1), "properties": []string{"firstname"}}), http.StatusOK)
		require.Equal(t, "COMPLETE", res.Status)
		require.ElementsMatch(t, []string{c1, c2}, ids(res.Results))
		for _, r := range res.Results {
			require.Equal(t, []string{"firstname"}, keys(r.Properties))
		}
		require.Zero(t, res.NumErrors)
		require.Empty(t, res.Errors)
	})

	t.Run("SomeMissingIsMultiStatus", func(t *testing.T) {
		t.Parallel()
		res := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/read", tokRead,
			map[string]any{"inputs": idInputs(c1, "424242", "nope")}), http.StatusMultiStatus)
		require.Equal(t, []string{c1}, ids(res.Results))
		require.Equal(t, 1, res.NumErrors)
		require.Len(t, res.Errors, 1)
		require.Equal(t, "OBJECT_NOT_FOUND", res.Errors[0].Category)
		require.Equal(t, "error", res.Errors[0].Status)
		require.Equal(t, []string{"424242", "nope"}, res.Errors[0].Context["ids"])
	})

	t.Run("MultiStatusErrorIsAStandardError", func(t *testing.T) {
		t.Parallel()
		// HubSpot's clients model each failure as a StandardError, whose errors and links are required.
		r := b.call(t, "POST", "/crm/v3/objects/contacts/batch/read", tokRead, map[string]any{"inputs": idInputs("424242")})
		require.Equal(t, http.StatusMultiStatus, r.status, "body: %s", r.body)
		var got struct {
			Errors []json.RawMessage `json:"errors"`
		}
		require.NoError(t, json.Unmarshal(r.body, &got))
		require.Len(t, got.Errors, 1)
		require.JSONEq(t, `{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "`+decode[batch](t, r).Errors[0].Message+`",
			"context": {"ids": ["424242"]}, "errors": [], "links": {}}`, string(got.Errors[0]))
	})

	t.Run("NumericIDs", func(t *testing.T) {
		t.Parallel()
		res := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/read", tokRead,
			`{"inputs":[{"id":`+c1+`}]}`), http.StatusOK)
		require.Equal(t, []string{c1}, ids(res.Results))
	})

	t.Run("Limits", func(t *testing.T) {
		t.Parallel()
		hundred := make([]string, 100)
		for i := range hundred {
			hundred[i] = c1
		}
		expect[batch](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/read", tokRead,
			map[string]any{"inputs": idInputs(hundred...)}), http.StatusOK)
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/read", tokRead,
			map[string]any{"inputs": idInputs(append(hundred, c2)...)}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "100")
		expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/read", tokRead,
			map[string]any{"inputs": []any{}}), http.StatusBadRequest, "VALIDATION_ERROR")
	})
}

func TestBatchUpdate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var all []string
	for i := range 100 {
		all = append(all, string(b.create(t, b.tenantA, crm.Deals, map[string]string{"dealname": fmt.Sprintf("D%d", i)})))
	}
	updates := func(ids []string) map[string]any {
		in := make([]any, len(ids))
		for i, id := range ids {
			in[i] = map[string]any{"id": id, "properties": map[string]any{"amount": i * 10}}
		}
		return map[string]any{"inputs": in}
	}

	res := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/deals/batch/update", tokWrite, updates(all)), http.StatusOK)
	require.Equal(t, "COMPLETE", res.Status)
	require.Len(t, res.Results, 100)
	rec, err := b.store.Record(b.ctx, b.tenantA, crm.Deals, crm.RecordID(all[3]), nil)
	require.NoError(t, err)
	require.Equal(t, "30", rec.Properties["amount"])
	require.Equal(t, "D3", rec.Properties["dealname"])

	t.Run("HundredAndOneIsRefused", func(t *testing.T) {
		t.Parallel()
		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/deals/batch/update", tokWrite, updates(append(all, all[0]))),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"inputs"}, e.in())
		require.Contains(t, e.Message, "100")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	t.Run("InputWithoutID", func(t *testing.T) {
		t.Parallel()
		before := b.snapshot(t, b.tenantA)
		for _, in := range []map[string]any{
			{"properties": map[string]any{"amount": 1}},
			{"id": "", "properties": map[string]any{"amount": 1}},
			{"id": nil, "idProperty": "hs_object_id", "properties": map[string]any{"amount": 1}},
		} {
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/deals/batch/update", tokWrite, map[string]any{"inputs": []any{
				map[string]any{"id": all[0], "properties": map[string]any{"amount": 1}}, in}}),
				http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{"inputs[1].id"}, e.in())
			require.Equal(t, "MISSING_ID", e.Errors[0].Code)
			require.Contains(t, e.Message, "inputs[1].id is missing")
		}
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	t.Run("TheSameRecordTwice", func(t *testing.T) {
		t.Parallel()
		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/deals/batch/update", tokWrite, map[string]any{"inputs": []any{
			map[string]any{"id": all[1], "properties": map[string]any{"amount": 1}},
			map[string]any{"id": all[2], "properties": map[string]any{"amount": 2}},
			map[string]any{"id": all[1], "idProperty": "hs_object_id", "properties": map[string]any{"dealname": "X"}}}}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"inputs[2].id"}, e.in())
		require.Equal(t, "DUPLICATE_ID", e.Errors[0].Code)
		require.Contains(t, e.Message, "inputs[0] (id \""+all[1]+"\") and inputs[2]")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	t.Run("OneMissingRefusesAll", func(t *testing.T) {
		t.Parallel()
		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/deals/batch/update", tokWrite, updates([]string{all[0], "999999"})),
			http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Contains(t, e.Message, "999999")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})
}
