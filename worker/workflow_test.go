package worker_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/worker"
)

// tFuture is the simulated time of the workflow tests: after the wall clock, so that a delayed
// step's task (asynq.ProcessAt) is really scheduled in the queue.
var tFuture = time.Date(2040, 1, 1, 9, 0, 0, 0, time.UTC)

// flowBundle is a testBundle with a worker that is not running: tests run its tasks one by one
// through ProcessTask (runTasks), with the simulated clock deciding which scheduled tasks are due.
type flowBundle struct {
	*testBundle
	w      *worker.Worker
	client *worker.Client
}

func setupFlows(t *testing.T, batch int) *flowBundle {
	t.Helper()
	b := setup(t)
	b.clock.Set(tFuture)
	cfg := b.config()
	cfg.WorkflowBatchSize = batch
	w, err := worker.New(b.store, b.queue, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return &flowBundle{testBundle: b, w: w, client: b.client(t)}
}

// runTasks runs every pending task, and every scheduled task due by the simulated clock, through
// the worker, until none is left; it returns how many it ran. Each task is taken off the queue
// before it runs, as a server would.
func (b *flowBundle) runTasks(t *testing.T) int {
	t.Helper()
	ran := 0
	for round := 0; ; round++ {
		require.Less(t, round, 100, "tasks keep coming")
		var due []*asynq.TaskInfo
		for _, q := range []string{worker.QueueCritical, worker.QueueDefault, worker.QueueBulk} {
			pending, err := b.insp.ListPendingTasks(q, asynq.PageSize(1000))
			if errors.Is(err, asynq.ErrQueueNotFound) {
				continue
			}
			require.NoError(t, err)
			due = append(due, pending...)
			scheduled, err := b.insp.ListScheduledTasks(q, asynq.PageSize(1000))
			require.NoError(t, err)
			for _, s := range scheduled {
				if !s.NextProcessAt.After(b.clock.Now()) {
					due = append(due, s)
				}
			}
		}
		if len(due) == 0 {
			return ran
		}
		for _, ti := range due {
			require.NoError(t, b.insp.DeleteTask(ti.Queue, ti.ID))
			require.NoError(t, b.w.ProcessTask(b.ctx, asynq.NewTask(ti.Type, ti.Payload)), "%s %s", ti.Type, ti.Payload)
			ran++
		}
	}
}

// drain runs a changes:drain of the tenant and every task it leads to.
func (b *flowBundle) drain(t *testing.T) {
	t.Helper()
	require.NoError(t, b.client.EnqueueChangesDrain(b.ctx, b.tenant, b.clock.Now()))
	b.runTasks(t)
}

// activatorEmail is the user the tests' workflows are activated by: a user with every permission.
const activatorEmail = "activator@example.com"

// activator makes sure the tenant has the activating user, with every permission, and returns its email.
func (b *flowBundle) activator(t *testing.T) string {
	t.Helper()
	_, err := b.store.CreateUser(b.ctx, b.tenant, activatorEmail, crm.AllPermissions, "admin@example.com")
	if !errors.Is(err, crm.ErrUserExists) {
		require.NoError(t, err)
	}
	return activatorEmail
}

// activate stores a workflow and activates it.
func (b *flowBundle) activate(t *testing.T, name, src string) crm.Flow {
	t.Helper()
	_, _, err := b.store.PutFlow(b.ctx, b.tenant, name, crm.Contacts, src, "ops@example.com")
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(b.ctx, b.tenant, name, crm.ActivateFlowParams{By: b.activator(t)})
	require.NoError(t, err)
	return f
}

func (b *flowBundle) contact(t *testing.T, props map[string]string) crm.RecordID {
	t.Helper()
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: props}}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	return recs[0].ID
}

func (b *flowBundle) update(t *testing.T, id crm.RecordID, props map[string]string) {
	t.Helper()
	_, err := b.store.UpdateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: id, Properties: props}}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
}

func (b *flowBundle) live(t *testing.T, id crm.RecordID) crm.Record {
	t.Helper()
	rec, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, id, nil)
	require.NoError(t, err)
	return rec
}

func (b *flowBundle) enrollment(t *testing.T, flow string, id crm.RecordID) crm.Enrollment {
	t.Helper()
	enr, err := b.store.Enrollments(b.ctx, b.tenant, flow, crm.Contacts, []crm.RecordID{id})
	require.NoError(t, err)
	return enr[0]
}

func (b *flowBundle) history(t *testing.T, flow string, id crm.RecordID) []crm.HistoryEntry {
	t.Helper()
	h, err := b.store.History(b.ctx, b.tenant, flow, crm.Contacts, id)
	require.NoError(t, err)
	return h
}

func kinds(h []crm.HistoryEntry) []string {
	out := make([]string, len(h))
	for i, e := range h {
		out[i] = e.Kind
	}
	return out
}

// scheduledSteps returns the workflow:steps tasks scheduled in the default queue.
func (b *flowBundle) scheduledSteps(t *testing.T) []*asynq.TaskInfo {
	t.Helper()
	tasks, err := b.insp.ListScheduledTasks(worker.QueueDefault, asynq.PageSize(1000))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	require.NoError(t, err)
	return slices.DeleteFunc(tasks, func(ti *asynq.TaskInfo) bool { return ti.Type != worker.TypeWorkflowSteps })
}

// runScheduledSteps runs the workflow steps scheduled now, each once and taken off the queue,
// without the drain of the changes: a step that comes due before the engine has seen a write.
func (b *flowBundle) runScheduledSteps(t *testing.T) {
	t.Helper()
	for _, task := range b.scheduledSteps(t) {
		require.NoError(t, b.insp.DeleteTask(task.Queue, task.ID))
		require.NoError(t, b.w.ProcessTask(b.ctx, asynq.NewTask(task.Type, task.Payload)))
	}
}

const cleanBounced = `name: clean-bounced-contacts
object_type: contacts
trigger: email_bounced
enroll_existing: true
suppression:
  trigger: lifecyclestage == "customer"
actions:
  - type: delete_contact
`

func TestWorkflowEnrollExistingDeletesExactlyTheMatchingContacts(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 50) // 1105 contacts: 23 batches, so the backfill continues in a second task
	var all, bounced, suppressed []crm.RecordID
	in := make([]crm.RecordInput, 1105)
	for i := range in {
		props := map[string]string{"firstname": fmt.Sprintf("c%d", i)}
		if i%50 == 7 {
			props["email_bounced"] = "true"
		}
		if i%100 == 7 {
			props["lifecyclestage"] = "customer"
		}
		in[i] = crm.RecordInput{Properties: props}
	}
	for start := 0; start < len(in); start += 500 {
		recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, in[start:min(start+500, len(in))], crm.Actor{User: "ops@example.com"})
		require.NoError(t, err)
		for _, r := range recs {
			all = append(all, r.ID)
			switch {
			case r.Properties["lifecyclestage"] == "customer":
				suppressed = append(suppressed, r.ID)
			case r.Properties["email_bounced"] == "true":
				bounced = append(bounced, r.ID)
			}
		}
	}
	require.Len(t, bounced, 11)
	require.Len(t, suppressed, 11)
	// The creations are drained while no workflow is active: only enroll-existing can enroll them.
	b.drain(t)

	f := b.activate(t, "clean-bounced-contacts", cleanBounced)
	require.NoError(t, b.client.EnqueueWorkflowBackfill(b.ctx, b.tenant, f.Name, f.ActiveRevision))
	require.NoError(t, b.client.EnqueueWorkflowBackfill(b.ctx, b.tenant, f.Name, f.ActiveRevision), "a second enqueue is harmless")
	pending, err := b.insp.ListPendingTasks(worker.QueueBulk)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	b.runTasks(t)
	// The progress is kept where the API shows it: every live record looked at, total as at the start.
	bf, ok, err := b.store.Backfill(b.ctx, b.tenant, f.Name)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, crm.BackfillDone, bf.State)
	require.EqualValues(t, len(all), bf.Total)
	require.EqualValues(t, len(all), bf.Done)
	require.EqualValues(t, len(bounced), bf.Enrolled)

	bin, err := b.store.ListRecords(b.ctx, b.tenant, crm.Contacts, &crm.ListOpts{Archived: true, Limit: 100})
	require.NoError(t, err)
	var binned []crm.RecordID
	for _, r := range bin.Records {
		binned = append(binned, r.ID)
		require.Equal(t, crm.ViaWorkflow, r.Deletion.Via)
		require.Equal(t, "clean-bounced-contacts", r.Deletion.Ref)
	}
	require.ElementsMatch(t, bounced, binned, "exactly the matching contacts are in the bin")
	for _, id := range bounced {
		enr := b.enrollment(t, f.Name, id)
		require.Equal(t, crm.Completed, enr.State)
		require.Equal(t, 1, enr.Count, "enrolled once")
		h := b.history(t, f.Name, id)
		require.Equal(t, []string{"enrolled", "action", "completed"}, kinds(h))
		require.Equal(t, "delete_contact", h[1].Action)
		require.Equal(t, "done", h[1].Outcome)
	}
	for _, id := range suppressed {
		require.Equal(t, crm.EnrollmentState(""), b.enrollment(t, f.Name, id).State)
		require.Equal(t, []string{"suppressed"}, kinds(b.history(t, f.Name, id)))
	}
	require.Empty(t, b.history(t, f.Name, all[0]), "a contact that never matched has no history")

	// The deletions' own change marks are drained: the workflow's own deletes change nothing.
	b.drain(t)
	for _, id := range bounced {
		require.Equal(t, []string{"enrolled", "action", "completed"}, kinds(b.history(t, f.Name, id)))
	}

	// A later update that makes another contact match enrolls it, through the drain.
	b.clock.Advance(time.Minute)
	b.update(t, all[1], map[string]string{"email_bounced": "true"})
	b.drain(t)
	bin, err = b.store.ListRecords(b.ctx, b.tenant, crm.Contacts, &crm.ListOpts{Archived: true, Limit: 100})
	require.NoError(t, err)
	require.Len(t, bin.Records, len(bounced)+1)
	require.Equal(t, []string{"enrolled", "action", "completed"}, kinds(b.history(t, f.Name, all[1])))
	require.EqualValues(t, len(bounced)+1, metricValue(t, b.reg, "crmflow_workflow_enrolled_total", "contacts"))
}

func TestWorkflowBackfillResumesFromItsCursor(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	var ids []crm.RecordID
	for range 4 {
		ids = append(ids, b.contact(t, map[string]string{"email_bounced": "true"}))
	}
	b.drain(t)
	f := b.activate(t, "clean-bounced-contacts", cleanBounced)
	// A backfill that crashed after the first two records is run again from its cursor.
	task, err := worker.NewWorkflowBackfillTask(worker.WorkflowBackfillPayload{TenantID: b.tenant, Workflow: f.Name,
		Revision: f.ActiveRevision, After: string(ids[1]), Done: 2})
	require.NoError(t, err)
	require.NoError(t, b.w.ProcessTask(b.ctx, task))
	b.runTasks(t)
	for i, id := range ids {
		_, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, id, nil)
		if i < 2 {
			require.NoError(t, err, "before the cursor: not looked at again")
		} else {
			require.ErrorIs(t, err, crm.ErrNotFound, "after the cursor: deleted")
		}
	}
	// A backfill of a revision that is not the active one does nothing.
	task, err = worker.NewWorkflowBackfillTask(worker.WorkflowBackfillPayload{TenantID: b.tenant, Workflow: f.Name, Revision: f.ActiveRevision + 1})
	require.NoError(t, err)
	require.NoError(t, b.w.ProcessTask(b.ctx, task))
	require.Zero(t, b.runTasks(t))
	_, err = b.store.Record(b.ctx, b.tenant, crm.Contacts, ids[0], nil)
	require.NoError(t, err)
	// A bad payload is not retried.
	require.ErrorIs(t, b.w.ProcessTask(b.ctx, asynq.NewTask(worker.TypeWorkflowBackfill, []byte(`{"tenant_id":"x"}`))), asynq.SkipRetry)
}

const nurture = `name: nurture
object_type: contacts
trigger: lifecyclestage == "lead"
actions:
  - type: delay
    duration: 1d
  - type: set_property
    property: hs_lead_status
    value: new
`

func TestPausedWorkflowRunsNoActionsAndEnrollsNothing(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	f := b.activate(t, "nurture", nurture)
	a := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	b.drain(t)
	require.Equal(t, crm.Enrollment{ID: a, State: "enrolled", Revision: f.ActiveRevision, Step: 1, Count: 1, EnrolledAt: tFuture,
		Due: tFuture.Add(24 * time.Hour)},
		b.enrollment(t, "nurture", a))
	require.Len(t, b.scheduledSteps(t), 1)

	_, err := b.store.PauseFlow(b.ctx, b.tenant, "nurture", nil)
	require.NoError(t, err)
	c := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	b.drain(t)
	require.Equal(t, crm.EnrollmentState(""), b.enrollment(t, "nurture", c).State, "a paused workflow enrolls nothing (S20)")
	require.Empty(t, b.history(t, "nurture", c))

	// The delayed step comes due while the workflow is paused: no action runs, A stays enrolled.
	b.clock.Advance(25 * time.Hour)
	require.Equal(t, 1, b.runTasks(t))
	require.Empty(t, b.live(t, a).Properties["hs_lead_status"])
	require.Equal(t, []string{"enrolled", "action"}, kinds(b.history(t, "nurture", a)))
	enr := b.enrollment(t, "nurture", a)
	require.Equal(t, crm.Enrolled, enr.State)
	require.Equal(t, 1, enr.Step)

	// Active again: the workflow sweep finds A's overdue step and runs it.
	_, err = b.store.ActivateFlow(b.ctx, b.tenant, "nurture", crm.ActivateFlowParams{By: b.activator(t)})
	require.NoError(t, err)
	_, err = b.client.Enqueue(b.ctx, worker.NewWorkflowSweepTask(b.clock.Now()))
	require.NoError(t, err)
	b.runTasks(t)
	require.Equal(t, "new", b.live(t, a).Properties["hs_lead_status"])
	require.Equal(t, crm.Completed, b.enrollment(t, "nurture", a).State)
	require.Equal(t, crm.EnrollmentState(""), b.enrollment(t, "nurture", c).State, "what changed while paused does not enroll later")
}

func TestDeletedRecordIsUnenrolledAndRestoredDoesNotResume(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	src := strings.Replace(nurture, "actions:", "reenrollment: true\nactions:", 1)
	b.activate(t, "nurture", src)
	a := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	b.drain(t)
	require.Equal(t, crm.Enrolled, b.enrollment(t, "nurture", a).State)

	res, err := b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{a}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	require.Len(t, res.Archived, 1)
	b.drain(t)
	require.Equal(t, crm.Unenrolled, b.enrollment(t, "nurture", a).State, "unenrolled at once (S8)")
	h := b.history(t, "nurture", a)
	require.Equal(t, []string{"enrolled", "action", "unenrolled"}, kinds(h))
	require.Equal(t, "record deleted", h[2].Detail)
	due, err := b.store.DueEnrollments(b.ctx, b.tenant, "nurture", b.clock.Now().Add(100*24*time.Hour), 10)
	require.NoError(t, err)
	require.Empty(t, due)

	// Restored, and updated while it still matches: it does not resume or enroll again (S7, S8).
	_, err = b.store.RestoreRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{a}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	b.drain(t)
	b.update(t, a, map[string]string{"firstname": "Back"})
	b.update(t, a, map[string]string{"lifecyclestage": "subscriber"})
	b.drain(t)
	b.update(t, a, map[string]string{"lifecyclestage": "lead"})
	b.drain(t)
	b.clock.Advance(25 * time.Hour)
	b.runTasks(t) // the delayed step's task comes due
	enr := b.enrollment(t, "nurture", a)
	require.Equal(t, crm.Unenrolled, enr.State)
	require.Equal(t, 1, enr.Count)
	require.Empty(t, b.live(t, a).Properties["hs_lead_status"], "no action ran on the restored record")

	// Only a manual enrollment brings it back (S8); its steps then run.
	f, err := b.store.Flow(b.ctx, b.tenant, "nurture")
	require.NoError(t, err)
	require.NoError(t, b.store.EnrollManually(b.ctx, b.tenant, crm.FlowRef{Name: "nurture", Revision: f.ActiveRevision,
		ObjectType: crm.Contacts, Reenrollment: true}, a, "ops@example.com"))
	require.NoError(t, b.client.EnqueueWorkflowSteps(b.ctx, b.tenant, "nurture", f.ActiveRevision, []crm.RecordID{a}))
	b.runTasks(t)
	b.clock.Advance(25 * time.Hour)
	b.runTasks(t)
	require.Equal(t, "new", b.live(t, a).Properties["hs_lead_status"])
	require.Equal(t, 2, b.enrollment(t, "nurture", a).Count)
}

func TestRecordDeletedBeforeItsStepRunsIsUnenrolled(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	f := b.activate(t, "nurture", nurture)
	a := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	b.drain(t)
	// Deleted by someone while its delay runs; the step comes due before the drain of the deletion.
	_, err := b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{a}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	b.clock.Advance(25 * time.Hour)
	task, err := worker.NewWorkflowStepsTask(worker.WorkflowStepsPayload{TenantID: b.tenant, Workflow: "nurture",
		Revision: f.ActiveRevision, Step: 1, RecordIDs: []crm.RecordID{a}}, time.Time{})
	require.NoError(t, err)
	require.NoError(t, b.w.ProcessTask(b.ctx, task))
	h := b.history(t, "nurture", a)
	require.Equal(t, []string{"enrolled", "action", "unenrolled"}, kinds(h))
	require.Equal(t, "record deleted", h[2].Detail)
	// The drain of the deletion changes nothing more.
	b.drain(t)
	require.Len(t, b.history(t, "nurture", a), 3)
}

func TestOwnDeleteIsRecordedWhenItsRunCrashedBeforeItsResult(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	f := b.activate(t, "clean-bounced-contacts", cleanBounced)
	a := b.contact(t, map[string]string{"email_bounced": "true"})
	require.NoError(t, b.w.ProcessTask(b.ctx, worker.NewChangesDrainTask(b.tenant, b.clock.Now())))
	pending, err := b.insp.ListPendingTasks(worker.QueueDefault)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	step := pending[0]
	require.NoError(t, b.insp.DeleteTask(worker.QueueDefault, step.ID))
	// The step's delete_contact ran, and the worker died before recording it; the drain of the
	// deletion comes first, then the step's task runs again.
	_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{a},
		crm.Actor{Via: crm.ViaWorkflow, Ref: "clean-bounced-contacts"})
	require.NoError(t, err)
	require.NoError(t, b.w.ProcessTask(b.ctx, worker.NewChangesDrainTask(b.tenant, b.clock.Now())))
	require.NoError(t, b.w.ProcessTask(b.ctx, asynq.NewTask(step.Type, step.Payload)))
	h := b.history(t, f.Name, a)
	require.Equal(t, []string{"enrolled", "action", "completed"}, kinds(h))
	require.Equal(t, "done", h[1].Outcome)
}

func TestReenrollmentRules(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	once := `name: once
object_type: contacts
trigger: lifecyclestage == "lead"
actions:
  - type: set_property
    property: jobtitle
    value: lead-seen
`
	again := `name: again
object_type: contacts
trigger: lifecyclestage == "lead"
reenrollment: true
actions:
  - type: delay
    duration: 1h
  - type: set_property
    property: hs_lead_status
    value: new
`
	b.activate(t, "once", once)
	b.activate(t, "again", again)
	a := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	b.drain(t)
	require.Equal(t, crm.Completed, b.enrollment(t, "once", a).State)
	require.Equal(t, crm.Enrolled, b.enrollment(t, "again", a).State)

	toggle := func() {
		b.clock.Advance(time.Second)
		b.update(t, a, map[string]string{"lifecyclestage": "subscriber"})
		b.drain(t)
		b.update(t, a, map[string]string{"lifecyclestage": "lead"})
		b.drain(t)
	}
	// Never twice at once: while enrolled, leaving and meeting the trigger again changes nothing.
	toggle()
	require.Equal(t, 1, b.enrollment(t, "again", a).Count)
	b.clock.Advance(2 * time.Hour)
	b.runTasks(t)
	require.Equal(t, crm.Completed, b.enrollment(t, "again", a).State)

	// Still matching since its enrollment: no re-enrollment.
	b.update(t, a, map[string]string{"firstname": "Ann"})
	b.drain(t)
	require.Equal(t, 1, b.enrollment(t, "again", a).Count)

	// Not matching -> matching: enrolls again where re-enrollment is on, never where it is off (S19).
	toggle()
	require.Equal(t, 2, b.enrollment(t, "again", a).Count)
	require.Equal(t, crm.Enrolled, b.enrollment(t, "again", a).State)
	require.Equal(t, 1, b.enrollment(t, "once", a).Count)
	require.Equal(t, []string{"enrolled", "action", "completed"}, kinds(b.history(t, "once", a)))
}

func TestSuppression(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	list, err := b.store.CreateList(b.ctx, b.tenant, "VIPs", crm.Contacts)
	require.NoError(t, err)
	src := fmt.Sprintf(`name: nurture
object_type: contacts
trigger: lifecyclestage == "lead"
suppression:
  trigger: hs_lead_status == "unqualified"
  lists: [%s]
actions:
  - type: delay
    duration: 1d
  - type: set_property
    property: hs_lead_status
    value: new
`, list.ID)
	vip := b.contact(t, map[string]string{"firstname": "vip"})
	_, _, err = b.store.AddListMembers(b.ctx, b.tenant, list.ID, []crm.RecordID{vip})
	require.NoError(t, err)
	b.drain(t)
	b.activate(t, "nurture", src)

	b.update(t, vip, map[string]string{"lifecyclestage": "lead"})
	other := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	b.drain(t)
	require.Equal(t, crm.EnrollmentState(""), b.enrollment(t, "nurture", vip).State, "a list member is never enrolled")
	h := b.history(t, "nurture", vip)
	require.Equal(t, []string{"suppressed"}, kinds(h))
	require.Contains(t, h[0].Detail, "list "+string(list.ID))
	require.Equal(t, crm.Enrolled, b.enrollment(t, "nurture", other).State)

	// Starting to match the suppression trigger while enrolled unenrolls (S19).
	b.update(t, other, map[string]string{"hs_lead_status": "unqualified"})
	b.drain(t)
	require.Equal(t, crm.Unenrolled, b.enrollment(t, "nurture", other).State)
	h = b.history(t, "nurture", other)
	require.Equal(t, "unenrolled", h[len(h)-1].Kind)
	require.Contains(t, h[len(h)-1].Detail, "suppression")
	b.clock.Advance(25 * time.Hour)
	b.runTasks(t)
	require.Equal(t, "unqualified", b.live(t, other).Properties["hs_lead_status"], "its steps do not run")
}

func TestTriggerRunTimeErrorIsRecordedAndCountsAsNoMatch(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.activate(t, "numbers", `name: numbers
object_type: contacts
trigger: int(firstname) > 3
actions:
  - type: set_property
    property: jobtitle
    value: big
`)
	bad := b.contact(t, map[string]string{"firstname": "Johnny"})
	good := b.contact(t, map[string]string{"firstname": "5"})
	b.drain(t)
	require.Equal(t, crm.EnrollmentState(""), b.enrollment(t, "numbers", bad).State)
	h := b.history(t, "numbers", bad)
	require.Equal(t, []string{"trigger_error"}, kinds(h))
	require.Contains(t, h[0].Detail, "int(<firstname>)")
	require.NotContains(t, h[0].Detail, "Johnny", "the history names no property values")
	require.Empty(t, b.live(t, bad).Properties["jobtitle"])
	require.Equal(t, "big", b.live(t, good).Properties["jobtitle"], "the rest of the batch goes on")
}

func TestDelaySchedulesTheNextStepAndAStepRunsOnce(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	_, err := b.store.CreateUser(b.ctx, b.tenant, "sales@example.com", crm.Permissions{crm.PermRead}, "test")
	require.NoError(t, err)
	f := b.activate(t, "follow-up", `name: follow-up
object_type: contacts
trigger: lifecyclestage == "lead"
actions:
  - type: delay
    duration: 3d
  - type: notify_user
    to: sales@example.com
    subject: "Call lead {{id}}"
    body: "Lead {{id}} has waited three days."
`)
	a := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	b.drain(t)

	scheduled := b.scheduledSteps(t)
	require.Len(t, scheduled, 1)
	require.True(t, scheduled[0].NextProcessAt.Equal(tFuture.Add(72*time.Hour)), "scheduled at %s", scheduled[0].NextProcessAt)
	var p worker.WorkflowStepsPayload
	require.NoError(t, json.Unmarshal(scheduled[0].Payload, &p))
	require.Equal(t, worker.WorkflowStepsPayload{TenantID: b.tenant, Workflow: "follow-up", Revision: f.ActiveRevision, Step: 1,
		RecordIDs: []crm.RecordID{a}, Counts: []int{1}}, p)
	h := b.history(t, "follow-up", a)
	require.Equal(t, []string{"enrolled", "action"}, kinds(h))
	require.Equal(t, "wait", h[1].Outcome)

	b.clock.Advance(71 * time.Hour)
	require.Zero(t, b.runTasks(t), "not due yet")
	b.clock.Advance(time.Hour)
	require.Equal(t, 2, b.runTasks(t), "the step, then its email")
	out, err := b.store.Outbox(b.ctx, b.tenant, 0)
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Equal(t, "Call lead "+string(a), out[0].Subject)
	require.Equal(t, []string{"enrolled", "action", "action", "completed"}, kinds(b.history(t, "follow-up", a)))

	// The same task again (a redelivery): nothing happens.
	before := b.history(t, "follow-up", a)
	require.NoError(t, b.w.ProcessTask(b.ctx, asynq.NewTask(scheduled[0].Type, scheduled[0].Payload)))
	require.Zero(t, b.runTasks(t))
	require.Equal(t, before, b.history(t, "follow-up", a))
	out, err = b.store.Outbox(b.ctx, b.tenant, 0)
	require.NoError(t, err)
	require.Len(t, out, 1, "one email")
}

func TestWorkflowSweepRecoversLostSteps(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.activate(t, "tag", `name: tag
object_type: contacts
trigger: lifecyclestage == "lead"
actions:
  - type: set_property
    property: jobtitle
    value: tagged
`)
	a := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	require.NoError(t, b.w.ProcessTask(b.ctx, worker.NewChangesDrainTask(b.tenant, b.clock.Now())))
	// The step's task is lost.
	pending, err := b.insp.ListPendingTasks(worker.QueueDefault)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, worker.TypeWorkflowSteps, pending[0].Type)
	require.NoError(t, b.insp.DeleteTask(worker.QueueDefault, pending[0].ID))

	require.NoError(t, b.w.ProcessTask(b.ctx, worker.NewWorkflowSweepTask(b.clock.Now())))
	require.Zero(t, b.runTasks(t), "within the grace period the sweep leaves it")
	b.clock.Advance(2 * time.Minute)
	require.NoError(t, b.w.ProcessTask(b.ctx, worker.NewWorkflowSweepTask(b.clock.Now())))
	require.Equal(t, 1, b.runTasks(t))
	require.Equal(t, "tagged", b.live(t, a).Properties["jobtitle"])
	require.Equal(t, crm.Completed, b.enrollment(t, "tag", a).State)
}

func TestChangesSweepAndDrainDedupe(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	require.NoError(t, b.w.ProcessTask(b.ctx, worker.NewChangesSweepTask(b.clock.Now())))
	require.Zero(t, b.runTasks(t), "no changes: no drain")

	b.contact(t, map[string]string{"firstname": "a"})
	for range 3 {
		require.NoError(t, b.client.EnqueueChangesDrain(b.ctx, b.tenant, b.clock.Now()))
	}
	require.NoError(t, b.w.ProcessTask(b.ctx, worker.NewChangesSweepTask(b.clock.Now())))
	pending, err := b.insp.ListPendingTasks(worker.QueueDefault)
	require.NoError(t, err)
	require.Len(t, pending, 1, "one drain per tenant and window")
	require.Equal(t, 1, b.runTasks(t))
	with, err := b.store.TenantsWithChanges(b.ctx, []crm.TenantID{b.tenant})
	require.NoError(t, err)
	require.Empty(t, with)

	// A bad payload is not retried.
	require.ErrorIs(t, b.w.ProcessTask(b.ctx, asynq.NewTask(worker.TypeChangesDrain, []byte("{"))), asynq.SkipRetry)
	require.ErrorIs(t, b.w.ProcessTask(b.ctx, asynq.NewTask(worker.TypeWorkflowSteps, []byte(`{"tenant_id":"`+string(b.tenant)+`"}`))), asynq.SkipRetry)
}

func TestPermanentDeleteLeavesNoEnrollmentBehind(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.activate(t, "nurture", nurture)
	a := b.contact(t, map[string]string{"lifecyclestage": "lead", "email": "gone@example.com"})
	b.drain(t)
	_, err := b.store.PermanentDeleteContact(b.ctx, b.tenant, crm.PermanentDeleteParams{ID: a, By: "ops@example.com"})
	require.NoError(t, err)
	b.drain(t)
	require.Equal(t, crm.Enrollment{ID: a}, b.enrollment(t, "nurture", a))
	require.Empty(t, b.history(t, "nurture", a), "the drain writes nothing back about the contact (S9)")
	b.clock.Advance(25 * time.Hour)
	b.runTasks(t)
	require.Empty(t, b.history(t, "nurture", a))
}

func TestWorkflowStepsTaskOptions(t *testing.T) {
	t.Parallel()
	p := worker.WorkflowStepsPayload{TenantID: "acme", Workflow: "wf", Revision: 2, Step: 1, RecordIDs: []crm.RecordID{"1", "2"}}
	a, err := worker.NewWorkflowStepsTask(p, time.Time{})
	require.NoError(t, err)
	b, err := worker.NewWorkflowStepsTask(p, time.Time{})
	require.NoError(t, err)
	require.Equal(t, a.Payload(), b.Payload())
	for _, bad := range []worker.WorkflowStepsPayload{
		{TenantID: "acme", Workflow: "wf", Revision: 0, RecordIDs: p.RecordIDs},
		{TenantID: "acme", Workflow: "wf", Revision: 1, Step: -1, RecordIDs: p.RecordIDs},
		{TenantID: "acme", Workflow: "wf", Revision: 1},
		{TenantID: "acme", Workflow: "Bad Name", Revision: 1, RecordIDs: p.RecordIDs},
		{TenantID: "acme", Workflow: "wf", Revision: 1, RecordIDs: p.RecordIDs, Counts: []int{1}},
	} {
		_, err := worker.NewWorkflowStepsTask(bad, time.Time{})
		var ve *crm.ValidationError
		require.ErrorAs(t, err, &ve, "%+v", bad)
	}
}

func TestStaleStepOfAnEarlierEnrollmentDoesNotRunEarly(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.activate(t, "again", `name: again
object_type: contacts
trigger: lifecyclestage == "lead"
reenrollment: true
unenroll_when_not_matching: true
actions:
  - type: delay
    duration: 1h
  - type: set_property
    property: hs_lead_status
    value: new
`)
	a := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	b.drain(t) // enrollment 1: its step 1 is scheduled an hour from now
	b.clock.Advance(30 * time.Minute)
	b.update(t, a, map[string]string{"lifecyclestage": "subscriber"})
	b.drain(t) // unenrolled
	b.update(t, a, map[string]string{"lifecyclestage": "lead"})
	b.drain(t) // enrollment 2: its step 1 is due an hour from now
	require.Equal(t, 2, b.enrollment(t, "again", a).Count)
	require.Len(t, b.scheduledSteps(t), 2)

	b.clock.Advance(31 * time.Minute)
	require.Equal(t, 1, b.runTasks(t), "enrollment 1's task comes due")
	require.Empty(t, b.live(t, a).Properties["hs_lead_status"], "it does not run enrollment 2's step early")
	b.clock.Advance(30 * time.Minute)
	require.Equal(t, 1, b.runTasks(t))
	require.Equal(t, "new", b.live(t, a).Properties["hs_lead_status"])
}

func TestSchedulerWorkflowEntries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := worker.NewScheduler(b.queue, &worker.SchedulerConfig{ChangesSweepSpec: "every 2s"})
	require.ErrorContains(t, err, `SchedulerConfig.ChangesSweepSpec "every 2s" is not a valid cron spec`)
	_, err = worker.NewScheduler(b.queue, &worker.SchedulerConfig{WorkflowSweepSpec: "61 * * * *"})
	require.ErrorContains(t, err, `SchedulerConfig.WorkflowSweepSpec "61 * * * *" is not a valid cron spec`)

	s, err := worker.NewScheduler(b.queue, &worker.SchedulerConfig{Clock: b.clock, Logger: b.logger})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	tick := t0.Add(-time.Minute)
	info, err := s.RunChangesSweepOnce(b.ctx, tick)
	require.NoError(t, err)
	require.Equal(t, worker.TypeChangesSweep, info.Type)
	_, err = s.RunChangesSweepOnce(b.ctx, tick)
	require.ErrorIs(t, err, worker.ErrDuplicate, "one sweep per tick")
	info, err = s.RunWorkflowSweepOnce(b.ctx, tick)
	require.NoError(t, err)
	require.Equal(t, worker.TypeWorkflowSweep, info.Type)
	_, err = s.RunWorkflowSweepOnce(b.ctx, tick)
	require.ErrorIs(t, err, worker.ErrDuplicate)
}

func TestWorkflowOnARunningWorker(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startWorker(t, b.config())
	client := b.client(t)
	fb := &flowBundle{testBundle: b, client: client}
	var bounced []crm.RecordID
	for i := range 30 {
		props := map[string]string{"firstname": "x"}
		if i%3 == 0 {
			props["email_bounced"] = "true"
		}
		id := fb.contact(t, props)
		if i%3 == 0 {
			bounced = append(bounced, id)
		}
	}
	f := fb.activate(t, "clean-bounced-contacts", cleanBounced)
	require.NoError(t, client.EnqueueWorkflowBackfill(b.ctx, b.tenant, f.Name, f.ActiveRevision))
	eventually(t, 10*time.Second, "the bounced contacts in the bin", func() bool { return b.binSize(t, b.tenant, crm.Contacts) == int64(len(bounced)) })
	// A later update, drained as the API would ask.
	late := fb.contact(t, map[string]string{"firstname": "late"})
	fb.update(t, late, map[string]string{"email_bounced": "true"})
	require.NoError(t, client.EnqueueChangesDrain(b.ctx, b.tenant, b.clock.Now()))
	eventually(t, 10*time.Second, "the late contact in the bin", func() bool { return b.binSize(t, b.tenant, crm.Contacts) == int64(len(bounced)+1) })
	for _, id := range append(bounced, late) {
		eventually(t, 10*time.Second, "the history of a deleted contact", func() bool {
			return slices.Equal([]string{"enrolled", "action", "completed"}, kinds(fb.history(t, f.Name, id)))
		})
	}
}
