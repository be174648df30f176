package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// fullProperty is a property as the API shows it, with the fields an update changes.
type fullProperty struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	Type         string `json:"type"`
	FieldType    string `json:"fieldType"`
	GroupName    string `json:"groupName"`
	Description  string `json:"description"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
	FormField    bool   `json:"formField"`
	Options      []struct {
		Label string `json:"label"`
		Value string `json:"value"`
	} `json:"options"`
	HasUniqueValue bool `json:"hasUniqueValue"`
}

func (p fullProperty) values() []string {
	out := make([]string, len(p.Options))
	for i, o := range p.Options {
		out[i] = o.Value
	}
	return out
}

// sizeProperty creates the contacts enumeration "size" (s, m, l) of tenant A.
func (b *testBundle) sizeProperty(t *testing.T) {
	t.Helper()
	expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{
		"name": "size", "label": "Size", "type": "enumeration", "options": []any{"s", "m", "l"}}), http.StatusCreated)
}

func TestUpdateProperty(t *testing.T) {
	t.Parallel()

	t.Run("ChangesWhatItIsGiven", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		id := b.contact(t, map[string]string{"size": "m"})

		got := expect[fullProperty](t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{
			"label": "Shirt size", "description": "For the swag", "displayOrder": 3, "hidden": true, "formField": true,
			"fieldType": "radio", "groupName": "contactinformation",
			"options": []any{
				map[string]any{"label": "Small", "value": "s", "displayOrder": 0, "hidden": false},
				map[string]any{"label": "Medium", "value": "m", "hidden": false},
				map[string]any{"label": "Large", "value": "l", "hidden": false},
				map[string]any{"label": "Extra large", "value": "xl", "hidden": false},
			}}), http.StatusOK)
		require.Equal(t, "Shirt size", got.Label)
		require.Equal(t, "For the swag", got.Description)
		require.Equal(t, 3, got.DisplayOrder)
		require.True(t, got.Hidden)
		require.True(t, got.FormField)
		require.Equal(t, "select", got.FieldType, "the form field follows the type")
		require.Equal(t, "information", got.GroupName, "crmflow has one group")
		require.Equal(t, []string{"s", "m", "l", "xl"}, got.values())
		require.Equal(t, "Extra large", got.Options[3].Label)
		require.Equal(t, got, expect[fullProperty](t, b.call(t, "GET", "/crm/v3/properties/contacts/size", tokRead, nil), http.StatusOK))

		// A field left out keeps its value.
		again := expect[fullProperty](t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{"label": "Size"}), http.StatusOK)
		got.Label = "Size"
		require.Equal(t, got, again)

		// The new option is usable at once, and the records keep theirs.
		expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+string(id), tokAll,
			map[string]any{"properties": map[string]any{"size": "xl"}}), http.StatusOK)
	})

	t.Run("CreateKeepsWhatUpdateChanges", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		made := expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{
			"name": "shoe", "label": "Shoe", "type": "number", "description": "EU size", "displayOrder": 2, "hidden": true, "formField": true}),
			http.StatusCreated)
		require.Equal(t, []any{"EU size", 2, true, true}, []any{made.Description, made.DisplayOrder, made.Hidden, made.FormField})
		require.Equal(t, made, expect[fullProperty](t, b.call(t, "GET", "/crm/v3/properties/contacts/shoe", tokRead, nil), http.StatusOK))
	})

	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{
			"name": "ref", "label": "Ref", "type": "string", "hasUniqueValue": true}), http.StatusCreated)
		before := b.snapshot(t, b.tenantA)
		for _, c := range []struct {
			name, path string
			body       any
			code, in   string
		}{
			{"EmptyLabel", "size", map[string]any{"label": " "}, "MISSING_LABEL", "label"},
			{"UnknownType", "size", map[string]any{"type": "colour"}, "INVALID_PROPERTY_TYPE", "type"},
			{"FieldTypeOfAnotherType", "size", map[string]any{"fieldType": "number"}, "INVALID_FIELD_TYPE", "fieldType"},
			{"Rename", "size", map[string]any{"name": "shirt"}, "READ_ONLY_NAME", "name"},
			{"MakeUnique", "size", map[string]any{"hasUniqueValue": true}, "READ_ONLY_UNIQUE", "hasUniqueValue"},
			{"UniqueType", "ref", map[string]any{"type": "number"}, "READ_ONLY_UNIQUE_TYPE", "type"},
			{"DuplicateOption", "size", map[string]any{"options": []any{"s", "s"}}, "DUPLICATE_OPTION", "options"},
			{"NoOptions", "size", map[string]any{"options": []any{}}, "MISSING_OPTIONS", "options"},
			{"EnumerationWithoutOptions", "ref", map[string]any{"type": "enumeration"}, "READ_ONLY_UNIQUE_TYPE", "type"},
			{"Standard", "email", map[string]any{"label": "Mail"}, "READ_ONLY_DEFINITION", "name"},
			{"StandardOptions", "lifecyclestage", map[string]any{"options": []any{"lead"}}, "READ_ONLY_DEFINITION", "name"},
			{"Formula", "size", map[string]any{"calculationFormula": "1 + 1"}, "UNKNOWN_FIELD", "calculationFormula"},
			{"NegativeDisplayOrder", "size", map[string]any{"displayOrder": -2}, "INVALID_DISPLAY_ORDER", "displayOrder"},
		} {
			e := expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/"+c.path, tokAll, c.body), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, c.code, e.Errors[0].Code, "%s: %s", c.name, e.Message)
			require.Equal(t, c.in, e.Errors[0].In, c.name)
		}
		e := expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/no_such", tokAll, map[string]any{"label": "X"}), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Contains(t, e.Message, "no_such")
		require.Contains(t, e.Message, "GET /crm/v3/properties/contacts lists the ones it has")
		e = expectError(t, b.call(t, "GET", "/crm/v3/properties/contacts/no_such", tokAll, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Contains(t, e.Message, "GET /crm/v3/properties/contacts lists the ones it has")
		expectError(t, b.call(t, "PATCH", "/crm/v3/properties/boats/size", tokAll, map[string]any{"label": "X"}), http.StatusNotFound, "OBJECT_NOT_FOUND")
		expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokWrite, map[string]any{"label": "X"}), http.StatusForbidden, "MISSING_SCOPES")
		expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokBAll, map[string]any{"label": "X"}), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	t.Run("OptionHeldByLiveRecords", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		ids := []crm.RecordID{b.contact(t, map[string]string{"size": "m"}), b.contact(t, map[string]string{"size": "m"})}
		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{"options": []any{"s", "l"}}),
			http.StatusConflict, "CONFLICT")
		require.Equal(t, "PROPERTY_IN_USE", e.Errors[0].Code)
		require.Contains(t, e.Message, `remove option "m"`)
		require.Contains(t, e.Message, `2 live contacts with size = "m"`)
		require.Equal(t, []string{"2"}, e.Context["records"])
		require.Equal(t, before, b.snapshot(t, b.tenantA))

		// Once no live record holds it, the option goes.
		for _, id := range ids {
			expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+string(id), tokAll,
				map[string]any{"properties": map[string]any{"size": "l"}}), http.StatusOK)
		}
		got := expect[fullProperty](t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{"options": []any{"s", "l"}}), http.StatusOK)
		require.Equal(t, []string{"s", "l"}, got.values())
		e = expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{"properties": map[string]any{"size": "m"}}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"size"}, e.in())
	})

	t.Run("OptionAnActiveWorkflowOrARuleNames", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		auth := "Bearer " + b.tokens[tokAll]
		src := "name: medium\nobject_type: contacts\ntrigger: size == \"m\"\nactions:\n  - type: delete_contact\n"
		expect[flow](t, b.put(t, auth, "medium", src), http.StatusCreated)
		expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/medium/activate", auth, nil), http.StatusOK)
		b.protect(t, "larges", "contacts", `size == "l"`)
		before := b.snapshot(t, b.tenantA)

		e := expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{"options": []any{"s"}}),
			http.StatusConflict, "CONFLICT")
		require.Equal(t, "PROPERTY_IN_USE", e.Errors[0].Code)
		require.Equal(t, []string{"medium"}, e.Context["workflows"])
		require.Equal(t, []string{"larges"}, e.Context["protectionRules"])
		require.Contains(t, e.Message, `active workflow "medium" (revision 1, trigger: `)
		require.Contains(t, e.Message, `protection rule "larges"`)
		require.Equal(t, before, b.snapshot(t, b.tenantA))

		// An option neither names goes; a paused workflow holds nothing back.
		expect[fullProperty](t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{"options": []any{"m", "l"}}), http.StatusOK)
		expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/medium/pause", auth, nil), http.StatusOK)
		e = expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{"options": []any{"m"}}),
			http.StatusConflict, "CONFLICT")
		require.Empty(t, e.Context["workflows"])
		require.Equal(t, []string{"larges"}, e.Context["protectionRules"])
		expect[fullProperty](t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{"options": []any{"l"}}), http.StatusOK)
	})

	t.Run("OptionASelectingBulkDeleteNames", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		b.contact(t, map[string]string{"size": "s"})
		job := b.selecting(t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll,
			map[string]any{"filter": `size == "s" || size == "m"`, "confirmCount": 1}), 1)
		before := b.snapshot(t, b.tenantA)

		// Its worker evaluates the filter it compiled, against the count the user confirmed.
		e := expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{"options": []any{"s", "l"}}),
			http.StatusConflict, "CONFLICT")
		require.Equal(t, "PROPERTY_IN_USE", e.Errors[0].Code)
		require.Equal(t, []string{job.ID}, e.Context["jobs"])
		require.Contains(t, e.Message, "wait until those jobs are past selecting")
		require.Equal(t, before, b.snapshot(t, b.tenantA))

		// Once it has selected, the option goes.
		require.Equal(t, "COMPLETE", b.work(t, job.ID).Status)
		expect[fullProperty](t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{"options": []any{"s", "l"}}), http.StatusOK)
	})

	t.Run("TypeChange", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		id := b.contact(t, map[string]string{"size": "m"})
		setKey := redisstore.SearchValueKey(b.tenantA, crm.Contacts, "size", "m")
		require.EqualValues(t, 1, b.rdb.Exists(b.ctx, setKey).Val())

		// To string, every value fits: the records keep theirs, and the option indexes go.
		got := expect[fullProperty](t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{"type": "string", "fieldType": "text"}), http.StatusOK)
		require.Equal(t, []string{"string", "text"}, []string{got.Type, got.FieldType})
		require.Empty(t, got.Options)
		require.EqualValues(t, 0, b.rdb.Exists(b.ctx, setKey).Val())
		rec := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(id), tokRead, nil), http.StatusOK)
		require.Equal(t, "m", rec.Properties["size"])
		expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+string(id), tokAll,
			map[string]any{"properties": map[string]any{"size": "medium-ish"}}), http.StatusOK)

		// To another type, only while no record, live or in the bin, holds a value.
		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{"type": "number"}), http.StatusConflict, "CONFLICT")
		require.Equal(t, "PROPERTY_IN_USE", e.Errors[0].Code)
		require.Equal(t, []string{"1"}, e.Context["records"])
		require.Equal(t, before, b.snapshot(t, b.tenantA))
		r := b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(id), tokAll, nil)
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		e = expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{"type": "number"}), http.StatusConflict, "CONFLICT")
		require.Contains(t, e.Message, "recycle bin")

		expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{
			"name": "seats", "label": "Seats", "type": "string"}), http.StatusCreated)
		b.contact(t, map[string]string{"firstname": "No seats"})
		got = expect[fullProperty](t, b.call(t, "PATCH", "/crm/v3/properties/contacts/seats", tokAll, map[string]any{"type": "number"}), http.StatusOK)
		require.Equal(t, []string{"number", "number"}, []string{got.Type, got.FieldType})
		expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{"properties": map[string]any{"seats": "4"}}), http.StatusCreated)

		// A type an active workflow's trigger reads stays, even where the trigger would still compile.
		auth := "Bearer " + b.tokens[tokAll]
		expect[flow](t, b.put(t, auth, "seated", "name: seated\nobject_type: contacts\ntrigger: isSet(\"seats\")\nactions:\n  - type: delete_contact\n"), http.StatusCreated)
		expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/seated/activate", auth, nil), http.StatusOK)
		e = expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/seats", tokAll, map[string]any{"type": "string"}), http.StatusConflict, "CONFLICT")
		require.Equal(t, []string{"seated"}, e.Context["workflows"])
		require.Contains(t, e.Message, "typed as number")
	})
}
