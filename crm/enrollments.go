package crm

import (
	"slices"
	"strconv"
	"time"
)

// Verdict is the workflow engine's finding about one record for one workflow (see evaluateFlowScript).
type Verdict string

// The verdicts.
const (
	VerdictMatch      Verdict = "match"
	VerdictNoMatch    Verdict = "nomatch"
	VerdictUnmatch    Verdict = "unmatch"
	VerdictError      Verdict = "error"
	VerdictSuppressed Verdict = "suppressed"
	// VerdictSuppressedNoMatch: the record matches the suppression criteria but not the trigger. It
	// is unenrolled if enrolled, and otherwise leaves no history entry (most suppressed records of a
	// backfill never matched).
	VerdictSuppressedNoMatch Verdict = "suppressed_nomatch"
	VerdictDeleted           Verdict = "deleted"
)

// FlowVerdict is a verdict on one record.
type FlowVerdict struct {
	ID      RecordID
	Verdict Verdict
	// Detail is kept in the history (the trigger's run-time error, the suppression's reason). It names
	// no property values.
	Detail string
}

// FlowRef names one revision of one workflow of an object type.
type FlowRef struct {
	Name         string
	Revision     int64
	ObjectType   ObjectType
	Reenrollment bool
	// By is the user the workflow acts for (its activator, SPEC S23): AdvanceSteps records it in
	// each action's history entry. Optional.
	By string
	// ActivatedAt is the workflow's activation the steps run under (Flow.ActivatedAt): a
	// notify_user step's email names it, and is delivered only while it is the current one.
	// Optional; the store does not read it.
	ActivatedAt time.Time
	// Activation is that activation's number (Flow.Activation), which the email names beside
	// ActivatedAt. Optional; the store does not read it.
	Activation int64
}

// StepResult is what one step did to one record.
type StepResult struct {
	ID      RecordID
	Outcome string // done, unchanged, skipped, wait, failed
	Detail  string
	// Due is when the next step may run (now, or the end of a delay).
	Due time.Time
	// Stop ends the enrollment after this step (a failure that cannot be retried, a deleted record).
	Stop bool
}

// Enrollment is one record's enrollment in a workflow.
type Enrollment struct {
	ID         RecordID
	State      EnrollmentState // "" when never enrolled
	Revision   int64
	Step       int
	Count      int
	EnrolledAt time.Time
	// Due is when its next step is due; zero when it is not enrolled.
	Due time.Time
}

// StepDue moves the time a record's next step is due (EnrollmentStore.RescheduleSteps): a record
// waiting out a delay until a date that was written while it waited.
type StepDue struct {
	ID RecordID
	// Step is the step the record waits at: nothing moves unless it still waits there.
	Step int
	// Count is the enrollment it waits in (Enrollment.Count): nothing moves unless it is still
	// that one. 0 means any.
	Count int
	// Due is when the step may run now.
	Due time.Time
}

// MaxReenrollments and ReenrollmentWindow cut loops between workflows with re-enrollment (two
// workflows that set each other's trigger back and forth): a workflow enrolls one record by its
// trigger at most MaxReenrollments times within any ReenrollmentWindow. The next enrollment by
// the trigger is refused, with a "reenroll_refused" entry in the record's history; the
// workflow stays active and its other records are unaffected. Manual enrollments are neither
// counted nor refused.
const (
	MaxReenrollments   = 10
	ReenrollmentWindow = 24 * time.Hour
)

// EnrollmentState is the state of a record's enrollment in a workflow.
type EnrollmentState string

// The states of an enrollment.
const (
	Enrolled   EnrollmentState = "enrolled"   // the record is in the workflow; its steps run
	Completed  EnrollmentState = "completed"  // every step ran
	Unenrolled EnrollmentState = "unenrolled" // it left before the end (suppressed, deleted, no longer matching)
)

// HistoryEntry is one event of a record in a workflow.
type HistoryEntry struct {
	At       time.Time `json:"-"`
	RawAt    string    `json:"at"`
	Kind     string    `json:"kind"` // one of HistoryKinds
	Revision string    `json:"revision"`
	Step     *int      `json:"step,omitempty"`
	Action   string    `json:"action,omitempty"`
	Outcome  string    `json:"outcome,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	// By is, for an action, the user the workflow acted for (its activator).
	By string `json:"by,omitempty"`
}

// historyKinds are the kinds of HistoryEntry, in the order an enrollment meets them.
var historyKinds = []string{"enrolled", "suppressed", "trigger_error", "reenroll_refused", "action", "completed", "moved", "unenrolled"}

// HistoryKinds returns the kinds of a HistoryEntry (its Kind), in the order an enrollment meets
// them: enrolled, suppressed, trigger_error, reenroll_refused (see MaxReenrollments), action,
// completed, moved (to another revision of its workflow) and unenrolled. A FlowLogQuery's Kinds are some of them. It returns a new slice at each
// call, and is safe for concurrent use.
func HistoryKinds() []string { return slices.Clone(historyKinds) }

// FlowLogEntry is one entry of a workflow's history as a whole: a record's history entry, and the
// record.
type FlowLogEntry struct {
	// Cursor names the entry in the log: FlowLogQuery.Before it reads the entries older than it.
	Cursor     string
	ObjectType ObjectType
	ID         RecordID
	HistoryEntry
}

// MaxFlowLogLimit is the most entries one FlowLog page holds; DefaultFlowLogLimit the page size
// when FlowLogQuery.Limit is 0.
const (
	MaxFlowLogLimit     = 500
	DefaultFlowLogLimit = 100
)

// FlowLogQuery selects a page of a workflow's log.
type FlowLogQuery struct {
	// Before is the Cursor of the last entry of the previous page; "" starts at the newest.
	Before string
	// Limit is the page size, 1 to MaxFlowLogLimit; 0 means DefaultFlowLogLimit.
	Limit int
	// Kinds keeps only the entries of these kinds (HistoryEntry.Kind); empty keeps every kind.
	Kinds []string
}

// FlowLogPage is one page of a workflow's log, newest first. Next is the Before of the next page,
// "" at the end; a page with a filter may hold fewer than Limit entries and still have a Next.
type FlowLogPage struct {
	Entries []FlowLogEntry
	Next    string
}

// Actor describes who an action entry acted as: "USER via workflow FLOW (revision R)".
func (h HistoryEntry) Actor(flow string) string {
	if h.Kind != "action" {
		return ""
	}
	rev, _ := strconv.ParseInt(h.Revision, 10, 64)
	return describeWorkflowActor(h.By, flow, rev)
}

// Event is the kind of write a change state records, as one letter (the form the change marks keep
// in Redis and the engine reads in Change.Events).
type Event string

// The events of record writes.
const (
	EventCreated   Event = "c" // the record was created
	EventUpdated   Event = "u" // its properties changed
	EventDeleted   Event = "d" // it was moved to the bin
	EventRestored  Event = "r" // it was restored from the bin
	EventPermanent Event = "p" // it was deleted permanently
	EventListed    Event = "l" // it was added to a static list
)

// Change is a record the engine has still to look at: the states its writes left since it last
// looked, oldest first.
type Change struct {
	Type ObjectType
	ID   RecordID
	// Events are the letters of the states' events (Event), in order: c created, u updated, d
	// deleted, r restored, p permanently deleted, l added to a list.
	Events string
	// States are what each write left, oldest first.
	States []ChangeState
	// Mark is the store's handle on the marks the change was read from: AckChanges compares it,
	// so that it removes only what was read. Callers pass it back untouched.
	Mark ChangeMark
}

// ChangeMark is a store's handle on one record's change marks (see Change.Mark).
type ChangeMark struct {
	Member string  // the marked record, as the store names it
	Score  float64 // the mark's version when it was read
}

// ChangeState is what one record write left for the engine.
type ChangeState struct {
	// Seq numbers the write among the tenant's writes; 0 for a state of the older format, which
	// every active workflow evaluates. A workflow evaluates the states numbered after its
	// activation (Flow.ActivatedSeq).
	Seq int64
	// Event is the write's event.
	Event Event
	// Values are the properties that the active triggers of the record's type read, as the write
	// left them (a property not set is absent); nil when the write kept none (a delete, a list
	// join, or no workflow of the type active).
	Values map[string]string
}

// LastSeq is the number of the change's last state, 0 when none is numbered.
func (c Change) LastSeq() int64 {
	var last int64
	for _, st := range c.States {
		last = max(last, st.Seq)
	}
	return last
}
