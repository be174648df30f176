package engine_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/engine"
)

// TestSandboxTriggerErrorsAreVerdicts checks that a trigger failing at run time, whatever the
// failure (an error of the expression, a budget overrun on a huge record, a message that would
// quote a huge value), gives the record a crm.VerdictError whose detail names the error, fits in
// MaxDetail and names no property value; never a panic.
func TestSandboxTriggerErrorsAreVerdicts(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 6<<20)
	long := strings.Repeat(`email == "nobody@example.com" || `, 60) + "int(firstname) > 3"
	for _, tc := range []struct {
		name    string
		lines   []string
		props   map[string]string
		detail  []string
		verdict crm.Verdict
	}{
		{"DivisionByZero", []string{`trigger: 100 % int(num_notes) == 0`}, map[string]string{"num_notes": "0"},
			[]string{"integer divide by zero", "(1:5)"}, crm.VerdictError},
		{"IndexOutOfRange", []string{`trigger: split(email, "@")[1] == "example.com"`}, map[string]string{"email": "nobody"},
			[]string{"index out of range"}, crm.VerdictError},
		{"UnsetPropertyAsNumber", []string{`trigger: int(phone) > 0`}, map[string]string{"email": "ann@example.com"},
			[]string{"invalid operation: int()"}, crm.VerdictError},
		{"ValueAsNumber", []string{`trigger: int(phone) > 0`}, map[string]string{"phone": "+33 1 23"},
			[]string{"invalid operation: int(<phone>)"}, crm.VerdictError},
		{"BudgetOnAHugeValue", []string{`trigger: lower(firstname) contains "x"`}, map[string]string{"firstname": huge},
			[]string{"evaluation budget exceeded"}, crm.VerdictError},
		{"BudgetInALoop", []string{`trigger: 'any(split(company, ","), lower(company) == #)'`}, map[string]string{"company": strings.Repeat("Acme,", 2000)},
			[]string{"evaluation budget exceeded"}, crm.VerdictError},
		{"ListBudget", []string{`trigger: len(1..(1000000000 + int(num_notes))) > 0`}, nil,
			[]string{"memory budget exceeded"}, crm.VerdictError},
		{"HugeValueAsNumber", []string{`trigger: int(firstname) > 0`}, map[string]string{"firstname": huge},
			[]string{"int() of a string of 6291456 bytes"}, crm.VerdictError},
		{"HugeValueInAMessage", []string{`trigger: fromJSON("null")[lastname] == 1`}, map[string]string{"lastname": strings.Repeat("y", 100_000)},
			[]string{"the run-time error's message", "is left out"}, crm.VerdictError},
		{"LongTrigger", []string{"trigger: " + long}, map[string]string{"email": "ann@example.com", "firstname": "Johnny"},
			[]string{`trigger "email == \"nobody@example.com\" || `, "...", "invalid operation: int(<firstname>)"}, crm.VerdictError},
		{"SuppressionBudget", []string{"trigger: isSet(\"email\")", "suppression:", `  trigger: lower(firstname) contains "x"`},
			map[string]string{"email": "ann@example.com", "firstname": huge}, []string{"suppression trigger", "evaluation budget exceeded"}, crm.VerdictError},
		{"HugeRecordMatches", []string{`trigger: len(firstname) > 1000 && lifecyclestage == "lead"`},
			map[string]string{"firstname": huge, "lifecyclestage": "lead"}, nil, crm.VerdictMatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wf := parse(t, tc.lines...)
			rec := contact("9", map[string]string{})
			for name, value := range tc.props {
				rec.Properties[name] = value
			}
			for i := range 3000 { // a record with thousands of properties the schema does not know
				rec.Properties[strings.Repeat("z", i%60+1)+"_extra"] = "value of an unknown property"
			}
			v, ok := engine.DecideOne(wf, engine.Change{ID: "9", Events: "u", Record: rec}, nil, now)
			require.True(t, ok)
			require.Equal(t, tc.verdict, v.Verdict, v.Detail)
			require.LessOrEqual(t, len(v.Detail), engine.MaxDetail)
			for _, d := range tc.detail {
				require.Contains(t, v.Detail, d)
			}
			for name, value := range tc.props {
				if len(value) >= 3 {
					require.NotContains(t, v.Detail, value[:min(len(value), 20)], "the detail names no value (%s)", name)
				}
			}
		})
	}
}

// TestSandboxBatchGoesOn checks that records whose trigger fails, however, leave the other records
// of the batch their verdicts, in order.
func TestSandboxBatchGoesOn(t *testing.T) {
	t.Parallel()
	wf := parse(t, `trigger: 'split(email, "@")[1] == "example.com" && 100 % int(num_notes) == 0 && none(split(company, ","), lower(company) == #)'`)
	got := engine.Decide(wf, []engine.Change{
		{ID: "1", Events: "c", Record: contact("1", map[string]string{"email": "a@example.com", "num_notes": "5", "company": strings.Repeat("a,", 5000)})},
		{ID: "2", Events: "c", Record: contact("2", map[string]string{"email": "b@example.com", "num_notes": "5", "company": "Acme"})},
		{ID: "3", Events: "c", Record: contact("3", map[string]string{"email": "c@example.com", "num_notes": "0", "company": "Acme"})},
		{ID: "4", Events: "c", Record: contact("4", map[string]string{"email": "nobody", "num_notes": "5"})},
		{ID: "5", Events: "c", Record: contact("5", map[string]string{"email": "e@other.org", "num_notes": "5"})},
	}, nil, now)
	require.Len(t, got, 5)
	want := []crm.Verdict{crm.VerdictError, crm.VerdictMatch, crm.VerdictError, crm.VerdictError, crm.VerdictNoMatch}
	for i, v := range got {
		require.Equal(t, crm.RecordID(string(rune('1'+i))), v.ID)
		require.Equal(t, want[i], v.Verdict, "%s: %s", v.ID, v.Detail)
	}
	require.Contains(t, got[0].Detail, "evaluation budget exceeded")
	require.Contains(t, got[2].Detail, "integer divide by zero")
	require.Contains(t, got[3].Detail, "index out of range")
}
