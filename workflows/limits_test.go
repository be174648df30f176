package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/workflows"
)

// limitsFile is a contact workflow that deletes, with limits written at line 4 (the value given).
func limitsFile(limits string) string {
	return "name: x\nobject_type: contacts\ntrigger: email_bounced\nlimits:\n" + limits + "actions:\n  - type: delete_contact\n"
}

func TestParseBlastRadiusLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		limits string
		want   crm.DeletionLimit
	}{
		{"PerHour", "  max_deletions: 500\n  per: 1h\n", crm.DeletionLimit{Max: 500, Per: time.Hour}},
		{"FlowStyleDays", "  {max_deletions: 10, per: 1d}\n", crm.DeletionLimit{Max: 10, Per: 24 * time.Hour}},
		{"Minutes", "  max_deletions: 1\n  per: 90m\n", crm.DeletionLimit{Max: 1, Per: 90 * time.Minute}},
		{"Unlimited", "  max_deletions: unlimited\n", crm.DeletionLimit{}},
		{"Largest", "  max_deletions: 100000\n  per: 30d\n", crm.DeletionLimit{Max: 100000, Per: 30 * 24 * time.Hour}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wf, err := workflows.Parse("f.yaml", []byte(limitsFile(tc.limits)), nil, nil)
			require.NoError(t, err)
			require.NotNil(t, wf.Limits)
			require.Equal(t, tc.want, wf.Limits.Deletions)
			require.Equal(t, tc.want, wf.DeletionLimit(crm.DefaultDeletionLimit))
			require.Equal(t, workflows.Position{Line: 5, Column: 3}, wf.Limits.Pos)

			// Written back out, the file reads the same limit.
			out, err := yaml.Marshal(wf)
			require.NoError(t, err)
			again, err := workflows.Parse("g.yaml", out, nil, nil)
			require.NoError(t, err, string(out))
			require.Equal(t, tc.want, again.Limits.Deletions)
		})
	}
}

func TestWorkflowWithoutLimitsRunsUnderTheTenantDefault(t *testing.T) {
	t.Parallel()
	wf, err := workflows.Parse("f.yaml", []byte("name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n"), nil, nil)
	require.NoError(t, err)
	require.Nil(t, wf.Limits)
	require.True(t, wf.Deletes())
	require.Equal(t, crm.DefaultDeletionLimit, wf.DeletionLimit(crm.DefaultDeletionLimit))
	own := crm.DeletionLimit{Max: 7, Per: time.Minute}
	require.Equal(t, own, wf.DeletionLimit(own))
}

// A workflow that deletes nothing may carry limits: they refuse nothing, and stay in place should
// a delete action be added later.
func TestLimitsOnAWorkflowThatDeletesNothing(t *testing.T) {
	t.Parallel()
	src := "name: x\nobject_type: companies\ntrigger: numberofemployees > 1\nlimits: {max_deletions: 5, per: 1h}\nactions:\n  - type: set_property\n    property: lifecyclestage\n    value: lead\n"
	wf, err := workflows.Parse("f.yaml", []byte(src), nil, nil)
	require.NoError(t, err)
	require.False(t, wf.Deletes())
	require.Equal(t, crm.DeletionLimit{Max: 5, Per: time.Hour}, wf.Limits.Deletions)
}

func TestParseBlastRadiusLimitsProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		limits    string
		line, col int
		path, msg string
	}{
		{"NotANumber", "  max_deletions: lots\n  per: 1h\n", 5, 18, "limits.max_deletions", `must be a whole number of deletions, such as 500, or unlimited; not the text "lots"`},
		{"Fraction", "  max_deletions: 2.5\n  per: 1h\n", 5, 18, "limits.max_deletions", "must be a whole number of deletions, such as 500, or unlimited; not 2.5"},
		{"Exponent", "  max_deletions: 1e3\n  per: 1h\n", 5, 18, "limits.max_deletions", "must be a whole number of deletions, such as 500, or unlimited; not 1e3"},
		{"Zero", "  max_deletions: 0\n  per: 1h\n", 5, 18, "limits.max_deletions", "must be at least 1, not 0"},
		{"Negative", "  max_deletions: -3\n  per: 1h\n", 5, 18, "limits.max_deletions", "must be at least 1, not -3"},
		{"TooMany", "  max_deletions: 100001\n  per: 1h\n", 5, 18, "limits.max_deletions", "100001 is too large: give at most 100000"},
		{"Overflow", "  max_deletions: 99999999999999999999999\n  per: 1h\n", 5, 18, "limits.max_deletions", "too large"},
		{"UnlimitedCapitalised", "  max_deletions: Unlimited\n", 5, 18, "limits.max_deletions", "write unlimited in lowercase"},
		{"QuotedNumber", "  max_deletions: \"500\"\n  per: 1h\n", 5, 18, "limits.max_deletions", `not the text "500"`},
		{"BadDuration", "  max_deletions: 5\n  per: an hour\n", 6, 8, "limits.per", `window "an hour" is invalid: write a number and a unit`},
		{"NoUnit", "  max_deletions: 5\n  per: 3600\n", 6, 8, "limits.per", `window "3600" is invalid`},
		{"NegativeWindow", "  max_deletions: 5\n  per: -1h\n", 6, 8, "limits.per", `window "-1h" is invalid`},
		{"ZeroWindow", "  max_deletions: 5\n  per: 0h\n", 6, 8, "limits.per", `window "0h" is too short: give at least 1m`},
		{"TooShort", "  max_deletions: 5\n  per: 30s\n", 6, 8, "limits.per", `window "30s" is too short: give at least 1m`},
		{"TooLong", "  max_deletions: 5\n  per: 31d\n", 6, 8, "limits.per", `window "31d" is too long: give at most 30d`},
		{"FarTooLong", "  max_deletions: 5\n  per: 5000d\n", 6, 8, "limits.per", `window "5000d" is too long: give at most 30d`},
		{"MissingPer", "  max_deletions: 5\n", 5, 3, "limits.per", "is missing: give the window"},
		{"MissingMax", "  per: 1h\n", 5, 3, "limits.max_deletions", "is missing"},
		{"PerWithUnlimited", "  max_deletions: unlimited\n  per: 1h\n", 6, 3, "limits.per", "has no use with max_deletions: unlimited"},
		{"UnknownKey", "  max_deletions: 5\n  per: 1h\n  window: 1h\n", 7, 3, "limits.window", `unknown field "window": use max_deletions, per`},
		{"Misspelt", "  max_deletion: 5\n  per: 1h\n", 5, 3, "limits.max_deletion", `did you mean "max_deletions"?`},
		{"DuplicateKey", "  max_deletions: 5\n  max_deletions: 6\n  per: 1h\n", 6, 3, "limits.max_deletions", "duplicate key"},
		{"Empty", "", 4, 8, "limits", "is empty: give max_deletions and per"},
		{"Scalar", "  500\n", 5, 3, "limits", "must be a mapping with max_deletions and per"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := workflows.Parse("f.yaml", []byte(limitsFile(tc.limits)), nil, nil)
			requireProblem(t, err, tc.line, tc.col, tc.path, tc.msg)
		})
	}
}

// A problem names what to fix and nothing that the fix would make wrong: "Unlimited" is the
// lowercase word misspelt, so it is not also told to give a window, which unlimited refuses.
func TestParseBlastRadiusLimitsOneProblemEach(t *testing.T) {
	t.Parallel()
	for name, limits := range map[string]string{
		"UnlimitedCapitalised": "  max_deletions: Unlimited\n",
		"Fraction":             "  max_deletions: 2.5\n  per: 1h\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := workflows.Parse("f.yaml", []byte(limitsFile(limits)), nil, nil)
			var ve *workflows.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Len(t, ve.Problems, 1, "%s", ve.Error())
			require.Equal(t, "limits.max_deletions", ve.Problems[0].Path)
			require.NotContains(t, ve.Problems[0].Message, "not a number")
		})
	}
}
