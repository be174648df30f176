package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
)

// TestOpsCommands drives `crmflow delete` and `crmflow jobs watch` against serve and a worker.
func TestOpsCommands(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	token := b.tenantWithToken(t, "ops@example.com")
	b.admin(t, "user", "create", b.tenant, "reader@example.com", "--perms", "read")
	readerToken, _ := b.admin(t, "token", "create", b.tenant, "reader@example.com")
	readerToken = strings.TrimSpace(readerToken)

	base := b.serveWithWorker(t)
	ctl := []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=" + token}

	companies := func(n int) []string {
		t.Helper()
		var in []map[string]any
		for i := range n {
			in = append(in, map[string]any{"properties": map[string]string{"name": fmt.Sprintf("Co %d", i)}})
		}
		code, body := call(t, http.MethodPost, base+"/crm/v3/objects/companies/batch/create", token, map[string]any{"inputs": in})
		require.Equal(t, http.StatusCreated, code, "body: %v", body)
		var ids []string
		for _, r := range body["results"].([]any) {
			ids = append(ids, r.(map[string]any)["id"].(string))
		}
		return ids
	}
	live := func(o string, ids []string) int {
		t.Helper()
		code, body := call(t, http.MethodPost, base+"/crm/v3/objects/"+o+"/batch/read", token, map[string]any{"inputs": idInputs(ids)})
		require.Contains(t, []int{http.StatusOK, http.StatusMultiStatus}, code, "body: %v", body)
		return len(body["results"].([]any))
	}

	t.Run("IDsWithWait", func(t *testing.T) {
		t.Parallel()
		ids := companies(3)
		// Typed with a space after the comma, as people do: still two ids.
		stdout, stderr, code := crmflow(t, ctl, "delete", "--type", "companies", "--ids", strings.Join(ids[:2], ", "),
			"--confirm", "2", "--wait", "--interval", "50ms")
		require.Equal(t, 0, code, "stderr:\n%s", stderr)
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		require.Len(t, lines, 2, "stdout: the job id, then the summary")
		require.Regexp(t, `^\d+$`, lines[0])
		require.Equal(t, "job "+lines[0]+" COMPLETE: 2 of 2 companies moved to the recycle bin, 0 skipped (no longer live)", lines[1])
		require.Contains(t, stderr, "2/2 COMPLETE")
		require.Equal(t, 0, live("companies", ids[:2]))
		require.Equal(t, 1, live("companies", ids[2:]))
	})

	t.Run("ListMembersNotTheList", func(t *testing.T) {
		t.Parallel()
		ids := companies(4)
		code, body := call(t, http.MethodPost, base+"/crm/v3/lists", token, map[string]any{"name": "to clean", "objectType": "companies"})
		require.Equal(t, http.StatusOK, code, "body: %v", body)
		list := body["list"].(map[string]any)["listId"].(string)
		code, body = call(t, http.MethodPut, base+"/crm/v3/lists/"+list+"/memberships/add", token, ids[:3])
		require.Equal(t, http.StatusOK, code, "body: %v", body)

		// The wrong count: the job selects in the worker and is refused, deleting nothing.
		stdout, stderr, code := crmflow(t, ctl, "delete", "--list", list, "--confirm", "2", "--wait", "--interval", "50ms", "--progress", "lines")
		require.Equal(t, 1, code, "stderr:\n%s", stderr)
		require.Contains(t, stderr, "the workers select the records and delete them if 2 match, status SELECTING")
		require.Contains(t, stderr, "REFUSED (job ")
		require.Contains(t, stderr, "3 companies looked at, 3 match, 2 confirmed")
		require.Contains(t, stderr, "was refused: you confirmed deleting 2 records but 3 match now: nothing was deleted")
		require.Regexp(t, `(?m)^job \d+ REFUSED: nothing deleted \(confirmed 2, matched 3\)$`, stdout)
		require.Equal(t, 3, live("companies", ids[:3]))

		stdout, stderr, code = crmflow(t, ctl, "delete", "--list", list, "--confirm", "3", "--wait", "--interval", "50ms")
		require.Equal(t, 0, code, "stderr:\n%s", stderr)
		require.Contains(t, stdout, "COMPLETE: 3 of 3 companies moved to the recycle bin")
		require.Equal(t, 0, live("companies", ids[:3]))
		require.Equal(t, 1, live("companies", ids[3:]))
		code, body = call(t, http.MethodGet, base+"/crm/v3/lists/"+list, token, nil)
		require.Equal(t, http.StatusOK, code, "the list stays: body %v", body)
	})

	t.Run("CanceledByAnUndo", func(t *testing.T) {
		t.Parallel()
		ids := companies(3)
		var rids []crm.RecordID
		for _, id := range ids {
			rids = append(rids, crm.RecordID(id))
		}
		// A job no worker was asked to run, after its first batch: an undo stops it.
		job, err := b.store.CreateDeleteJob(b.ctx, crm.TenantID(b.tenant), crm.DeleteJobParams{ObjectType: crm.Companies,
			IDs: rids, ConfirmCount: 3, By: "ops@example.com", Selection: "3 ids"})
		require.NoError(t, err)
		_, err = b.store.RunDeleteJobBatch(b.ctx, crm.TenantID(b.tenant), job.ID, 1)
		require.NoError(t, err)
		require.Equal(t, 2, live("companies", ids))

		stdout, stderr, code := crmflow(t, ctl, "undo", crm.JobOperationID(job.ID), "--wait", "--interval", "50ms")
		require.Equal(t, 0, code, "stderr:\n%s", stderr)
		require.Contains(t, stdout, "1 of 1 companies restored, 0 not restored")
		stdout, stderr, code = crmflow(t, ctl, "jobs", "watch", job.ID, "--interval", "50ms")
		require.Equal(t, 1, code, "stderr:\n%s", stderr)
		require.Equal(t, "job "+job.ID+" CANCELED: 1 of 3 companies had been moved to the recycle bin; the rest stay live\n", stdout)
		require.Contains(t, stderr, "bulk delete job "+job.ID+" was canceled by undo job ")
		require.Equal(t, 3, live("companies", ids))
	})

	t.Run("StoppedWhenItsCreatorIsDisabled", func(t *testing.T) {
		t.Parallel()
		ids := companies(3)
		var rids []crm.RecordID
		for _, id := range ids {
			rids = append(rids, crm.RecordID(id))
		}
		// A job no worker was asked to run, after its first batch: its creator is disabled, and
		// its next batch moves nothing and stops it.
		const who = "bulk-stop@example.com"
		b.admin(t, "user", "create", b.tenant, who, "--perms", "delete,bulk_delete")
		job, err := b.store.CreateDeleteJob(b.ctx, crm.TenantID(b.tenant), crm.DeleteJobParams{ObjectType: crm.Companies,
			IDs: rids, ConfirmCount: 3, By: who, Selection: "3 ids"})
		require.NoError(t, err)
		_, err = b.store.RunDeleteJobBatch(b.ctx, crm.TenantID(b.tenant), job.ID, 1)
		require.NoError(t, err)
		_, err = b.store.SetUserDisabled(b.ctx, crm.TenantID(b.tenant), who, true, "admin@example.com")
		require.NoError(t, err)
		j, err := b.store.RunDeleteJobBatch(b.ctx, crm.TenantID(b.tenant), job.ID, 1)
		require.NoError(t, err)
		require.Equal(t, crm.JobStopped, j.State)

		code, body := call(t, http.MethodGet, base+"/crm/v3/jobs/"+job.ID, token, nil)
		require.Equal(t, http.StatusOK, code, "body: %v", body)
		require.Equal(t, "STOPPED", body["status"])
		require.NotEmpty(t, body["completedAt"])
		stop := body["stop"].(map[string]any)
		require.Equal(t, "USER_DISABLED", stop["code"])
		require.Equal(t, who, stop["user"])
		require.Contains(t, stop["message"], who+" was disabled")

		stdout, stderr, code := crmflow(t, ctl, "jobs", "watch", job.ID, "--interval", "50ms")
		require.Equal(t, 1, code, "stderr:\n%s", stderr)
		require.Equal(t, "job "+job.ID+" STOPPED: 1 of 3 companies moved to the recycle bin before it stopped; the rest stay live\n", stdout)
		require.Contains(t, stderr, "job "+job.ID+" stopped: the job's creator "+who+" was disabled, so the job stopped")
		require.Equal(t, 2, live("companies", ids))
	})

	t.Run("Refusals", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name   string
			env    []string
			args   []string
			stderr []string
		}{
			{"MissingPermission", []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=" + readerToken},
				[]string{"delete", "--type", "contacts", "--filter", "true", "--confirm", "0"}, []string{"403 MISSING_SCOPES", `needs the "delete" and "bulk_delete" permissions`}},
			{"BadToken", []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=nope"},
				[]string{"jobs", "watch", "1"}, []string{"401 INVALID_AUTHENTICATION"}},
			{"UnknownJob", ctl, []string{"jobs", "watch", "999999"}, []string{"404 OBJECT_NOT_FOUND"}},
			{"FilterDoesNotCompile", ctl, []string{"delete", "--type", "contacts", "--filter", "lifecyclestage ==", "--confirm", "1"},
				[]string{"400 VALIDATION_ERROR"}},
			{"APIDown", []string{"CRMFLOW_URL=http://" + freeAddr(t), "CRMFLOW_TOKEN=" + token},
				[]string{"delete", "--type", "contacts", "--ids", "1", "--confirm", "1"}, []string{"no answer from the API", "is crmflow serve running there?"}},
			{"APIDownWhileWatching", []string{"CRMFLOW_URL=http://" + freeAddr(t), "CRMFLOW_TOKEN=" + token},
				[]string{"jobs", "watch", "1", "--interval", "5ms"}, []string{"gave up following job 1 after 30 failed reads in a row"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				stdout, stderr, code := crmflow(t, tc.env, tc.args...)
				require.Equal(t, 1, code, "stderr:\n%s", stderr)
				require.Empty(t, stdout)
				for _, s := range tc.stderr {
					require.Contains(t, stderr, s)
				}
			})
		}
	})
}

func TestOpsUsageErrors(t *testing.T) {
	t.Parallel()
	tok := []string{"CRMFLOW_TOKEN=t"}
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		stderr string
	}{
		{"NoSelection", tok, []string{"delete", "--type", "contacts", "--confirm", "1"}, "give exactly one of --filter, --ids or --list"},
		{"TwoSelections", tok, []string{"delete", "--type", "contacts", "--ids", "1", "--list", "2", "--confirm", "1"}, "give exactly one of"},
		{"NoConfirm", tok, []string{"delete", "--type", "contacts", "--ids", "1"}, "--confirm is required"},
		{"NegativeConfirm", tok, []string{"delete", "--type", "contacts", "--ids", "1", "--confirm", "-1"}, "--confirm must be 0 or more"},
		// pflag reads an integer as Go source does: 0x3 would be 3, 010 would be 8 and 1_000 1000.
		{"HexadecimalConfirm", tok, []string{"delete", "--type", "contacts", "--ids", "1,2,3", "--confirm", "0x3"}, `"0x3" is not a whole number`},
		{"ConfirmWithPlus", tok, []string{"delete", "--type", "contacts", "--ids", "1", "--confirm", "+1"}, `"+1" is not a whole number`},
		{"ConfirmWithSeparators", tok, []string{"delete", "--type", "contacts", "--filter", "true", "--confirm", "1_000"}, "give the number of records as digits"},
		{"MalformedID", tok, []string{"delete", "--type", "contacts", "--ids", "1,abc", "--confirm", "2"}, `--ids: "abc" is not a record id`},
		{"EmptyID", tok, []string{"delete", "--type", "contacts", "--ids", "1,,2", "--confirm", "2"}, "an id in --ids is empty"},
		{"RepeatedID", tok, []string{"delete", "--type", "contacts", "--ids", "1, 1", "--confirm", "2"}, "id 1 is given more than once"},
		{"NoType", tok, []string{"delete", "--filter", "true", "--confirm", "1"}, "--type is required with --filter and --ids"},
		{"NoToken", nil, []string{"delete", "--type", "contacts", "--ids", "1", "--confirm", "1"}, "set CRMFLOW_TOKEN"},
		{"BadURL", append([]string{"CRMFLOW_URL=ftp://x"}, tok...), []string{"jobs", "watch", "1"}, `"ftp://x" is not an http(s) URL`},
		{"BadProgress", tok, []string{"jobs", "watch", "1", "--progress", "fancy"}, `--progress "fancy" is unknown`},
		{"WatchNeedsAJob", tok, []string{"jobs", "watch"}, "needs JOBID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := crmflow(t, tc.env, tc.args...)
			require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
			require.Empty(t, stdout)
			require.Contains(t, stderr, tc.stderr)
		})
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	steps := []jobView{
		{api.Job{ID: "7", Status: "SELECTING", ObjectType: "contacts", ConfirmCount: 1000, Scanned: 2000, Matched: 700}},
		{api.Job{ID: "7", Status: "PENDING", ObjectType: "contacts", Total: 1000}},
		{api.Job{ID: "7", Status: "RUNNING", ObjectType: "contacts", Total: 1000, Done: 500}},
		{api.Job{ID: "7", Status: "RUNNING", ObjectType: "contacts", Total: 1000, Done: 500}},
		{api.Job{ID: "7", Status: "COMPLETE", ObjectType: "contacts", Total: 1000, Done: 990, Skipped: 10}},
	}

	t.Run("Lines", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		a := &app{stderr: &out}
		p := a.newProgress("7", "auto") // a buffer is no terminal
		for _, s := range steps {
			p.update(s)
		}
		p.finish(steps[len(steps)-1])
		require.Equal(t, "SELECTING (job 7: 2000 contacts looked at, 700 match, 1000 confirmed)\n"+
			"0/1000 PENDING (job 7: 0 deleted, 0 skipped)\n"+
			"500/1000 RUNNING (job 7: 500 deleted, 0 skipped)\n"+
			"1000/1000 COMPLETE (job 7: 990 deleted, 10 skipped)\n", out.String(), "one line per change")
	})

	t.Run("Bar", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		a := &app{stderr: &out}
		p := a.newProgress("7", "bar")
		for _, s := range steps {
			p.update(s)
		}
		p.finish(steps[len(steps)-1])
		require.Contains(t, out.String(), "job 7 contacts")
		require.Regexp(t, regexp.MustCompile(`100% \|█+\| \(1000/1000`), out.String())
		require.True(t, strings.HasSuffix(out.String(), "\n"), "the bar ends its line: %q", out.String())
	})
}

// TestOpsCommandsAtAnotherService points the API commands at a worker's admin address, a likely
// mistake on the first day: each says that what answered is not crmflow's API and what to set,
// rather than echo a bare "404 page not found", and apply does not report the standard object
// types as unknown.
func TestOpsCommandsAtAnotherService(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	admin := freeAddr(t)
	wrk := start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", admin)
	waitReady(t, wrk, "http://"+admin)
	ctl := []string{"CRMFLOW_URL=http://" + admin, "CRMFLOW_TOKEN=t"}

	for _, args := range [][]string{
		{"workflows", "list"},
		{"operations", "list"},
		{"apply", "-f", "../../examples/workflows/clean-bounced-contacts.yaml"},
		{"preview", "../../examples/workflows/clean-bounced-contacts.yaml"},
	} {
		stdout, stderr, code := crmflow(t, ctl, args...)
		require.Equal(t, 1, code, "%v: stderr:\n%s", args, stderr)
		require.Empty(t, stdout)
		require.Contains(t, stderr, "at http://"+admin+" did not answer as the crmflow API does", "%v", args)
		require.Contains(t, stderr, "set --url or CRMFLOW_URL to the address crmflow serve listens on", "%v", args)
		require.NotContains(t, stderr, "unknown object type", "%v", args)
		require.NotContains(t, stderr, "correlation id )", "%v", args)
	}
}

// TestWatchJobSaysWhenNoWorkerTakesIt: a job that stays PENDING, unchanged, past the hint's
// time gets one line on stderr asking whether a worker runs; one that moves does not, and a
// finished one ends the watch as before.
func TestWatchJobSaysWhenNoWorkerTakesIt(t *testing.T) {
	t.Parallel()
	var reads atomic.Int64
	// The job waits, unchanged, for 60 reads (3 s at 50 ms, past the hint's 2 s here), then completes.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j := api.Job{ID: "7", Status: "PENDING", ObjectType: "contacts", Total: 2}
		if reads.Add(1) > 60 {
			j.Status, j.Done = "COMPLETE", 2
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(j)
	}))
	t.Cleanup(srv.Close)
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr}
	base, err := url.Parse(srv.URL)
	require.NoError(t, err)
	c := &apiClient{base: base, token: "t", http: srv.Client()}
	err = a.watchJob(t.Context(), c, "7", opsConfig{interval: 50 * time.Millisecond, progress: "lines", stallHint: 2 * time.Second})
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(stderr.String(), "no worker has taken it yet"), "said once:\n%s", stderr.String())
	require.Contains(t, stderr.String(), "job 7 is still PENDING after ")
	require.Contains(t, stderr.String(), "Either none runs against the API's Redis (start one: crmflow worker --redis ...)")
	require.Contains(t, stdout.String(), "job 7 COMPLETE: 2 of 2 contacts moved to the recycle bin")

	// A job that moves at each read is never said to wait.
	var w stallWatch
	w.after = stallHintDefault
	now := time.Now()
	for i := range 100 {
		j := jobView{api.Job{Status: "RUNNING", Done: int64(i)}}
		require.False(t, w.stalled(j, now.Add(time.Duration(i)*time.Second)))
	}
	// Nor is a RUNNING job between two batches, however long.
	for i := range 100 {
		require.False(t, w.stalled(jobView{api.Job{Status: "RUNNING", Done: 99}}, now.Add(time.Duration(100+i)*time.Second)))
	}
}

// TestWatchJobWhenTheTokenStopsWorking: the user following a job is disabled mid-run (or the
// token revoked), so the API refuses the next read with a 401. The watch ends with the API's
// reason and says what becomes of the job, which it can no longer show: it is not stopped by
// this, and a job whose creator was disabled stops at its next batch, what it moved staying in
// the bin (or, for an undo, what it restored staying live).
func TestWatchJobWhenTheTokenStopsWorking(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"bulk_delete", crm.JobKindUndo} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var reads atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if reads.Add(1) > 2 {
					w.WriteHeader(http.StatusUnauthorized)
					_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "category": "INVALID_AUTHENTICATION",
						"correlationId": "c-1", "message": "the bearer token is refused: the token's user is disabled; ask an admin to enable the user"})
					return
				}
				_ = json.NewEncoder(w).Encode(api.Job{ID: "7", Kind: kind, Status: "RUNNING", ObjectType: "contacts", Total: 1000, Done: 500})
			}))
			t.Cleanup(srv.Close)
			var stdout, stderr bytes.Buffer
			a := &app{stdout: &stdout, stderr: &stderr}
			base, err := url.Parse(srv.URL)
			require.NoError(t, err)
			c := &apiClient{base: base, token: "t", http: srv.Client()}
			err = a.watchJob(t.Context(), c, "7", opsConfig{interval: 10 * time.Millisecond, progress: "lines", stallHint: time.Hour})
			require.Error(t, err)
			msg := err.Error()
			require.Contains(t, msg, "stopped following job 7: the bearer token is refused: the token's user is disabled")
			require.Contains(t, msg, "The job is not stopped by this")
			require.Contains(t, msg, "if its creator was disabled or lost a permission it needs, the workers stop it at its next batch")
			require.Contains(t, msg, "crmflow jobs watch 7")
			if kind == crm.JobKindUndo {
				require.Contains(t, msg, "restoring nothing more (what it restored stays live)")
				require.NotContains(t, msg, "crmflow undo")
			} else {
				require.Contains(t, msg, "moving nothing more (what it moved stays in the recycle bin: crmflow undo job-7 restores it)")
			}
		})
	}
}

// TestAPIURLAndTokenMistakes: the URL and token mistakes of a first day are usage errors that say
// what to set, sent nowhere (a query or a fragment, a token given as "Bearer ..."), or a 404 that
// names the path of the URL as the cause.
func TestAPIURLAndTokenMistakes(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	_, token := b.opsTenant(t)
	base := b.serveWithWorker(t)

	for _, c := range []struct {
		url, token string
		want       string
	}{
		{base + "?tenant=acme", token, `--url/CRMFLOW_URL "` + base + `?tenant=acme" has a query or a fragment: give the API's base URL alone, e.g. ` + base + "\n"},
		{base + "/#top", token, "has a query or a fragment"},
		{base, "Bearer " + token, `CRMFLOW_TOKEN starts with "Bearer ": set it to the token alone`},
	} {
		stdout, stderr, code := crmflow(t, []string{"CRMFLOW_URL=" + c.url, "CRMFLOW_TOKEN=" + c.token}, "workflows", "list")
		require.Equal(t, exitUsage, code, "%s: stderr:\n%s", c.url, stderr)
		require.Empty(t, stdout)
		require.Contains(t, stderr, c.want)
		require.NotContains(t, stderr, token, "the token is never shown")
	}

	for _, args := range [][]string{{"workflows", "list"}, {"undo", "job-1"}, {"bin", "list", "--type", "contacts"}} {
		stdout, stderr, code := crmflow(t, []string{"CRMFLOW_URL=" + base + "/crm/v3/", "CRMFLOW_TOKEN=" + token}, args...)
		require.Equal(t, 1, code, "%v: stderr:\n%s", args, stderr)
		require.Empty(t, stdout)
		require.Contains(t, stderr, "--url/CRMFLOW_URL "+base+"/crm/v3 has the path /crm/v3, and crmflow serve answers the API at the root of its address: try "+base, "%v", args)
		require.NotContains(t, stderr, "operations list", "%v", args)
	}
	// A 404 of the API at its root is about what was asked for, not the URL.
	_, stderr, code := crmflow(t, []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=" + token}, "workflows", "pause", "no-such-workflow")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "workflow no-such-workflow not found")
	require.NotContains(t, stderr, "has the path")
}
