package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
)

// TestOperationSaysWhatAnUndoWouldStop: GET /crm/v3/operations/{id} says what an undo asked now
// would stop besides restoring (undoStops) and the permissions that undo needs (undoNeeds), by
// the rule the undo applies: nothing to stop and restore alone for an API delete or a job that
// finished; the job and delete and bulk_delete for a bulk delete job still running; the workflow
// and workflows for a workflow still active at the operation's activation. Once the job is
// canceled or the workflow paused, restore alone again. The list of operations is as it was.
func TestOperationSaysWhatAnUndoWouldStop(t *testing.T) {
	t.Parallel()
	// get reads operation opID as the API answers it, and as raw JSON for the field names.
	get := func(t *testing.T, b *testBundle, opID string) (api.Operation, map[string]any) {
		t.Helper()
		r := b.call(t, "GET", "/crm/v3/operations/"+opID, tokRead, nil)
		return expect[api.Operation](t, r, http.StatusOK), expect[map[string]any](t, r, http.StatusOK)
	}
	nothing := func(t *testing.T, b *testBundle, opID string) {
		t.Helper()
		op, raw := get(t, b, opID)
		require.Equal(t, &api.UndoStops{}, op.UndoStops)
		require.Equal(t, map[string]any{}, raw["undoStops"])
		require.Equal(t, []any{"restore"}, raw["undoNeeds"])
	}

	t.Run("NothingToStop", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		id := b.contact(t, nil)
		r := b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(id), tokAll, nil)
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		rec, err := b.store.Record(b.ctx, b.tenantA, crm.Contacts, id, &crm.ReadOpts{Archived: true})
		require.NoError(t, err)
		nothing(t, b, rec.Deletion.Operation)
		// The list of operations shows neither field.
		page := expect[map[string]any](t, b.call(t, "GET", "/crm/v3/operations", tokRead, nil), http.StatusOK)
		first := page["results"].([]any)[0].(map[string]any)
		require.Equal(t, rec.Deletion.Operation, first["id"])
		require.NotContains(t, first, "undoStops")
		require.NotContains(t, first, "undoNeeds")
	})

	t.Run("RunningJob", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var all []string
		for i := range 4 {
			all = append(all, string(b.contact(t, map[string]string{"firstname": fmt.Sprint("Lead ", i)})))
		}
		jobID := decode[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll,
			map[string]any{"ids": all, "confirmCount": 4})).ID
		j, err := b.store.RunDeleteJobBatch(b.ctx, b.tenantA, jobID, 2)
		require.NoError(t, err)
		require.Equal(t, crm.JobRunning, j.State)
		opID := crm.JobOperationID(jobID)

		op, raw := get(t, b, opID)
		require.Equal(t, &api.UndoStops{Job: jobID}, op.UndoStops)
		require.Equal(t, map[string]any{"job": jobID}, raw["undoStops"])
		require.Equal(t, []any{"restore", "delete", "bulk_delete"}, raw["undoNeeds"])

		// The undo cancels the job: nothing is left to stop.
		expect[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", tokAll, nil), http.StatusAccepted)
		nothing(t, b, opID)
	})

	t.Run("ActiveWorkflow", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, _, err := b.store.PutFlow(b.ctx, b.tenantA, "wf", crm.Contacts, bouncedFlow("wf"), "all@a.example")
		require.NoError(t, err)
		f, err := b.store.ActivateFlow(b.ctx, b.tenantA, "wf", crm.ActivateFlowParams{By: "all@a.example"})
		require.NoError(t, err)
		_, err = b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Contacts, []crm.RecordID{b.contact(t, nil)},
			crm.Actor{User: "all@a.example", Via: crm.ViaWorkflow, Ref: "wf", Revision: f.ActiveRevision})
		require.NoError(t, err)
		ops, _, err := b.store.Operations(b.ctx, b.tenantA, &crm.OperationsOpts{Kind: "workflow", Limit: 1})
		require.NoError(t, err)
		require.Len(t, ops, 1)
		opID := ops[0].ID

		op, raw := get(t, b, opID)
		require.Equal(t, &api.UndoStops{Workflow: "wf"}, op.UndoStops)
		require.Equal(t, map[string]any{"workflow": "wf"}, raw["undoStops"])
		require.Equal(t, []any{"restore", "workflows"}, raw["undoNeeds"])

		// Paused, the workflow is no longer the undo's to pause: restore alone.
		expect[map[string]any](t, b.call(t, "POST", "/automation/v4/flows/wf/pause", tokAll, nil), http.StatusOK)
		nothing(t, b, opID)
	})
}
