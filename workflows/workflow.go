package workflows

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
)

// Event is a change of a record that makes a workflow evaluate its trigger.
type Event string

// The events.
const (
	// EventCreated is a record's creation.
	EventCreated Event = "created"
	// EventUpdated is a change of a record's properties.
	EventUpdated Event = "updated"
)

// AllEvents lists every event; it is also the default of Workflow.Events.
var AllEvents = []Event{EventCreated, EventUpdated}

// Position is a place in a workflow file: 1-based line, and column in characters.
type Position struct {
	Line, Column int
}

// Workflow is a parsed and validated workflow. Parse returns one only when the file had no
// problem; its triggers are compiled and its actions configured. It is immutable after Parse and
// safe for concurrent use. Marshaled with yaml.v3 it gives back an equivalent workflow file.
type Workflow struct {
	// Name identifies the workflow within its tenant: lowercase letters, digits, dashes and
	// underscores (see ValidateName).
	Name string `yaml:"name"`
	// Description says what the workflow is for. Optional.
	Description string `yaml:"description,omitempty"`
	// ObjectType is the object type whose records the workflow enrolls.
	ObjectType crm.ObjectType `yaml:"object_type"`
	// Trigger is the enrollment trigger: a boolean expr expression over the record's properties.
	Trigger Expr `yaml:"trigger"`
	// Events are the record changes that evaluate the trigger. Defaults to AllEvents.
	Events []Event `yaml:"events,flow"`
	// EnrollExisting enrolls the records that already match when the workflow is activated.
	// Defaults to false.
	EnrollExisting bool `yaml:"enroll_existing"`
	// Reenrollment lets a record enroll again when it goes from not matching to matching again,
	// never while it is enrolled, and at most crm.MaxReenrollments times within
	// crm.ReenrollmentWindow. Defaults to false: a record enrolls only once.
	Reenrollment bool `yaml:"reenrollment"`
	// UnenrollWhenNotMatching unenrolls a record that stops matching the trigger, whatever Events
	// enrolled it: every create and update of an enrolled record is checked. Defaults to false.
	UnenrollWhenNotMatching bool `yaml:"unenroll_when_not_matching"`
	// Suppression names the records that never enroll and are unenrolled when they start to match.
	// Optional.
	Suppression *Suppression `yaml:"suppression,omitempty"`
	// Limits is the workflow's own blast-radius limit (SPEC S24). Optional: without it the
	// workflow runs under its tenant's (crm.Tenant.DeletionLimit). See DeletionLimit.
	Limits *Limits `yaml:"limits,omitempty"`
	// Actions are the steps, in order. At least one.
	Actions []Step `yaml:"actions"`
}

// Limits is a workflow's blast-radius limit as its file writes it: `limits: {max_deletions: 500,
// per: 1h}`, or `limits: {max_deletions: unlimited}`.
type Limits struct {
	// Deletions is the limit: at most Deletions.Max deletions in any window of Deletions.Per; zero
	// when max_deletions is unlimited.
	Deletions crm.DeletionLimit
	// Pos is where the limits mapping begins in the file.
	Pos Position
}

// MarshalYAML writes the limits as a workflow file does.
func (l Limits) MarshalYAML() (any, error) {
	if l.Deletions.Unlimited() {
		return map[string]string{"max_deletions": "unlimited"}, nil
	}
	return map[string]any{"max_deletions": l.Deletions.Max, "per": crm.FormatWindow(l.Deletions.Per)}, nil
}

// DeletionLimit returns the blast-radius limit the workflow's deletions run under: its own
// limits, or else tenantDefault (the tenant's, crm.Tenant.DeletionLimit).
func (w *Workflow) DeletionLimit(tenantDefault crm.DeletionLimit) crm.DeletionLimit {
	if w.Limits != nil {
		return w.Limits.Deletions
	}
	return tenantDefault
}

// Deletes reports whether an action of the workflow deletes records (delete_contact): only such
// a workflow's limit ever refuses anything.
func (w *Workflow) Deletes() bool {
	for _, st := range w.Actions {
		if st.Action != nil && slices.Contains(st.Action.Needs, crm.PermDelete) {
			return true
		}
	}
	return false
}

// Permissions returns the permissions a user must hold to activate the workflow or enroll records
// in it, since it acts with that user's authority (SPEC S23): what each action needs (see
// actions.Definition.Needs), and with many (enroll existing records on activation, or several
// records at once) bulk_delete too when an action deletes. In the order of crm.AllPermissions.
func (w *Workflow) Permissions(many bool) []crm.Permission {
	need := map[crm.Permission]bool{}
	for _, st := range w.Actions {
		if st.Action == nil {
			continue
		}
		for _, p := range st.Action.Needs {
			need[p] = true
		}
	}
	if many && need[crm.PermDelete] {
		need[crm.PermBulkDelete] = true
	}
	var out []crm.Permission
	for _, p := range crm.AllPermissions {
		if need[p] {
			out = append(out, p)
		}
	}
	return out
}

// ListensTo reports whether the workflow evaluates its trigger on event e.
func (w *Workflow) ListensTo(e Event) bool { return slices.Contains(w.Events, e) }

// Matches runs the enrollment trigger on rec at time now (see triggers.Program.Match).
func (w *Workflow) Matches(rec crm.Record, now time.Time) (bool, error) {
	return w.Trigger.Program.Match(rec, now)
}

// Reads returns the properties a record must hold for the workflow's triggers (enrollment and
// suppression) to decide about it; all is true when they may read any property.
func (w *Workflow) Reads() (props []string, all bool) {
	for _, e := range []*Expr{&w.Trigger, w.suppressionTrigger()} {
		if e == nil || e.Program == nil {
			continue
		}
		p, a := e.Program.Reads()
		if a {
			return nil, true
		}
		for _, name := range p {
			if !slices.Contains(props, name) {
				props = append(props, name)
			}
		}
	}
	return props, false
}

func (w *Workflow) suppressionTrigger() *Expr {
	if w.Suppression == nil {
		return nil
	}
	return w.Suppression.Trigger
}

// Expr is an expression of a workflow: its source, where it is in the file, and its compiled
// program.
type Expr struct {
	// Source is the expression as written (after YAML's unquoting and folding).
	Source string
	// Pos is where the expression's first character is in the file.
	Pos Position
	// Program is the compiled expression, typed against the schema of the workflow's object type.
	Program *triggers.Program
}

// MarshalYAML writes the expression's source.
func (e Expr) MarshalYAML() (any, error) { return e.Source, nil }

// Suppression names the records a workflow never enrolls.
type Suppression struct {
	// Trigger is an expression: a record that matches it is suppressed. Optional.
	Trigger *Expr `yaml:"trigger,omitempty"`
	// Lists are static lists: their members are suppressed. Optional.
	Lists []crm.ListID `yaml:"lists,omitempty,flow"`
}

// Step is one action of a workflow.
type Step struct {
	// Type is the action type, such as delete_contact.
	Type string
	// Params are the action's parameters as written (absent ones left out).
	Params actions.Params
	// Pos is where the step begins in the file.
	Pos Position
	// Action is the configured action, ready to bind and run.
	Action *actions.Configured
}

// MarshalYAML writes the step as a mapping: type first, then the parameters by name.
func (s Step) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k, v string) {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v})
	}
	add("type", s.Type)
	keys := make([]string, 0, len(s.Params))
	for k := range s.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, s.Params[k])
	}
	return n, nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidateName checks a workflow name: 1 to 64 lowercase letters, digits, dashes and underscores,
// starting with a letter or digit (it appears in URLs: /automation/v4/flows/{name}).
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("workflow name %q is invalid: use 1 to 64 lowercase letters, digits, dashes and underscores, starting with a letter or digit, such as clean-bounced-contacts", name)
	}
	return nil
}
