package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// schemaAuditEntry is an entry of the audit trail about the data model, with every field the API
// gives it.
type schemaAuditEntry struct {
	Action         string   `json:"action"`
	ObjectType     string   `json:"objectType"`
	Property       string   `json:"property"`
	Changed        []string `json:"changed"`
	OptionsAdded   *int     `json:"optionsAdded"`
	OptionsRemoved *int     `json:"optionsRemoved"`
	By             string   `json:"by"`
	Via            string   `json:"via"`
	Actor          string   `json:"actor"`
	At             string   `json:"at"`
}

// schemaAudit returns the entries of tenant A's audit trail after cursor start whose query is q
// ("" for all), through the API.
func (b *testBundle) schemaAudit(t *testing.T, start, q string) []schemaAuditEntry {
	t.Helper()
	path := "/crm/v3/audit?limit=1000&after=" + start
	if q != "" {
		path += "&" + q
	}
	pg := expect[page[schemaAuditEntry]](t, b.call(t, "GET", path, tokAll, nil), http.StatusOK)
	require.Nil(t, pg.Paging)
	return pg.Results
}

// TestSchemaAudit: each change of the data model through the API (a property created, changed,
// archived and restored, a custom object type created) writes one audit entry, with the type, the
// property, who and when, and for a change the fields it changed and how many options came and
// went; an answer that changes nothing writes none.
func TestSchemaAudit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := b.auditAfter(t)
	t0 := b.clock.Now()
	step := func(method, path string, body any, status int) {
		t.Helper()
		b.clock.Advance(time.Minute)
		r := b.call(t, method, path, tokAll, body)
		require.Equal(t, status, r.status, "body: %s", r.body)
	}
	step("POST", "/crm/v3/properties/contacts", map[string]any{"name": "size", "label": "Size", "type": "enumeration",
		"options": []any{map[string]any{"label": "S", "value": "s"}, map[string]any{"label": "M", "value": "m"}, map[string]any{"label": "L", "value": "l"}}},
		http.StatusCreated)
	b.contact(t, map[string]string{"size": "m"})
	step("PATCH", "/crm/v3/properties/contacts/size", map[string]any{"label": "Shirt size",
		"options": []any{map[string]any{"label": "S", "value": "s"}, map[string]any{"label": "M", "value": "m"},
			map[string]any{"label": "XL", "value": "xl"}, map[string]any{"label": "XXL", "value": "xxl"}}}, http.StatusOK)
	step("PATCH", "/crm/v3/properties/contacts/size", map[string]any{"description": "For the swag", "hidden": true}, http.StatusOK)
	step("PATCH", "/crm/v3/properties/contacts/size", map[string]any{"label": "Shirt size"}, http.StatusOK) // no change
	step("DELETE", "/crm/v3/properties/contacts/size", nil, http.StatusNoContent)
	step("DELETE", "/crm/v3/properties/contacts/size", nil, http.StatusNoContent) // archived already
	step("POST", "/crm/v3/properties/contacts/size/restore", nil, http.StatusOK)
	step("POST", "/crm/v3/properties/contacts/size/restore", nil, http.StatusOK) // live already
	step("POST", "/crm/v3/schemas", map[string]any{"name": "pets", "labels": map[string]any{"singular": "Pet", "plural": "Pets"},
		"properties": []any{map[string]any{"name": "pet_name", "label": "Name", "type": "string"}}}, http.StatusCreated)

	at := func(minutes int) string { return crm.FormatDatetime(t0.Add(time.Duration(minutes) * time.Minute)) }
	two, one := 2, 1
	entry := func(action, otype, prop string, minutes int) schemaAuditEntry {
		return schemaAuditEntry{Action: action, ObjectType: otype, Property: prop, By: "all@a.example", Via: "api", Actor: "all@a.example", At: at(minutes)}
	}
	update := func(minutes int, changed []string, added, removed *int) schemaAuditEntry {
		e := entry(crm.AuditPropertyUpdate, "contacts", "size", minutes)
		e.Changed, e.OptionsAdded, e.OptionsRemoved = changed, added, removed
		return e
	}
	var created, changed, described, archived, restored, pets = entry(crm.AuditPropertyCreate, "contacts", "size", 1),
		update(2, []string{"label", "options"}, &two, &one), update(3, []string{"description", "hidden"}, nil, nil),
		entry(crm.AuditPropertyArchive, "contacts", "size", 5), entry(crm.AuditPropertyRestore, "contacts", "size", 7),
		entry(crm.AuditObjectTypeCreate, "pets", "", 9)
	want := []schemaAuditEntry{created, changed, described, archived, restored, pets}
	require.Equal(t, want, b.schemaAudit(t, start, ""))

	// Names and counts only: no option's value, no record's.
	r := b.call(t, "GET", "/crm/v3/audit?after="+start, tokAll, nil)
	require.Equal(t, http.StatusOK, r.status)
	for _, v := range []string{`"xl"`, `"xxl"`, `"m"`, "Shirt size", "For the swag"} {
		require.NotContains(t, string(r.body), v)
	}

	t.Run("FilteredByAction", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			query string
			want  []schemaAuditEntry
		}{
			{"action=property_create", []schemaAuditEntry{created}},
			{"action=property_update", []schemaAuditEntry{changed, described}},
			{"action=property_archive,property_restore", []schemaAuditEntry{archived, restored}},
			{"action=object_type_create", []schemaAuditEntry{pets}},
			{"action=protection_put", []schemaAuditEntry{}},
		} {
			require.Equal(t, tc.want, b.schemaAudit(t, start, tc.query), tc.query)
		}
		newest := expect[page[schemaAuditEntry]](t, b.call(t, "GET", "/crm/v3/audit?order=newest&limit=1&action=property_archive", tokAll, nil), http.StatusOK)
		require.Equal(t, []schemaAuditEntry{archived}, newest.Results)
	})
}

// TestSchemaAuditRefused: a change of the data model the API or the store refuses (bad input, a
// name taken, a property in use, records holding what the change removes) writes no audit entry,
// and changes nothing else either.
func TestSchemaAuditRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.sizeProperty(t)
	b.contact(t, map[string]string{"size": "m"})
	b.protect(t, "larges", "contacts", `size == "l"`)
	step := func(method, path string, body any, status int, code string) {
		t.Helper()
		r := b.call(t, method, path, tokAll, body)
		require.Equal(t, status, r.status, "%s %s: %s", method, path, r.body)
		if code != "" {
			require.Contains(t, string(r.body), code, "%s %s", method, path)
		}
	}
	start := b.auditAfter(t)
	before := b.dump(t, b.tenantA)
	b.clock.Advance(time.Minute)

	// Created: a bad name, a taken one, one of the product's.
	step("POST", "/crm/v3/properties/contacts", map[string]any{"name": "Bad Name", "label": "Bad", "type": "string"}, http.StatusBadRequest, "INVALID_PROPERTY_NAME")
	step("POST", "/crm/v3/properties/contacts", map[string]any{"name": "size", "label": "Size", "type": "string"}, http.StatusConflict, "")
	step("POST", "/crm/v3/properties/contacts", map[string]any{"name": "email", "label": "Email", "type": "string"}, http.StatusConflict, "")
	step("POST", "/crm/v3/properties/nosuchtype", map[string]any{"name": "x", "label": "X", "type": "string"}, http.StatusNotFound, "")
	// Changed: an empty label, a rename, an option a live record holds (refused by the store's
	// script), one a protection rule reads, a type values may not fit.
	step("PATCH", "/crm/v3/properties/contacts/size", map[string]any{"label": ""}, http.StatusBadRequest, "MISSING_LABEL")
	step("PATCH", "/crm/v3/properties/contacts/size", map[string]any{"name": "sizes"}, http.StatusBadRequest, "READ_ONLY_NAME")
	step("PATCH", "/crm/v3/properties/contacts/size", map[string]any{"options": []any{
		map[string]any{"label": "S", "value": "s"}, map[string]any{"label": "L", "value": "l"}}}, http.StatusConflict, "live contacts with size")
	step("PATCH", "/crm/v3/properties/contacts/size", map[string]any{"options": []any{
		map[string]any{"label": "S", "value": "s"}, map[string]any{"label": "M", "value": "m"}}}, http.StatusConflict, "PROPERTY_IN_USE")
	step("PATCH", "/crm/v3/properties/contacts/size", map[string]any{"type": "number", "fieldType": "number"}, http.StatusConflict, "PROPERTY_IN_USE")
	step("PATCH", "/crm/v3/properties/contacts/email", map[string]any{"label": "Mail"}, http.StatusBadRequest, "READ_ONLY_DEFINITION")
	step("PATCH", "/crm/v3/properties/contacts/ghost", map[string]any{"label": "Ghost"}, http.StatusNotFound, "")
	// Archived: in use by the rule, one of the product's, an unknown one; restored: an unknown one.
	step("DELETE", "/crm/v3/properties/contacts/size", nil, http.StatusConflict, "PROPERTY_IN_USE")
	step("DELETE", "/crm/v3/properties/contacts/email", nil, http.StatusConflict, "PROPERTY_NOT_ARCHIVABLE")
	step("DELETE", "/crm/v3/properties/contacts/ghost", nil, http.StatusNotFound, "")
	step("POST", "/crm/v3/properties/contacts/ghost/restore", nil, http.StatusNotFound, "")
	// An object type: a bad name, a standard type's, one taken.
	pets := map[string]any{"name": "pets", "labels": map[string]any{"singular": "Pet", "plural": "Pets"},
		"properties": []any{map[string]any{"name": "pet_name", "label": "Name", "type": "string"}}}
	step("POST", "/crm/v3/schemas", map[string]any{"name": "Bad Name", "properties": []any{}}, http.StatusBadRequest, "")
	step("POST", "/crm/v3/schemas", map[string]any{"name": "contacts", "properties": []any{}}, http.StatusBadRequest, "")
	require.Equal(t, before, b.dump(t, b.tenantA), "nothing changed")
	require.Empty(t, b.schemaAudit(t, start, ""))

	// A type whose name is taken: 409, and no second entry.
	step("POST", "/crm/v3/schemas", pets, http.StatusCreated, "")
	step("POST", "/crm/v3/schemas", pets, http.StatusConflict, "")
	got := b.schemaAudit(t, start, "")
	require.Len(t, got, 1)
	require.Equal(t, crm.AuditObjectTypeCreate, got[0].Action)

	// A writer without the schema permission changes nothing, and is not audited.
	r := b.call(t, "POST", "/crm/v3/properties/contacts", tokWrite, map[string]any{"name": "mood", "label": "Mood", "type": "string"})
	require.Equal(t, http.StatusForbidden, r.status, "body: %s", r.body)
	require.Len(t, b.schemaAudit(t, start, ""), 1)
}
