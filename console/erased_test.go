package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
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
