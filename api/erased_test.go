package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// TestRestoreOfAnErasedEmail: a contact in the bin whose email a permanent delete of another
// contact blocklisted since is not restored, by a batch restore (its error says the address was
// permanently deleted under a privacy request and what the user can do) nor by an undo of its
// operation (the job names it among its failures, with that reason); nothing changes for it.
func TestRestoreOfAnErasedEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.contact(t, map[string]string{"email": "shared@example.com", "firstname": "A"})
	res := b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(a), tokAll, nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	opID := b.operationOf(t, a)
	taker := b.contact(t, map[string]string{"email": "shared@example.com"})
	res = b.call(t, "POST", "/crm/v3/objects/contacts/gdpr-delete", tokAll, map[string]any{"objectId": string(taker)})
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	before := b.dump(t, b.tenantA)

	out := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/restore", tokAll,
		map[string]any{"inputs": idInputs(string(a))}), http.StatusMultiStatus)
	require.Empty(t, out.Results)
	require.Len(t, out.Errors, 1)
	e := out.Errors[0]
	require.Equal(t, "CONFLICT", e.Category)
	require.Contains(t, e.Message, "could not restore contacts "+string(a))
	require.Contains(t, e.Message, "shared@example.com was permanently deleted under a privacy request")
	require.Contains(t, e.Message, "cannot be restored with that address")
	require.Equal(t, []string{string(a)}, e.Context["id"])
	require.Equal(t, []string{"email"}, e.Context["property"])
	require.Equal(t, before, b.dump(t, b.tenantA), "a refused restore changes nothing")

	acc := expect[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", tokAll, nil), http.StatusAccepted)
	for {
		j, err := b.store.RunUndoBatch(b.ctx, b.tenantA, acc.ID, 500)
		require.NoError(t, err)
		if j.State.Finished() {
			break
		}
	}
	job := expect[api.Job](t, b.call(t, "GET", acc.Links.Status, tokRead, nil), http.StatusOK)
	require.Equal(t, "COMPLETE", job.Status)
	require.Zero(t, job.Done)
	require.EqualValues(t, 1, job.Skipped)
	require.Len(t, job.Failures, 1)
	require.Equal(t, string(a), job.Failures[0].ID)
	require.Equal(t, "erased", job.Failures[0].Code)
	require.Equal(t, "email", job.Failures[0].Property)
	require.Contains(t, job.Failures[0].Reason, "permanently deleted under a privacy request")
	require.NotContains(t, job.Failures[0].Reason, "shared@", "the job keeps no value of the record")
	b.archived(t, crm.Contacts, string(a))
}

// TestUndoJobStopsWhenItsCreatorIsDisabled: an undo job whose creator was disabled before its
// batch restores nothing and is STOPPED, final, with a reason naming the user and the permission.
func TestUndoJobStopsWhenItsCreatorIsDisabled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.user(t, b.tenantA, "undoer@a.example", "read,restore")
	b.tokens["undoer"] = tok
	a := b.contact(t, map[string]string{"email": "a@example.com"})
	res := b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(a), tokAll, nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	opID := b.operationOf(t, a)
	acc := expect[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", "undoer", nil), http.StatusAccepted)
	_, err := b.store.SetUserDisabled(b.ctx, b.tenantA, "undoer@a.example", true, "all@a.example")
	require.NoError(t, err)
	j, err := b.store.RunUndoBatch(b.ctx, b.tenantA, acc.ID, 500)
	require.NoError(t, err)
	require.Equal(t, crm.JobStopped, j.State)

	job := expect[api.Job](t, b.call(t, "GET", acc.Links.Status, tokRead, nil), http.StatusOK)
	require.Equal(t, "STOPPED", job.Status)
	require.NotEmpty(t, job.CompletedAt, "a stopped job is over")
	require.NotNil(t, job.Stop)
	require.Equal(t, "USER_DISABLED", job.Stop.Code)
	require.Equal(t, "undoer@a.example", job.Stop.User)
	require.Contains(t, job.Stop.Message, "undoer@a.example was disabled")
	require.Contains(t, job.Stop.Message, "restore")
	require.Zero(t, job.Done)
	b.archived(t, crm.Contacts, string(a))
}

// operationOf returns the operation that moved contact id to the bin.
func (b *testBundle) operationOf(t *testing.T, id crm.RecordID) string {
	t.Helper()
	rec := expect[map[string]any](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(id)+"?archived=true", tokRead, nil), http.StatusOK)
	op, _ := rec["archivedOperation"].(string)
	require.NotEmpty(t, op)
	return op
}

// TestPermanentDeletePausesAWorkflowNamingTheEmail: a permanent delete erases the contact's email
// from an active workflow whose trigger named it. GET shows the workflow paused with a reason
// that names no address, and its source without the address; activating it is a 409 that says a
// permanent delete erased it, and changes nothing, until a new revision is stored.
func TestPermanentDeletePausesAWorkflowNamingTheEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	all := "Bearer " + b.tokens[tokAll]
	b.contact(t, map[string]string{"email": "ann@example.com"})
	src := func(who string) string {
		return "name: named\nobject_type: contacts\ntrigger: email == \"" + who + "\"\nactions:\n  - type: delete_contact\n"
	}
	expect[flow](t, b.put(t, all, "named", src("Ann@Example.com")), http.StatusCreated)
	f := expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/named/activate", all, nil), http.StatusOK)
	require.Equal(t, "ACTIVE", f.State)

	res := b.call(t, "POST", "/crm/v3/objects/contacts/gdpr-delete", tokAll, map[string]any{"objectId": "ann@example.com", "idProperty": "email"})
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))

	f = expect[flow](t, b.raw(t, "GET", "/automation/v4/flows/named", all, nil), http.StatusOK)
	require.Equal(t, "PAUSED", f.State)
	require.Equal(t, redisstore.FlowErasedReason, f.PausedReason)
	require.Contains(t, f.PausedReason, "permanent delete erased an email address")
	require.NotNil(t, f.PausedReasonCode, "pausedReasonCode is answered")
	require.Equal(t, "CONTACT_ERASED", *f.PausedReasonCode)
	require.NotContains(t, strings.ToLower(f.Source), "ann@")
	require.True(t, strings.HasPrefix(f.Source, redisstore.ErasedFlowHeader), f.Source)
	require.Len(t, f.Revisions, 1)
	require.True(t, f.Revisions[0].Erased, "the revisions list says which were erased")
	rev := expect[map[string]any](t, b.raw(t, "GET", "/automation/v4/flows/named/revisions/1", all, nil), http.StatusOK)
	require.Equal(t, true, rev["erased"], "a revision read alone says it was erased")
	require.Equal(t, f.Source, rev["source"])

	// The audit trail's filter knows the erasure's action, as it lists it.
	erased := expect[page[map[string]any]](t, b.call(t, "GET", "/crm/v3/audit?action=workflow_erased", tokAll, nil), http.StatusOK)
	require.Len(t, erased.Results, 1)
	require.Equal(t, "workflow_erased", erased.Results[0]["action"])
	require.Equal(t, "named", erased.Results[0]["ref"])
	require.Equal(t, "permanent-delete", erased.Results[0]["by"])
	require.EqualValues(t, 1, erased.Results[0]["count"], "revisions erased")

	before := b.dump(t, b.tenantA)
	e := expectError(t, b.raw(t, "POST", "/automation/v4/flows/named/activate", all, nil), http.StatusConflict, "CONFLICT")
	require.Contains(t, e.Message, "workflow named revision 1 was erased by a permanent delete")
	require.Contains(t, e.Message, "store a new revision without that address, then activate it")
	require.Equal(t, before, b.dump(t, b.tenantA), "a refused activation changes nothing")

	// The erased text stored again, as is or without its first line, is refused with what to do:
	// the placeholder matches no record, so a workflow naming it would never run.
	expectProblems(t, b.put(t, all, "named", f.Source),
		problem{line: 1, column: 1, path: "erased", msg: "this is the text of a revision a permanent delete erased"},
		problem{line: 4, column: 20, msg: "<erased email> stands for an email address a permanent delete erased"})
	_, rest, _ := strings.Cut(f.Source, "\n")
	e = expectError(t, b.put(t, all, "named", rest), http.StatusBadRequest, "VALIDATION_ERROR")
	require.Contains(t, e.Message, "flow.yaml:3:20: <erased email> stands for an email address a permanent delete erased")
	require.Contains(t, e.Message, "write this without it")
	require.Equal(t, before, b.dump(t, b.tenantA), "a refused revision changes nothing")

	expect[flow](t, b.put(t, all, "named", src("bob@example.com")), http.StatusCreated)
	f = expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/named/activate", all, nil), http.StatusOK)
	require.Equal(t, "ACTIVE", f.State)
	require.Equal(t, int64(2), f.ActiveRevision)
	f = expect[flow](t, b.raw(t, "GET", "/automation/v4/flows/named", all, nil), http.StatusOK)
	require.Len(t, f.Revisions, 2)
	require.True(t, f.Revisions[0].Erased)
	require.False(t, f.Revisions[1].Erased, "a revision stored since is not erased")
	rev = expect[map[string]any](t, b.raw(t, "GET", "/automation/v4/flows/named/revisions/2", all, nil), http.StatusOK)
	require.NotContains(t, rev, "erased")
}
