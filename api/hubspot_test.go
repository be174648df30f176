package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

type pipelineStage struct {
	ID       string            `json:"id"`
	Label    string            `json:"label"`
	Metadata map[string]string `json:"metadata"`
}

type pipeline struct {
	ID     string          `json:"id"`
	Label  string          `json:"label"`
	Stages []pipelineStage `json:"stages"`
}

func TestPipelines(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("Deals", func(t *testing.T) {
		t.Parallel()
		all := expect[page[pipeline]](t, b.call(t, "GET", "/crm/v3/pipelines/deals", tokRead, nil), http.StatusOK)
		require.Len(t, all.Results, 1)
		require.Equal(t, "default", all.Results[0].ID)
		one := expect[pipeline](t, b.call(t, "GET", "/crm/v3/pipelines/0-3/default", tokRead, nil), http.StatusOK)
		require.Equal(t, all.Results[0], one)
		stages := expect[page[pipelineStage]](t, b.call(t, "GET", "/crm/v3/pipelines/deals/default/stages", tokRead, nil), http.StatusOK)
		require.Equal(t, one.Stages, stages.Results)
		require.Equal(t, "closedwon", stages.Results[5].ID)
		require.Equal(t, "true", stages.Results[5].Metadata["isClosed"])
	})

	t.Run("Tickets", func(t *testing.T) {
		t.Parallel()
		one := expect[pipeline](t, b.call(t, "GET", "/crm/v3/pipelines/tickets/0", tokRead, nil), http.StatusOK)
		var ids []string
		for _, s := range one.Stages {
			ids = append(ids, s.ID)
		}
		require.Equal(t, []string{"1", "2", "3", "4"}, ids)
		require.Equal(t, "CLOSED", one.Stages[3].Metadata["ticketState"])
	})

	t.Run("WrittenWithDefaultIDs", func(t *testing.T) {
		t.Parallel()
		ticket := expect[record](t, b.call(t, "POST", "/crm/v3/objects/tickets", tokAll, map[string]any{
			"properties": map[string]any{"subject": "Printer", "hs_pipeline": "0", "hs_pipeline_stage": "1"},
		}), http.StatusCreated)
		require.Equal(t, "1", ticket.Properties["hs_pipeline_stage"])
		deal := expect[record](t, b.call(t, "POST", "/crm/v3/objects/deals", tokAll, map[string]any{
			"properties": map[string]any{"dealname": "Big", "pipeline": "default", "dealstage": "contractsent"},
		}), http.StatusCreated)
		require.Equal(t, "default", deal.Properties["pipeline"])
		// A pipeline that does not exist is refused like any unknown option.
		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/tickets", tokAll, map[string]any{
			"properties": map[string]any{"subject": "Fax", "hs_pipeline": "7"},
		}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "hs_pipeline")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	t.Run("Missing", func(t *testing.T) {
		t.Parallel()
		expectError(t, b.call(t, "GET", "/crm/v3/pipelines/deals/nope", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		expectError(t, b.call(t, "GET", "/crm/v3/pipelines/tickets/default/stages", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		e := expectError(t, b.call(t, "GET", "/crm/v3/pipelines/contacts", tokRead, nil), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "only deals and tickets")
	})
}

func TestSchemasHubSpotPath(t *testing.T) {
	t.Parallel()
	b := setup(t)
	expect[schema](t, b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{"name": "boats", "label": "Boat"}), http.StatusCreated)
	all := expect[page[schema]](t, b.call(t, "GET", "/crm-object-schemas/v3/schemas", tokRead, nil), http.StatusOK)
	var names []string
	for _, s := range all.Results {
		names = append(names, s.Name)
	}
	require.Contains(t, names, "boats")
	one := expect[schema](t, b.call(t, "GET", "/crm-object-schemas/v3/schemas/boats", tokRead, nil), http.StatusOK)
	require.Equal(t, "boats", one.ObjectTypeID)
	contacts := expect[schema](t, b.call(t, "GET", "/crm-object-schemas/v3/schemas/0-1", tokRead, nil), http.StatusOK)
	require.Equal(t, "Contacts", contacts.Labels.Plural)
	expectError(t, b.call(t, "GET", "/crm-object-schemas/v3/schemas/nope", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
}

func TestInlineAssociations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	co := b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Acme"})
	deal := b.create(t, b.tenantA, crm.Deals, map[string]string{"dealname": "Big"})
	assoc := func(id any, typeID int) map[string]any {
		return map[string]any{"to": map[string]any{"id": id},
			"types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": typeID}}}
	}
	linked := func(t *testing.T, from string, id string, to string) []string {
		t.Helper()
		out := expect[page[struct {
			ToObjectID string `json:"toObjectId"`
		}]](t, b.call(t, "GET", "/crm/v4/objects/"+from+"/"+id+"/associations/"+to, tokRead, nil), http.StatusOK)
		var ids []string
		for _, r := range out.Results {
			ids = append(ids, r.ToObjectID)
		}
		return ids
	}

	t.Run("Create", func(t *testing.T) {
		t.Parallel()
		c := expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{
			"properties":   map[string]any{"email": "inline@example.com"},
			"associations": []any{assoc(co, 279), assoc(string(deal), 4)},
		}), http.StatusCreated)
		require.Equal(t, []string{string(co)}, linked(t, "contacts", c.ID, "companies"))
		require.Equal(t, []string{string(deal)}, linked(t, "contacts", c.ID, "deals"))
		require.Contains(t, linked(t, "companies", string(co), "contacts"), c.ID)
	})

	t.Run("EmptyList", func(t *testing.T) {
		t.Parallel()
		expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{
			"properties": map[string]any{"email": "plain@example.com"}, "associations": []any{},
		}), http.StatusCreated)
	})

	t.Run("BatchCreate", func(t *testing.T) {
		t.Parallel()
		out := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/tickets/batch/create", tokAll, map[string]any{
			"inputs": []any{
				map[string]any{"properties": map[string]any{"subject": "a"}, "associations": []any{assoc(co, 339)}},
				map[string]any{"properties": map[string]any{"subject": "b"}, "associations": []any{assoc(deal, 28), assoc(co, 26)}},
			},
		}), http.StatusCreated)
		require.Len(t, out.Results, 2)
		require.Equal(t, []string{string(co)}, linked(t, "tickets", out.Results[0].ID, "companies"))
		require.Equal(t, []string{string(deal)}, linked(t, "tickets", out.Results[1].ID, "deals"))
		require.Equal(t, []string{string(co)}, linked(t, "tickets", out.Results[1].ID, "companies"))
	})

	t.Run("RefusedChangesNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t) // a tenant of its own, whose snapshot no other subtest changes
		co := b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Acme"})
		archived := b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Gone"})
		require.Equal(t, http.StatusNoContent, b.call(t, "DELETE", "/crm/v3/objects/companies/"+string(archived), tokAll, nil).status)
		before := b.snapshot(t, b.tenantA)
		for _, c := range []struct {
			name string
			body map[string]any
			want string
		}{
			{"MissingTarget", map[string]any{"properties": map[string]any{"email": "x@example.com"},
				"associations": []any{assoc(co, 279), assoc("999999", 279)}}, "associations[1]: companies 999999 does not exist"},
			{"ArchivedTarget", map[string]any{"properties": map[string]any{"email": "x@example.com"},
				"associations": []any{assoc(archived, 279)}}, "is in the bin"},
			{"UnknownType", map[string]any{"properties": map[string]any{"email": "x@example.com"},
				"associations": []any{assoc(co, 9999)}}, "279 (companies)"},
			{"UserDefined", map[string]any{"properties": map[string]any{"email": "x@example.com"},
				"associations": []any{map[string]any{"to": map[string]any{"id": co},
					"types": []any{map[string]any{"associationCategory": "USER_DEFINED", "associationTypeId": 7}}}}}, "HUBSPOT_DEFINED"},
			{"NoTo", map[string]any{"properties": map[string]any{"email": "x@example.com"},
				"associations": []any{map[string]any{"types": []any{}}}}, "to.id"},
		} {
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, c.body), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Contains(t, e.Message, c.want, c.name)
		}
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/create", tokAll, map[string]any{"inputs": []any{
			map[string]any{"properties": map[string]any{"email": "y@example.com"}, "associations": []any{assoc(co, 279)}},
			map[string]any{"properties": map[string]any{"email": "z@example.com"}, "associations": []any{assoc("424242", 279)}},
		}}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "inputs[1].associations[0]")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})
}
