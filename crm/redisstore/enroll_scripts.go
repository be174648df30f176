package redisstore

import (
	"strconv"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// evaluateFlowScript applies one workflow's verdicts on a batch of records: it enrolls, unenrolls
// or records a suppression, re-checking every condition here so that a retried batch changes
// nothing more.
// See lua/evaluate_flow.lua for its KEYS and ARGV.
var evaluateFlowScript = newScript[evaluateFlowCall]("history", "evaluate_flow")

// evaluateFlowCall is a call of evaluateFlowScript (lua/evaluate_flow.lua).
type evaluateFlowCall struct {
	Flow, Enrolled, Matching, Log string
	Backfill, Lease               string // the workflow's backfill and its lease

	At           int64 // unix ms
	Revision     int64 // evaluated
	Reenrollment bool  // sent as 1 or 0
	// Runner is the backfill runner whose batch this is ("": not a backfill's); the script then
	// records Progress, with its enrolled count plus the batch's, updated at At.
	Runner   string
	Progress crm.Backfill
	NoMatch  []string // the members of the records that do not match
	// Verdicts are the other verdicts, each with its record's enrollment, history and record keys
	// (KEYS).
	Verdicts []flowVerdict
}

// verdictManual is the verdict of a person asking to enroll a record (EnrollManually).
const verdictManual crm.Verdict = "manual"

// flowVerdict is a verdict other than "nomatch" on one record, in an evaluateFlowCall.
type flowVerdict struct {
	Enrollment, History, Record string // the record's keys

	Member  string
	Verdict crm.Verdict
	Detail  string
}

func (c evaluateFlowCall) keys() []string {
	out := make([]string, 0, 6+3*len(c.Verdicts))
	out = append(out, c.Flow, c.Enrolled, c.Matching, c.Log, c.Backfill, c.Lease)
	for _, v := range c.Verdicts {
		out = append(out, v.Enrollment, v.History, v.Record)
	}
	return out
}

func (c evaluateFlowCall) argv() []any {
	var progress []any
	if c.Runner != "" {
		progress = backfillFields(c.Progress, time.UnixMilli(c.At))
	}
	out := make([]any, 0, 10+len(progress)+len(c.NoMatch)+3*len(c.Verdicts))
	out = append(out, c.At, c.Revision, flag(c.Reenrollment), c.Runner, c.Progress.Enrolled, len(progress),
		crm.MaxReenrollments, crm.ReenrollmentWindow.Milliseconds(), crm.FormatWindow(crm.ReenrollmentWindow))
	out = append(out, progress...)
	out = append(out, len(c.NoMatch))
	out = append(out, strArgs(c.NoMatch)...)
	for _, v := range c.Verdicts {
		out = append(out, v.Member, string(v.Verdict), v.Detail)
	}
	return out
}

// advanceStepsScript records the results of one step of a workflow for a batch of records and
// moves each to its next step, once: a record not at that step (already advanced by an earlier run)
// is left alone.
// See lua/advance_steps.lua for its KEYS and ARGV.
var advanceStepsScript = newScript[advanceStepsCall]("history", "advance_steps")

// advanceStepsCall is a call of advanceStepsScript (lua/advance_steps.lua).
type advanceStepsCall struct {
	Enrolled, Log string

	At          int64 // unix ms
	Revision    int64
	Step, Steps int    // the step index and the number of steps
	Action      string // the action type
	By          string // the user the workflow acts for
	// Results are the records' results, each with its record's enrollment and history keys (KEYS).
	Results []stepResult
}

// stepResult is one record's result of a step, in an advanceStepsCall.
type stepResult struct {
	Enrollment, History string // the record's keys

	Member  string
	Outcome string // done, unchanged, skipped, wait, failed
	Detail  string
	Due     int64 // the next step's due time, unix ms
	Stop    bool  // end the enrollment here; sent as 1 or 0
}

func (c advanceStepsCall) keys() []string {
	out := make([]string, 0, 2+2*len(c.Results))
	out = append(out, c.Enrolled, c.Log)
	for _, r := range c.Results {
		out = append(out, r.Enrollment, r.History)
	}
	return out
}

func (c advanceStepsCall) argv() []any {
	out := make([]any, 0, 6+5*len(c.Results))
	out = append(out, c.At, c.Revision, c.Step, c.Steps, c.Action, c.By)
	for _, r := range c.Results {
		out = append(out, r.Member, r.Outcome, r.Detail, r.Due, flag(r.Stop))
	}
	return out
}

// rescheduleStepsScript moves when the next step of records still waiting at a step of a
// revision is due.
// See lua/reschedule_steps.lua for its KEYS and ARGV.
var rescheduleStepsScript = newScript[rescheduleStepsCall]("reschedule_steps")

// rescheduleStepsCall is a call of rescheduleStepsScript (lua/reschedule_steps.lua).
type rescheduleStepsCall struct {
	Enrolled string

	Revision int64
	// Dues are the records' new due times, each with its record's enrollment key (KEYS).
	Dues []stepDue
}

// stepDue is one record's new due time, in a rescheduleStepsCall.
type stepDue struct {
	Enrollment string // the record's key

	Member string
	Step   int
	Count  int   // 0: any
	Due    int64 // unix ms
}

func (c rescheduleStepsCall) keys() []string {
	out := make([]string, 0, 1+len(c.Dues))
	out = append(out, c.Enrolled)
	for _, d := range c.Dues {
		out = append(out, d.Enrollment)
	}
	return out
}

func (c rescheduleStepsCall) argv() []any {
	out := make([]any, 0, 1+4*len(c.Dues))
	out = append(out, c.Revision)
	for _, d := range c.Dues {
		out = append(out, d.Member, d.Step, d.Count, d.Due)
	}
	return out
}

// moveEnrollmentsScript moves the records enrolled at an older revision of a workflow, waiting at a
// step, on to its active revision, where they continue at the same step; a record whose step the
// active revision does not have completes there.
// See lua/move_enrollments.lua for its KEYS and ARGV.
var moveEnrollmentsScript = newScript[moveEnrollmentsCall]("history", "move_enrollments")

// moveEnrollmentsCall is a call of moveEnrollmentsScript (lua/move_enrollments.lua).
type moveEnrollmentsCall struct {
	Flow, Enrolled, Log string
	// Enrollments and Histories are the enrollment and the history keys of each of Members.
	Enrollments, Histories []string

	At       int64 // unix ms
	From, To int64 // the older and the active revision
	Step     int
	Steps    int // the active revision's number of steps
	Members  []string
}

func (c moveEnrollmentsCall) keys() []string {
	out := make([]string, 0, 3+2*len(c.Members))
	out = append(out, c.Flow, c.Enrolled, c.Log)
	for i := range c.Enrollments {
		out = append(out, c.Enrollments[i], c.Histories[i])
	}
	return out
}

func (c moveEnrollmentsCall) argv() []any {
	return append([]any{c.At, c.From, c.To, c.Step, c.Steps}, strArgs(c.Members)...)
}

// ackChangesScript forgets the drained states of changed records: those numbered up to the last one
// drained.
// See lua/ack_changes.lua for its KEYS and ARGV.
var ackChangesScript = newScript[ackChangesCall]("ack_changes").quiet()

// ackChangesCall is a call of ackChangesScript (lua/ack_changes.lua).
type ackChangesCall struct {
	Changed, ChangedEvents string

	Marks []ackMark
}

// ackMark is one change mark to forget, in an ackChangesCall.
type ackMark struct {
	Member  string
	Score   float64 // as read
	LastSeq int64   // the number of its last state drained (0: none numbered)
}

func (c ackChangesCall) keys() []string { return []string{c.Changed, c.ChangedEvents} }
func (c ackChangesCall) argv() []any {
	out := make([]any, 0, 3*len(c.Marks))
	for _, m := range c.Marks {
		out = append(out, m.Member, strconv.FormatFloat(m.Score, 'f', -1, 64), m.LastSeq)
	}
	return out
}
