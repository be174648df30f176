package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
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
