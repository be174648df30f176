package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/redistest"
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
		stage := expect[pipelineStage](t, b.call(t, "GET", "/crm/v3/pipelines/tickets/0/stages/4", tokRead, nil), http.StatusOK)
		require.Equal(t, one.Stages[3], stage)
		expectError(t, b.call(t, "GET", "/crm/v3/pipelines/tickets/0/stages/closed", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
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

	t.Run("CreateAsTheClientSendsIt", func(t *testing.T) {
		t.Parallel()
		// HubSpot's ObjectSchemaEgg: display settings and associatedObjects are taken and not kept.
		egg := map[string]any{"name": "ships", "labels": map[string]any{"singular": "Ship", "plural": "Ships"},
			"description": "Ships", "primaryDisplayProperty": "hull", "secondaryDisplayProperties": []string{},
			"searchableProperties": []string{"hull"}, "requiredProperties": []string{}, "associatedObjects": []string{"CONTACT"},
			"properties": []map[string]any{{"name": "hull", "label": "Hull", "type": "string", "fieldType": "text", "hasUniqueValue": true}}}
		made := expect[schema](t, b.call(t, "POST", "/crm-object-schemas/v3/schemas", tokAll, egg), http.StatusCreated)
		require.Equal(t, []any{"ships", "Ships"}, []any{made.ObjectTypeID, made.Labels.Plural})
		expect[schema](t, b.call(t, "GET", "/crm-object-schemas/v3/schemas/ships", tokRead, nil), http.StatusOK)
	})

	t.Run("RequiredPropertiesRefused", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", "/crm-object-schemas/v3/schemas", tokAll, map[string]any{"name": "rafts",
			"labels": map[string]any{"singular": "Raft", "plural": "Rafts"}, "requiredProperties": []string{"hull"},
			"properties": []map[string]any{{"name": "hull", "label": "Hull", "type": "string"}}}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"requiredProperties"}, e.in())
		expectError(t, b.call(t, "GET", "/crm-object-schemas/v3/schemas/rafts", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	})
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

type historyRecord struct {
	record
	PropertiesWithHistory map[string][]struct {
		Value     string `json:"value"`
		Timestamp string `json:"timestamp"`
	} `json:"propertiesWithHistory"`
	Associations map[string]page[struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}] `json:"associations"`
}

// TestRecordPropertiesOnRead names hs_object_id, createdate, lastmodifieddate and
// hs_lastmodifieddate in the properties of every read: each record shows them, from its id and
// times, as HubSpot does; a read that names none of them shows none.
func TestRecordPropertiesOnRead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := string(b.contact(t, map[string]string{"email": "ada@example.com", "firstname": "Ada"}))
	b.clock.Advance(time.Hour)
	expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+ada, tokWrite,
		map[string]any{"properties": map[string]any{"firstname": "Augusta"}}), http.StatusOK)
	created, updated := "2026-03-01T12:00:00.000Z", "2026-03-01T13:00:00.000Z"
	want := map[string]string{"email": "ada@example.com", "hs_object_id": ada, "createdate": created,
		"lastmodifieddate": updated, "hs_lastmodifieddate": updated}
	names := []string{"email", "hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"}
	query := "?properties=" + strings.Join(names, ",")

	got := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+ada+query, tokRead, nil), http.StatusOK)
	require.Equal(t, want, got.Properties)
	require.Equal(t, created, got.CreatedAt)
	require.Equal(t, updated, got.UpdatedAt)
	pg := expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts"+query, tokRead, nil), http.StatusOK)
	require.Equal(t, want, pg.Results[0].Properties)
	res := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/read", tokRead,
		map[string]any{"inputs": idInputs(ada), "properties": names}), http.StatusOK)
	require.Equal(t, want, res.Results[0].Properties)
	found := expect[searchPage](t, b.call(t, "POST", "/crm/v3/objects/contacts/search", tokRead,
		map[string]any{"properties": names}), http.StatusOK)
	require.Equal(t, want, found.Results[0].Properties)

	// Named alone, and not named at all.
	got = expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+ada+"?properties=hs_object_id", tokRead, nil), http.StatusOK)
	require.Equal(t, map[string]string{"hs_object_id": ada}, got.Properties)
	got = expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+ada, tokRead, nil), http.StatusOK)
	require.Equal(t, map[string]string{"email": "ada@example.com", "firstname": "Augusta"}, got.Properties)
}

func TestReadsHubSpotOptions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.contact(t, map[string]string{"email": "ada@example.com", "firstname": "Ada", "lastname": "L"})
	bob := b.contact(t, map[string]string{"email": "bob@example.com", "additional_emails": "robert@example.com", "firstname": "Bob"})
	co := b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Acme"})
	require.Equal(t, http.StatusOK, b.call(t, "PUT", "/crm/v4/objects/contacts/"+string(ada)+"/associations/default/companies/"+string(co), tokAll, nil).status)

	t.Run("GetByEmail", func(t *testing.T) {
		t.Parallel()
		got := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/ADA@example.com?idProperty=email", tokRead, nil), http.StatusOK)
		require.Equal(t, string(ada), got.ID)
		got = expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/robert@example.com?idProperty=email", tokRead, nil), http.StatusOK)
		require.Equal(t, string(bob), got.ID)
		got = expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(ada)+"?idProperty=hs_object_id", tokRead, nil), http.StatusOK)
		require.Equal(t, string(ada), got.ID)
		expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/nobody@example.com?idProperty=email", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		e := expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/Ada?idProperty=firstname", tokRead, nil), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "not a unique property")
		e = expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/x?idProperty=nope", tokRead, nil), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "not a property of contacts")
	})

	t.Run("GetWithHistoryAndAssociations", func(t *testing.T) {
		t.Parallel()
		got := expect[historyRecord](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(ada)+
			"?properties=email&propertiesWithHistory=firstname,phone&associations=companies,deals", tokRead, nil), http.StatusOK)
		require.Equal(t, map[string]string{"email": "ada@example.com"}, got.Properties)
		require.Len(t, got.PropertiesWithHistory["firstname"], 1)
		require.Equal(t, "Ada", got.PropertiesWithHistory["firstname"][0].Value)
		require.Equal(t, got.UpdatedAt, got.PropertiesWithHistory["firstname"][0].Timestamp)
		require.NotContains(t, got.PropertiesWithHistory, "phone")
		require.Len(t, got.Associations["companies"].Results, 1)
		require.Equal(t, string(co), got.Associations["companies"].Results[0].ID)
		require.Equal(t, "contact_to_company", got.Associations["companies"].Results[0].Type)
		require.NotContains(t, got.Associations, "deals")
	})

	t.Run("PageWithHistory", func(t *testing.T) {
		t.Parallel()
		got := expect[page[historyRecord]](t, b.call(t, "GET", "/crm/v3/objects/contacts?propertiesWithHistory=firstname", tokRead, nil), http.StatusOK)
		require.GreaterOrEqual(t, len(got.Results), 2) // ArchivedByEmail may add one meanwhile
		require.Equal(t, string(bob), got.Results[1].ID)
		require.Equal(t, "Bob", got.Results[1].PropertiesWithHistory["firstname"][0].Value)
	})

	t.Run("PageWithAssociations", func(t *testing.T) {
		t.Parallel()
		got := expect[page[historyRecord]](t, b.call(t, "GET", "/crm/v3/objects/contacts?limit=2&associations=0-2", tokRead, nil), http.StatusOK)
		require.Len(t, got.Results, 2)
		require.Equal(t, string(ada), got.Results[0].ID)
		require.Equal(t, string(co), got.Results[0].Associations["companies"].Results[0].ID)
		require.Empty(t, got.Results[1].Associations)
		companies := expect[page[historyRecord]](t, b.call(t, "GET", "/crm/v3/objects/companies?associations=contacts", tokRead, nil), http.StatusOK)
		require.Equal(t, string(ada), companies.Results[0].Associations["contacts"].Results[0].ID)
		require.Equal(t, "company_to_contact", companies.Results[0].Associations["contacts"].Results[0].Type)
		e := expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts?archived=true&associations=companies", tokRead, nil), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "archived=true")
		e = expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts?associations=boats", tokRead, nil), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, `"boats"`)
	})

	t.Run("BatchReadByEmail", func(t *testing.T) {
		t.Parallel()
		r := b.call(t, "POST", "/crm/v3/objects/contacts/batch/read", tokRead, map[string]any{
			"idProperty": "email", "properties": []string{"firstname"}, "propertiesWithHistory": []string{"lastname"},
			"inputs": []any{map[string]any{"id": "ada@example.com"}, map[string]any{"id": "robert@example.com"},
				map[string]any{"id": "bob@example.com"}, map[string]any{"id": "ghost@example.com"}, map[string]any{"id": "not an email"}},
		})
		require.Equal(t, http.StatusMultiStatus, r.status, "body: %s", r.body)
		out := decode[struct {
			Results []historyRecord `json:"results"`
			Errors  []struct {
				Context map[string][]string `json:"context"`
			} `json:"errors"`
		}](t, r)
		require.Len(t, out.Results, 2)
		require.Equal(t, string(ada), out.Results[0].ID)
		require.Equal(t, map[string]string{"firstname": "Ada"}, out.Results[0].Properties)
		require.Equal(t, "L", out.Results[0].PropertiesWithHistory["lastname"][0].Value)
		require.Equal(t, string(bob), out.Results[1].ID)
		require.Equal(t, []string{"ghost@example.com", "not an email"}, out.Errors[0].Context["ids"])
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/read?archived=true", tokRead, map[string]any{
			"idProperty": "email", "inputs": []any{map[string]any{"id": "ada@example.com"}},
		}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "live contacts only")
	})

	t.Run("ArchivedByEmail", func(t *testing.T) {
		t.Parallel()
		gone := b.contact(t, map[string]string{"email": "gone@example.com"})
		require.Equal(t, http.StatusNoContent, b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(gone), tokAll, nil).status)
		got := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/gone@example.com?idProperty=email&archived=true", tokRead, nil), http.StatusOK)
		require.Equal(t, string(gone), got.ID)
		require.True(t, got.Archived)
		expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/gone@example.com?idProperty=email", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		e := expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(gone)+"?archived=true&associations=companies", tokRead, nil),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "archived=true")
	})
}

func TestBatchUpsert(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.contact(t, map[string]string{"email": "ada@example.com", "firstname": "Ada"})
	bob := b.contact(t, map[string]string{"email": "bob@example.com", "additional_emails": "robert@example.com"})
	type upserted struct {
		record
		New bool `json:"new"`
	}
	input := func(email string, props map[string]any) map[string]any {
		return map[string]any{"idProperty": "email", "id": email, "properties": props, "objectWriteTraceId": email}
	}

	out := expect[struct {
		Status  string     `json:"status"`
		Results []upserted `json:"results"`
	}](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/upsert", tokAll, map[string]any{"inputs": []any{
		input("new@example.com", map[string]any{"firstname": "Neo"}),
		input("ADA@example.com", map[string]any{"lastname": "Lovelace"}),
		input("robert@example.com", map[string]any{"firstname": "Bob"}),
	}}), http.StatusOK)
	require.Equal(t, "COMPLETE", out.Status)
	require.Len(t, out.Results, 3)
	require.True(t, out.Results[0].New)
	require.Equal(t, "new@example.com", out.Results[0].Properties["email"])
	require.False(t, out.Results[1].New)
	require.Equal(t, string(ada), out.Results[1].ID)
	require.Equal(t, "Lovelace", out.Results[1].Properties["lastname"])
	require.Equal(t, "Ada", out.Results[1].Properties["firstname"])
	require.Equal(t, string(bob), out.Results[2].ID)
	require.Equal(t, "bob@example.com", out.Results[2].Properties["email"])
	got := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/new@example.com?idProperty=email", tokRead, nil), http.StatusOK)
	require.Equal(t, out.Results[0].ID, got.ID)

	t.Run("RefusedChangesNothing", func(t *testing.T) {
		t.Parallel()
		before := b.snapshot(t, b.tenantA)
		for _, c := range []struct {
			name   string
			path   string
			inputs []any
			want   string
		}{
			{"Duplicate", "contacts", []any{input("x@example.com", nil), input("X@example.com", nil)}, "both name x@example.com"},
			{"NotEmail", "contacts", []any{input("x@example.com", nil), input("nope", nil)}, "not an email"},
			{"EmailMismatch", "contacts", []any{input("x@example.com", map[string]any{"email": "y@example.com"})}, "is not the id"},
			{"OneContactByTwoEmails", "contacts", []any{input("x@example.com", nil), input("bob@example.com", nil), input("robert@example.com", nil)},
				"inputs[1] (bob@example.com) and inputs[2] (robert@example.com) both name contacts record " + string(bob)},
			{"BadProperty", "contacts", []any{input("x@example.com", nil), input("ada@example.com", map[string]any{"lifecyclestage": "boss"})}, "lifecyclestage"},
			{"ByID", "contacts", []any{map[string]any{"idProperty": "hs_object_id", "id": string(ada), "properties": map[string]any{}}}, "upsert names records by a unique property"},
			{"OtherType", "companies", []any{map[string]any{"idProperty": "domain", "id": "acme.com", "properties": map[string]any{}}}, "not a unique property"},
		} {
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/"+c.path+"/batch/upsert", tokAll, map[string]any{"inputs": c.inputs}),
				http.StatusBadRequest, "VALIDATION_ERROR")
			require.Contains(t, e.Message, c.want, c.name)
		}
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	// The creates are written before the updates: an update that would be refused refuses the
	// upsert before any record is created.
	t.Run("RefusedUpdateCreatesNothing", func(t *testing.T) {
		t.Parallel()
		rb, s1, _ := uniqueSetup(t)
		rb.contact(t, map[string]string{"email": "ada@example.com"})
		rb.contact(t, map[string]string{"email": "bob@example.com"})
		before, raw := rb.snapshot(t, rb.tenantA), rb.dump(t, rb.tenantA)
		e := expectError(t, rb.call(t, "POST", "/crm/v3/objects/contacts/batch/upsert", tokAll, map[string]any{"inputs": []any{
			input("new@example.com", map[string]any{"firstname": "Neo"}),
			input("ada@example.com", map[string]any{"additional_emails": "bob@example.com"}),
		}}), http.StatusConflict, "CONFLICT")
		require.Contains(t, e.Message, "bob@example.com")
		e = expectError(t, rb.call(t, "POST", "/crm/v3/objects/subscriptions/batch/upsert", tokAll, map[string]any{"inputs": []any{
			map[string]any{"idProperty": "sub_ref", "id": "S-new", "properties": map[string]any{"plan": "gold"}},
			map[string]any{"idProperty": "sub_ref", "id": "S-1", "properties": map[string]any{"seat": "2"}},
		}}), http.StatusConflict, "CONFLICT")
		require.Equal(t, "UNIQUE_VALUE_CONFLICT", e.Errors[0].Code)
		require.NotEqual(t, []string{string(s1)}, e.Context["existingId"])
		require.Equal(t, before, rb.snapshot(t, rb.tenantA))
		require.Equal(t, raw, rb.dump(t, rb.tenantA))
		expectError(t, rb.call(t, "GET", "/crm/v3/objects/contacts/new@example.com?idProperty=email", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	})
}

func TestUpdateByEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.contact(t, map[string]string{"email": "ada@example.com"})
	got := expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/Ada@Example.com?idProperty=email", tokAll,
		map[string]any{"properties": map[string]any{"firstname": "Ada"}}), http.StatusOK)
	require.Equal(t, string(ada), got.ID)
	require.Equal(t, "Ada", got.Properties["firstname"])
	before := b.snapshot(t, b.tenantA)
	expectError(t, b.call(t, "PATCH", "/crm/v3/objects/contacts/nobody@example.com?idProperty=email", tokAll,
		map[string]any{"properties": map[string]any{"firstname": "X"}}), http.StatusNotFound, "OBJECT_NOT_FOUND")
	expectError(t, b.call(t, "PATCH", "/crm/v3/objects/contacts/Ada?idProperty=firstname", tokAll,
		map[string]any{"properties": map[string]any{"firstname": "X"}}), http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, before, b.snapshot(t, b.tenantA))
}

func TestObjectWriteTraceID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	type traced struct {
		ID                 string `json:"id"`
		ObjectWriteTraceID string `json:"objectWriteTraceId"`
	}
	created := expect[struct {
		Results []traced `json:"results"`
	}](t, b.call(t, "POST", "/crm/v3/objects/companies/batch/create", tokAll, map[string]any{"inputs": []any{
		map[string]any{"properties": map[string]any{"name": "A"}, "objectWriteTraceId": "a"},
		map[string]any{"properties": map[string]any{"name": "B"}},
	}}), http.StatusCreated)
	require.Equal(t, "a", created.Results[0].ObjectWriteTraceID)
	require.Empty(t, created.Results[1].ObjectWriteTraceID)
	updated := expect[struct {
		Results []traced `json:"results"`
	}](t, b.call(t, "POST", "/crm/v3/objects/companies/batch/update", tokAll, map[string]any{"inputs": []any{
		map[string]any{"id": created.Results[1].ID, "properties": map[string]any{"name": "B2"}, "objectWriteTraceId": "b"},
	}}), http.StatusOK)
	require.Equal(t, "b", updated.Results[0].ObjectWriteTraceID)
}

func TestBatchUpdateByEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.contact(t, map[string]string{"email": "ada@example.com"})
	bob := b.contact(t, map[string]string{"email": "bob@example.com"})
	out := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/update", tokAll, map[string]any{"inputs": []any{
		map[string]any{"idProperty": "email", "id": "ADA@example.com", "properties": map[string]any{"firstname": "Ada"}},
		map[string]any{"id": bob, "properties": map[string]any{"firstname": "Bob"}},
	}}), http.StatusOK)
	require.Equal(t, []string{string(ada), string(bob)}, []string{out.Results[0].ID, out.Results[1].ID})
	require.Equal(t, "Ada", out.Results[0].Properties["firstname"])

	before := b.snapshot(t, b.tenantA)
	e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/update", tokAll, map[string]any{"inputs": []any{
		map[string]any{"id": bob, "properties": map[string]any{"firstname": "X"}},
		map[string]any{"idProperty": "email", "id": "nobody@example.com", "properties": map[string]any{"firstname": "X"}},
	}}), http.StatusNotFound, "OBJECT_NOT_FOUND")
	require.Contains(t, e.Message, "nobody@example.com")
	expectError(t, b.call(t, "POST", "/crm/v3/objects/companies/batch/update", tokAll, map[string]any{"inputs": []any{
		map[string]any{"idProperty": "domain", "id": "acme.com", "properties": map[string]any{"name": "X"}},
	}}), http.StatusBadRequest, "VALIDATION_ERROR")
	// Bob by id and by email: the inputs that name him are named, as the client wrote them.
	e = expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/update", tokAll, map[string]any{"inputs": []any{
		map[string]any{"id": bob, "properties": map[string]any{"firstname": "X"}},
		map[string]any{"idProperty": "email", "id": "bob@example.com", "properties": map[string]any{"lastname": "Y"}},
	}}), http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, []string{"inputs[1].id"}, e.in())
	require.Contains(t, e.Message, `inputs[0] (id "`+string(bob)+`") and inputs[1] (id "bob@example.com") both name contacts record `+string(bob))
	require.Equal(t, before, b.snapshot(t, b.tenantA))
}

// TestAssociationsParameterCostsOneLookupPerType names the same types thousands of times in
// ?associations=: the request costs the store a lookup per distinct type, not one per name given,
// so that a header's worth of repeated names cannot make one request send thousands of commands.
func TestAssociationsParameterCostsOneLookupPerType(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.contact(t, map[string]string{"email": "ada@example.com"})
	co := b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Acme"})
	require.Equal(t, http.StatusOK, b.call(t, "PUT", "/crm/v4/objects/contacts/"+string(ada)+"/associations/default/companies/"+string(co), tokAll, nil).status)
	var counter struct{ n atomic.Int64 } // the commands the client sends
	b.rdb.AddHook(redistest.EachCommand(func(redis.Cmder) { counter.n.Add(1) }))
	names := strings.Repeat("companies,0-2,deals,", 1000)
	type linked struct {
		Associations map[string]struct {
			Results []struct{ ID string } `json:"results"`
		} `json:"associations"`
	}

	counter.n.Store(0)
	one := expect[linked](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(ada)+"?associations="+names, tokRead, nil), http.StatusOK)
	require.Len(t, one.Associations["companies"].Results, 1)
	require.Less(t, counter.n.Load(), int64(50), "commands sent for one read")

	counter.n.Store(0)
	pg := expect[page[linked]](t, b.call(t, "GET", "/crm/v3/objects/contacts?associations="+names, tokRead, nil), http.StatusOK)
	require.Len(t, pg.Results, 1)
	require.Len(t, pg.Results[0].Associations["companies"].Results, 1)
	require.Less(t, counter.n.Load(), int64(50), "commands sent for one page")
}

// TestAssociationsV4HubSpotShapes pins the answers of the association endpoints as HubSpot's
// official clients parse them (crm.associations.v4.basicApi): createDefault's
// BatchResponsePublicDefaultAssociation, getPage's associationTypes and paging, and create's
// LabelsBetweenObjectPair, 201, for HubSpot's default types only.
func TestAssociationsV4HubSpotShapes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := string(b.contact(t, map[string]string{"firstname": "Ada"}))
	var cos []string
	for range 3 {
		cos = append(cos, string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Co"})))
	}
	base := "/crm/v4/objects/contacts/" + c + "/associations/"

	r := b.call(t, "PUT", base+"default/companies/"+cos[0], tokWrite, nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.JSONEq(t, `{"status": "COMPLETE", "startedAt": "2026-03-01T12:00:00.000Z", "completedAt": "2026-03-01T12:00:00.000Z",
		"results": [{"from": {"id": "`+c+`"}, "to": {"id": "`+cos[0]+`"},
			"associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}}],
		"fromObjectTypeId": "contacts", "fromObjectId": "`+c+`", "toObjectTypeId": "companies", "toObjectId": "`+cos[0]+`"}`,
		string(r.body))

	t.Run("CreateWithDefaultTypes", func(t *testing.T) {
		t.Parallel()
		for _, id := range []int{279, 1} { // unlabeled, then primary: the same plain link
			r := b.call(t, "PUT", base+"0-2/"+cos[1], tokWrite,
				[]map[string]any{{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": id}})
			require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
			require.JSONEq(t, `{"fromObjectTypeId": "0-1", "fromObjectId": "`+c+`", "toObjectTypeId": "0-2", "toObjectId": "`+cos[1]+`",
				"labels": []}`, string(r.body))
		}
		r := b.call(t, "GET", "/crm/v4/objects/companies/"+cos[1]+"/associations/contacts", tokRead, nil)
		require.JSONEq(t, `{"results": [{"toObjectId": "`+c+`", "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 280, "label": null}]}]}`,
			string(r.body))
	})

	t.Run("LabelsRefused", func(t *testing.T) {
		t.Parallel()
		for _, body := range []any{
			[]map[string]any{{"associationCategory": "USER_DEFINED", "associationTypeId": 36}},
			[]map[string]any{{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 4}}, // contact to deal
			[]map[string]any{},
		} {
			e := expectError(t, b.call(t, "PUT", base+"companies/"+cos[2], tokWrite, body), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{"associationSpec"}, e.in())
		}
		e := expectError(t, b.call(t, "PUT", base+"companies/"+cos[2], tokWrite,
			[]map[string]any{{"associationCategory": "USER_DEFINED", "associationTypeId": 36}}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, `associationSpec[0].associationCategory "USER_DEFINED" is not supported: crmflow keeps no association labels; `+
			`send [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1 or 279}]`, e.Message)
		r := b.call(t, "GET", "/crm/v4/objects/companies/"+cos[2]+"/associations/contacts", tokRead, nil)
		require.JSONEq(t, `{"results": []}`, string(r.body), "a refused create links nothing")
	})

	t.Run("CustomObjectHasNoTypes", func(t *testing.T) {
		t.Parallel()
		expect[schema](t, b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{"name": "boats", "label": "Boat"}), http.StatusCreated)
		boat := string(b.create(t, b.tenantA, "boats", map[string]string{}))
		e := expectError(t, b.call(t, "PUT", "/crm/v4/objects/boats/"+boat+"/associations/contacts/"+c, tokWrite,
			[]map[string]any{{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, "there is no association type from boats to contacts in crmflow: link the two records with PUT /crm/v4/objects/boats/"+
			boat+"/associations/default/contacts/"+c, e.Message)
		r := b.call(t, "PUT", "/crm/v4/objects/boats/"+boat+"/associations/default/contacts/"+c, tokWrite, nil)
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		require.JSONEq(t, `[{"from": {"id": "`+boat+`"}, "to": {"id": "`+c+`"}}]`, string(decode[struct {
			Results json.RawMessage `json:"results"`
		}](t, r).Results), "no associationSpec between types without a default type")
		r = b.call(t, "GET", "/crm/v4/objects/contacts/"+c+"/associations/boats", tokRead, nil)
		require.JSONEq(t, `{"results": [{"toObjectId": "`+boat+`", "associationTypes": []}]}`, string(r.body))
	})

	t.Run("Pages", func(t *testing.T) {
		t.Parallel()
		from := string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Hub"}))
		var want []string
		for range 5 {
			d := string(b.create(t, b.tenantA, crm.Deals, map[string]string{"dealname": "D"}))
			require.Equal(t, http.StatusOK, b.call(t, "PUT", "/crm/v4/objects/companies/"+from+"/associations/default/deals/"+d, tokWrite, nil).status)
			want = append(want, d)
		}
		type assoc struct {
			ToObjectID       string `json:"toObjectId"`
			AssociationTypes []struct {
				Category string `json:"category"`
				TypeID   int    `json:"typeId"`
			} `json:"associationTypes"`
		}
		var got []string
		path := "/crm/v4/objects/companies/" + from + "/associations/deals?limit=2"
		for pages := 0; ; pages++ {
			require.Less(t, pages, 5, "paging does not end")
			pg := expect[page[assoc]](t, b.call(t, "GET", path, tokRead, nil), http.StatusOK)
			require.LessOrEqual(t, len(pg.Results), 2)
			for _, a := range pg.Results {
				got = append(got, a.ToObjectID)
				require.Equal(t, 342, a.AssociationTypes[0].TypeID, "company to deal")
			}
			if pg.Paging == nil {
				break
			}
			path = "/crm/v4/objects/companies/" + from + "/associations/deals?limit=2&after=" + pg.Paging.Next.After
		}
		require.Equal(t, want, got)
		e := expectError(t, b.call(t, "GET", "/crm/v4/objects/companies/"+from+"/associations/deals?limit=501", tokRead, nil),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"limit"}, e.in())
	})
}
