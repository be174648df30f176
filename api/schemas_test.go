package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

type property struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	Type    string `json:"type"`
	Options []struct {
		Label string `json:"label"`
		Value string `json:"value"`
	} `json:"options"`
	HubspotDefined bool `json:"hubspotDefined"`
}

type schema struct {
	Name         string `json:"name"`
	ObjectTypeID string `json:"objectTypeId"`
	Labels       struct {
		Singular string `json:"singular"`
		Plural   string `json:"plural"`
	} `json:"labels"`
	Properties []property `json:"properties"`
	Custom     bool       `json:"custom"`
	CreatedAt  string     `json:"createdAt"`
}

func propertyNames(ps []property) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func TestProperties(t *testing.T) {
	t.Parallel()
	b := setup(t)

	all := expect[page[property]](t, b.call(t, "GET", "/crm/v3/properties/contacts", tokRead, nil), http.StatusOK)
	require.Contains(t, propertyNames(all.Results), "email")
	require.IsIncreasing(t, propertyNames(all.Results))
	// archived=true lists only archived properties, as HubSpot's: none here.
	none := expect[page[property]](t, b.call(t, "GET", "/crm/v3/properties/contacts?archived=true", tokRead, nil), http.StatusOK)
	require.NotNil(t, none.Results)
	require.Empty(t, none.Results)
	live := expect[page[property]](t, b.call(t, "GET", "/crm/v3/properties/contacts?archived=false", tokRead, nil), http.StatusOK)
	require.Equal(t, all, live)
	bad := expectError(t, b.call(t, "GET", "/crm/v3/properties/contacts?archived=1", tokRead, nil), http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, []string{"archived"}, bad.in())

	stage := expect[property](t, b.call(t, "GET", "/crm/v3/properties/contacts/lifecyclestage", tokRead, nil), http.StatusOK)
	require.Equal(t, "enumeration", stage.Type)
	// Each option is HubSpot's Option, whose hidden its clients' models require, with its place.
	r := b.call(t, "GET", "/crm/v3/properties/contacts/hs_lead_status", tokRead, nil)
	var status struct {
		Options []json.RawMessage `json:"options"`
	}
	require.NoError(t, json.Unmarshal(r.body, &status))
	require.JSONEq(t, `{"label": "Open", "value": "open", "displayOrder": 1, "hidden": false}`, string(status.Options[1]))
	require.True(t, stage.HubspotDefined)
	require.Equal(t, "lead", stage.Options[1].Value)

	created := expect[property](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{
		"name": "tier", "label": "Tier", "type": "enumeration",
		"options": []any{"gold", map[string]any{"label": "Silver", "value": "silver"}},
	}), http.StatusCreated)
	require.Equal(t, "tier", created.Name)
	require.False(t, created.HubspotDefined)
	require.Len(t, created.Options, 2)
	require.Equal(t, "silver", created.Options[1].Value)

	got := expect[property](t, b.call(t, "GET", "/crm/v3/properties/contacts/tier", tokRead, nil), http.StatusOK)
	require.Equal(t, created, got)

	// The new property is usable at once, with its options enforced.
	expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
		map[string]any{"properties": map[string]any{"tier": "gold"}}), http.StatusCreated)
	e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
		map[string]any{"properties": map[string]any{"tier": "bronze"}}), http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, []string{"tier"}, e.in())

	t.Run("Duplicate", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll,
			map[string]any{"name": "email", "type": "string"}), http.StatusConflict, "CONFLICT")
		require.Contains(t, e.Message, "email")
	})

	// A property as HubSpot's clients send it: their PropertyCreate's description, displayOrder,
	// hidden and formField, and options with the hidden their OptionInput requires. What would change
	// what the property holds is still refused.
	t.Run("AsHubSpotClientsSendIt", func(t *testing.T) {
		t.Parallel()
		b := setup(t) // its own tenants: it creates a property, and the other subtests compare snapshots
		got := expect[property](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{
			"name": "shirt_size", "label": "Shirt size", "type": "enumeration", "fieldType": "select",
			"groupName": "contactinformation", "description": "For the swag", "displayOrder": 2, "hidden": false, "formField": true,
			"options": []any{
				map[string]any{"label": "Small", "value": "s", "displayOrder": 0, "hidden": false, "description": "up to 90 cm"},
				map[string]any{"label": "Large", "value": "l", "hidden": true},
			}}), http.StatusCreated)
		require.Equal(t, "shirt_size", got.Name)
		require.Len(t, got.Options, 2)
		require.Equal(t, []string{"Small", "s", "Large", "l"},
			[]string{got.Options[0].Label, got.Options[0].Value, got.Options[1].Label, got.Options[1].Value})
		require.Equal(t, got, expect[property](t, b.call(t, "GET", "/crm/v3/properties/contacts/shirt_size", tokRead, nil), http.StatusOK))

		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{
			"name": "score_x2", "label": "Score", "type": "number", "calculationFormula": "num_notes * 2"}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"calculationFormula"}, e.in())
		e = expectError(t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{
			"name": "coat_size", "label": "Coat", "type": "enumeration", "options": []any{map[string]any{"label": "S", "value": "s", "colour": "red"}}}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, "INVALID_OPTION", e.Errors[0].Code)
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll,
			map[string]any{"name": "Bad Name", "type": "colour"}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.ElementsMatch(t, []string{"name", "type"}, e.in())
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	// Every record has these already: a property of the same name would share the index of the
	// record's id or times, and searches by them would find the wrong records.
	t.Run("ReservedName", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate", "groups"} {
			before := b.snapshot(t, b.tenantA)
			e := expectError(t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll,
				map[string]any{"name": name, "label": "Mine", "type": "number"}), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{"name"}, e.in(), name)
			require.Equal(t, "RESERVED_NAME", e.Errors[0].Code, name)
			require.Contains(t, e.Message, name)
			require.Equal(t, before, b.snapshot(t, b.tenantA), name)
		}
		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{
			"name": "gadgets", "labels": map[string]any{"singular": "Gadget"},
			"properties": []any{map[string]any{"name": "createdate", "label": "Made", "type": "datetime"}}}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, "RESERVED_NAME", e.Errors[0].Code)
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	t.Run("Missing", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "GET", "/crm/v3/properties/contacts/nope", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Contains(t, e.Message, "nope")
	})
}

func TestSchemas(t *testing.T) {
	t.Parallel()
	b := setup(t)

	list := expect[page[schema]](t, b.call(t, "GET", "/crm/v3/schemas", tokRead, nil), http.StatusOK)
	require.Empty(t, list.Results)

	created := expect[schema](t, b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{
		"name":       "pets",
		"labels":     map[string]any{"singular": "Pet", "plural": "Pets"},
		"properties": []any{map[string]any{"name": "pet_name", "label": "Name", "type": "string"}},
	}), http.StatusCreated)
	require.Equal(t, "pets", created.Name)
	require.Equal(t, "pets", created.ObjectTypeID)
	require.Equal(t, "Pet", created.Labels.Singular)
	require.True(t, created.Custom)
	require.Equal(t, []string{"pet_name"}, propertyNames(created.Properties))

	list = expect[page[schema]](t, b.call(t, "GET", "/crm/v3/schemas", tokRead, nil), http.StatusOK)
	require.Len(t, list.Results, 1)

	// A property added later shows in the schema; records of the type work like any other.
	expect[property](t, b.call(t, "POST", "/crm/v3/properties/pets", tokAll,
		map[string]any{"name": "legs", "type": "number"}), http.StatusCreated)
	got := expect[schema](t, b.call(t, "GET", "/crm/v3/schemas/pets", tokRead, nil), http.StatusOK)
	require.Equal(t, []string{"legs", "pet_name"}, propertyNames(got.Properties))
	pet := expect[record](t, b.call(t, "POST", "/crm/v3/objects/pets", tokWrite,
		map[string]any{"properties": map[string]any{"pet_name": "Rex", "legs": 4}}), http.StatusCreated)
	require.Equal(t, "4", pet.Properties["legs"])

	standard := expect[schema](t, b.call(t, "GET", "/crm/v3/schemas/contacts", tokRead, nil), http.StatusOK)
	require.False(t, standard.Custom)
	require.Contains(t, propertyNames(standard.Properties), "email")

	t.Run("Duplicate", func(t *testing.T) {
		t.Parallel()
		expectError(t, b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{"name": "pets"}), http.StatusConflict, "CONFLICT")
	})

	t.Run("Reserved", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{"name": "contacts"}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"name"}, e.in())
	})

	t.Run("Missing", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "GET", "/crm/v3/schemas/dragons", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Contains(t, e.Message, "dragons")
	})
}

// TestSchemaLabels checks that a custom object type keeps its singular and plural labels and its
// options' labels, as HubSpot does, and that an option given only a label is refused: its value
// would be "", which no record can be given.
func TestSchemaLabels(t *testing.T) {
	t.Parallel()
	b := setup(t)
	created := expect[schema](t, b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{
		"name":   "subscriptions",
		"labels": map[string]any{"singular": "Subscription", "plural": "Subscriptions"},
		"properties": []any{map[string]any{"name": "plan", "label": "Plan", "type": "enumeration",
			"options": []any{map[string]any{"label": "Basic plan", "value": "basic"}, map[string]any{"label": "Pro", "value": "pro"}, "legacy"}}},
	}), http.StatusCreated)
	require.Equal(t, "Subscription", created.Labels.Singular)
	require.Equal(t, "Subscriptions", created.Labels.Plural)
	wantOptions := []struct {
		Label string `json:"label"`
		Value string `json:"value"`
	}{{"Basic plan", "basic"}, {"Pro", "pro"}, {"legacy", "legacy"}}
	require.Equal(t, wantOptions, created.Properties[0].Options)

	got := expect[schema](t, b.call(t, "GET", "/crm/v3/schemas/subscriptions", tokRead, nil), http.StatusOK)
	require.Equal(t, created.Labels, got.Labels)
	require.Equal(t, wantOptions, got.Properties[0].Options)
	list := expect[page[schema]](t, b.call(t, "GET", "/crm/v3/schemas", tokRead, nil), http.StatusOK)
	require.Equal(t, "Subscriptions", list.Results[0].Labels.Plural)
	prop := expect[property](t, b.call(t, "GET", "/crm/v3/properties/subscriptions/plan", tokRead, nil), http.StatusOK)
	require.Equal(t, wantOptions, prop.Options)
	// Records store the value, never the label.
	expect[record](t, b.call(t, "POST", "/crm/v3/objects/subscriptions", tokWrite,
		map[string]any{"properties": map[string]any{"plan": "basic"}}), http.StatusCreated)
	expectError(t, b.call(t, "POST", "/crm/v3/objects/subscriptions", tokWrite,
		map[string]any{"properties": map[string]any{"plan": "Basic plan"}}), http.StatusBadRequest, "VALIDATION_ERROR")

	// Only a singular label: the plural is the same. A standard type has HubSpot's labels.
	one := expect[schema](t, b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{
		"name": "pets", "labels": map[string]any{"singular": "Pet"}}), http.StatusCreated)
	require.Equal(t, "Pet", one.Labels.Plural)
	contacts := expect[schema](t, b.call(t, "GET", "/crm/v3/schemas/contacts", tokRead, nil), http.StatusOK)
	require.Equal(t, "Contact", contacts.Labels.Singular)
	require.Equal(t, "Contacts", contacts.Labels.Plural)
	stage := expect[property](t, b.call(t, "GET", "/crm/v3/properties/contacts/lifecyclestage", tokRead, nil), http.StatusOK)
	require.Equal(t, "Customer", stage.Options[5].Label)
	require.Equal(t, "customer", stage.Options[5].Value)

	for _, tc := range []struct {
		name, path string
		body       map[string]any
		want       string
	}{
		{"SchemaOptionWithoutValue", "/crm/v3/schemas", map[string]any{"name": "tiers", "properties": []any{
			map[string]any{"name": "tier", "type": "enumeration", "options": []any{map[string]any{"label": "Gold tier"}}}}},
			`enumeration property "tier": option "Gold tier" has no value: give every option a value, the text records store, as in {"label": "Gold tier", "value": "gold_tier"}`},
		{"PropertyOptionWithoutValue", "/crm/v3/properties/contacts", map[string]any{"name": "tier", "type": "enumeration",
			"options": []any{"gold", map[string]any{"label": "Silver"}}},
			`enumeration property "tier": option "Silver" has no value`},
		{"DuplicateOption", "/crm/v3/properties/contacts", map[string]any{"name": "tier", "type": "enumeration",
			"options": []any{"gold", map[string]any{"label": "Gold again", "value": "gold"}}},
			`enumeration property "tier": option "gold" is listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := b.snapshot(t, b.tenantA)
			e := expectError(t, b.call(t, "POST", tc.path, tokAll, tc.body), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{"options"}, e.in())
			require.Contains(t, e.Message, tc.want)
			require.Equal(t, before, b.snapshot(t, b.tenantA), "nothing is stored")
		})
	}
}

// TestPropertyGroups pins the one property group of every type, "information", the groupName of
// every property, as HubSpot's clients read it (groupsApi.getAll, getByName).
func TestPropertyGroups(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.call(t, "GET", "/crm/v3/properties/companies/groups", tokRead, nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.JSONEq(t, `{"results": [{"name": "information", "label": "Information", "displayOrder": 0, "archived": false}]}`, string(r.body))
	r = b.call(t, "GET", "/crm/v3/properties/0-1/groups/information", tokRead, nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.JSONEq(t, `{"name": "information", "label": "Information", "displayOrder": 0, "archived": false}`, string(r.body))
	expectError(t, b.call(t, "GET", "/crm/v3/properties/contacts/groups/contactinformation", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	expectError(t, b.call(t, "GET", "/crm/v3/properties/nope/groups", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
}
