package workflows_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/workflows"
)

func TestStandardSchemas(t *testing.T) {
	t.Parallel()
	s := workflows.StandardSchemas()
	require.Equal(t, crm.StandardObjectTypes, s.ObjectTypes())
	contacts, err := s.Schema(crm.Contacts)
	require.NoError(t, err)
	require.Contains(t, contacts.Properties, "email_bounced")
	_, err = s.Schema("invoices")
	require.ErrorIs(t, err, crm.ErrNotFound)
}

func TestSchemaFileRoundTrip(t *testing.T) {
	t.Parallel()
	custom := crm.Schema{Type: "subscriptions", Properties: map[string]crm.Property{
		"plan":      {Name: "plan", Label: "Plan", Type: crm.TypeEnumeration, Options: []string{"basic", "pro"}},
		"renews_at": {Name: "renews_at", Label: "Renews at", Type: crm.TypeDatetime},
		"started":   {Name: "started", Label: "Started", Type: crm.TypeDate},
	}}
	contacts, _ := crm.StandardSchema(crm.Contacts)
	contacts.Properties["favourite_colour"] = crm.Property{Name: "favourite_colour", Label: "Favourite colour", Type: crm.TypeString}
	companies, _ := crm.StandardSchema(crm.Companies)

	var b bytes.Buffer
	require.NoError(t, workflows.WriteSchemaFile(&b, []crm.Schema{custom, companies, contacts}))
	require.Contains(t, b.String(), "crmflow_schema: 1\nobject_types:\n  - name: contacts\n")
	path := filepath.Join(t.TempDir(), "schema.yaml")
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))

	got, err := workflows.LoadSchemaFile(path)
	require.NoError(t, err)
	require.Equal(t, contacts, got[crm.Contacts])
	require.Equal(t, companies, got[crm.Companies])
	require.Equal(t, custom, got["subscriptions"])
	deals, _ := crm.StandardSchema(crm.Deals)
	require.Equal(t, deals, got[crm.Deals], "a standard type left out of the file gets the standard schema")
	require.Equal(t, []crm.ObjectType{crm.Contacts, crm.Companies, crm.Deals, crm.Tickets, crm.Calls, "subscriptions"}, got.ObjectTypes())

	// A workflow validated against the tenant's schema may use its custom properties and types.
	wf, err := workflows.Parse("f.yaml", []byte("name: x\nobject_type: contacts\ntrigger: favourite_colour == \"red\"\nactions:\n  - type: delete_contact\n"), got, nil)
	require.NoError(t, err)
	require.Equal(t, "x", wf.Name)
	_, err = workflows.Parse("f.yaml", []byte("name: x\nobject_type: subscriptions\ntrigger: plan == \"pro\"\nactions:\n  - type: delay\n    until: renews_at\n"), got, nil)
	require.NoError(t, err)
	_, err = workflows.Parse("f.yaml", []byte("name: x\nobject_type: subscriptions\ntrigger: daysSince(started) > 365 && started < date(\"2027-01-01\")\n"+
		"actions:\n  - type: delay\n    until: started\n  - type: set_property\n    property: started\n    value: 1809129600000\n"), got, nil)
	require.NoError(t, err, "a date property, in a trigger, a delay and a set_property")
	// ... which the standard schema does not have.
	_, err = workflows.Parse("f.yaml", []byte("name: x\nobject_type: contacts\ntrigger: favourite_colour == \"red\"\nactions:\n  - type: delete_contact\n"), nil, nil)
	requireProblem(t, err, 3, 10, "trigger", "unknown name favourite_colour")
}

func TestSchemaFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, src, want string }{
		{"Empty", "", "the schema file is empty"},
		{"UnknownField", "crmflow_schema: 1\nobject_types: []\nextra: 1\n", `schema.yaml:3: unknown field "extra": remove it, or check its spelling`},
		{"MisspeltNestedField", "crmflow_schema: 1\nobject_types:\n  - name: contacts\n    propertes: []\n", `schema.yaml:4: unknown field "propertes"`},
		{"WrongKind", "crmflow_schema: one\nobject_types: []\n", `schema.yaml:1: "one" is not a whole number`},
		{"BadVersion", "crmflow_schema: 2\nobject_types: []\n", "crmflow_schema is 2"},
		{"DuplicateType", "crmflow_schema: 1\nobject_types:\n  - name: things\n  - name: things\n", "listed twice"},
		{"BadTypeName", "crmflow_schema: 1\nobject_types:\n  - name: Things\n", "object type name \"Things\" is invalid"},
		{"BadPropertyType", "crmflow_schema: 1\nobject_types:\n  - name: things\n    properties:\n      - {name: size, type: huge}\n", "unknown type \"huge\""},
		{"DuplicateProperty", "crmflow_schema: 1\nobject_types:\n  - name: things\n    properties:\n      - {name: size, type: number}\n      - {name: size, type: string}\n", "property \"size\" is listed twice"},
		{"Syntax", "crmflow_schema: 1\nobject_types: [\n", "line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := workflows.ParseSchemaFile("schema.yaml", []byte(tt.src))
			require.Error(t, err)
			require.Regexp(t, `^schema\.yaml(:\d+)?: `, err.Error())
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "workflows.", "no Go type names")
			require.NotContains(t, err.Error(), "not found in type")
		})
	}
	_, err := workflows.LoadSchemaFile(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
