package worker_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/worker"
)

// sandboxed is a workflow whose trigger fails at run time on some records: an index out of range
// (a city without its country code), a division by zero (no notes), an unset property used as a number (no
// phone), the evaluation budget (a company name listing thousands of names, each lowercased in a
// loop). The quotes keep YAML from reading # as a comment.
const sandboxed = `name: sandboxed
object_type: contacts
trigger: 'country == "FR" && split(city, "-")[1] == "FR" && 100 % int(num_notes) == 0 && int(phone) > 0 && none(split(company, ","), lower(company) == #)'
enroll_existing: true
actions:
  - type: set_property
    property: jobtitle
    value: checked
`

// sandboxCase is a contact of the sandboxed workflow's test, and what the trigger does with it.
type sandboxCase struct {
	name  string
	props map[string]string
	// err is a part of the trigger_error's detail; "" when the trigger runs.
	err   string
	match bool
}

func sandboxCases() []sandboxCase {
	return []sandboxCase{
		{name: "Matching", props: map[string]string{"country": "FR", "city": "Paris-FR", "num_notes": "5", "phone": "12", "company": "Acme"}, match: true},
		{name: "NotMatching", props: map[string]string{"country": "DE", "city": "Berlin", "num_notes": "0", "company": "Acme"}},
		{name: "IndexOutOfRange", props: map[string]string{"country": "FR", "city": "Lyon", "num_notes": "5", "phone": "12", "company": "Acme"},
			err: "index out of range: 1 (array length is 1)"},
		{name: "DivisionByZero", props: map[string]string{"country": "FR", "city": "Nice-FR", "phone": "12", "company": "Acme"},
			err: "integer divide by zero"},
		{name: "UnsetPropertyAsNumber", props: map[string]string{"country": "FR", "city": "Lille-FR", "num_notes": "4", "company": "Acme"},
			err: "invalid operation: int()"},
		{name: "PropertyAsNumber", props: map[string]string{"country": "FR", "city": "Metz-FR", "num_notes": "4", "phone": "+33 1 23", "company": "Acme"},
			err: "invalid operation: int(<phone>)"},
		{name: "EvaluationBudget", props: map[string]string{"country": "FR", "city": "Pau-FR", "num_notes": "2", "phone": "7", "company": strings.Repeat("Initech,", 3000)},
			err: "evaluation budget exceeded"},
		{name: "MatchingToo", props: map[string]string{"country": "FR", "city": "Caen-FR", "num_notes": "20", "phone": "7", "company": "Initech,Globex"}, match: true},
	}
}

// checkSandboxed checks what the sandboxed workflow did with the contacts of cases (ids in order):
// the matching ones enrolled and their step run, the failing ones not enrolled, with one
// trigger_error entry naming the error and no value, the others untouched.
func (b *flowBundle) checkSandboxed(t *testing.T, cases []sandboxCase, ids []crm.RecordID) {
	t.Helper()
	for i, c := range cases {
		id := ids[i]
		h := b.history(t, "sandboxed", id)
		enr := b.enrollment(t, "sandboxed", id)
		switch {
		case c.match:
			require.Equal(t, crm.Completed, enr.State, c.name)
			require.Equal(t, []string{"enrolled", "action", "completed"}, kinds(h), c.name)
			require.Equal(t, "checked", b.live(t, id).Properties["jobtitle"], c.name)
		case c.err != "":
			require.Equal(t, crm.EnrollmentState(""), enr.State, "%s: a failing trigger counts as no match", c.name)
			require.Equal(t, []string{"trigger_error"}, kinds(h), c.name)
			require.Contains(t, h[0].Detail, c.err, c.name)
			require.Contains(t, h[0].Detail, `trigger "country == \"FR\" && split(city, \"-\")[1] == \"FR\"`, c.name)
			for name, value := range c.props {
				if len(value) >= 3 {
					require.NotContains(t, h[0].Detail, value[:min(len(value), 20)], "%s: the history names no value (%s)", c.name, name)
				}
			}
			require.Empty(t, b.live(t, id).Properties["jobtitle"], c.name)
		default:
			require.Equal(t, crm.EnrollmentState(""), enr.State, c.name)
			require.Empty(t, h, c.name)
			require.Empty(t, b.live(t, id).Properties["jobtitle"], c.name)
		}
	}
}

// noRetries checks that no task of the queues failed: nothing waits for a retry, nothing was
// archived, and the handlers returned no error.
func (b *flowBundle) noRetries(t *testing.T) {
	t.Helper()
	for _, q := range []string{worker.QueueCritical, worker.QueueDefault, worker.QueueBulk} {
		retry, err := b.insp.ListRetryTasks(q)
		if errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		require.NoError(t, err)
		require.Empty(t, retry, q)
		archived, err := b.insp.ListArchivedTasks(q)
		require.NoError(t, err)
		require.Empty(t, archived, q)
	}
	for _, typ := range []string{worker.TypeWorkflowBackfill, worker.TypeChangesDrain, worker.TypeWorkflowSteps} {
		require.Zero(t, metricValue(t, b.reg, "crmflow_worker_tasks_failed_total", typ), typ)
	}
}

func (b *flowBundle) createContacts(t *testing.T, cases []sandboxCase) []crm.RecordID {
	t.Helper()
	in := make([]crm.RecordInput, len(cases))
	for i, c := range cases {
		in[i] = crm.RecordInput{Properties: c.props}
	}
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, in, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	ids := make([]crm.RecordID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

// TestSandboxTriggerErrorsInBackfillAndDrain runs a workflow whose trigger fails at run time on
// some records through the worker's handlers (the enroll-existing backfill, in batches of 3, then
// the drain of later changes) on a real redis-server: the failing records are not enrolled and
// their history keeps the redacted error, the matching ones are enrolled and their steps run, and
// every handler returns normally, once (no panic, no retry).
func TestSandboxTriggerErrorsInBackfillAndDrain(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 3)
	cases := sandboxCases()
	existing := b.createContacts(t, cases)
	b.drain(t) // no workflow is active: only the backfill can enroll these

	f := b.activate(t, "sandboxed", sandboxed)
	require.NoError(t, b.client.EnqueueWorkflowBackfill(b.ctx, b.tenant, f.Name, f.ActiveRevision))
	b.runTasks(t)
	b.checkSandboxed(t, cases, existing)
	bf, ok, err := b.store.Backfill(b.ctx, b.tenant, f.Name)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, crm.BackfillDone, bf.State)
	require.EqualValues(t, len(cases), bf.Done, "the backfill went past every failing record")
	require.EqualValues(t, 2, bf.Enrolled)
	b.noRetries(t)

	// The same contacts created later reach the workflow through the drain.
	b.clock.Advance(time.Minute)
	drained := b.createContacts(t, cases)
	b.drain(t)
	b.checkSandboxed(t, cases, drained)
	b.noRetries(t)
	require.Zero(t, b.runTasks(t), "nothing is left to run")

	// A record whose trigger failed is not kept out: once it matches, it enrolls.
	b.clock.Advance(time.Minute)
	div := drained[slices.IndexFunc(cases, func(c sandboxCase) bool { return c.name == "DivisionByZero" })]
	b.update(t, div, map[string]string{"num_notes": "10"})
	b.drain(t)
	require.Equal(t, []string{"trigger_error", "enrolled", "action", "completed"}, kinds(b.history(t, "sandboxed", div)))
	require.Equal(t, "checked", b.live(t, div).Properties["jobtitle"])
	b.noRetries(t)
}

// TestSandboxTriggerErrorsOnARunningWorker runs the same workflow on a worker that runs (its asynq
// server, concurrency and retries): the matching contacts are processed, the failing ones recorded,
// and no task fails.
func TestSandboxTriggerErrorsOnARunningWorker(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startWorker(t, b.config())
	fb := &flowBundle{testBundle: b, client: b.client(t)}
	cases := sandboxCases()
	ids := fb.createContacts(t, cases)
	f := fb.activate(t, "sandboxed", sandboxed)
	require.NoError(t, fb.client.EnqueueWorkflowBackfill(b.ctx, b.tenant, f.Name, f.ActiveRevision))
	eventually(t, 20*time.Second, "the backfill and the steps of the matching contacts", func() bool {
		bf, ok, err := b.store.Backfill(b.ctx, b.tenant, f.Name)
		require.NoError(t, err)
		if !ok || bf.State != "done" {
			return false
		}
		for i, c := range cases {
			if c.match && b.enrollmentState(t, ids[i]) != crm.Completed {
				return false
			}
		}
		return true
	})
	fb.checkSandboxed(t, cases, ids)
	fb.noRetries(t)
	require.Positive(t, metricValue(t, b.reg, "crmflow_worker_tasks_processed_total", worker.TypeWorkflowBackfill))
}

func (b *testBundle) enrollmentState(t *testing.T, id crm.RecordID) crm.EnrollmentState {
	t.Helper()
	enr, err := b.store.Enrollments(b.ctx, b.tenant, "sandboxed", crm.Contacts, []crm.RecordID{id})
	require.NoError(t, err)
	return enr[0].State
}
