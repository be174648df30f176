package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// writeFile writes content to name in a fresh temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// deleteCompaniesYAML uses delete_contact in a companies workflow: line 6, column 11.
const deleteCompaniesYAML = `# delete_contact exists only for contact workflows.
name: delete-tiny-companies
object_type: companies
trigger: numberofemployees < 2 && lifecyclestage != "customer"
actions:
  - type: delete_contact
`

// triggerTypeErrorYAML compares a number with a string inside its trigger: line 5, column 38.
const triggerTypeErrorYAML = `name: delete-inactive-contacts
object_type: contacts
trigger: |
  isSet("last_activity_date")
    && daysSince(last_activity_date) > "730"
    && lifecyclestage != "customer"
actions:
  - type: delete_contact
`

func TestValidateCommand(t *testing.T) {
	t.Parallel()

	t.Run("Examples", func(t *testing.T) {
		t.Parallel()
		files, err := filepath.Glob(filepath.Join("..", "..", "examples", "workflows", "*.yaml"))
		require.NoError(t, err)
		require.NotEmpty(t, files)
		stdout, stderr, code := crmflow(t, nil, append([]string{"validate"}, files...)...)
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		for _, f := range files {
			require.Contains(t, stdout, f+": ok\n")
		}
		require.Equal(t, len(files), strings.Count(stdout, ": ok\n"))
		require.Equal(t, fmt.Sprintf("%d files valid\n", len(files)), stderr, "one summary line")
		_, stderr, code = crmflow(t, nil, "validate", files[0])
		require.Equal(t, 0, code, "stderr:\n%s", stderr)
		require.Equal(t, "1 file valid\n", stderr)
	})

	for _, tc := range []struct {
		name, file, content string
		want                string // the exact start of the problem's line, after the path
	}{
		{"DeleteContactOnCompanies", "companies.yaml", deleteCompaniesYAML,
			":6:11: actions[0]: delete_contact exists only for contact workflows: this workflow's object_type is companies\n"},
		{"TriggerTypeError", "inactive.yaml", triggerTypeErrorYAML,
			":5:38: trigger: invalid operation: > (mismatched types float64 and string): a number compares with a number, written without quotes, and text with text, in quotes\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, tc.file, tc.content)
			valid := filepath.Join("..", "..", "examples", "workflows", "clean-bounced-contacts.yaml")
			stdout, stderr, code := crmflow(t, nil, "validate", path, valid)
			require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			require.Equal(t, path+tc.want+valid+": ok\n", stdout, "not a terminal: no snippet")
			require.Equal(t, "crmflow: 1 of 2 files invalid, 1 problem\n", stderr)
		})
	}

	t.Run("EveryProblemOfEveryFile", func(t *testing.T) {
		t.Parallel()
		a := writeFile(t, "a.yaml", deleteCompaniesYAML)
		b := writeFile(t, "b.yaml", "name: Bad Name\nobject_type: contacts\ntrigger: email_bounced\nfoo: 1\nactions:\n  - type: delete_contact\n")
		stdout, stderr, code := crmflow(t, nil, "validate", a, b)
		require.Equal(t, 1, code, "stderr:\n%s", stderr)
		require.Regexp(t, `(?m)^`+regexp.QuoteMeta(a)+`:6:11: `, stdout)
		require.Regexp(t, `(?m)^`+regexp.QuoteMeta(b)+`:1:7: name: `, stdout)
		require.Regexp(t, `(?m)^`+regexp.QuoteMeta(b)+`:4:1: `, stdout)
		require.Contains(t, stderr, "2 of 2 files invalid")
	})

	// apply refuses two files of one workflow; validate says so too, rather than "ok" twice.
	t.Run("TwoFilesOfOneWorkflow", func(t *testing.T) {
		t.Parallel()
		src := "# the same workflow\nname: tidy\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n"
		a, b := writeFile(t, "a.yaml", src), writeFile(t, "b.yaml", src)
		stdout, stderr, code := crmflow(t, nil, "validate", a, b)
		require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.Equal(t, a+": ok\n"+b+":2:7: name: workflow tidy is also defined in "+a+
			": give each workflow its own name, or keep one of the files\n", stdout)
		require.Contains(t, stderr, "1 of 2 files invalid, 1 problem")
		_, stderr, code = crmflow(t, []string{"CRMFLOW_TOKEN=t"}, "apply", "-f", a, "-f", b)
		require.Equal(t, exitUsage, code)
		require.Contains(t, stderr, "both define workflow tidy")

		// The same file named twice is one workflow.
		_, stderr, code = crmflow(t, nil, "validate", a, a)
		require.Equal(t, 0, code, "stderr:\n%s", stderr)
	})

	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"NoFile", []string{"validate"}, "needs at least one FILE"},
		{"UnreadableFile", []string{"validate", filepath.Join("testdata-does-not-exist", "x.yaml")}, "no such file"},
		{"UnreadableSchema", []string{"validate", "--schema", "no-such-schema.yaml", "x.yaml"}, "--schema no-such-schema.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, stderr, code := crmflow(t, nil, tc.args...)
			require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
			require.Contains(t, stderr, tc.stderr)
		})
	}
}

func TestSchemaExportRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.admin(t, "tenant", "create", b.tenant, "--plan", "starter")
	store, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = store.CreateProperty(ctx, crm.TenantID(b.tenant), crm.Contacts,
		crm.Property{Name: "churn_risk", Label: "Churn risk", Type: crm.TypeNumber}, "ops@x.example")
	require.NoError(t, err)
	_, err = store.CreateObjectType(ctx, crm.TenantID(b.tenant), crm.ObjectTypeDef{Name: "pets", Label: "Pets",
		Properties: []crm.Property{{Name: "species", Label: "Species", Type: crm.TypeString}}}, "ops@x.example")
	require.NoError(t, err)

	schema, stderr := b.admin(t, "schema", "export", b.tenant)
	require.Contains(t, stderr, "of tenant "+b.tenant)
	require.Contains(t, schema, "churn_risk")
	schemaFile := writeFile(t, "schema.yaml", schema)

	// The trigger uses the custom property: valid against the export, not against the standard schema.
	wf := writeFile(t, "churn.yaml", `name: churned
object_type: contacts
trigger: churn_risk > 0.8 && !email_bounced
actions:
  - type: delete_contact
`)
	pets := writeFile(t, "pets.yaml", `name: tidy-pets
object_type: pets
trigger: species == "test"
actions:
  - type: set_property
    property: species
    value: archived
`)

	t.Run("WithExport", func(t *testing.T) {
		t.Parallel()
		stdout, stderr, code := crmflow(t, nil, "validate", "--schema", schemaFile, wf, pets)
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.Equal(t, wf+": ok\n"+pets+": ok\n", stdout)
	})

	t.Run("WithoutExport", func(t *testing.T) {
		t.Parallel()
		stdout, stderr, code := crmflow(t, nil, "validate", wf, pets)
		require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.Regexp(t, `(?m)^`+regexp.QuoteMeta(wf)+`:3:10: trigger: .*churn_risk`, stdout)
		require.Regexp(t, `(?m)^`+regexp.QuoteMeta(pets)+`:2:14: object_type: .*pets`, stdout)
		// The names the standard schema lacks, and how to check against the tenant's.
		require.Contains(t, stderr, "checked against the standard properties only: if churn_risk or pets is a custom property or object type of your tenant, "+
			"export its schema (crmflow admin schema export TENANT > schema.yaml) and validate with --schema schema.yaml")
	})

	t.Run("WithExportUnknownName", func(t *testing.T) {
		t.Parallel()
		// A name the export lacks too is a mistake: no hint to use --schema.
		typo := writeFile(t, "typo.yaml", "name: typo\nobject_type: contacts\ntrigger: churn_rsik > 0.8\nactions:\n  - type: delete_contact\n")
		stdout, stderr, code := crmflow(t, nil, "validate", "--schema", schemaFile, typo)
		require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.Contains(t, stdout, "did you mean churn_risk?")
		require.NotContains(t, stderr, "--schema")
	})

	t.Run("UnknownTenant", func(t *testing.T) {
		t.Parallel()
		stdout, stderr, code := crmflow(t, nil, "admin", "schema", "export", "x-"+b.tenant, "--redis", b.redisURL)
		require.Equal(t, 1, code, "stderr:\n%s", stderr)
		require.Empty(t, stdout)
		require.Contains(t, stderr, "admin tenant create")
	})
}

// TestCommandsRegistered fails until the workflow commands are added to root.go and admin.go.
func TestCommandsRegistered(t *testing.T) {
	t.Parallel()
	root := newRootCmd(&app{})
	for _, path := range [][]string{
		{"validate"}, {"apply"}, {"preview"}, {"demo"},
		{"workflows", "list"}, {"workflows", "activate"}, {"workflows", "pause"}, {"workflows", "history"}, {"workflows", "enroll"},
		{"admin", "schema", "export"},
	} {
		c, _, err := root.Find(path)
		require.NoError(t, err, "crmflow %s", strings.Join(path, " "))
		require.Equal(t, "crmflow "+strings.Join(path, " "), c.CommandPath(),
			"crmflow %s is not registered: add newValidateCmd, newApplyCmd, newWorkflowsCmd, newPreviewCmd and newDemoCmd "+
				"to newRootCmd's AddCommand (root.go), and a.newSchemaCmd() to newAdminCmd's group (admin.go)", strings.Join(path, " "))
	}
}

func TestDemoWorkflowIsTheExample(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "workflows", "clean-bounced-contacts.yaml"))
	require.NoError(t, err)
	require.Equal(t, string(example), string(tourWorkflow),
		"cmd/crmflow/demo/clean-bounced-contacts.yaml must be a copy of examples/workflows/clean-bounced-contacts.yaml: copy it again")
}
