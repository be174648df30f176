package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/worker"
)

// limitedFlow deletes bounced contacts, at most 10 per hour.
const limitedFlow = `name: limited-clean
object_type: contacts
trigger: email_bounced
enroll_existing: true
limits:
  max_deletions: 10
  per: 1h
actions:
  - type: delete_contact
`

// TestLimitThreeWorkersPauseAndResume is SPEC S24 with real processes: `serve`, `scheduler` and
// three `worker`s, a workflow limited to 10 deletions per hour over 40 matching contacts. Exactly
// 10 go to the bin, the workflow pauses itself with the reason, the other 30 wait enrolled at their
// step, and the activator has one email in the outbox. Raised to 50 and activated again, the
// workflow deletes the rest, each once.
func TestLimitThreeWorkersPauseAndResume(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	tenant, token := b.opsTenant(t)
	ids := seedContacts(t, b, b.store, 40, func(int) map[string]string {
		return map[string]string{"email_bounced": "true"}
	})

	addr := freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL)
	schedAdmin := freeAddr(t)
	// The workflow sweep keeps its defaults (every 30s, a minute's grace): the activation that
	// resumes the workflow, not the sweep, runs the waiting contacts.
	sched := start(t, nil, "scheduler", "--redis", b.redisURL, "--admin-addr", schedAdmin)
	var workers []*proc
	for range 3 {
		workers = append(workers, start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", freeAddr(t),
			"--concurrency", "4"))
	}
	waitReady(t, api, base)
	waitReady(t, sched, "http://"+schedAdmin)
	t.Cleanup(func() {
		for _, w := range workers {
			require.Equal(t, 0, w.stop(t), "stderr:\n%s", w.stderr)
		}
		require.Equal(t, 0, sched.stop(t), "stderr:\n%s", sched.stderr)
		require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr)
	})
	ctl := []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=" + token}

	// The preview says how far the limit lets the workflow go.
	file := writeFile(t, "limited.yaml", limitedFlow)
	stdout, stderr, code := crmflow(t, ctl, "preview", file)
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Contains(t, stdout, "limit: 10 deletions per 1h (its own): it would delete 10 in its first window, then pause itself with the rest waiting")

	stdout, stderr, code = crmflow(t, ctl, "apply", "-f", file)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	stdout, stderr, code = crmflow(t, ctl, "workflows", "activate", "limited-clean", "--enroll-existing", "--wait")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)

	flowState := func() (string, string) {
		code, body := call(t, http.MethodGet, base+"/automation/v4/flows/limited-clean", token, nil)
		require.Equal(t, http.StatusOK, code, "body: %v", body)
		return body["state"].(string), body["pausedReason"].(string)
	}
	eventually(t, 60*time.Second, "the workflow paused at its limit", func() bool {
		st, _ := flowState()
		return st == "PAUSED"
	})
	_, reason := flowState()
	require.Contains(t, reason, "paused: blast-radius limit of 10 deletions per 1h reached")

	// The step that was refused is not consumed: every contact is in the bin (completed) or live
	// and enrolled at step 0, and no task left in flight changes that.
	eventually(t, 30*time.Second, "the activator's email kept in the outbox", func() bool {
		return len(limitMails(t, b)) == 1
	})
	check := func() (binned, waiting int) {
		live, inBin := liveAndBinned(t, b, ids)
		enrs, err := b.store.Enrollments(b.ctx, tenant, "limited-clean", crm.Contacts, ids)
		require.NoError(t, err)
		for i, id := range ids {
			if _, ok := inBin[id]; ok {
				require.Equal(t, crm.Completed, enrs[i].State, "contact %s", id)
				require.Equal(t, "limited-clean", inBin[id].Deletion.Ref)
				binned++
				continue
			}
			require.Contains(t, live, id)
			require.Equal(t, crm.Enrolled, enrs[i].State, "contact %s waits enrolled", id)
			require.Equal(t, 0, enrs[i].Step, "contact %s waits at its delete step", id)
			waiting++
		}
		return binned, waiting
	}
	binned, waiting := check()
	require.Equal(t, 10, binned)
	require.Equal(t, 30, waiting)
	// The preview of the stored workflow counts the deletions already in the window: activated
	// again as it is, it would delete none.
	stdout, stderr, code = crmflow(t, ctl, "preview", "--name", "limited-clean")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Contains(t, stdout, "it would delete 0 in its first window, then pause itself with the rest waiting")
	require.Contains(t, stdout, "limit: the workflow already deleted 10 in the last 1h, which count: the limit is shared by all its activations")
	mails := limitMails(t, b)
	require.Equal(t, opsUser, mails[0].To)
	require.Contains(t, mails[0].Subject, "limited-clean")
	require.Contains(t, mails[0].Body, "10 deletions per 1h")

	// Raised and activated again: the waiting contacts carry on, each deleted once.
	raised := writeFile(t, "raised.yaml", strings.Replace(limitedFlow, "max_deletions: 10", "max_deletions: 50", 1))
	stdout, stderr, code = crmflow(t, ctl, "apply", "-f", raised)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	stdout, stderr, code = crmflow(t, ctl, "workflows", "activate", "limited-clean")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stderr, "the records that waited while it was paused carry on now")
	// Well before a sweep could find them a minute overdue.
	eventually(t, 30*time.Second, "every contact deleted", func() bool {
		n, err := b.store.BinSize(b.ctx, tenant, crm.Contacts)
		require.NoError(t, err)
		return n == 40
	})
	eventually(t, 30*time.Second, "every enrollment completed", func() bool {
		enrs, err := b.store.Enrollments(b.ctx, tenant, "limited-clean", crm.Contacts, ids)
		require.NoError(t, err)
		for _, e := range enrs {
			if e.State != crm.Completed {
				return false
			}
		}
		return true
	})
	archived := auditCounts(t, b, nil)["archive"]
	require.Len(t, archived, 40)
	for _, id := range ids {
		require.Equal(t, 1, archived[id], "contact %s deleted once", id)
	}
	st, _ := flowState()
	require.Equal(t, "ACTIVE", st)
	require.Len(t, limitMails(t, b), 1, "one email, for the activation that reached the limit")
}

// limitMails returns the emails of the bundle's tenant's outbox about a workflow's limit.
func limitMails(t *testing.T, b *bgBundle) []crm.Mail {
	t.Helper()
	out, err := b.store.Outbox(b.ctx, crm.TenantID(b.tenant), 0)
	require.NoError(t, err)
	var mails []crm.Mail
	for _, m := range out {
		if m.Kind == worker.KindWorkflowLimitReached {
			mails = append(mails, m)
		}
	}
	return mails
}
