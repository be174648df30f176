package main

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// TestUndoOfBulkDeleteJobSurvivesKills deletes 10,000 contacts with a bulk delete job, then undoes
// the job's operation on worker processes SIGKILLed while the undo is under way (the scheduler's
// jobs sweep hands it to the next worker). In the end exactly the job's records are back, each
// restored once, but for the one whose email a new live contact took meanwhile: the undo job reports
// it, naming that contact. A record deleted by the API is not touched (SPEC S26).
func TestUndoOfBulkDeleteJobSurvivesKills(t *testing.T) {
	t.Parallel()
	const n = 10_000
	b := setupBackground(t)
	tenant, token := b.opsTenant(t)

	var leads []crm.RecordID
	for from := 0; from < n; from += crm.MaxScriptBatch {
		in := make([]crm.RecordInput, crm.MaxScriptBatch)
		for i := range in {
			in[i] = crm.RecordInput{Properties: map[string]string{"email": "lead" + strconv.Itoa(from+i) + "@example.com", "lifecyclestage": "lead"}}
		}
		recs, err := b.store.CreateRecords(b.ctx, tenant, crm.Contacts, in, crm.Actor{User: opsUser})
		require.NoError(t, err)
		for _, r := range recs {
			leads = append(leads, r.ID)
		}
	}
	other, err := b.store.CreateRecords(b.ctx, tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"lifecyclestage": "customer"}}}, crm.Actor{User: opsUser})
	require.NoError(t, err)

	addr := freeAddr(t)
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL)
	waitReady(t, api, "http://"+addr)
	startWorker := func() *proc {
		return start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", freeAddr(t),
			"--job-lease", "2s", "--concurrency", "2", "--shutdown-timeout", "30s", "--log-format", "json")
	}
	job := func(id string) crm.Job {
		j, err := b.store.Job(b.ctx, tenant, id)
		require.NoError(t, err)
		return j
	}
	code, body := call(t, http.MethodPost, "http://"+addr+"/crm/v3/objects/contacts/bulk-delete", token,
		map[string]any{"filter": `lifecyclestage == "lead"`, "confirmCount": n})
	require.Equal(t, http.StatusAccepted, code, "body: %v", body)
	deleteJob := body["id"].(string)
	code, body = call(t, http.MethodDelete, "http://"+addr+"/crm/v3/objects/contacts/"+string(other[0].ID), token, nil)
	require.Equal(t, http.StatusNoContent, code, "body: %v", body)
	w := startWorker()
	eventually(t, 60*time.Second, "the bulk delete job completes", func() bool { return job(deleteJob).State == crm.JobDone })

	// A new live contact takes the email of one deleted lead.
	blocker, err := b.store.CreateRecords(b.ctx, tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"email": "lead42@example.com"}}}, crm.Actor{User: opsUser})
	require.NoError(t, err)

	schedAdmin := freeAddr(t)
	sched := start(t, nil, "scheduler", "--redis", b.redisURL, "--admin-addr", schedAdmin, "--jobs-sweep-spec", "@every 1s")
	waitReady(t, sched, "http://"+schedAdmin)
	opID := crm.JobOperationID(deleteJob)
	code, body = call(t, http.MethodPost, "http://"+addr+"/crm/v3/operations/"+opID+"/undo", token, nil)
	require.Equal(t, http.StatusAccepted, code, "body: %v", body)
	undoJob := body["id"].(string)

	var kills []int64
	last := int64(0)
	began := time.Now()
	for len(kills) < 2 && time.Since(began) < 60*time.Second {
		j := job(undoJob)
		if j.State == crm.JobDone {
			break
		}
		if j.Done+j.Skipped <= last {
			time.Sleep(2 * time.Millisecond) // poll interval: a batch of 500 takes longer
			continue
		}
		require.NoError(t, w.cmd.Process.Kill()) // SIGKILL
		w.wait(t)
		after := job(undoJob)
		t.Logf("SIGKILL %d at %d/%d", len(kills)+1, after.Done+after.Skipped, after.Total)
		if after.State == crm.JobDone {
			break
		}
		last = after.Done + after.Skipped
		kills = append(kills, last)
		w = startWorker()
	}
	require.NotEmpty(t, kills, "no worker was killed mid-undo: the undo finished before the first kill")
	eventually(t, 60*time.Second, "the undo job completes after the kills", func() bool { return job(undoJob).State == crm.JobDone })

	// The job's status names the record it could not restore and its blocker.
	code, body = call(t, http.MethodGet, "http://"+addr+"/crm/v3/jobs/"+undoJob, token, nil)
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, n-1, body["done"])
	require.EqualValues(t, 1, body["skipped"])
	fails := body["failures"].([]any)
	require.Len(t, fails, 1)
	f := fails[0].(map[string]any)
	require.Equal(t, string(leads[42]), f["id"])
	require.Equal(t, string(blocker[0].ID), f["blockingId"])
	require.Contains(t, f["reason"], "live contact "+string(blocker[0].ID))
	require.Equal(t, 0, w.stop(t), "stderr:\n%s", w.stderr)
	require.Equal(t, 0, sched.stop(t), "stderr:\n%s", sched.stderr)
	require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr)

	// Every lead but one is live; the one and the API's delete are in the bin.
	for from := 0; from < n; from += crm.MaxScriptBatch {
		ids := leads[from:min(from+crm.MaxScriptBatch, n)]
		recs, err := b.store.Records(b.ctx, tenant, crm.Contacts, ids, nil)
		require.NoError(t, err)
		want := len(ids)
		if from == 0 {
			want--
		}
		require.Len(t, recs, want)
	}
	binSize, err := b.store.BinSize(b.ctx, tenant, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 2, binSize)
	_, err = b.store.Record(b.ctx, tenant, crm.Contacts, other[0].ID, &crm.ReadOpts{Archived: true})
	require.NoError(t, err)

	// The audit trail restores each lead once, via the undo of the operation.
	restored := map[crm.RecordID]int{}
	after := ""
	for {
		entries, next, err := b.store.Audit(b.ctx, tenant, &crm.AuditOpts{After: after, Limit: 1000})
		require.NoError(t, err)
		for _, e := range entries {
			if e.Action != crm.AuditRestore {
				continue
			}
			require.Equal(t, crm.ViaUndo, e.Via)
			require.Equal(t, opID, e.Ref)
			for _, id := range e.RecordIDs {
				restored[id]++
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	require.Len(t, restored, n-1)
	for id, c := range restored {
		require.Equal(t, 1, c, fmt.Sprintf("record %s restored %d times", id, c))
	}
}

// TestUndoOfWorkflowRestoresWhatItDeleted runs an active delete_contact workflow on real
// processes: it deletes the contacts that meet its trigger, while the API deletes others. The
// workflow's operation, found by GET /crm/v3/operations?workflow=, pauses the workflow and restores
// exactly what the workflow deleted; the API's deletions stay in the bin (SPEC S26).
func TestUndoOfWorkflowRestoresWhatItDeleted(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	tenant, token := b.opsTenant(t)
	addr := freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL, "--log-format", "json")
	workerAdmin := freeAddr(t)
	wrk := start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", workerAdmin, "--log-format", "json")
	schedAdmin := freeAddr(t)
	sched := start(t, nil, "scheduler", "--redis", b.redisURL, "--admin-addr", schedAdmin, "--log-format", "json",
		"--jobs-sweep-spec", "@every 1s")
	waitReady(t, api, base)
	waitReady(t, wrk, "http://"+workerAdmin)
	waitReady(t, sched, "http://"+schedAdmin)
	t.Cleanup(func() {
		for _, p := range []*proc{api, wrk, sched} {
			require.Equal(t, 0, p.stop(t), "crmflow %v\nstderr:\n%s", p.cmd.Args[1:], p.stderr)
		}
	})

	const flow = "bounced"
	src := "name: " + flow + "\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n"
	_, _, err := b.store.PutFlow(b.ctx, tenant, flow, crm.Contacts, src, opsUser)
	require.NoError(t, err)
	code, body := call(t, http.MethodPost, base+"/automation/v4/flows/"+flow+"/activate", token, map[string]any{})
	require.Equal(t, http.StatusOK, code, "body: %v", body)

	// 5 contacts meet the trigger; 3 others are deleted by the API; 2 stay.
	var in []map[string]any
	for i := range 10 {
		in = append(in, map[string]any{"properties": map[string]string{
			"email": fmt.Sprintf("w%d@example.com", i), "email_bounced": fmt.Sprint(i < 5)}})
	}
	code, body = call(t, http.MethodPost, base+"/crm/v3/objects/contacts/batch/create", token, map[string]any{"inputs": in})
	require.Equal(t, http.StatusCreated, code, "body: %v", body)
	ids := make([]string, 10)
	for _, r := range body["results"].([]any) {
		rec := r.(map[string]any)
		var i int
		_, err := fmt.Sscanf(rec["properties"].(map[string]any)["email"].(string), "w%d@example.com", &i)
		require.NoError(t, err)
		ids[i] = rec["id"].(string)
	}
	code, body = call(t, http.MethodPost, base+"/crm/v3/objects/contacts/batch/archive", token,
		map[string]any{"inputs": []map[string]string{{"id": ids[5]}, {"id": ids[6]}, {"id": ids[7]}}})
	require.Equal(t, http.StatusNoContent, code, "body: %v", body)
	eventually(t, 60*time.Second, "the workflow deletes the 5 bounced contacts", func() bool {
		n, err := b.store.BinSize(b.ctx, tenant, crm.Contacts)
		require.NoError(t, err)
		return n == 8
	})

	code, body = call(t, http.MethodGet, base+"/crm/v3/operations?workflow="+flow, token, nil)
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	results := body["results"].([]any)
	require.Len(t, results, 1)
	op := results[0].(map[string]any)
	require.Equal(t, "workflow", op["kind"])
	require.EqualValues(t, 5, op["moved"])
	require.EqualValues(t, 5, op["inBin"])
	// The undo of the still active workflow's operation pauses the workflow, which would otherwise
	// delete again what the undo restores, and restores what it deleted.
	code, body = call(t, http.MethodPost, base+"/crm/v3/operations/"+op["id"].(string)+"/undo", token, nil)
	require.Equal(t, http.StatusAccepted, code, "body: %v", body)
	undoJob := body["id"].(string)
	code, body = call(t, http.MethodGet, base+"/automation/v4/flows/"+flow, token, nil)
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	require.Equal(t, "PAUSED", body["state"])
	require.Contains(t, body["pausedReason"], "undo job "+undoJob)
	eventually(t, 60*time.Second, "the undo job completes", func() bool {
		code, body := call(t, http.MethodGet, base+"/crm/v3/jobs/"+undoJob, token, nil)
		require.Equal(t, http.StatusOK, code)
		return body["status"] == "COMPLETE"
	})
	for i, id := range ids {
		code, _ := call(t, http.MethodGet, base+"/crm/v3/objects/contacts/"+id, token, nil)
		if i >= 5 && i < 8 {
			require.Equal(t, http.StatusNotFound, code, "contact %d deleted by the API stays in the bin", i)
		} else {
			require.Equal(t, http.StatusOK, code, "contact %d is live", i)
		}
	}
	code, body = call(t, http.MethodGet, base+"/crm/v3/operations/"+op["id"].(string), token, nil)
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 0, body["inBin"])
}
