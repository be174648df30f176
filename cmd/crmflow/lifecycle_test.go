package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/smtptest"
)

// TestOperatorWalkthrough drives the deletion lifecycle as an operator would: the binary's admin
// commands, serve, worker and scheduler as separate processes, the API over HTTP, the ops CLI
// (delete, jobs watch) and purge.
func TestOperatorWalkthrough(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	const ops = "ops@example.com"
	token := b.tenantWithToken(t, ops)
	mail := smtptest.Start(t, smtptest.Options{})

	addr := freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL, "--log-format", "json")
	workerAdmin := freeAddr(t)
	wrk := start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", workerAdmin, "--log-format", "json",
		"--smtp-host", "127.0.0.1", "--smtp-port", fmt.Sprint(mail.Port()), "--smtp-from", "CRM <crm@example.com>")
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
	ctl := []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=" + token}
	contacts := base + "/crm/v3/objects/contacts"

	// Contacts: 6 leads, 3 customers, and two more to delete one by one.
	var inputs []map[string]any
	for i := range 6 {
		inputs = append(inputs, map[string]any{"properties": map[string]string{
			"email": fmt.Sprintf("lead%d@example.com", i), "firstname": fmt.Sprintf("Lead%d", i), "lifecyclestage": "lead"}})
	}
	for i := range 3 {
		inputs = append(inputs, map[string]any{"properties": map[string]string{
			"email": fmt.Sprintf("customer%d@example.com", i), "firstname": fmt.Sprintf("Customer%d", i), "lifecyclestage": "customer"}})
	}
	inputs = append(inputs,
		map[string]any{"properties": map[string]string{"email": "grace@example.com", "firstname": "Grace", "lifecyclestage": "customer"}},
		map[string]any{"properties": map[string]string{"email": "forget.me@example.com", "firstname": "Zebedee", "phone": "+44 20 7946 0321",
			"lifecyclestage": "customer"}},
	)
	code, body := call(t, http.MethodPost, contacts+"/batch/create", token, map[string]any{"inputs": inputs})
	require.Equal(t, http.StatusCreated, code, "body: %v", body)
	byEmail := map[string]string{}
	for _, r := range body["results"].([]any) {
		rec := r.(map[string]any)
		byEmail[rec["properties"].(map[string]any)["email"].(string)] = rec["id"].(string)
	}
	var leads, customers []string
	for i := range 6 {
		leads = append(leads, byEmail[fmt.Sprintf("lead%d@example.com", i)])
	}
	for i := range 3 {
		customers = append(customers, byEmail[fmt.Sprintf("customer%d@example.com", i)])
	}
	grace, forget := byEmail["grace@example.com"], byEmail["forget.me@example.com"]

	bin := func() []string {
		t.Helper()
		code, body := call(t, http.MethodGet, contacts+"?archived=true&limit=100", token, nil)
		require.Equal(t, http.StatusOK, code, "body: %v", body)
		var ids []string
		for _, r := range body["results"].([]any) {
			rec := r.(map[string]any)
			require.Equal(t, true, rec["archived"], "record %v", rec)
			ids = append(ids, rec["id"].(string))
		}
		return ids
	}

	t.Log("delete one contact and find it in the bin")
	code, body = call(t, http.MethodDelete, contacts+"/"+grace, token, nil)
	require.Equal(t, http.StatusNoContent, code, "body: %v", body)
	code, _ = call(t, http.MethodGet, contacts+"/"+grace, token, nil)
	require.Equal(t, http.StatusNotFound, code)
	code, body = call(t, http.MethodGet, contacts+"/"+grace+"?archived=true", token, nil)
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	require.Equal(t, true, body["archived"])
	require.Equal(t, ops, body["archivedBy"])
	require.NotEmpty(t, body["archivedAt"])
	require.Equal(t, []string{grace}, bin())

	t.Log("restore it")
	code, body = call(t, http.MethodPost, contacts+"/batch/restore", token, map[string]any{"inputs": []map[string]string{{"id": grace}}})
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	code, body = call(t, http.MethodGet, contacts+"/"+grace, token, nil)
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	require.Equal(t, "grace@example.com", body["properties"].(map[string]any)["email"])
	require.Empty(t, bin())

	t.Log("permanently delete another: no trace of its data anywhere in Redis, and the confirmation email is sent once")
	code, body = call(t, http.MethodPost, contacts+"/gdpr-delete", token, map[string]any{"objectId": forget})
	require.Equal(t, http.StatusNoContent, code, "body: %v", body)
	eventually(t, 20*time.Second, "the confirmation email reaches the SMTP server", func() bool { return len(mail.Messages()) > 0 })
	eventually(t, 20*time.Second, "the pending email is acknowledged", func() bool {
		pending, err := b.store.PendingMails(b.ctx, crm.TenantID(b.tenant))
		require.NoError(t, err)
		return len(pending) == 0
	})
	msgs := mail.Messages()
	require.Len(t, msgs, 1, "sent once")
	require.Equal(t, []string{ops}, msgs[0].To)
	require.Equal(t, "crm@example.com", msgs[0].From)
	require.Contains(t, msgs[0].Data, "Permanent deletion completed")
	outbox, _ := b.admin(t, "outbox", "list", b.tenant, "--brief")
	require.Equal(t, "TIME  TO  SUBJECT  KIND\n", outbox, "sent over SMTP, so the outbox stays empty")
	// Every key and every value of this Redis (the tenant's keys, and the queue's), scanned for the
	// contact's email, name and phone.
	secrets := []string{"forget.me@example.com", "Zebedee", "+44 20 7946 0321"}
	keys := 0
	iter := b.rdb.Scan(b.ctx, 0, "*", 500).Iterator()
	for iter.Next(b.ctx) {
		keys++
		key := iter.Val()
		for _, v := range append([]string{key}, redisValues(t, b, key)...) {
			for _, s := range secrets {
				require.NotContains(t, v, s, "key %s", key)
			}
		}
	}
	require.NoError(t, iter.Err())
	require.Greater(t, keys, 10, "the scan saw the store")
	code, body = call(t, http.MethodPost, contacts, token, map[string]any{"properties": map[string]string{"email": "forget.me@example.com"}})
	require.Equal(t, http.StatusBadRequest, code, "a blocklisted email: body %v", body)

	t.Log("bulk delete by filter: the wrong count is refused with both numbers, and nothing is deleted")
	filter := `lifecyclestage == "lead"`
	stdout, stderr, code := crmflow(t, ctl, "delete", "--type", "contacts", "--filter", filter, "--confirm", "5", "--wait", "--interval", "100ms")
	require.Equal(t, 1, code, "stderr:\n%s", stderr)
	require.Regexp(t, `^\d+\njob \d+ REFUSED: nothing deleted \(confirmed 5, matched 6\)\n$`, stdout)
	require.Contains(t, stderr, "you confirmed deleting 5 records but 6 match now: nothing was deleted")
	require.Empty(t, bin())
	code, body = call(t, http.MethodPost, contacts+"/batch/read", token, map[string]any{"inputs": idInputs(leads)})
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	require.Len(t, body["results"], len(leads), "every lead is still live")

	t.Log("the right count: a job the worker runs; jobs watch follows it to COMPLETE")
	stdout, stderr, code = crmflow(t, ctl, "delete", "--type", "contacts", "--filter", filter, "--confirm", "6")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Regexp(t, `^\d+\n$`, stdout, "stdout is the job id alone")
	job := strings.TrimSpace(stdout)
	require.Contains(t, stderr, "bulk delete job "+job+" accepted: the workers select the records and delete them if 6 match")
	stdout, stderr, code = crmflow(t, ctl, "jobs", "watch", job, "--interval", "100ms")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Equal(t, "job "+job+" COMPLETE: 6 of 6 contacts moved to the recycle bin, 0 skipped (no longer live)\n", stdout)
	require.Regexp(t, `(?m)^6/6 COMPLETE \(job `+job+`: 6 deleted, 0 skipped\)$`, stderr)
	require.ElementsMatch(t, leads, bin(), "the bin holds exactly the matched records")
	code, body = call(t, http.MethodPost, contacts+"/batch/read", token, map[string]any{"inputs": idInputs(append(customers, grace))})
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	require.Len(t, body["results"], len(customers)+1, "the records the filter did not match are live")
	code, body = call(t, http.MethodGet, contacts+"/"+leads[0]+"?archived=true", token, nil)
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	require.Equal(t, ops, body["archivedBy"])
	require.Equal(t, "bulk", body["archivedVia"])
	require.Equal(t, job, body["archivedRef"])

	t.Log("the worker's metrics count what it did")
	code, metrics := get(t, "http://"+workerAdmin+"/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, m := range []string{
		// The jobs sweep (every second here) may have run more tasks of the job, which found it done
		// or its lease held.
		`(?m)^crmflow_worker_tasks_processed_total\{type="bulk:delete"\} [1-9]\d*$`,
		`(?m)^crmflow_worker_tasks_processed_total\{type="mail:send"\} 1$`,
		// Exactly once each, however many tasks of the job the sweep enqueued: a task of a finished
		// job counts nothing.
		`(?m)^crmflow_bulk_deleted_records_total\{object_type="contacts"\} 6$`,
		`(?m)^crmflow_mail_sent_total\{kind="permanent_delete_confirmation"\} 1$`,
		`(?m)^crmflow_trash_bin_records\{object_type="contacts"\} 6$`,
		`(?m)^crmflow_trash_bin_sample_ok 1$`,
	} {
		require.Regexp(t, m, metrics)
	}
	require.NotContains(t, metrics, "crmflow_worker_tasks_failed_total")

	t.Log("purge: nothing is due now; as of 91 days later the bin is emptied")
	stdout, stderr, code = crmflow(t, nil, "purge", "--redis", b.redisURL, "--tenant", b.tenant, "--dry-run")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Regexp(t, `(?m)^TOTAL\s+0$`, stdout)
	later := time.Now().Add(91 * 24 * time.Hour).UTC().Format(time.RFC3339)
	stdout, stderr, code = crmflow(t, nil, "purge", "--redis", b.redisURL, "--tenant", b.tenant, "--as-of", later, "--dry-run")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Regexp(t, `(?m)^TENANT\s+OBJECT TYPE\s+WOULD PURGE$`, stdout)
	require.Regexp(t, `(?m)^`+b.tenant+`\s+contacts\s+6$`, stdout)
	require.Contains(t, stderr, "would purge (dry run: nothing was removed) 6 records of 1 tenant ")
	require.ElementsMatch(t, leads, bin(), "a dry run removes nothing")

	stdout, stderr, code = crmflow(t, nil, "purge", "--redis", b.redisURL, "--tenant", b.tenant, "--as-of", later, "--allow-early")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Regexp(t, `(?m)^TENANT\s+OBJECT TYPE\s+PURGED$`, stdout)
	require.Regexp(t, `(?m)^`+b.tenant+`\s+contacts\s+6$`, stdout)
	require.Regexp(t, `(?m)^`+b.tenant+`\s+companies\s+0$`, stdout)
	require.Regexp(t, `(?m)^TOTAL\s+6$`, stdout)
	require.Contains(t, stderr, "purged 6 records of 1 tenant ")
	require.Empty(t, bin(), "the bin is emptied")
	code, body = call(t, http.MethodPost, contacts+"/batch/restore", token, map[string]any{"inputs": idInputs(leads[:1])})
	require.Equal(t, http.StatusMultiStatus, code, "a purged record cannot be restored: body %v", body)

	stdout, _, code = crmflow(t, nil, "purge", "--redis", b.redisURL, "--tenant", b.tenant, "--as-of", later, "--allow-early")
	require.Equal(t, 0, code)
	require.Regexp(t, `(?m)^TOTAL\s+0$`, stdout, "a second purge removes nothing twice")
}

// idInputs is the "inputs" of a batch request naming ids.
func idInputs(ids []string) []map[string]string {
	out := make([]map[string]string, len(ids))
	for i, id := range ids {
		out[i] = map[string]string{"id": id}
	}
	return out
}

// redisValues returns every value held at key, whatever its type, as strings.
func redisValues(t *testing.T, b *bgBundle, key string) []string {
	t.Helper()
	typ, err := b.rdb.Type(b.ctx, key).Result()
	require.NoError(t, err)
	var out []string
	switch typ {
	case "string":
		v, err := b.rdb.Get(b.ctx, key).Result()
		require.NoError(t, err)
		out = append(out, v)
	case "hash":
		m, err := b.rdb.HGetAll(b.ctx, key).Result()
		require.NoError(t, err)
		for k, v := range m {
			out = append(out, k, v)
		}
	case "list":
		out, err = b.rdb.LRange(b.ctx, key, 0, -1).Result()
		require.NoError(t, err)
	case "set":
		out, err = b.rdb.SMembers(b.ctx, key).Result()
		require.NoError(t, err)
	case "zset":
		out, err = b.rdb.ZRange(b.ctx, key, 0, -1).Result()
		require.NoError(t, err)
	case "stream":
		msgs, err := b.rdb.XRange(b.ctx, key, "-", "+").Result()
		require.NoError(t, err)
		for _, m := range msgs {
			for k, v := range m.Values {
				out = append(out, k, fmt.Sprint(v))
			}
		}
	case "none": // expired since the scan
	default:
		t.Fatalf("key %s has type %s, which this scan does not read", key, typ)
	}
	return out
}
