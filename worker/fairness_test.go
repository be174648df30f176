package worker_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/worker"
)

// tagFlow enrolls every contact whose last name is "x" and writes its job title, one record at a
// time (set_property), so that its steps take a while.
const tagFlow = `name: tag
object_type: contacts
trigger: lastname == "x"
actions:
  - type: set_property
    property: jobtitle
    value: tagged
`

// TestBackfillBacklogDoesNotStallAnotherTenant: tenant A's enroll-existing backfill has left a
// backlog of steps tasks, and tenant B writes a contact that its workflow enrolls. A running worker
// (two slots, one of which may run bulk tasks) enrolls B's contact and runs its step while A's
// backlog is still being worked through, and then works the backlog through to the end: every one
// of A's contacts tagged, none lost. Before, A's steps went to the default queue in front of B's
// drain, and B waited for the whole backlog.
func TestBackfillBacklogDoesNotStallAnotherTenant(t *testing.T) {
	t.Parallel()
	const n, batch = 2000, 20
	b := setup(t)
	a, other := b.tenant, crm.TenantID(string(b.tenant)+"-b")
	_, err := b.store.CreateTenant(b.ctx, other, crm.PlanProfessional)
	require.NoError(t, err)
	activate := func(tn crm.TenantID) crm.Flow {
		t.Helper()
		_, err := b.store.CreateUser(b.ctx, tn, activatorEmail, crm.AllPermissions, "admin@example.com")
		require.NoError(t, err)
		_, _, err = b.store.PutFlow(b.ctx, tn, "tag", crm.Contacts, tagFlow, activatorEmail)
		require.NoError(t, err)
		f, err := b.store.ActivateFlow(b.ctx, tn, "tag", crm.ActivateFlowParams{By: activatorEmail})
		require.NoError(t, err)
		return f
	}
	in := make([]crm.RecordInput, n)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"firstname": "a" + strconv.Itoa(i), "lastname": "x"}}
	}
	var recs []crm.Record
	for start := 0; start < n; start += crm.MaxScriptBatch {
		part, err := b.store.CreateRecords(b.ctx, a, crm.Contacts, in[start:min(start+crm.MaxScriptBatch, n)], crm.Actor{User: "ops@example.com"})
		require.NoError(t, err)
		recs = append(recs, part...)
	}

	// Tenant A's backfill runs, in a worker that is not serving the queue: its n/batch steps tasks
	// wait in the queue.
	cfg := b.config()
	cfg.WorkflowBatchSize = batch
	cfg.Concurrency, cfg.BulkConcurrency = 2, 1
	idle, err := worker.New(b.store, b.queue, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = idle.Close() })
	fa := activate(a)
	task, err := worker.NewWorkflowBackfillTask(worker.WorkflowBackfillPayload{TenantID: a, Workflow: fa.Name, Revision: fa.ActiveRevision})
	require.NoError(t, err)
	require.NoError(t, idle.ProcessTask(b.ctx, task))
	backlog, err := b.insp.ListPendingTasks(worker.QueueBulk, asynq.PageSize(1000))
	require.NoError(t, err)
	backlog = slices.DeleteFunc(backlog, func(ti *asynq.TaskInfo) bool { return ti.Type != worker.TypeWorkflowSteps })
	require.Len(t, backlog, n/batch, "the backfill's steps wait in the bulk queue")
	_, err = b.insp.ListPendingTasks(worker.QueueDefault)
	require.ErrorIs(t, err, asynq.ErrQueueNotFound, "nothing of the backfill in the default queue")

	// Tenant B writes a contact that its workflow enrolls, and asks for the drain as the API does.
	activate(other)
	created, err := b.store.CreateRecords(b.ctx, other, crm.Contacts,
		[]crm.RecordInput{{Properties: map[string]string{"firstname": "b", "lastname": "x"}}}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	bID := created[0].ID
	c := b.client(t)
	require.NoError(t, c.EnqueueChangesDrain(b.ctx, other, b.clock.Now()))

	// aWaiting counts A's contacts still waiting for their step.
	aWaiting := func() int {
		t.Helper()
		due, err := b.store.DueEnrollments(b.ctx, a, "tag", b.clock.Now().Add(time.Hour), n)
		require.NoError(t, err)
		return len(due)
	}
	require.Equal(t, n, aWaiting())
	b.startWorker(t, cfg)
	var waiting int
	eventually(t, time.Minute, "tenant B's contact enrolled and tagged", func() bool {
		h, err := b.store.History(b.ctx, other, "tag", crm.Contacts, bID)
		require.NoError(t, err)
		var got []string
		for _, e := range h {
			got = append(got, e.Kind)
		}
		done := slices.Equal(got, []string{"enrolled", "action", "completed"})
		if done {
			waiting = aWaiting()
		}
		return done
	})
	t.Logf("when tenant B's step had run, %d of tenant A's %d contacts still waited for theirs", waiting, n)
	require.Positive(t, waiting, "tenant B's enrollment and step came before the end of tenant A's backlog")

	eventually(t, 2*time.Minute, "tenant A's backlog worked through", func() bool { return aWaiting() == 0 })
	got, err := b.store.Records(b.ctx, a, crm.Contacts, func() []crm.RecordID {
		ids := make([]crm.RecordID, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		return ids
	}(), nil)
	require.NoError(t, err)
	require.Len(t, got, n)
	for _, r := range got {
		require.Equal(t, "tagged", r.Properties["jobtitle"], "contact %s", r.ID)
	}
}

// TestBackfillEnrollmentsStayInTheBulkQueue: the step after a delay of a contact enrolled by a
// backfill is scheduled in the bulk queue too, while a contact enrolled by its own write goes on in
// the default queue; both run.
func TestBackfillEnrollmentsStayInTheBulkQueue(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	existing := b.contact(t, map[string]string{"lastname": "x"})
	b.drain(t)
	f := b.activate(t, "later", `name: later
object_type: contacts
trigger: lastname == "x"
actions:
  - type: delay
    duration: 1h
  - type: set_property
    property: jobtitle
    value: tagged
`)
	require.NoError(t, b.client.EnqueueWorkflowBackfill(b.ctx, b.tenant, f.Name, f.ActiveRevision))
	b.runTasks(t)
	live := b.contact(t, map[string]string{"lastname": "x"})
	b.drain(t)

	queueOf := map[crm.RecordID]string{}
	for _, q := range []string{worker.QueueDefault, worker.QueueBulk} {
		scheduled, err := b.insp.ListScheduledTasks(q)
		require.NoError(t, err)
		for _, ti := range scheduled {
			require.Equal(t, worker.TypeWorkflowSteps, ti.Type)
			var p worker.WorkflowStepsPayload
			require.NoError(t, json.Unmarshal(ti.Payload, &p))
			require.Equal(t, 1, p.Step)
			require.Equal(t, q == worker.QueueBulk, p.Bulk)
			for _, id := range p.RecordIDs {
				queueOf[id] = q
			}
		}
	}
	require.Equal(t, map[crm.RecordID]string{existing: worker.QueueBulk, live: worker.QueueDefault}, queueOf)

	b.clock.Advance(time.Hour)
	require.Equal(t, 2, b.runTasks(t))
	for _, id := range []crm.RecordID{existing, live} {
		require.Equal(t, "tagged", b.live(t, id).Properties["jobtitle"])
		require.Equal(t, crm.Completed, b.enrollment(t, "later", id).State)
	}
}
