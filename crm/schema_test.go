package crm_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// TestNormalizeReportsEveryErrorByName: valid values come back in canonical form; with invalid
// ones, every problem is reported, in the order of the property names, whatever the map's order.
func TestNormalizeReportsEveryErrorByName(t *testing.T) {
	t.Parallel()
	sch, _ := crm.StandardSchema(crm.Contacts)
	got, err := sch.Normalize(map[string]string{"email": "Ada@Example.com", "num_notes": "1.50", "city": "", "last_activity_date": "2026-01-31"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"email": "ada@example.com", "num_notes": "1.5", "city": "", "last_activity_date": "2026-01-31T00:00:00.000Z"}, got)
	for range 20 {
		_, err := sch.Normalize(map[string]string{"zz_unknown": "x", "email": "not an email", "num_notes": "many", "city": "Paris",
			"aa_unknown": "y", "email_bounced": "maybe"})
		var ves crm.ValidationErrors
		require.ErrorAs(t, err, &ves)
		fields := make([]string, len(ves))
		for i, ve := range ves {
			fields[i] = ve.Field
		}
		require.Equal(t, []string{"aa_unknown", "email", "email_bounced", "num_notes", "zz_unknown"}, fields)
	}
}
