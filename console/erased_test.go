package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// TestBinRestoreOfAnErasedEmailAndAStoppedUndo: restoring from the bin a contact whose email was
// permanently deleted since answers 409 with the API's reason, and the contact stays in the bin;
// an undo job whose creator may no longer restore shows as stopped, final, with its reason.
func TestBinRestoreOfAnErasedEmailAndAStoppedUndo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a := crm.RecordID(b.createContact(t, map[string]string{"email": "shared@example.com", "firstname": "A"}))
	_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{a}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	taker := crm.RecordID(b.createContact(t, map[string]string{"email": "shared@example.com"}))
	_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: taker, By: "dpo@example.com"})
	require.NoError(t, err)

	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	resp, page := br.post("/console/bin/contacts/restore", url.Values{"csrf": {br.csrf()}, "id": {string(a)}})
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, page, "permanently deleted under a privacy request")
	require.Contains(t, page, "cannot be restored with that address")
	require.False(t, b.live(t, string(a)))

	binned, err := b.store.Record(ctx, b.tenant, crm.Contacts, a, &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	undo, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: binned.Deletion.Operation, By: "gone@example.com"})
	require.NoError(t, err)
	undo, err = b.store.RunUndoBatch(ctx, b.tenant, undo.ID, 100)
	require.NoError(t, err)
	require.Equal(t, crm.JobStopped, undo.State)
	_, page = br.get("/console/jobs/" + undo.ID)
	require.Contains(t, page, "Stopped: its creator may no longer do this")
	require.Contains(t, page, "gone@example.com is no longer a user of the tenant")
	resp, raw := br.get("/console/jobs/" + undo.ID + "/status")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st struct {
		Status  string `json:"status"`
		Final   bool   `json:"final"`
		Refusal string `json:"refusal"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &st))
	require.Equal(t, "STOPPED", st.Status)
	require.True(t, st.Final, "a stopped job is not polled any more")
	require.Contains(t, st.Refusal, "restore permission")
}

// TestAuditOfAnErasedWorkflow: the audit log offers workflow_erased among its actions, and shows
// an entry of it as the workflow and the number of its revisions erased, not as records.
func TestAuditOfAnErasedWorkflow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	src := func(who string) string {
		return "name: named\nobject_type: contacts\ntrigger: email == \"" + who + "\"\nactions:\n  - type: delete_contact\n"
	}
	for _, who := range []string{"ann@example.com", "Ann@Example.com"} {
		_, _, err := b.store.PutFlow(ctx, b.tenant, "named", crm.Contacts, src(who), "ops@example.com")
		require.NoError(t, err)
	}
	ann := crm.RecordID(b.createContact(t, map[string]string{"email": "ann@example.com"}))
	_, err := b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: ann, By: "dpo@example.com"})
	require.NoError(t, err)

	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	resp, page := br.get("/console/audit")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `<option value="workflow_erased">`)
	resp, page = br.get("/console/audit?action=workflow_erased")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 1, strings.Count(page, `<tr class="audit-workflow_erased">`), page)
	require.Contains(t, page, "workflow revisions erased: 2")
	require.Contains(t, page, "<td>named</td>")
	require.NotContains(t, page, "and 2 more", "the count is of revisions, not of records")

	// The workflow's page marks its erased revisions.
	_, _, err = b.store.PutFlow(ctx, b.tenant, "named", crm.Contacts, src("bob@example.com"), "ops@example.com")
	require.NoError(t, err)
	resp, page = br.get("/console/workflows/named")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 2, strings.Count(page, "(erased by a permanent delete: it cannot be activated)"), page)
	require.Contains(t, page, "Revision 3,")
}
