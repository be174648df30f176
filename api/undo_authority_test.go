package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
)

// TestUndoNeedsTheAuthorityOfWhatItStops: an undo needs restore, and when it would also cancel
// the operation's still running bulk delete job, or pause the workflow still active at the
// operation's activation, it needs what those take: the job's delete and bulk_delete, the
// workflow's workflows (what POST /automation/v4/flows/{name}/pause needs). Without them it is a
// 403 MISSING_SCOPES naming each missing permission and what to do instead, and nothing changes:
// no undo job, no cancel, no pause, no audit entry, no task. With them, or once there is nothing
// to cancel or pause, it does what it always did.
func TestUndoNeedsTheAuthorityOfWhatItStops(t *testing.T) {
	t.Parallel()

	// users adds the bundle's undoers: restore alone, and restore with what a cancel or a pause needs.
	users := func(t *testing.T, b *testBundle) {
		t.Helper()
		for tok, perms := range map[string]string{
			"restore":           "read,restore",
			"restore-delete":    "read,restore,delete",
			"restore-bulk":      "read,restore,delete,bulk_delete",
			"restore-workflows": "read,restore,workflows",
		} {
			b.tokens[tok] = b.user(t, b.tenantA, tok+"@a.example", perms)
		}
	}
	// refused asks for the undo of opID as who and checks it is a 403 naming missing, with a
	// message that contains each of says, and that it changed nothing.
	refused := func(t *testing.T, b *testBundle, opID, who string, missing []string, says ...string) {
		t.Helper()
		before, tasks := b.dump(t, b.tenantA), len(b.tasks.jobsOf(b.tenantA))
		e := expectError(t, b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", who, nil), http.StatusForbidden, "MISSING_SCOPES")
		require.Equal(t, "MISSING_SCOPES", e.Errors[0].Code)
		require.Equal(t, missing, e.Context["requiredScopes"])
		for _, p := range missing {
			require.Contains(t, e.Message, `"`+p+`"`)
		}
		for _, s := range says {
			require.Contains(t, e.Message, s)
		}
		require.Contains(t, e.Message, "nothing was changed")
		require.Equal(t, before, b.dump(t, b.tenantA), "a refused undo changes nothing: no job, no cancel, no pause, no audit entry")
		require.Len(t, b.tasks.jobsOf(b.tenantA), tasks, "a refused undo enqueues nothing")
	}

	t.Run("RunningBulkJob", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		users(t, b)
		var all []string
		for i := range 6 {
			all = append(all, string(b.contact(t, map[string]string{"firstname": fmt.Sprint("Lead ", i)})))
		}
		jobID := decode[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll,
			map[string]any{"ids": all[:4], "confirmCount": 4})).ID
		j, err := b.store.RunDeleteJobBatch(b.ctx, b.tenantA, jobID, 2)
		require.NoError(t, err)
		require.Equal(t, crm.JobRunning, j.State)
		opID := crm.JobOperationID(jobID)

		refused(t, b, opID, "restore", []string{"delete", "bulk_delete"}, "job "+jobID, "still running")
		refused(t, b, opID, "restore-delete", []string{"bulk_delete"}, "job "+jobID)
		j, err = b.store.Job(b.ctx, b.tenantA, jobID)
		require.NoError(t, err)
		require.Equal(t, crm.JobRunning, j.State, "the job still runs")

		und := expect[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", "restore-bulk", nil), http.StatusAccepted)
		stopped := expect[api.Job](t, b.call(t, "GET", "/crm/v3/jobs/"+jobID, tokRead, nil), http.StatusOK)
		require.Equal(t, "CANCELED", stopped.Status)
		require.Equal(t, und.ID, stopped.CanceledBy)
		// Undoing again, as a user with restore alone, answers the same undo job: it stops nothing more.
		again := expect[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", "restore", nil), http.StatusAccepted)
		require.Equal(t, und.ID, again.ID)

		// A job that finished has nothing to cancel: restore is enough to undo it.
		done := decode[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll,
			map[string]any{"ids": all[4:], "confirmCount": 2})).ID
		for j, err := b.store.RunDeleteJobBatch(b.ctx, b.tenantA, done, 500); !j.State.Finished(); j, err = b.store.RunDeleteJobBatch(b.ctx, b.tenantA, done, 500) {
			require.NoError(t, err)
		}
		expect[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/operations/"+crm.JobOperationID(done)+"/undo", "restore", nil), http.StatusAccepted)
	})

	t.Run("ActiveWorkflow", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		users(t, b)
		_, _, err := b.store.PutFlow(b.ctx, b.tenantA, "wf", crm.Contacts, bouncedFlow("wf"), "all@a.example")
		require.NoError(t, err)
		// deleted activates wf (again) and has it delete two contacts; it returns their operation.
		deleted := func(t *testing.T) string {
			t.Helper()
			b.clock.Advance(1e9)
			f, err := b.store.ActivateFlow(b.ctx, b.tenantA, "wf", crm.ActivateFlowParams{By: "all@a.example"})
			require.NoError(t, err)
			ids := []crm.RecordID{b.contact(t, nil), b.contact(t, nil)}
			_, err = b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Contacts, ids,
				crm.Actor{User: "all@a.example", Via: crm.ViaWorkflow, Ref: "wf", Revision: f.ActiveRevision})
			require.NoError(t, err)
			ops, _, err := b.store.Operations(b.ctx, b.tenantA, &crm.OperationsOpts{Kind: "workflow", Limit: 1})
			require.NoError(t, err)
			require.Len(t, ops, 1)
			return ops[0].ID
		}
		state := func(t *testing.T) crm.Flow {
			t.Helper()
			f, err := b.store.Flow(b.ctx, b.tenantA, "wf")
			require.NoError(t, err)
			return f
		}

		opID := deleted(t)
		refused(t, b, opID, "restore", []string{"workflows"}, "workflow wf", "/automation/v4/flows/wf/pause")
		require.Equal(t, crm.FlowActive, state(t).State, "the workflow still runs")

		und := expect[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", "restore-workflows", nil), http.StatusAccepted)
		f := state(t)
		require.Equal(t, crm.FlowPaused, f.State)
		require.Equal(t, crm.PauseUndo, f.PausedCode)
		require.Equal(t, und.ID, f.PausedParams["undoJob"])

		// What the refusal says to do: a user who may pause the workflow pauses it, and then
		// restore is enough.
		opID = deleted(t)
		refused(t, b, opID, "restore", []string{"workflows"})
		expect[map[string]any](t, b.call(t, "POST", "/automation/v4/flows/wf/pause", "restore-workflows", nil), http.StatusOK)
		expect[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", "restore", nil), http.StatusAccepted)
	})
}

// disablingStore is a store on which an admin disables user just after the API signed the
// request in and just before its undo runs: the race the undo script's own check closes.
type disablingStore struct {
	crm.Store
	user string
}

func (s *disablingStore) CreateUndoJob(ctx context.Context, t crm.TenantID, p crm.UndoParams) (crm.Job, error) {
	if _, err := s.Store.SetUserDisabled(ctx, t, s.user, true, "root@a.example"); err != nil {
		return crm.Job{}, err
	}
	return s.Store.CreateUndoJob(ctx, t, p)
}

// TestUndoByAUserDisabledMeanwhile: a user disabled after its undo was signed in, and before the
// undo's script checked it, is refused with a 403 that says the user is disabled (code
// USER_DISABLED, not a missing permission), that nothing changed, and how an admin enables the
// user again; nothing changes: the job still runs, no undo job, no audit entry, no task.
func TestUndoByAUserDisabledMeanwhile(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.user(t, b.tenantA, "undoer@a.example", "read,restore,delete,bulk_delete")
	var ids []string
	for range 4 {
		ids = append(ids, string(b.contact(t, nil)))
	}
	jobID := decode[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll,
		map[string]any{"ids": ids, "confirmCount": 4})).ID
	j, err := b.store.RunDeleteJobBatch(b.ctx, b.tenantA, jobID, 2)
	require.NoError(t, err)
	require.Equal(t, crm.JobRunning, j.State)

	b.tokens["undoer"] = tok
	srv, err := api.New(&disablingStore{Store: b.store, user: "undoer@a.example"}, &api.Config{Clock: b.clock, Tasks: b.tasks})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	b.url, b.client = ts.URL, ts.Client()
	tasks := len(b.tasks.jobsOf(b.tenantA))
	e := expectError(t, b.call(t, "POST", "/crm/v3/operations/"+crm.JobOperationID(jobID)+"/undo", "undoer", nil),
		http.StatusUnauthorized, "INVALID_AUTHENTICATION")
	require.Equal(t, "USER_DISABLED", e.Errors[0].Code)
	require.Equal(t, []string{"undoer@a.example"}, e.Context["user"])
	require.NotContains(t, e.Context, "requiredScopes", "a disabled user lacks no permission: it is disabled")
	require.Contains(t, e.Message, "user undoer@a.example is disabled")
	require.Contains(t, e.Message, "nothing was changed")
	require.Contains(t, e.Message, fmt.Sprintf("crmflow admin user enable %s undoer@a.example", b.tenantA))
	j, err = b.store.Job(b.ctx, b.tenantA, jobID)
	require.NoError(t, err)
	require.Equal(t, crm.JobRunning, j.State, "the job still runs")
	require.Len(t, b.tasks.jobsOf(b.tenantA), tasks, "a refused undo enqueues nothing")
	jobs, _, err := b.store.RecentJobs(b.ctx, b.tenantA, "", 100)
	require.NoError(t, err)
	for _, jj := range jobs {
		require.NotEqual(t, crm.JobKindUndo, jj.Kind, "no undo job")
	}
}
