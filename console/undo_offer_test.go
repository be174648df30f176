package console_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// TestBinUndoSaysWhatItStops: the bin filtered by an operation offers its Undo only to a user who
// holds what the undo needs now. A user with restore alone, where the undo would cancel the
// operation's bulk delete job still running or pause its workflow still active, sees no Undo but
// a sentence naming the job or the workflow, the permissions they lack and what to do instead (in
// their language); a user who holds them sees the Undo and, next to it, what it will stop.
func TestBinUndoSaysWhatItStops(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	// signIn opens a browser as a new user with perms.
	signIn := func(email string, perms ...crm.Permission) *browser {
		_, err := b.store.CreateUser(ctx, b.tenant, email, perms, "test")
		require.NoError(t, err)
		token, err := b.store.CreateToken(ctx, b.tenant, email, nil)
		require.NoError(t, err)
		br := b.browser(t)
		require.Equal(t, http.StatusSeeOther, br.signIn(token).StatusCode)
		return br
	}
	restorer := signIn("restorer@example.com", crm.PermRead, crm.PermRestore)
	pauser := signIn("pauser@example.com", crm.PermRead, crm.PermRestore, crm.PermWorkflows)
	ops := b.browser(t)
	require.Equal(t, http.StatusSeeOther, ops.signIn(b.token).StatusCode)

	// A bulk delete job that moved one of its two contacts and still runs.
	ids := []crm.RecordID{crm.RecordID(b.createContact(t, nil)), crm.RecordID(b.createContact(t, nil))}
	job, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids, ConfirmCount: 2, By: "ops@example.com"})
	require.NoError(t, err)
	j, err := b.store.RunDeleteJobBatch(ctx, b.tenant, job.ID, 1)
	require.NoError(t, err)
	require.Equal(t, crm.JobRunning, j.State)
	jobOp := "/console/bin/contacts?op=" + crm.JobOperationID(job.ID)

	_, page := restorer.get(jobOp)
	require.NotContains(t, page, `id="undo-operation"`)
	require.Contains(t, page, `id="undo-refused"`)
	require.Contains(t, page, "No undo offered: it would cancel bulk delete job "+job.ID+", which is still running, and that needs the "+
		"&#34;delete&#34; and &#34;bulk_delete&#34; permissions, which your user lacks. Wait until the job has finished")
	restorer.lang = "sv"
	_, page = restorer.get(jobOp)
	require.NotContains(t, page, `id="undo-operation"`)
	require.Contains(t, page, "Ingen ångring erbjuds: den skulle avbryta massraderingsjobbet "+job.ID)
	require.Contains(t, page, "kräver behörigheterna &#34;delete&#34; och &#34;bulk_delete&#34;")
	restorer.lang = "en"

	_, page = ops.get(jobOp)
	require.Contains(t, page, `id="undo-operation"`)
	require.NotContains(t, page, `id="undo-refused"`)
	require.Contains(t, page, `<p id="undo-note">The undo also cancels bulk delete job `+job.ID+`, which is still running`)

	// A workflow still active at the activation whose deletion the operation is.
	const src = "name: bounced\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n"
	_, _, err = b.store.PutFlow(ctx, b.tenant, "bounced", crm.Contacts, src, "ops@example.com")
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "ops@example.com"})
	require.NoError(t, err)
	gone := crm.RecordID(b.createContact(t, nil))
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{gone},
		crm.Actor{User: "ops@example.com", Via: crm.ViaWorkflow, Ref: "bounced", Revision: f.ActiveRevision})
	require.NoError(t, err)
	rec, err := b.store.Record(ctx, b.tenant, crm.Contacts, gone, &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	wfOp := "/console/bin/contacts?op=" + rec.Deletion.Operation

	for _, br := range []*browser{restorer, ops} {
		_, page = br.get(wfOp)
		require.NotContains(t, page, `id="undo-operation"`)
		require.Contains(t, page, "No undo offered: it would pause workflow bounced, which is still active at this activation, and that needs the "+
			"&#34;workflows&#34; permission, which your user lacks. Ask a user who holds it to pause the workflow")
	}
	_, page = pauser.get(wfOp)
	require.Contains(t, page, `id="undo-operation"`)
	require.Contains(t, page, `<p id="undo-note">The undo also pauses workflow bounced, which is still active at this activation`)

	// Once the workflow is paused the undo stops nothing: restore is enough, and there is no note.
	_, err = b.store.PauseFlow(ctx, b.tenant, "bounced", nil)
	require.NoError(t, err)
	_, page = restorer.get(wfOp)
	require.Contains(t, page, `id="undo-operation"`)
	require.NotContains(t, page, `id="undo-refused"`)
	require.NotContains(t, page, `id="undo-note"`)
}
