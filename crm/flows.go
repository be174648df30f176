package crm

import (
	"errors"
	"fmt"
	"time"
)

// FlowState is the state of a workflow.
type FlowState string

// The states of a workflow.
const (
	FlowDraft  FlowState = "draft"  // stored, never activated
	FlowActive FlowState = "active" // enrolls records and runs actions
	FlowPaused FlowState = "paused" // enrolls nothing and runs no action
)

// Flow is a stored workflow: its definition lives in its revisions, as YAML.
type Flow struct {
	Name       string
	ObjectType ObjectType
	State      FlowState
	// Revision is the latest stored revision; ActiveRevision the one activated (0 if never).
	Revision, ActiveRevision int64
	// PausedReason says, in English, why a paused workflow was paused ("" when paused by a user).
	PausedReason string
	// PausedCode names the reason for programs, and PausedParams holds the values its sentence
	// names (see PauseCode), so that a client tells the reasons apart and words them in its own
	// language. Both are empty when a user paused the workflow, and for a workflow that paused
	// itself before codes were kept: PausedReason alone says why.
	PausedCode   PauseCode
	PausedParams map[string]string
	// ActivatedBy is the user who activated the workflow: it acts with that user's authority
	// (SPEC S23). Empty for a workflow never activated.
	ActivatedBy string
	// ActivatedSeq is the tenant's change counter at the activation: the workflow evaluates only
	// the record writes numbered after it (ChangeState.Seq). An activation of a workflow that was
	// active already keeps the one before it, unless the new revision's triggers read a property
	// the older ones did not.
	ActivatedSeq int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// ActivatedAt is when the workflow was last activated; zero for a workflow never activated.
	ActivatedAt time.Time
	// Activation numbers the workflow's activations, 1 for the first: each activation takes the
	// next number, so that two activations made in the same millisecond (a pause and an activation
	// in between) are still told apart. It names, with ActivatedAt, the activation a notify_user
	// email was queued under (MailRef.Activation). 0 for a workflow never activated, or last
	// activated by a version that did not number its activations.
	Activation int64
}

// FlowRevision is one stored revision of a workflow.
type FlowRevision struct {
	Flow      string
	Revision  int64
	Source    string
	By        string
	CreatedAt time.Time
	// Erased is set when a permanent delete erased an email address the source named (SPEC S9):
	// the address was replaced, the source no longer parses, and the revision cannot be activated.
	Erased bool
}

// ErasedAddress replaces each email address a permanent delete erases from a workflow revision's
// source (SPEC S9), and ErasedField is the first key such a source gets: no workflow file may hold
// the field, so the source no longer parses. The store writes them, the workflow parser reports
// them.
const (
	ErasedAddress = "<erased email>"
	ErasedField   = "erased"
)

// ErasedRevisionError is the error of using (activating, previewing, enrolling with) revision rev
// of workflow name after a permanent delete erased an address from it (FlowRevision.Erased).
func ErasedRevisionError(name string, rev int64) error {
	return &ConflictError{Message: fmt.Sprintf("workflow %s revision %d was erased by a permanent delete: it named the email address "+
		"of a contact deleted permanently, which was replaced, so it no longer holds the workflow as written and cannot run; "+
		"store a new revision without that address, then activate it", name, rev)}
}

// PlanError means the tenant's plan does not include what was asked (activating a workflow).
type PlanError struct {
	Plan Plan
}

func (e *PlanError) Error() string {
	return fmt.Sprintf("the %s plan does not include workflow automation: upgrade to professional or enterprise to activate workflows (you can still write, validate and preview them)", e.Plan)
}

// ActivateFlowParams are the inputs of ActivateFlow.
type ActivateFlowParams struct {
	// By is the activating user's email. Required: the workflow acts with that user's authority.
	By string
	// Revision is the revision the caller checked (its actions against By's permissions). When
	// set, activation is refused with a *ConflictError if another revision was stored since. 0
	// activates the latest revision.
	Revision int64
	// Reads are the properties the revision's triggers read (enrollment and suppression), "*" for
	// any: every record write of the type keeps their values for the engine (see
	// TriggerReadsKey). nil means any.
	Reads []string
}

// PauseCode is the stable, machine-readable name of the reason a workflow paused itself
// (Flow.PausedCode), beside its English sentence (Flow.PausedReason). Each code's sentence names
// the values kept in Flow.PausedParams under the keys listed with it; every value is a string.
type PauseCode string

// The reasons a workflow pauses itself.
const (
	// PauseDeletionLimit: its blast-radius limit refused a deletion (SPEC S24). Params
	// "maxDeletions" (a number) and "per" (the window, as a workflow file writes it: "1h").
	PauseDeletionLimit PauseCode = "DELETION_LIMIT_REACHED"
	// PauseActivatorUnknown: no activating user is recorded for it (SPEC S23). No params.
	PauseActivatorUnknown PauseCode = "ACTIVATOR_UNKNOWN"
	// PauseActivatorRemoved: its activator is no longer a user of the tenant. Param "activator".
	PauseActivatorRemoved PauseCode = "ACTIVATOR_REMOVED"
	// PauseActivatorDisabled: its activator was disabled. Param "activator".
	PauseActivatorDisabled PauseCode = "ACTIVATOR_DISABLED"
	// PauseActivatorLacksPermission: its activator no longer holds a permission its actions need.
	// Params "activator" and "permissions" (the missing ones, comma-separated: "delete,bulk_delete").
	PauseActivatorLacksPermission PauseCode = "ACTIVATOR_LACKS_PERMISSION"
	// PauseRevisionInvalid: its active revision no longer validates against the tenant's
	// properties. Params "revision" (a number) and "problem" (the validation error, in English).
	PauseRevisionInvalid PauseCode = "REVISION_INVALID"
	// PauseContactErased: a permanent delete erased an email address its active revision named
	// (SPEC S9). No params: it names no address.
	PauseContactErased PauseCode = "CONTACT_ERASED"
	// PauseUndo: an undo of its activation's deletions started (SPEC S26). Params "undoJob" (the
	// undo job's id) and "by" (the user who asked).
	PauseUndo PauseCode = "UNDO_STARTED"
	// PausePlanDowngraded: the tenant moved to a plan without workflows (SPEC S18). Param "plan".
	PausePlanDowngraded PauseCode = "PLAN_DOWNGRADED"
)

// PauseOpts are options of PauseFlow. nil means the defaults.
type PauseOpts struct {
	// Reason says, in English, why the workflow pauses, for GET /automation/v4/flows/{name}.
	// Empty means a user paused it.
	Reason string
	// Code names Reason for programs, with the values it names in Params (see PauseCode). Empty
	// for a user's pause.
	Code   PauseCode
	Params map[string]string
	// IfActivatedAt pauses the workflow only if its activation is still the one made at that time
	// (Flow.ActivatedAt): a workflow activated again since is left as it is, and PauseFlow returns
	// ErrFlowReactivated. Zero pauses it whatever its activation.
	IfActivatedAt time.Time
	// IfActivation is, with IfActivatedAt, that activation's number (Flow.Activation): a
	// workflow paused and activated again within the same millisecond is then told apart too.
	// 0 (a workflow last activated by a version that did not number its activations) compares
	// IfActivatedAt alone.
	IfActivation int64
}

// ErrFlowReactivated means a conditional PauseFlow found the workflow activated again since.
var ErrFlowReactivated = errors.New("crm: the workflow was activated again since")
