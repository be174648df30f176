package main

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// TestWorkerKilledMidJob runs two bulk delete jobs on worker processes that are stopped: the first
// with SIGTERM, the second with SIGKILL up to three times while it is under way, each time followed
// by a new worker. Both jobs end with every matched record in the bin exactly once, and nothing else
// touched (SPEC S14, S21).
func TestWorkerKilledMidJob(t *testing.T) {
	t.Parallel()
	const n = 20_000
	b := setupBackground(t)
	tenant, token := b.opsTenant(t)
	const ops = opsUser

	// Half the contacts are leads (the job killed with SIGKILL deletes them), three eighths
	// subscribers (the job stopped with SIGTERM), an eighth customers (never deleted).
	stage := map[crm.RecordID]string{}
	for from := 0; from < n; from += crm.MaxScriptBatch {
		in := make([]crm.RecordInput, crm.MaxScriptBatch)
		for i := range in {
			s := "customer"
			switch (from + i) % 8 {
			case 0, 2, 4, 6:
				s = "lead"
			case 1, 3, 5:
				s = "subscriber"
			}
			in[i] = crm.RecordInput{Properties: map[string]string{"firstname": "C" + strconv.Itoa(from+i), "lifecyclestage": s}}
		}
		recs, err := b.store.CreateRecords(b.ctx, tenant, crm.Contacts, in, crm.Actor{User: ops, Via: crm.ViaAPI})
		require.NoError(t, err)
		for _, r := range recs {
			stage[r.ID] = r.Properties["lifecyclestage"]
		}
	}
	count := func(s string) int {
		c := 0
		for _, v := range stage {
			if v == s {
				c++
			}
		}
		return c
	}
	require.Equal(t, n/2, count("lead"))

	addr := freeAddr(t)
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL)
	waitReady(t, api, "http://"+addr)
	bulkDelete := func(s string) string {
		t.Helper()
		code, body := call(t, http.MethodPost, "http://"+addr+"/crm/v3/objects/contacts/bulk-delete", token,
			map[string]any{"filter": fmt.Sprintf("lifecyclestage == %q", s), "confirmCount": count(s)})
		require.Equal(t, http.StatusAccepted, code, "body: %v", body)
		return body["id"].(string)
	}
	startWorker := func(shutdown, concurrency string) *proc {
		return start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", freeAddr(t),
			"--job-lease", "2s", "--concurrency", concurrency, "--shutdown-timeout", shutdown, "--log-format", "json")
	}
	job := func(id string) crm.Job {
		j, err := b.store.Job(b.ctx, tenant, id)
		require.NoError(t, err)
		return j
	}
	// progressed polls job id until it has moved past last, or is done.
	progressed := func(id string, last int64) crm.Job {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			j := job(id)
			if j.State == crm.JobDone || j.Done+j.Skipped > last {
				return j
			}
			require.True(t, time.Now().Before(deadline), "job %s makes no progress past %d/%d", id, last, j.Total)
			time.Sleep(2 * time.Millisecond) // poll interval: a batch of 500 takes longer
		}
	}
	began := time.Now()

	// SIGTERM, with no scheduler running: the worker's --shutdown-timeout is too short for the job,
	// so it hands the task back to the queue, from which the next worker continues the job. (With
	// --concurrency 1 the worker begins its shutdown at once; with free slots it would first wait up
	// to a poll interval, 1s, in which the job, of about 200ms, would finish.)
	termJob := bulkDelete("subscriber")
	w := startWorker("1ms", "1")
	progressed(termJob, 0)
	require.Equal(t, 0, w.stop(t), "stderr:\n%s", w.stderr)
	msgs := logMessages(t, w.stderr.String())
	require.Contains(t, msgs, "worker stopping: no new tasks, waiting for the tasks in flight")
	require.Contains(t, msgs, "worker stopped")
	stopped := job(termJob)
	t.Logf("SIGTERM at %d/%d of job %s", stopped.Done+stopped.Skipped, stopped.Total, termJob)
	require.NotEqual(t, crm.JobDone, stopped.State, "the job finished before the worker stopped")
	w = startWorker("30s", "2")
	eventually(t, 20*time.Second, "the job stopped with SIGTERM completes from the queue alone", func() bool {
		return job(termJob).State == crm.JobDone
	})

	// SIGKILL, with the scheduler's jobs sweep giving the job to the next worker once the killed
	// one's lease runs out: each time as soon as the job has moved on since the last kill.
	schedAdmin := freeAddr(t)
	sched := start(t, nil, "scheduler", "--redis", b.redisURL, "--admin-addr", schedAdmin, "--jobs-sweep-spec", "@every 1s")
	waitReady(t, sched, "http://"+schedAdmin)
	killJob := bulkDelete("lead")
	var kills []int64
	last := int64(0)
	for len(kills) < 3 && time.Since(began) < 40*time.Second {
		seen := progressed(killJob, last)
		if seen.State == crm.JobDone {
			break
		}
		require.NoError(t, w.cmd.Process.Kill()) // SIGKILL
		w.wait(t)
		after := job(killJob)
		t.Logf("SIGKILL %d at %d/%d (seen %d)", len(kills)+1, after.Done+after.Skipped, after.Total, seen.Done+seen.Skipped)
		if after.State == crm.JobDone {
			break // the last batch landed before the kill
		}
		last = after.Done + after.Skipped
		kills = append(kills, last)
		w = startWorker("30s", "2")
	}
	require.NotEmpty(t, kills, "no worker was killed mid-job: the job finished before the first kill")
	eventually(t, 45*time.Second, "the job completes after the kills", func() bool { return job(killJob).State == crm.JobDone })
	took := time.Since(began)
	require.Equal(t, 0, w.stop(t), "stderr:\n%s", w.stderr)
	require.Equal(t, 0, sched.stop(t), "stderr:\n%s", sched.stderr)
	require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr)
	t.Logf("%d kill(s) mid-job at %v; both jobs complete %s after the first worker started", len(kills), kills, took.Round(time.Millisecond))

	jobOf := map[string]string{"subscriber": termJob, "lead": killJob}
	for s, id := range jobOf {
		j := job(id)
		require.Equal(t, int64(count(s)), j.Total, "job %s", id)
		require.Equal(t, int64(count(s)), j.Done, "job %s: every matched record moved to the bin once", id)
		require.Zero(t, j.Skipped, "job %s", id)
	}

	// The bin holds exactly the matched records.
	deleted := count("lead") + count("subscriber")
	binSize, err := b.store.BinSize(b.ctx, tenant, crm.Contacts)
	require.NoError(t, err)
	require.Equal(t, int64(deleted), binSize)
	inBin, err := b.rdb.ZRange(b.ctx, redisstore.TrashKey(tenant, crm.Contacts), 0, -1).Result()
	require.NoError(t, err)
	require.Len(t, inBin, deleted)
	for _, id := range inBin {
		require.Contains(t, jobOf, stage[crm.RecordID(id)], "record %s is in the bin but no job matched it", id)
	}

	// The audit trail names each matched record once, by the job that matched it: no batch was
	// archived twice.
	archived := map[crm.RecordID]int{}
	after := ""
	for {
		entries, next, err := b.store.Audit(b.ctx, tenant, &crm.AuditOpts{After: after, Limit: 1000})
		require.NoError(t, err)
		for _, e := range entries {
			if e.User != "" {
				continue // a user or token change, not a record's
			}
			require.Equal(t, "archive", e.Action, "entry %+v", e)
			require.Equal(t, crm.ViaBulk, e.Via)
			for _, id := range e.RecordIDs {
				require.Equal(t, jobOf[stage[id]], e.Ref, "record %s archived by job %s", id, e.Ref)
				archived[id]++
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	require.Len(t, archived, deleted)
	for id, c := range archived {
		require.Equal(t, 1, c, "record %s archived %d times", id, c)
	}

	// No customer was touched: all live, unchanged.
	var customers []crm.RecordID
	for id, s := range stage {
		if s == "customer" {
			customers = append(customers, id)
		}
	}
	for from := 0; from < len(customers); from += crm.MaxScriptBatch {
		ids := customers[from:min(from+crm.MaxScriptBatch, len(customers))]
		recs, err := b.store.Records(b.ctx, tenant, crm.Contacts, ids, nil)
		require.NoError(t, err)
		require.Len(t, recs, len(ids), "customers are live")
		for _, r := range recs {
			require.Equal(t, "customer", r.Properties["lifecyclestage"], fmt.Sprint(r.ID))
		}
	}
}
