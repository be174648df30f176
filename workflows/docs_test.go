package workflows_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
	"github.com/crmflow/crmflow/workflows"
)

// TestDocs checks the examples of docs/workflows.md: every one-line trigger compiles, the first
// workflow is valid, and the schema file parses.
func TestDocs(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/workflows.md")
	require.NoError(t, err)
	lines := regexp.MustCompile(`(?m)^ *trigger: ([^|>\n].*)$`).FindAllStringSubmatch(string(doc), -1)
	require.GreaterOrEqual(t, len(lines), 5)
	for _, m := range lines {
		src := strings.TrimSpace(m[1])
		if i := strings.Index(src, "  #"); i >= 0 {
			src = strings.TrimSpace(src[:i])
		}
		compiled := false
		for _, o := range []crm.ObjectType{crm.Contacts, crm.Companies} {
			s, _ := crm.StandardSchema(o)
			if _, err := triggers.Compile(src, s); err == nil {
				compiled = true
			}
		}
		require.True(t, compiled, "docs trigger does not compile: %s", src)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	_, err = workflows.Parse("docs.yaml", []byte(blocks[0][1]), nil, nil)
	require.NoError(t, err)
	last := blocks[len(blocks)-1][1]
	require.Contains(t, last, "crmflow_schema: 1")
	schemas, err := workflows.ParseSchemaFile("schema.yaml", []byte(last))
	require.NoError(t, err)
	require.Contains(t, schemas["subscriptions"].Properties, "plan")
}
