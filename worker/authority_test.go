package worker_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/worker"
)

// waitThenDelete deletes bounced contacts a day after they enroll.
const waitThenDelete = `name: wait-then-delete
object_type: contacts
trigger: email_bounced
actions:
  - type: delay
    duration: 1d
  - type: delete_contact
`

// setUser gives user email of the bundle's tenant these permissions and disabled state, creating
// the user if needed, as an admin would.
func (b *flowBundle) setUser(t *testing.T, email string, perms crm.Permissions, disabled bool) {
	t.Helper()
	if _, err := b.store.User(b.ctx, b.tenant, email); err != nil {
		_, err = b.store.CreateUser(b.ctx, b.tenant, email, perms, "admin@example.com")
		require.NoError(t, err)
	}
	_, err := b.store.SetUserPermissions(b.ctx, b.tenant, email, perms, "admin@example.com")
	require.NoError(t, err)
	_, err = b.store.SetUserDisabled(b.ctx, b.tenant, email, disabled, "admin@example.com")
	require.NoError(t, err)
}

// activateAs stores a workflow and activates it on behalf of user by.
func (b *flowBundle) activateAs(t *testing.T, by, name, src string) crm.Flow {
	t.Helper()
	_, _, err := b.store.PutFlow(b.ctx, b.tenant, name, crm.Contacts, src, by)
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(b.ctx, b.tenant, name, crm.ActivateFlowParams{By: by})
	require.NoError(t, err)
	return f
}

func TestWorkflowEffectsAreRecordedAsItsActivatorViaTheWorkflow(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.setUser(t, "ann@example.com", crm.Permissions{crm.PermRead, crm.PermDelete, crm.PermWorkflows}, false)
	f := b.activateAs(t, "ann@example.com", "wait-then-delete", waitThenDelete)
	id := b.contact(t, map[string]string{"email": "gone@example.com", "email_bounced": "true"})
	b.drain(t)
	b.clock.Advance(24 * time.Hour)
	b.runTasks(t)

	want := "ann@example.com via workflow wait-then-delete (revision " + strconv.FormatInt(f.ActiveRevision, 10) + ")"
	binned, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, id, &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	require.Equal(t, &crm.Deletion{At: b.clock.Now(), By: "ann@example.com", Via: crm.ViaWorkflow, Ref: "wait-then-delete",
		Revision: f.ActiveRevision, Operation: "wf-wait-then-delete-" + strconv.FormatInt(f.ActivatedAt.UnixMilli(), 10)}, binned.Deletion)
	require.Equal(t, want, binned.Deletion.Describe())

	audit, _, err := b.store.Audit(b.ctx, b.tenant, nil)
	require.NoError(t, err)
	var archives []crm.AuditEntry
	for _, e := range audit {
		if e.Action == "archive" {
			archives = append(archives, e)
		}
	}
	require.Len(t, archives, 1)
	require.Equal(t, want, archives[0].Actor())
	require.Equal(t, []crm.RecordID{id}, archives[0].RecordIDs)

	var acted []string
	for _, h := range b.history(t, "wait-then-delete", id) {
		if h.Kind == "action" {
			acted = append(acted, h.Actor("wait-then-delete"))
		}
	}
	require.Equal(t, []string{want, want}, acted, "the delay and the delete")
}

func TestWorkflowPausesBeforeItsNextActionWhenItsActivatorLosesAuthority(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		perms    crm.Permissions
		disabled bool
		reason   string
		code     crm.PauseCode
		params   map[string]string
	}{
		{name: "Disabled", perms: crm.Permissions{crm.PermDelete, crm.PermWorkflows}, disabled: true, reason: "was disabled",
			code: crm.PauseActivatorDisabled, params: map[string]string{"activator": "ann@example.com"}},
		{name: "LostDelete", perms: crm.Permissions{crm.PermWorkflows}, reason: "no longer holds the delete permission",
			code: crm.PauseActivatorLacksPermission, params: map[string]string{"activator": "ann@example.com", "permissions": "delete"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupFlows(t, 0)
			b.setUser(t, "ann@example.com", crm.Permissions{crm.PermDelete, crm.PermWorkflows}, false)
			f := b.activateAs(t, "ann@example.com", "wait-then-delete", waitThenDelete)
			id := b.contact(t, map[string]string{"email_bounced": "true"})
			b.drain(t)
			require.Equal(t, 1, b.enrollment(t, "wait-then-delete", id).Step, "waiting out the delay")

			b.setUser(t, "ann@example.com", tc.perms, tc.disabled)
			b.clock.Advance(24 * time.Hour)
			b.runTasks(t)

			got, err := b.store.Flow(b.ctx, b.tenant, "wait-then-delete")
			require.NoError(t, err)
			require.Equal(t, crm.FlowPaused, got.State)
			require.Contains(t, got.PausedReason, "ann@example.com")
			require.Contains(t, got.PausedReason, tc.reason)
			require.Equal(t, tc.code, got.PausedCode)
			require.Equal(t, tc.params, got.PausedParams)
			b.live(t, id) // not deleted
			enr := b.enrollment(t, "wait-then-delete", id)
			require.Equal(t, crm.Enrolled, enr.State, "the record still waits")
			require.Equal(t, 1, enr.Step)
			require.Equal(t, []string{"enrolled", "action"}, kinds(b.history(t, "wait-then-delete", id)), "no action ran")

			// Authority back, and activated again: the waiting record runs its next step.
			b.setUser(t, "ann@example.com", crm.Permissions{crm.PermDelete, crm.PermWorkflows}, false)
			_, err = b.store.ActivateFlow(b.ctx, b.tenant, "wait-then-delete", crm.ActivateFlowParams{By: "ann@example.com", Revision: f.Revision})
			require.NoError(t, err)
			b.clock.Advance(time.Hour) // past the sweep's grace period
			_, err = b.client.Enqueue(b.ctx, worker.NewWorkflowSweepTask(b.clock.Now()))
			require.NoError(t, err)
			b.runTasks(t)
			_, err = b.store.Record(b.ctx, b.tenant, crm.Contacts, id, nil)
			require.ErrorIs(t, err, crm.ErrNotFound, "deleted once the workflow runs again")
		})
	}
}

func TestBackfillPausesWhenItsActivatorLacksBulkDelete(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.setUser(t, "ann@example.com", crm.Permissions{crm.PermDelete, crm.PermBulkDelete, crm.PermWorkflows}, false)
	var ids []crm.RecordID
	for range 3 {
		ids = append(ids, b.contact(t, map[string]string{"email_bounced": "true"}))
	}
	f := b.activateAs(t, "ann@example.com", "clean-bounced-contacts", cleanBounced)
	// bulk_delete is taken away before the backfill runs.
	b.setUser(t, "ann@example.com", crm.Permissions{crm.PermDelete, crm.PermWorkflows}, false)
	task, err := worker.NewWorkflowBackfillTask(worker.WorkflowBackfillPayload{TenantID: b.tenant, Workflow: f.Name,
		Revision: f.ActiveRevision, ActivatedAt: f.ActivatedAt})
	require.NoError(t, err)
	_, err = b.client.Enqueue(b.ctx, task)
	require.NoError(t, err)
	b.runTasks(t)

	got, err := b.store.Flow(b.ctx, b.tenant, f.Name)
	require.NoError(t, err)
	require.Equal(t, crm.FlowPaused, got.State)
	require.Contains(t, got.PausedReason, "bulk_delete")
	require.Equal(t, crm.PauseActivatorLacksPermission, got.PausedCode)
	require.Equal(t, map[string]string{"activator": "ann@example.com", "permissions": "bulk_delete"}, got.PausedParams)
	for _, id := range ids {
		b.live(t, id)
		require.Equal(t, crm.EnrollmentState(""), b.enrollment(t, f.Name, id).State, "nobody enrolled")
	}
}

// TestWorkflowWhoseRevisionNoLongerValidatesPausesItself: a revision that no longer validates (here
// stored without validation, as one whose property was since removed would read) pauses the
// workflow with the reason at the drain, rather than stopping unseen.
func TestWorkflowWhoseRevisionNoLongerValidatesPausesItself(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.activate(t, "wf", "name: wf\nobject_type: contacts\ntrigger: shoe_size > 3\nactions:\n  - type: delete_contact\n")
	b.contact(t, map[string]string{"firstname": "Ann"})
	b.drain(t)
	got, err := b.store.Flow(b.ctx, b.tenant, "wf")
	require.NoError(t, err)
	require.Equal(t, crm.FlowPaused, got.State)
	require.Contains(t, got.PausedReason, "revision 1 no longer validates")
	require.Contains(t, got.PausedReason, "shoe_size")
	require.Equal(t, crm.PauseRevisionInvalid, got.PausedCode)
	require.Equal(t, "1", got.PausedParams["revision"])
	require.Contains(t, got.PausedParams["problem"], "shoe_size")
}

// actingStore runs act once, just before a workflow's first archive: between the step's checks
// of the workflow and its activator, and the move.
type actingStore struct {
	*redisstore.Store
	once sync.Once
	act  func()
}

func (s *actingStore) ArchiveChecked(ctx context.Context, t crm.TenantID, o crm.ObjectType, recs []crm.Record, by crm.Actor, opts crm.CheckedArchive) (crm.ArchiveResult, error) {
	s.once.Do(s.act)
	return s.Store.ArchiveChecked(ctx, t, o, recs, by, opts)
}

// The activator disabled, or stripped of delete, or the workflow paused, after the step checked
// them and before its contacts move: none moves, and each still waits at its step.
func TestWorkflowDeletesNothingOnceStoppedDuringItsStep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		limits string
		stop   func(b *flowBundle)
		reason string
	}{
		{name: "Disabled", stop: func(b *flowBundle) {
			b.setUser(t, "ann@example.com", crm.Permissions{crm.PermDelete, crm.PermWorkflows}, true)
		}, reason: "was disabled"},
		{name: "LostDelete", stop: func(b *flowBundle) {
			b.setUser(t, "ann@example.com", crm.Permissions{crm.PermWorkflows}, false)
		}, reason: "no longer holds the delete permission"},
		{name: "LostDeleteUnlimited", limits: "limits: {max_deletions: unlimited}\n", stop: func(b *flowBundle) {
			b.setUser(t, "ann@example.com", crm.Permissions{crm.PermWorkflows}, false)
		}, reason: "no longer holds the delete permission"},
		{name: "Paused", stop: func(b *flowBundle) {
			_, err := b.store.PauseFlow(b.ctx, b.tenant, "wait-then-delete", nil)
			require.NoError(t, err)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupFlows(t, 0)
			st := &actingStore{Store: b.store}
			w, err := worker.New(st, b.queue, b.config())
			require.NoError(t, err)
			t.Cleanup(func() { _ = w.Close() })
			b.w = w
			st.act = func() { tc.stop(b) }
			b.setUser(t, "ann@example.com", crm.Permissions{crm.PermDelete, crm.PermWorkflows}, false)
			b.activateAs(t, "ann@example.com", "wait-then-delete", waitThenDelete+tc.limits)
			id := b.contact(t, map[string]string{"email_bounced": "true"})
			b.drain(t)
			require.Equal(t, 1, b.enrollment(t, "wait-then-delete", id).Step, "waiting out the delay")

			b.clock.Advance(24 * time.Hour)
			b.runTasks(t)

			b.live(t, id) // not deleted
			got, err := b.store.Flow(b.ctx, b.tenant, "wait-then-delete")
			require.NoError(t, err)
			require.Equal(t, crm.FlowPaused, got.State)
			if tc.reason != "" {
				require.Contains(t, got.PausedReason, tc.reason)
			}
			enr := b.enrollment(t, "wait-then-delete", id)
			require.Equal(t, crm.Enrolled, enr.State, "the record still waits")
			require.Equal(t, 1, enr.Step)
			require.Equal(t, []string{"enrolled", "action"}, kinds(b.history(t, "wait-then-delete", id)), "no delete ran")
		})
	}
}

// waitThenDeleteExisting is waitThenDelete activated with enroll_existing: its activation needs
// bulk_delete.
const waitThenDeleteExisting = `name: wait-then-delete-existing
object_type: contacts
trigger: email_bounced
enroll_existing: true
actions:
  - type: delay
    duration: 1d
  - type: delete_contact
`

// An activation that enrolled the existing records needs bulk_delete for as long as it runs: an
// activator who loses it after the backfill enrolled them pauses the workflow before its deletes.
func TestWorkflowEnrolledExistingPausesWhenItsActivatorLosesBulkDelete(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.setUser(t, "ann@example.com", crm.Permissions{crm.PermDelete, crm.PermBulkDelete, crm.PermWorkflows}, false)
	var ids []crm.RecordID
	for range 3 {
		ids = append(ids, b.contact(t, map[string]string{"email_bounced": "true"}))
	}
	f := b.activateAs(t, "ann@example.com", "wait-then-delete-existing", waitThenDeleteExisting)
	task, err := worker.NewWorkflowBackfillTask(worker.WorkflowBackfillPayload{TenantID: b.tenant, Workflow: f.Name,
		Revision: f.ActiveRevision, ActivatedAt: f.ActivatedAt})
	require.NoError(t, err)
	_, err = b.client.Enqueue(b.ctx, task)
	require.NoError(t, err)
	b.runTasks(t)
	for _, id := range ids {
		require.Equal(t, 1, b.enrollment(t, f.Name, id).Step, "enrolled by the backfill, waiting out the delay")
	}

	b.setUser(t, "ann@example.com", crm.Permissions{crm.PermDelete, crm.PermWorkflows}, false)
	b.clock.Advance(24 * time.Hour)
	b.runTasks(t)

	got, err := b.store.Flow(b.ctx, b.tenant, f.Name)
	require.NoError(t, err)
	require.Equal(t, crm.FlowPaused, got.State)
	require.Contains(t, got.PausedReason, "bulk_delete")
	require.Equal(t, crm.PauseActivatorLacksPermission, got.PausedCode)
	require.Equal(t, map[string]string{"activator": "ann@example.com", "permissions": "bulk_delete"}, got.PausedParams)
	for _, id := range ids {
		b.live(t, id)
		require.Equal(t, crm.Enrolled, b.enrollment(t, f.Name, id).State, "the record still waits")
	}
}
