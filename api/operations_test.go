package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
)

func TestOperationsAndUndo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.contact(t, map[string]string{"email": "a@example.com"})
	c := b.contact(t, map[string]string{"email": "c@example.com"})
	keep := b.contact(t, map[string]string{"email": "k@example.com"})
	res := b.call(t, "POST", "/crm/v3/objects/contacts/batch/archive", tokAll,
		map[string]any{"inputs": []map[string]string{{"id": string(a)}, {"id": string(c)}}})
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	res = b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(keep), tokAll, nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))

	// The bin shows each record's operation.
	res = b.call(t, "GET", "/crm/v3/objects/contacts/"+string(a)+"?archived=true", tokRead, nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	rec := decode[map[string]any](t, res)
	opID, _ := rec["archivedOperation"].(string)
	require.NotEmpty(t, opID)

	res = b.call(t, "GET", "/crm/v3/operations?kind=batch", tokRead, nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	page := decode[struct{ Results []api.Operation }](t, res)
	require.Len(t, page.Results, 1)
	require.Equal(t, opID, page.Results[0].ID)
	require.EqualValues(t, 2, page.Results[0].Moved)
	require.EqualValues(t, 2, page.Results[0].InBin)
	require.Equal(t, "all@a.example", page.Results[0].By)
	res = b.call(t, "GET", "/crm/v3/operations?limit=1", tokRead, nil)
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, string(res.body), `"paging"`)
	for _, bad := range []string{"?kind=purge", "?limit=0", "?from=yesterday", "?after=nope"} {
		res = b.call(t, "GET", "/crm/v3/operations"+bad, tokRead, nil)
		require.Equal(t, http.StatusBadRequest, res.status, bad+": "+string(res.body))
	}

	// A new contact takes a's email; the undo needs restore, and an unknown operation is a 404.
	blocker := b.contact(t, map[string]string{"email": "a@example.com"})
	before := b.dump(t, b.tenantA)
	res = b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", tokDelete, nil)
	require.Equal(t, http.StatusForbidden, res.status, string(res.body))
	res = b.call(t, "POST", "/crm/v3/operations/nope/undo", tokAll, nil)
	require.Equal(t, http.StatusNotFound, res.status, string(res.body))
	res = b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", tokBAll, nil)
	require.Equal(t, http.StatusNotFound, res.status, "another tenant's operation is not found")
	require.Equal(t, before, b.dump(t, b.tenantA), "a refused undo changes nothing")

	res = b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", tokAll, nil)
	require.Equal(t, http.StatusAccepted, res.status, string(res.body))
	acc := decode[api.JobAccepted](t, res)
	require.EqualValues(t, 2, acc.Total)
	again := decode[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", tokAll, nil))
	require.Equal(t, acc.ID, again.ID, "undo while the undo runs answers the same job")
	require.NotEmpty(t, b.tasks.jobs)

	// Run it as a worker would.
	for {
		j, err := b.store.RunUndoBatch(b.ctx, b.tenantA, acc.ID, 500)
		require.NoError(t, err)
		if j.State.Finished() {
			break
		}
	}
	res = b.call(t, "GET", acc.Links.Status, tokRead, nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	job := decode[api.Job](t, res)
	require.Equal(t, "COMPLETE", job.Status)
	require.Equal(t, crm.JobKindUndo, job.Kind)
	require.Equal(t, opID, job.Operation)
	require.EqualValues(t, 1, job.Done)
	require.EqualValues(t, 1, job.Skipped)
	require.Len(t, job.Failures, 1)
	require.Equal(t, string(a), job.Failures[0].ID)
	require.Equal(t, string(blocker), job.Failures[0].BlockingID)
	require.Contains(t, job.Failures[0].Reason, "live contact "+string(blocker))

	res = b.call(t, "GET", "/crm/v3/operations/"+opID, tokRead, nil)
	require.Equal(t, http.StatusOK, res.status)
	op := decode[api.Operation](t, res)
	require.EqualValues(t, 1, op.InBin)
	require.Equal(t, acc.ID, op.UndoJob)
	// The single delete is untouched.
	res = b.call(t, "GET", "/crm/v3/objects/contacts/"+string(keep)+"?archived=true", tokRead, nil)
	require.Equal(t, http.StatusOK, res.status)
	res = b.call(t, "GET", "/crm/v3/objects/contacts/"+string(c), tokRead, nil)
	require.Equal(t, http.StatusOK, res.status)
}

// TestUndoOfARunningBulkJob asks to undo the operation of a bulk or list delete whose job has
// moved some of its records and is still running. The undo stops the job (CANCELED, naming the
// undo job), so the job deletes nothing more, and restores what it had moved: every record is
// live again.
func TestUndoOfARunningBulkJob(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		name  string
		start func(b *testBundle, ids []string) string // starts the job, returns its id
	}{
		{"ByIDs", func(b *testBundle, ids []string) string {
			return decode[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll,
				map[string]any{"ids": ids, "confirmCount": len(ids)})).ID
		}},
		{"ListMembers", func(b *testBundle, ids []string) string {
			l, err := b.store.CreateList(b.ctx, b.tenantA, "Leads", crm.Contacts)
			require.NoError(t, err)
			_, _, err = b.store.AddListMembers(b.ctx, b.tenantA, l.ID, toRecordIDs(ids))
			require.NoError(t, err)
			id := decode[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/lists/"+string(l.ID)+"/records/delete", tokAll,
				map[string]any{"confirmCount": len(ids)})).ID
			for {
				j, err := b.store.Job(b.ctx, b.tenantA, id)
				require.NoError(t, err)
				if j.State != crm.JobSelecting {
					return id
				}
				_, err = b.store.StageListSelection(b.ctx, b.tenantA, j, 500)
				require.NoError(t, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			var want []string
			for i := range 4 {
				want = append(want, string(b.contact(t, map[string]string{"firstname": fmt.Sprint("Lead ", i)})))
			}
			jobID := tc.start(b, want)
			j, err := b.store.RunDeleteJobBatch(b.ctx, b.tenantA, jobID, 2)
			require.NoError(t, err)
			require.Equal(t, crm.JobRunning, j.State)
			opID := crm.JobOperationID(jobID)
			op := expect[api.Operation](t, b.call(t, "GET", "/crm/v3/operations/"+opID, tokRead, nil), http.StatusOK)
			require.EqualValues(t, 2, op.InBin)

			und := decode[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", tokAll, nil))
			require.EqualValues(t, 2, und.Total)
			stopped := expect[api.Job](t, b.call(t, "GET", "/crm/v3/jobs/"+jobID, tokRead, nil), http.StatusOK)
			require.Equal(t, "CANCELED", stopped.Status)
			require.Equal(t, und.ID, stopped.CanceledBy)
			require.NotEmpty(t, stopped.CompletedAt)
			require.EqualValues(t, 2, stopped.Done)
			// A worker that still runs the job deletes nothing more.
			j, err = b.store.RunDeleteJobBatch(b.ctx, b.tenantA, jobID, 2)
			require.NoError(t, err)
			require.EqualValues(t, 2, j.Done)
			live := expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts", tokRead, nil), http.StatusOK)
			require.Len(t, live.Results, 2)
			for {
				j, err := b.store.RunUndoBatch(b.ctx, b.tenantA, und.ID, 500)
				require.NoError(t, err)
				if j.State.Finished() {
					break
				}
			}
			live = expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts", tokRead, nil), http.StatusOK)
			require.ElementsMatch(t, want, ids(live.Results))
		})
	}
}

// TestUndoWithNothingLeftInTheBin undoes an operation twice: once every record it moved is
// restored, another undo is refused with a 409 that says so and names the undo that restored
// them, and it creates no job (no empty "0 of 0" job), changing nothing.
func TestUndoWithNothingLeftInTheBin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.contact(t, map[string]string{"email": "a@example.com"})
	c := b.contact(t, map[string]string{"email": "c@example.com"})
	res := b.call(t, "POST", "/crm/v3/objects/contacts/batch/archive", tokAll,
		map[string]any{"inputs": []map[string]string{{"id": string(a)}, {"id": string(c)}}})
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	opID, _ := expect[map[string]any](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(a)+"?archived=true", tokRead, nil),
		http.StatusOK)["archivedOperation"].(string)
	require.NotEmpty(t, opID)

	first := expect[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", tokAll, nil), http.StatusAccepted)
	for {
		j, err := b.store.RunUndoBatch(b.ctx, b.tenantA, first.ID, 500)
		require.NoError(t, err)
		if j.State.Finished() {
			break
		}
	}
	b.requireLive(t, crm.Contacts, string(a), true)
	b.requireLive(t, crm.Contacts, string(c), true)

	before := b.dump(t, b.tenantA)
	e := expectError(t, b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", tokAll, nil), http.StatusConflict, "CONFLICT")
	require.Equal(t, "NOTHING_TO_UNDO", e.Errors[0].Code)
	require.Contains(t, e.Message, "no record left in the recycle bin")
	require.Contains(t, e.Message, "undo job "+first.ID)
	require.Equal(t, []string{first.ID}, e.Context["undoJob"])
	require.Equal(t, before, b.dump(t, b.tenantA), "a refused undo creates no job and changes nothing")
}

// TestUndoOfAJobThatMovedNothing asks to undo "job-<id>" of an undo job and of a bulk delete job
// refused before it moved anything: each is a 409 NOTHING_TO_UNDO saying why, not an "operation
// not found" that leaves the user wondering, and nothing changes. A job that does not exist is
// still a 404.
func TestUndoOfAJobThatMovedNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.contact(t, map[string]string{"email": "a@example.com"})
	res := b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(a), tokAll, nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	opID, _ := expect[map[string]any](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(a)+"?archived=true", tokRead, nil),
		http.StatusOK)["archivedOperation"].(string)
	undo := expect[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", tokAll, nil), http.StatusAccepted)
	refused := expect[api.JobAccepted](t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll,
		map[string]any{"filter": `email == "nobody@example.com"`, "confirmCount": 3}), http.StatusAccepted)
	for {
		j, err := b.store.Job(b.ctx, b.tenantA, refused.ID)
		require.NoError(t, err)
		if j.State != crm.JobSelecting {
			require.Equal(t, crm.JobRefused, j.State)
			break
		}
		_, err = b.store.StageSelection(b.ctx, b.tenantA, j.ID, crm.Contacts, crm.SelectionStep{After: j.Cursor, Scanned: 1})
		require.NoError(t, err)
	}

	before := b.dump(t, b.tenantA)
	e := expectError(t, b.call(t, "POST", "/crm/v3/operations/job-"+undo.ID+"/undo", tokAll, nil), http.StatusConflict, "CONFLICT")
	require.Equal(t, "NOTHING_TO_UNDO", e.Errors[0].Code)
	require.Contains(t, e.Message, "job "+undo.ID+" is an undo job: it restores records and moves none to the recycle bin")
	e = expectError(t, b.call(t, "POST", "/crm/v3/operations/job-"+refused.ID+"/undo", tokAll, nil), http.StatusConflict, "CONFLICT")
	require.Equal(t, "NOTHING_TO_UNDO", e.Errors[0].Code)
	require.Contains(t, e.Message, "job "+refused.ID+" moved no record to the recycle bin (it ended REFUSED before its first batch)")
	expectError(t, b.call(t, "POST", "/crm/v3/operations/job-9999/undo", tokAll, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	require.Equal(t, before, b.dump(t, b.tenantA), "nothing changes")
}

// TestOperationIDsThatNameOtherKeys reads and undoes operation ids that are no operation's but
// would name another of its keys ("<id>:bin", its bin index) or hold characters no operation id
// has: a 404 for a read and a 400 for an undo, naming the id, never a 500, and nothing changes.
func TestOperationIDsThatNameOtherKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.contact(t, map[string]string{"email": "a@example.com"})
	res := b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(a), tokAll, nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	opID, _ := expect[map[string]any](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(a)+"?archived=true", tokRead, nil),
		http.StatusOK)["archivedOperation"].(string)
	before := b.dump(t, b.tenantA)
	for _, id := range []string{opID + ":bin", opID + "%3Abin", "wf-x-1:bin", "job-1.5", "a%2Fb"} {
		e := expectError(t, b.call(t, "GET", "/crm/v3/operations/"+id, tokAll, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Contains(t, e.Message, "not found")
		e = expectError(t, b.call(t, "POST", "/crm/v3/operations/"+id+"/undo", tokAll, nil), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "is not an operation id: take one from GET /crm/v3/operations")
	}
	require.Equal(t, before, b.dump(t, b.tenantA))
	expect[api.Operation](t, b.call(t, "GET", "/crm/v3/operations/"+opID, tokRead, nil), http.StatusOK)
}

// TestUndoOfAnOperationPartlyUndoneMeanwhile undoes a batch whose records met different fates after
// it: one was permanently deleted, one restored by hand, one restored by hand and deleted again by
// another operation, one protected by a rule written since, one whose unique value a new record
// took. The undo restores what is still in the bin by this operation, the protected record included
// (protection refuses deletes, not restores: SPEC S25, S26), leaves the others alone, and reports
// the unique value's blocker.
func TestUndoOfAnOperationPartlyUndoneMeanwhile(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.CreateProperty(b.ctx, b.tenantA, crm.Contacts, crm.Property{Name: "badge", Label: "Badge", Type: crm.TypeString, Unique: true}, "ops@x.example")
	require.NoError(t, err)
	erased := string(b.contact(t, map[string]string{"email": "p@example.com"}))
	byHand := string(b.contact(t, map[string]string{"email": "h@example.com"}))
	again := string(b.contact(t, map[string]string{"email": "g@example.com"}))
	prot := string(b.contact(t, map[string]string{"email": "v@example.com", "lifecyclestage": "customer"}))
	uniq := string(b.contact(t, map[string]string{"email": "u@example.com", "badge": "B-1"}))
	plain := string(b.contact(t, map[string]string{"email": "n@example.com"}))
	r := b.call(t, "POST", "/crm/v3/objects/contacts/batch/archive", tokAll, map[string]any{"inputs": idInputs(erased, byHand, again, prot, uniq, plain)})
	require.Equal(t, http.StatusNoContent, r.status, string(r.body))
	opID := b.operationOf(t, crm.RecordID(plain))

	r = b.call(t, "POST", "/crm/v3/objects/contacts/gdpr-delete", tokAll, map[string]any{"objectId": erased})
	require.Equal(t, http.StatusNoContent, r.status, string(r.body))
	r = b.call(t, "POST", "/crm/v3/objects/contacts/batch/restore", tokAll, map[string]any{"inputs": idInputs(byHand, again)})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, http.StatusNoContent, b.call(t, "DELETE", "/crm/v3/objects/contacts/"+again, tokAll, nil).status)
	b.protect(t, "customers", "contacts", `lifecyclestage == "customer"`)
	blocker := string(b.contact(t, map[string]string{"email": "x@example.com", "badge": "B-1"}))

	r = b.call(t, "POST", "/crm/v3/operations/"+opID+"/undo", tokAll, nil)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	acc := decode[api.JobAccepted](t, r)
	require.EqualValues(t, 3, acc.Total, "the protected, the unique and the plain record are still in the bin by it")
	for {
		j, err := b.store.RunUndoBatch(b.ctx, b.tenantA, acc.ID, 500)
		require.NoError(t, err)
		if j.State.Finished() {
			break
		}
	}
	job := decode[api.Job](t, b.call(t, "GET", acc.Links.Status, tokRead, nil))
	require.Equal(t, "COMPLETE", job.Status)
	require.EqualValues(t, 2, job.Done)
	require.EqualValues(t, 1, job.Skipped)
	require.Len(t, job.Failures, 1)
	require.Equal(t, uniq, job.Failures[0].ID)
	require.Equal(t, blocker, job.Failures[0].BlockingID)
	require.Contains(t, job.Failures[0].Reason, "badge")
	for id, live := range map[string]bool{erased: false, byHand: true, again: false, prot: true, uniq: false, plain: true} {
		b.requireLive(t, crm.Contacts, id, live)
	}
	// The record deleted again stays in the bin, by its own operation.
	require.NotEqual(t, opID, b.operationOf(t, crm.RecordID(again)))
}

// TestOperationsHostileInput lists, reads and undoes operations as a careless client and an
// attacker would: a filter the endpoint does not know (a typo) or one given twice is a 400 naming
// it, not a page that silently ignores it and shows every operation; an unknown operation's 404
// says where the ids are; another tenant's operation is not found, to read or to undo, and
// nothing changes.
func TestOperationsHostileInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.contact(t, nil)
	res := b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(a), tokAll, nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	other := b.create(t, b.tenantB, crm.Contacts, nil)
	res = b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(other), tokBAll, nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	theirs := expect[page[api.Operation]](t, b.call(t, "GET", "/crm/v3/operations", tokBAll, nil), http.StatusOK).Results
	require.Len(t, theirs, 1)

	for _, c := range []struct{ query, in, says string }{
		{"knd=bulk", "knd", `"knd" is not a parameter of GET /crm/v3/operations: use kind, actor, workflow, from, to, limit or after`},
		{"kind=delete&workflw=bounced", "workflw", `"workflw" is not a parameter`},
		{"kind=bulk&kind=delete", "kind", `kind is given 2 times: give it once`},
		{"limit=5&limit=50", "limit", `limit is given 2 times`},
		{"after=-99999999999:x", "after", `cursor "-99999999999:x" is not one this endpoint returned`},
		{"after=1:a:bin", "after", `is not one this endpoint returned: pass paging.next.after`},
	} {
		e := expectError(t, b.call(t, "GET", "/crm/v3/operations?"+c.query, tokRead, nil), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, c.in, e.Errors[0].In, c.query)
		require.Contains(t, e.Message, c.says, c.query)
	}
	// The parameters it knows, once each, are a page.
	expect[page[api.Operation]](t, b.call(t, "GET", "/crm/v3/operations?kind=delete&actor=all@a.example&workflow=&from=2026-01-01&to=2027-01-01&limit=5", tokRead, nil), http.StatusOK)

	before, beforeB := b.dump(t, b.tenantA), b.dump(t, b.tenantB)
	e := expectError(t, b.call(t, "GET", "/crm/v3/operations/"+theirs[0].ID, tokAll, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	require.Contains(t, e.Message, "take one from GET /crm/v3/operations")
	e = expectError(t, b.call(t, "POST", "/crm/v3/operations/"+theirs[0].ID+"/undo", tokAll, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	require.Contains(t, e.Message, "take one from GET /crm/v3/operations")
	require.Equal(t, before, b.dump(t, b.tenantA))
	require.Equal(t, beforeB, b.dump(t, b.tenantB))
}
