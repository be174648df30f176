package workflows_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/triggers"
	"github.com/crmflow/crmflow/workflows"
)

// A problem on a line of a megabyte shows the part of the line around its column, never the whole
// line: in the snippet, in the message, in the detailed report.
func TestLongLineSnippetIsCut(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 1<<20)
	for _, tc := range []struct{ name, src string }{
		{"LongTrigger", "name: x\nobject_type: contacts\ntrigger: " + long + " ==\nactions:\n  - type: delete_contact\n"},
		{"LongUnknownKey", "name: x\nobject_type: contacts\n" + long + ": 1\ntrigger: lifecyclestage == \"lead\"\nactions:\n  - type: delete_contact\n"},
		{"BadYAMLAtTheEnd", "name: x\nobject_type: contacts\ndescription: " + long + " [\n"},
		{"ErrorInTheMiddle", "name: x\nobject_type: contacts\ntrigger: 'firstname == \"" + long + "\" && nope == 1'\nactions:\n  - type: delete_contact\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := workflows.Parse("f.yaml", []byte(tc.src), nil, nil)
			var ve *workflows.ValidationError
			require.ErrorAs(t, err, &ve)
			require.NotEmpty(t, ve.Problems)
			for _, p := range ve.Problems {
				require.Less(t, len(p.Snippet), 2*triggers.SnippetWidth+40, "snippet of %s", p.String())
				require.Less(t, len(p.Message), 4096, "message of the problem at %d:%d", p.Line, p.Column)
			}
			require.Less(t, len(ve.Detailed()), 16<<10)
		})
	}
}
