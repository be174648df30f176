package workflows_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/workflows"
)

// requireProblem asserts that err is a *ValidationError with a problem at exactly line:col, with
// that path and a message containing msg.
func requireProblem(t *testing.T, err error, line, col int, path, msg string) {
	t.Helper()
	var ve *workflows.ValidationError
	require.ErrorAs(t, err, &ve)
	for _, p := range ve.Problems {
		if p.Line == line && p.Column == col && p.Path == path && strings.Contains(p.Message, msg) {
			require.Equal(t, "f.yaml", p.File)
			require.Contains(t, ve.Error(), fmt.Sprintf("f.yaml:%d:%d: ", line, col))
			return
		}
	}
	require.Failf(t, "problem not found", "want f.yaml:%d:%d: %s: ...%s...\ngot:\n%s", line, col, path, msg, ve.Error())
}

func TestParseProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		src       string
		line, col int
		path, msg string
	}{
		// YAML itself.
		{"SyntaxScalarBecameMap", "name: x\nobject_type: contacts\ntrigger: lifecyclestage: lead\nactions:\n  - type: delete_contact\n",
			3, 24, "", `mapping values are not allowed in this context: a ": " inside an unquoted value starts a mapping`},
		{"SyntaxBadIndent", "name: x\nobject_type: contacts\n trigger: a\n", 3, 2, "", "invalid YAML"},
		{"SyntaxTab", "name: x\nobject_type: contacts\ntrigger: x\nactions:\n\t- type: delete_contact\n", 5, 1, "", "indent YAML with spaces, not tabs"},
		{"SyntaxUnclosedQuote", "name: x\nobject_type: contacts\ntrigger: \"email_bounced\nactions: []\n", 3, 1, "", "invalid YAML"},
		{"EmptyFile", "", 1, 1, "", "the file is empty"},
		{"OnlyComments", "# nothing yet\n", 1, 1, "", "the file is empty"},
		{"NotAMapping", "- type: delete_contact\n", 1, 1, "", "must be a mapping with name, object_type, trigger and actions, not a list"},
		{"SecondDocument", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n---\nname: y\n", 7, 1, "", "one workflow"},
		{"Alias", "name: x\nobject_type: contacts\ntrigger: &t email_bounced\nsuppression:\n  trigger: *t\nactions:\n  - type: delete_contact\n", 5, 12, "", "aliases (*t) are not supported"},
		// A leading ! is a YAML tag, which YAML drops from the value: "trigger: !email_opt_out" is an
		// empty trigger, and "value: !x" would clear the property.
		{"TagForNegation", "name: x\nobject_type: contacts\ntrigger: !email_opt_out\nactions:\n  - type: delete_contact\n", 3, 10, "trigger", "YAML reads !email_opt_out at the start of a value as a tag, not as text, and leaves it out of the value: quote the whole value, as in '!email_opt_out', or write not email_opt_out"},
		{"TagBeforeText", "name: x\nobject_type: contacts\ntrigger: email_bounced\nsuppression:\n  trigger: !email_opt_out or lifecyclestage == 'customer'\nactions:\n  - type: delete_contact\n", 5, 12, "suppression.trigger", `quote the whole value, as in '!email_opt_out or lifecyclestage == ''customer''', or write not email_opt_out or`},
		{"TagOnAnyScalar", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: set_property\n    property: firstname\n    value: !important\n", 7, 12, "actions[0].value", "YAML reads !important at the start of a value as a tag"},
		{"TagThenSyntaxError", "name: x\nobject_type: contacts\ntrigger: !email_opt_out && email_bounced\nactions:\n  - type: delete_contact\n", 3, 10, "", "a value that starts with ! is read as YAML syntax (! starts a tag), not as text; quote the whole value"},
		{"ReservedIndicator", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: notify_user\n    to: ops@example.com\n    subject: @{{firstname}}\n    body: b\n", 7, 14, "", "a value that starts with @ is read as YAML syntax (@ is reserved)"},
		// Merge keys are reported once, without the problems of the fields they would have merged.
		{"MergeKeyInAction", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - <<: {type: delay, duration: 1d}\n  - type: delete_contact\n", 5, 5, "", "YAML merge keys (<<) are not supported in workflows: write the fields out"},
		{"MergeKeyAtTop", "name: x\nobject_type: contacts\n<<: {trigger: email_bounced}\nactions:\n  - type: delete_contact\n", 3, 1, "", "YAML merge keys (<<) are not supported"},
		// A value written << is no merge key: it hides no other problem of its mapping.
		{"MergeValueInLimits", "name: x\nobject_type: contacts\ntrigger: email_bounced\nlimits:\n  per: <<\nactions:\n  - type: delete_contact\n", 5, 3, "limits.max_deletions", "is missing"},
		{"MergeValueInAction", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - duration: <<\n", 5, 5, "actions[0]", "the action has no type"},
		{"MergeValueAtTop", "description: <<\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n", 1, 1, "name", "is missing"},
		{"TooLarge", "name: x\n" + strings.Repeat("# padding\n", workflows.MaxFileSize/10+1), 1, 1, "", "at most 1048576 bytes"},

		// Fields.
		{"UnknownField", "name: x\nobject_type: contacts\ntrigger: email_bounced\nenroll_exisiting: true\nactions:\n  - type: delete_contact\n", 4, 1, "enroll_exisiting", `unknown field "enroll_exisiting": did you mean "enroll_existing"?`},
		{"UnknownFieldNoSuggestion", "name: x\nobject_type: contacts\ntrigger: email_bounced\nowner: bob\nactions:\n  - type: delete_contact\n", 4, 1, "owner", "use name, description, object_type"},
		{"UnknownFieldInSuppression", "name: x\nobject_type: contacts\ntrigger: email_bounced\nsuppression:\n  list: [3]\nactions:\n  - type: delete_contact\n", 5, 3, "suppression.list", `did you mean "lists"?`},
		{"UnknownFieldInAction", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    durration: 3d\n", 6, 5, "actions[0].durration", `unknown field "durration" of delay: did you mean "duration"?`},
		{"UnknownFieldOnParamlessAction", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n    permanently: true\n", 6, 5, "actions[0].permanently", "delete_contact takes no parameters"},
		{"DuplicateKey", "name: x\nobject_type: contacts\ntrigger: email_bounced\ntrigger: lifecyclestage == \"lead\"\nactions:\n  - type: delete_contact\n", 4, 1, "trigger", `duplicate key "trigger": it is already set on line 3`},
		{"DuplicateKeyInAction", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    duration: 1d\n    duration: 2d\n", 7, 5, "actions[0].duration", "duplicate key"},
		{"DuplicateUnknownKey", "name: x\nobject_type: contacts\ntrigger: email_bounced\nfoo: 1\nfoo: 2\nactions:\n  - type: delete_contact\n", 5, 1, "foo", "duplicate key"},
		{"MissingName", "object_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n", 1, 1, "name", "is missing"},
		{"MissingTrigger", "name: x\nobject_type: contacts\nactions:\n  - type: delete_contact\n", 1, 1, "trigger", "is missing"},
		{"EmptyName", "name:\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n", 1, 6, "name", "is empty"},
		{"BadName", "name: Clean Bounced\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n", 1, 7, "name", "workflow name \"Clean Bounced\" is invalid"},
		{"NameNotText", "name: 2024\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n", 1, 7, "name", "not a number: quote it"},
		{"ScalarBecameMap", "name: x\nobject_type: contacts\ntrigger:\n  lifecyclestage: lead\nactions:\n  - type: delete_contact\n", 4, 3, "trigger", `not a mapping: a ": " inside an unquoted value starts a mapping`},
		{"FlowMapForScalar", "name: x\nobject_type: contacts\ntrigger: {email_bounced}\nactions:\n  - type: delete_contact\n", 3, 10, "trigger", "not a mapping"},
		{"ListForScalar", "name: [a, b]\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n", 1, 7, "name", "not a list"},
		{"ScalarForList", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions: delete_contact\n", 4, 10, "actions", `must be a list of actions, each a mapping with a type, not the text "delete_contact"`},
		{"ScalarForMap", "name: x\nobject_type: contacts\ntrigger: email_bounced\nsuppression: email_bounced\nactions:\n  - type: delete_contact\n", 4, 14, "suppression", "must be a mapping with trigger, lists or both"},
		{"MapForList", "name: x\nobject_type: contacts\ntrigger: email_bounced\nevents:\n  created: true\nactions:\n  - type: delete_contact\n", 5, 3, "events", "must be a list of events"},
		{"ScalarForAction", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - delete_contact\n", 5, 5, "actions[0]", "an action must be a mapping with a type"},
		{"BadBool", "name: x\nobject_type: contacts\ntrigger: email_bounced\nenroll_existing: yes\nactions:\n  - type: delete_contact\n", 4, 18, "enroll_existing", `must be true or false, not the text "yes"`},
		{"QuotedBool", "name: x\nobject_type: contacts\ntrigger: email_bounced\nreenrollment: \"true\"\nactions:\n  - type: delete_contact\n", 4, 15, "reenrollment", `must be true or false, not the text "true": remove the quotes`},
		{"BadEvent", "name: x\nobject_type: contacts\ntrigger: email_bounced\nevents: [created, deleted]\nactions:\n  - type: delete_contact\n", 4, 19, "events[1]", `unknown event "deleted": use created or updated`},
		{"DuplicateEvent", "name: x\nobject_type: contacts\ntrigger: email_bounced\nevents: [updated, updated]\nactions:\n  - type: delete_contact\n", 4, 19, "events[1]", "listed twice"},
		{"EmptyEvents", "name: x\nobject_type: contacts\ntrigger: email_bounced\nevents: []\nactions:\n  - type: delete_contact\n", 4, 9, "events", "is empty"},
		{"EmptySuppression", "name: x\nobject_type: contacts\ntrigger: email_bounced\nsuppression: {}\nactions:\n  - type: delete_contact\n", 4, 14, "suppression", "is empty"},
		{"BadSuppressionList", "name: x\nobject_type: contacts\ntrigger: email_bounced\nsuppression:\n  lists: [12, vip]\nactions:\n  - type: delete_contact\n", 5, 15, "suppression.lists[1]", `list id "vip" is invalid`},
		{"DuplicateSuppressionList", "name: x\nobject_type: contacts\ntrigger: email_bounced\nsuppression:\n  lists: [12, \"12\"]\nactions:\n  - type: delete_contact\n", 5, 15, "suppression.lists[1]", "listed twice"},

		// Object type, triggers.
		{"UnknownObjectType", "name: x\nobject_type: contact\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n", 2, 14, "object_type", `unknown object type "contact": did you mean "contacts"?`},
		{"UnknownObjectTypeFar", "name: x\nobject_type: invoices\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n", 2, 14, "object_type", "use contacts, companies, deals, tickets, calls"},
		{"TriggerNotBoolean", "name: x\nobject_type: contacts\ntrigger: num_notes + 1\nactions:\n  - type: delete_contact\n", 3, 10, "trigger", "expected bool"},
		{"TriggerUnknownType", "name: x\nobject_type: contacts\ntrigger: fromJSON(email)\nactions:\n  - type: delete_contact\n", 3, 10, "trigger", "type is not known before it runs"},
		{"TriggerTypeError", "name: x\nobject_type: contacts\ntrigger: num_notes == \"many\"\nactions:\n  - type: delete_contact\n", 3, 20, "trigger", "mismatched types float64 and string"},
		{"TriggerDateAgainstText", "name: x\nobject_type: contacts\ntrigger: last_activity_date > \"2024-01-01\"\nactions:\n  - type: delete_contact\n", 3, 29, "trigger", `(mismatched types time.Time and string): a datetime or date property compares with a date, such as date("2024-01-01"), or counts days with daysSince(property) > 30`},
		{"TriggerBoolAgainstText", "name: x\nobject_type: contacts\ntrigger: email_bounced == \"true\"\nactions:\n  - type: delete_contact\n", 3, 24, "trigger", "(mismatched types bool and string): a true/false property compares with true or false, written without quotes"},
		{"TriggerUnknownProperty", "name: x\nobject_type: contacts\ntrigger: lifecyclestge == \"lead\"\nactions:\n  - type: delete_contact\n", 3, 10, "trigger", "unknown name lifecyclestge: did you mean lifecyclestage?"},
		{"TriggerDashedName", "name: x\nobject_type: contacts\ntrigger: |\n  email_bounced &&\n    hs-lead-status == \"new\"\nactions:\n  - type: delete_contact\n", 5, 5, "trigger", "unknown name hs: in a trigger, - is a minus, so hs-lead-status is not one name; did you mean hs_lead_status?"},
		{"TriggerDashedNameAfterNonASCII", "name: x\nobject_type: contacts\ntrigger: firstname == \"Göran Åström\" && hs-lead-status == \"new\"\nactions:\n  - type: delete_contact\n", 3, 41, "trigger", "in a trigger, - is a minus, so hs-lead-status is not one name; did you mean hs_lead_status?"},
		{"TriggerPropertyOfAnotherType", "name: x\nobject_type: companies\ntrigger: email_bounced\nactions:\n  - type: set_property\n    property: industry\n    value: x\n", 3, 10, "trigger", "it is not a property of companies"},
		{"TriggerEmpty", "name: x\nobject_type: contacts\ntrigger: \"  \"\nactions:\n  - type: delete_contact\n", 3, 10, "trigger", "the expression is empty"},
		{"TriggerSyntax", "name: x\nobject_type: contacts\ntrigger: lifecyclestage == \"lead\" &&\nactions:\n  - type: delete_contact\n", 3, 36, "trigger", "unexpected token EOF"},
		{"TriggerNotText", "name: x\nobject_type: contacts\ntrigger: 42\nactions:\n  - type: delete_contact\n", 3, 10, "trigger", "not a number"},
		{"SuppressionTriggerTypeError", "name: x\nobject_type: contacts\ntrigger: email_bounced\nsuppression:\n  trigger: email_bounced == 1\nactions:\n  - type: delete_contact\n", 5, 26, "suppression.trigger", "mismatched types bool and int"},

		// Actions.
		{"EmptyActions", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions: []\n", 4, 10, "actions", "is empty: a workflow needs at least one action"},
		{"NullActions", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n", 4, 9, "actions", "is empty"},
		{"MissingActionType", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - duration: 3d\n", 5, 5, "actions[0]", "the action has no type: add type: with one of add_to_list, delay, delete_contact"},
		{"UnknownActionType", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: set_propery\n", 5, 11, "actions[0].type", `unknown action type "set_propery": did you mean "set_property"?`},
		{"PermanentDeleteIsNoAction", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: permanent_delete_contact\n", 5, 11, "actions[0].type", "workflows never delete permanently"},
		{"DeleteContactOnCompanies", "name: x\nobject_type: companies\ntrigger: numberofemployees < 2\nactions:\n  - type: delete_contact\n", 5, 11, "actions[0]", "delete_contact exists only for contact workflows: this workflow's object_type is companies"},
		{"DeleteContactOnDeals", "name: x\nobject_type: deals\ntrigger: amount == 0\nactions:\n  - type: delete_contact\n", 5, 11, "actions[0]", "exists only for contact workflows"},
		{"ListOnDeals", "name: x\nobject_type: deals\ntrigger: amount == 0\nactions:\n  - type: add_to_list\n    list: 3\n", 5, 11, "actions[0]", "add_to_list exists only for contact or company workflows"},
		{"ActionAfterDeleteContact", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n  - type: set_property\n    property: firstname\n    value: gone\n", 6, 5, "actions[1]", "comes after delete_contact, so it would never run"},
		{"UnknownPropertySet", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: set_property\n    property: lifecycle_stage\n    value: lead\n", 6, 15, "actions[0].property", `unknown property "lifecycle_stage" of contacts: did you mean "lifecyclestage"?`},
		{"BadPropertyValue", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: set_property\n    property: lifecyclestage\n    value: vip\n", 7, 12, "actions[0].value", "use one of subscriber, lead"},
		{"BadNumberValue", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: set_property\n    property: num_notes\n    value: many\n", 7, 12, "actions[0].value", "is not a valid number"},
		{"NumberValueWithSeparators", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: set_property\n    property: num_notes\n    value: \"1_000\"\n", 7, 12, "actions[0].value", "plain decimal"},
		{"HexadecimalFloatValue", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: set_property\n    property: num_notes\n    value: 0x1p4\n", 7, 12, "actions[0].value", "plain decimal"},
		{"MissingParam", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: set_property\n    property: firstname\n", 5, 11, "actions[0]", "set_property needs value"},
		{"ParamNotScalar", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: set_property\n    property: [firstname]\n    value: x\n", 6, 15, "actions[0].property", "must be text, not a list"},
		{"ParamNotText", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    duration: 90\n", 6, 15, "actions[0].duration", "must be text, not a number: duration is how long to wait: a number and a unit"},
		{"DelayUntilADate", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    until: 2026-01-01\n", 6, 12, "actions[0].until", "must be text, not a date: until is a datetime or date property of the record"},
		{"DateForName", "name: 2026-01-01\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n", 1, 7, "name", "must be the workflow's name, such as clean-bounced-contacts, not a date: quote it"},
		{"BadDuration", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    duration: 3 weeks\n", 6, 15, "actions[0].duration", `duration "3 weeks" is invalid`},
		{"NegativeDuration", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    duration: -1d\n", 6, 15, "actions[0].duration", "cannot be negative"},
		{"DurationTooLong", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    duration: 5000d\n", 6, 15, "actions[0].duration", "longer than the 1098-day maximum"},
		{"DelayNeedsOne", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n", 5, 11, "actions[0]", "delay needs duration"},
		{"DelayBoth", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    duration: 1d\n    until: last_activity_date\n", 7, 12, "actions[0].until", "not both"},
		{"DelayUntilUnknown", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    until: follow_up_date\n", 6, 12, "actions[0].until", `unknown property "follow_up_date" of contacts`},
		{"DelayUntilNotDatetime", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    until: email\n", 6, 12, "actions[0].until", `property "email" is a string: delay until needs a datetime or date property`},
		{"BadListID", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: add_to_list\n    list: vip\n", 6, 11, "actions[0].list", `list id "vip" is invalid`},
		{"NotifyBadEmail", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: notify_user\n    to: sales desk\n    subject: s\n    body: b\n", 6, 9, "actions[0].to", `"sales desk" is not an email address`},
		{"SetPropertyOptionByLabel", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: set_property\n    property: lifecyclestage\n    value: Sales Qualified Lead\n", 7, 12, "actions[0].value", `property "lifecyclestage": "Sales Qualified Lead" is not one of its options: did you mean "salesqualifiedlead" (label "Sales Qualified Lead")?`},
		{"NotifyUnknownPlaceholder", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: notify_user\n    to: a@example.com\n    subject: \"Call {{first_name}}\"\n    body: b\n", 7, 20, "actions[0].subject", `unknown property "first_name" of contacts: did you mean "firstname"?`},
		// A placeholder's problem is at its "{{", also on a later line of a block scalar.
		{"NotifyPlaceholderInBlockBody", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: notify_user\n    to: a@example.com\n    subject: Hi\n    body: |\n      Hello {{firstname}},\n      call {{compnay}} today.\n", 10, 12, "actions[0].body", `{{compnay}}: unknown property "compnay" of contacts: did you mean "company"?`},
		{"NotifyPlaceholderNotClosed", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: notify_user\n    to: a@example.com\n    subject: 'Hi {{firstname'\n    body: b\n", 7, 18, "actions[0].subject", `a "{{" is not closed`},
		{"NotifyMultilineSubject", "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: notify_user\n    to: a@example.com\n    subject: |\n      two\n      lines\n    body: b\n", 7, 14, "actions[0].subject", "must be one line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wf, err := workflows.Parse("f.yaml", []byte(tt.src), nil, nil)
			require.Nil(t, wf)
			requireProblem(t, err, tt.line, tt.col, tt.path, tt.msg)
		})
	}
}

// TestTriggerPositions checks that a type error inside a trigger is reported at its line and
// column in the file, whatever the YAML style of the trigger. Each trigger has one error: the ==
// between num_notes (a number) and "a".
func TestTriggerPositions(t *testing.T) {
	t.Parallel()
	head := "name: x\nobject_type: contacts\n"
	tail := "actions:\n  - type: delete_contact\n"
	tests := []struct {
		name      string
		trigger   string
		line, col int
	}{
		{"Plain", `trigger: num_notes == "a"` + "\n", 3, 20},
		{"PlainAfterMultibyte", `trigger: firstname != "é" && num_notes == "a"` + "\n", 3, 40},
		{"PlainMultiline", "trigger: lifecyclestage == \"lead\"\n  && num_notes == \"a\"\n", 4, 16},
		{"SingleQuoted", `trigger: 'email == ''x'' && num_notes == "a"'` + "\n", 3, 39},
		{"DoubleQuotedEscapes", `trigger: "email == \"\u00e9\" && num_notes == \"a\""` + "\n", 3, 44},
		{"DoubleQuotedTab", `trigger: "num_notes\t== \"a\""` + "\n", 3, 22},
		{"DoubleQuotedEscapedBreak", "trigger: \"lifecyclestage == \\\"lead\\\" && \\\n  num_notes == \\\"a\\\"\"\n", 4, 13},
		{"DoubleQuotedFolded", "trigger: \"lifecyclestage == \\\"lead\\\" &&\n  num_notes == \\\"a\\\"\"\n", 4, 13},
		{"Literal", "trigger: |\n  lifecyclestage == \"lead\" &&\n    num_notes == \"a\"\n", 5, 15},
		{"LiteralStrip", "trigger: |-\n  lifecyclestage == \"lead\"\n  && num_notes == \"a\"\n", 5, 16},
		{"LiteralIndentIndicator", "trigger: |4\n      num_notes == \"a\"\n", 4, 17},
		{"LiteralLeadingBlankAndComment", "trigger: |  # the trigger\n\n  num_notes == \"a\"\n", 5, 13},
		{"LiteralCRLF", "trigger: |\r\n  lifecyclestage == \"lead\" &&\r\n    num_notes == \"a\"\r\n", 5, 15},
		{"Folded", "trigger: >\n  lifecyclestage == \"lead\" &&\n  num_notes == \"a\"\n", 5, 13},
		{"FoldedWithBlankLine", "trigger: >-\n  lifecyclestage == \"lead\"\n\n  && num_notes == \"a\"\n", 6, 16},
		{"Tagged", `trigger: !!str num_notes == "a"` + "\n", 3, 26},
		{"DeeperIndent", "trigger: |\n      email_bounced\n      && num_notes == \"a\"\n", 5, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := workflows.Parse("f.yaml", []byte(head+tt.trigger+tail), nil, nil)
			requireProblem(t, err, tt.line, tt.col, "trigger", "mismatched types float64 and string")
		})
	}
	t.Run("FlowMapping", func(t *testing.T) {
		t.Parallel()
		src := head + "trigger: email_bounced\nsuppression: {trigger: 'num_notes == \"a\"'}\n" + tail
		_, err := workflows.Parse("f.yaml", []byte(src), nil, nil)
		requireProblem(t, err, 4, 35, "suppression.trigger", "mismatched types")
	})
	t.Run("WholeExpressionInBlock", func(t *testing.T) {
		t.Parallel()
		// An error about the whole expression points at its first character, not at the |.
		_, err := workflows.Parse("f.yaml", []byte(head+"trigger: |\n  num_notes + 1\n"+tail), nil, nil)
		requireProblem(t, err, 4, 3, "trigger", "expected bool")
	})
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	src := `name: nurture
description: |
  Two lines
  of description.
object_type: contacts
trigger: |
  lifecyclestage == "lead"
    && !email_opt_out
events: [created]
enroll_existing: true
reenrollment: true
unenroll_when_not_matching: true
suppression:
  trigger: email_bounced
  lists: [12, "7"]
actions:
  - type: set_property
    property: num_notes
    value: 0x1F
  - type: delay
    duration: 1d12h
  - type: add_to_list
    list: 3
  - type: notify_user
    to: Sales@Example.com
    subject: "Call {{firstname}}"
    body: Contact {{id}} is waiting.
  - type: remove_from_list
    list: "3"
  - type: delete_contact
`
	wf, err := workflows.Parse("nurture.yaml", []byte(src), nil, nil)
	require.NoError(t, err)
	require.Equal(t, "nurture", wf.Name)
	require.Equal(t, "Two lines\nof description.\n", wf.Description)
	require.Equal(t, crm.Contacts, wf.ObjectType)
	require.Equal(t, "lifecyclestage == \"lead\"\n  && !email_opt_out\n", wf.Trigger.Source)
	require.Equal(t, workflows.Position{Line: 7, Column: 3}, wf.Trigger.Pos)
	require.NotNil(t, wf.Trigger.Program)
	require.Equal(t, []workflows.Event{workflows.EventCreated}, wf.Events)
	require.True(t, wf.ListensTo(workflows.EventCreated))
	require.False(t, wf.ListensTo(workflows.EventUpdated))
	require.True(t, wf.EnrollExisting)
	require.True(t, wf.Reenrollment)
	require.True(t, wf.UnenrollWhenNotMatching)
	require.NotNil(t, wf.Suppression)
	require.Equal(t, "email_bounced", wf.Suppression.Trigger.Source)
	require.NotNil(t, wf.Suppression.Trigger.Program)
	require.Equal(t, []crm.ListID{"12", "7"}, wf.Suppression.Lists)

	require.Len(t, wf.Actions, 6)
	types := make([]string, len(wf.Actions))
	for i, s := range wf.Actions {
		types[i] = s.Type
		require.NotNil(t, s.Action, s.Type)
		require.Equal(t, s.Type, s.Action.Type)
	}
	require.Equal(t, []string{"set_property", "delay", "add_to_list", "notify_user", "remove_from_list", "delete_contact"}, types)
	require.Equal(t, workflows.Position{Line: 17, Column: 5}, wf.Actions[0].Pos)
	// Integers are read canonically and the value normalized by the schema.
	require.Equal(t, actions.SetProperty{Property: "num_notes", Value: "31"}, wf.Actions[0].Action.Step)
	require.Equal(t, actions.Delay{Duration: 36 * time.Hour}, wf.Actions[1].Action.Step)
	require.Equal(t, actions.ListMembership{List: "3"}, wf.Actions[2].Action.Step)
	require.Equal(t, "sales@example.com", wf.Actions[3].Action.Step.(actions.NotifyUser).To)
	require.Equal(t, actions.ListMembership{List: "3", Remove: true}, wf.Actions[4].Action.Step)
	require.Equal(t, actions.DeleteContact{}, wf.Actions[5].Action.Step)

	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ok, err := wf.Matches(crm.Record{ID: "1", Properties: map[string]string{"lifecyclestage": "lead"}}, now)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = wf.Matches(crm.Record{ID: "2", Properties: map[string]string{"lifecyclestage": "lead", "email_opt_out": "true"}}, now)
	require.NoError(t, err)
	require.False(t, ok)
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	src := "name: x\nobject_type: contacts\ntrigger: email_bounced\ndescription:\nevents:\nenroll_existing:\nsuppression:\nactions:\n  - type: delete_contact\n"
	wf, err := workflows.Parse("f.yaml", []byte(src), nil, nil)
	require.NoError(t, err)
	require.Equal(t, workflows.AllEvents, wf.Events)
	require.False(t, wf.EnrollExisting)
	require.False(t, wf.Reenrollment)
	require.False(t, wf.UnenrollWhenNotMatching)
	require.Nil(t, wf.Suppression)
	require.Empty(t, wf.Description)
}

// TestParseCollectsEveryProblem checks that one file's problems are all reported, in order.
func TestParseCollectsEveryProblem(t *testing.T) {
	t.Parallel()
	src := "name: Bad Name\nobject_type: companies\ntrigger: num_notes > 1\nextra: 1\nactions:\n  - type: delete_contact\n  - type: delay\n    duration: soon\n"
	_, err := workflows.Parse("f.yaml", []byte(src), nil, nil)
	var ve *workflows.ValidationError
	require.ErrorAs(t, err, &ve)
	var got []string
	for _, p := range ve.Problems {
		got = append(got, fmt.Sprintf("%d:%d %s", p.Line, p.Column, p.Path))
	}
	require.Equal(t, []string{"1:7 name", "3:10 trigger", "4:1 extra", "6:11 actions[0]", "8:15 actions[1].duration"}, got)
	require.Len(t, strings.Split(ve.Error(), "\n"), 5)
}

// A problem caused by a name the schema lacks names it, wherever the name is: the object type,
// the trigger, an action's property, a placeholder of notify_user, delay's until.
func TestParseNamesUnknownNames(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, src, want string }{
		{"ObjectType", "name: a\nobject_type: pets\ntrigger: x > 1\nactions:\n  - type: delay\n    duration: 1d\n", "pets"},
		{"Trigger", "name: a\nobject_type: contacts\ntrigger: churn_risk > 1\nactions:\n  - type: delete_contact\n", "churn_risk"},
		{"SetProperty", "name: a\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: set_property\n    property: tier\n    value: x\n", "tier"},
		{"Placeholder", "name: a\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: notify_user\n    to: ops@example.com\n    subject: \"{{tier}}\"\n    body: b\n", "tier"},
		{"DelayUntil", "name: a\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    until: renewal_date\n", "renewal_date"},
		{"TriggerNonASCII", "name: a\nobject_type: contacts\ntrigger: förnamn == \"Ada\"\nactions:\n  - type: delete_contact\n", "förnamn"},
		{"TriggerDashedKnown", "name: a\nobject_type: contacts\ntrigger: first-name == \"Ada\"\nactions:\n  - type: delete_contact\n", ""},
		{"TriggerDashedUnknown", "name: a\nobject_type: contacts\ntrigger: churn-risk > 3\nactions:\n  - type: delete_contact\n", "churn_risk"},
		{"OtherProblem", "name: a\nobject_type: contacts\ntrigger: email_bounced +\nactions:\n  - type: delete_contact\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := workflows.Parse("f.yaml", []byte(tt.src), nil, nil)
			var ve *workflows.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Len(t, ve.Problems, 1, ve.Error())
			require.Equal(t, tt.want, ve.Problems[0].Unknown, ve.Error())
		})
	}
}

func TestParseLimits(t *testing.T) {
	t.Parallel()
	t.Run("TooManyActions", func(t *testing.T) {
		t.Parallel()
		src := "name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n" + strings.Repeat("  - type: delay\n    duration: 1d\n", workflows.MaxActions+1)
		_, err := workflows.Parse("f.yaml", []byte(src), nil, nil)
		requireProblem(t, err, 5, 3, "actions", "has 201 actions: a workflow may have at most 200")
	})
	t.Run("TooManyProblems", func(t *testing.T) {
		t.Parallel()
		var b strings.Builder
		b.WriteString("name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n")
		for i := range 150 {
			fmt.Fprintf(&b, "extra_%d: 1\n", i)
		}
		_, err := workflows.Parse("f.yaml", []byte(b.String()), nil, nil)
		var ve *workflows.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Len(t, ve.Problems, workflows.MaxProblems+1)
		last := ve.Problems[len(ve.Problems)-1]
		require.Equal(t, "50 more problems were left out: fix these and validate again", last.Message)
	})
}

func TestSchemaLookupFailure(t *testing.T) {
	t.Parallel()
	boom := errors.New("redis: connection refused")
	lookup := workflows.SchemaFunc(func(crm.ObjectType) (crm.Schema, error) { return crm.Schema{}, boom })
	_, err := workflows.Parse("f.yaml", []byte("name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n"), lookup, nil)
	require.ErrorIs(t, err, boom)
	var ve *workflows.ValidationError
	require.False(t, errors.As(err, &ve), "a failing lookup is not a validation error")

	// A lookup that says the type does not exist gives a validation problem.
	notFound := workflows.SchemaFunc(func(o crm.ObjectType) (crm.Schema, error) {
		return crm.Schema{}, &crm.NotFoundError{Kind: "object type", ID: string(o)}
	})
	_, err = workflows.Parse("f.yaml", []byte("name: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n"), notFound, nil)
	requireProblem(t, err, 2, 14, "object_type", "custom object types")
}

func TestCustomObjectTypeAndRegistry(t *testing.T) {
	t.Parallel()
	schemas := workflows.StandardSchemas()
	schemas["subscriptions"] = crm.Schema{Type: "subscriptions", Properties: map[string]crm.Property{
		"plan":      {Name: "plan", Type: crm.TypeEnumeration, Options: []string{"basic", "pro"}},
		"renews_at": {Name: "renews_at", Type: crm.TypeDatetime},
	}}
	reg := actions.Default()
	reg.Register(actions.Definition{
		Name:      "post_webhook",
		Params:    []actions.Param{{Name: "url", Required: true}},
		Configure: func(actions.Params, crm.Schema) (actions.Step, error) { return actions.DeleteContact{}, nil },
	})
	src := "name: renewals\nobject_type: subscriptions\ntrigger: plan == \"pro\"\nactions:\n  - type: delay\n    until: renews_at\n  - type: post_webhook\n    url: https://example.com/hook\n"
	wf, err := workflows.Parse("f.yaml", []byte(src), schemas, reg)
	require.NoError(t, err)
	require.Equal(t, crm.ObjectType("subscriptions"), wf.ObjectType)
	require.Equal(t, "post_webhook", wf.Actions[1].Type)

	// The default registry does not know the custom action.
	_, err = workflows.Parse("f.yaml", []byte(src), schemas, nil)
	requireProblem(t, err, 7, 11, "actions[1].type", `unknown action type "post_webhook"`)
	// An unknown type lists the known ones, custom ones included.
	_, err = workflows.Parse("f.yaml", []byte("name: x\nobject_type: invoices\ntrigger: id == \"1\"\nactions:\n  - type: delay\n    duration: 1d\n"), schemas, nil)
	requireProblem(t, err, 2, 14, "object_type", "use contacts, companies, deals, tickets, calls, subscriptions")
}

func TestExamplesParse(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../examples/workflows/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 5)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(f)
			require.NoError(t, err)
			wf, err := workflows.Parse(f, src, workflows.StandardSchemas(), actions.Default())
			require.NoError(t, err)
			require.Equal(t, strings.TrimSuffix(filepath.Base(f), ".yaml"), wf.Name, "an example's name is its file name")
			require.NotEmpty(t, wf.Description)
			require.NotNil(t, wf.Trigger.Program)
		})
	}
}

// TestMarshalRoundTrip checks that a parsed workflow marshals back to an equivalent file.
func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../examples/workflows/*.yaml")
	require.NoError(t, err)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(f)
			require.NoError(t, err)
			wf, err := workflows.Parse(f, src, nil, nil)
			require.NoError(t, err)
			out, err := yaml.Marshal(wf)
			require.NoError(t, err)
			again, err := workflows.Parse("again.yaml", out, nil, nil)
			require.NoError(t, err, string(out))
			require.Equal(t, summary(wf), summary(again), string(out))
		})
	}
}

// summary is a workflow without positions and compiled programs, for comparisons.
func summary(wf *workflows.Workflow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|%q|%v|%v|%v|%v\n", wf.Name, wf.Description, wf.ObjectType, wf.Trigger.Source, wf.Events,
		wf.EnrollExisting, wf.Reenrollment, wf.UnenrollWhenNotMatching)
	if s := wf.Suppression; s != nil {
		if s.Trigger != nil {
			fmt.Fprintf(&b, "suppress %q\n", s.Trigger.Source)
		}
		fmt.Fprintf(&b, "lists %v\n", s.Lists)
	}
	for _, a := range wf.Actions {
		fmt.Fprintf(&b, "%s %v %#v\n", a.Type, a.Params, a.Action.Step)
	}
	return b.String()
}

func TestValidationErrorFormat(t *testing.T) {
	t.Parallel()
	_, err := workflows.Parse("wf.yaml", []byte("name: x\nobject_type: contacts\ntrigger: num_notes == \"a\"\nactions:\n  - type: delay\n    duration: 3x\n"), nil, nil)
	var ve *workflows.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, `wf.yaml:3:20: trigger: invalid operation: == (mismatched types float64 and string): a number compares with a number, written without quotes, and text with text, in quotes
wf.yaml:6:15: actions[0].duration: duration "3x" is invalid: "3x" is not a number with a unit; write a number and a unit (d, h, m or s), such as 3d, 12h, 90m or 1d12h`, ve.Error())
	require.Equal(t, `wf.yaml:3:20: trigger: invalid operation: == (mismatched types float64 and string): a number compares with a number, written without quotes, and text with text, in quotes
 3 | trigger: num_notes == "a"
   |                    ^
wf.yaml:6:15: actions[0].duration: duration "3x" is invalid: "3x" is not a number with a unit; write a number and a unit (d, h, m or s), such as 3d, 12h, 90m or 1d12h
 6 |     duration: 3x
   |               ^`, ve.Detailed())
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "clean-bounced-contacts", "q3_cleanup", "2026-purge", strings.Repeat("a", 64)} {
		require.NoError(t, workflows.ValidateName(ok), ok)
	}
	for _, bad := range []string{"", "-a", "_a", "A", "a b", "a/b", "é", strings.Repeat("a", 65)} {
		require.Error(t, workflows.ValidateName(bad), bad)
	}
}

func ExampleParse() {
	src := []byte(`name: clean-bounced-contacts
object_type: contacts
trigger: email_bounced && lifecyclestage != "customer"
actions:
  - type: delete_contact
`)
	wf, err := workflows.Parse("clean.yaml", src, workflows.StandardSchemas(), actions.Default())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(wf.Name, wf.ObjectType, wf.Events, wf.Actions[0].Type)

	bad := []byte(`name: clean-bounced-companies
object_type: companies
trigger: |
  lifecyclestage != "customer"
    && numberofemployees > "10"
actions:
  - type: delete_contact
`)
	_, err = workflows.Parse("bad.yaml", bad, workflows.StandardSchemas(), actions.Default())
	fmt.Println(err)
	// Output:
	// clean-bounced-contacts contacts [created updated] delete_contact
	// bad.yaml:5:26: trigger: invalid operation: > (mismatched types float64 and string): a number compares with a number, written without quotes, and text with text, in quotes
	// bad.yaml:7:11: actions[0]: delete_contact exists only for contact workflows: this workflow's object_type is companies
}

// In a workflow of another object type, the actions after a delete_contact are not reported as
// never running after a deleted contact: delete_contact itself is the one problem there.
func TestDeleteContactElsewhereIsOneProblem(t *testing.T) {
	t.Parallel()
	src := "name: x\nobject_type: companies\ntrigger: numberofemployees > 1\nactions:\n  - type: delete_contact\n  - type: delay\n    duration: 1d\n"
	_, err := workflows.Parse("f.yaml", []byte(src), nil, nil)
	var ve *workflows.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Len(t, ve.Problems, 1, "%s", ve.Error())
	requireProblem(t, err, 5, 11, "actions[0]", "delete_contact exists only for contact workflows")
}

// A "---" that ends the file, as some tools write after every document, opens no second workflow.
func TestParseTrailingDocumentMarker(t *testing.T) {
	t.Parallel()
	for name, tail := range map[string]string{"Marker": "---\n", "MarkerAndComment": "---\n# end\n", "MarkerAndEnd": "...\n---\n"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := "---\nname: x\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n" + tail
			wf, err := workflows.Parse("f.yaml", []byte(src), nil, nil)
			require.NoError(t, err)
			require.Equal(t, "x", wf.Name)
		})
	}
}
