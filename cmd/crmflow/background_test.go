package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// The tests of the background roles run each on a redis-server of its own: the asynq queues and
// the tenant registry that the worker's sweeps read are per server, so a worker of one test must
// never see the tasks and jobs of another.

// bgBundle is a private Redis with a store on it and a fresh tenant.
type bgBundle struct {
	*testBundle
	ctx   context.Context
	rdb   *redis.Client
	store *redisstore.Store
}

// opsTenant creates the bundle's tenant on the Professional plan with the user ops@example.com,
// who holds every permission, and returns the tenant and a token of that user.
func (b *bgBundle) opsTenant(t *testing.T) (crm.TenantID, string) {
	t.Helper()
	tenant := crm.TenantID(b.tenant)
	_, err := b.store.CreateTenant(b.ctx, tenant, crm.PlanProfessional)
	require.NoError(t, err)
	_, err = b.store.CreateUser(b.ctx, tenant, opsUser, slices.Clone(crm.AllPermissions), "test")
	require.NoError(t, err)
	token, err := b.store.CreateToken(b.ctx, tenant, opsUser, nil)
	require.NoError(t, err)
	return tenant, token
}

// opsServe is setupBackground with opsTenant and serveWithWorker: it returns the bundle, the
// tenant, and the environment that points crmflow's API commands at serve with the ops token.
func opsServe(t *testing.T) (*bgBundle, crm.TenantID, []string) {
	t.Helper()
	b := setupBackground(t)
	tenant, token := b.opsTenant(t)
	base := b.serveWithWorker(t)
	return b, tenant, []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=" + token}
}

// opsUser is the user opsTenant creates.
const opsUser = "ops@example.com"

// serveWithWorker starts `crmflow serve` (with serveArgs) and `crmflow worker` on the bundle's Redis, waits until
// both are ready, stops both at the end of the test (asserting a clean exit) and returns the API's
// base URL.
func (b *bgBundle) serveWithWorker(t *testing.T, serveArgs ...string) string {
	t.Helper()
	addr := freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, append([]string{"serve", "--addr", addr, "--redis", b.redisURL}, serveArgs...)...)
	workerAdmin := freeAddr(t)
	wrk := start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", workerAdmin)
	waitReady(t, api, base)
	waitReady(t, wrk, "http://"+workerAdmin)
	t.Cleanup(func() {
		require.Equal(t, 0, wrk.stop(t), "stderr:\n%s", wrk.stderr)
		require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr)
	})
	return base
}

func setupBackground(t *testing.T) *bgBundle {
	t.Helper()
	srv, err := redistest.StartServer("")
	require.NoError(t, err)
	t.Cleanup(func() {
		// SHUTDOWN ends redis-server (and its watchdog wrapper) without a signal; no retries, as the
		// server closes the connection instead of answering.
		c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", srv.Port), MaxRetries: -1})
		_ = c.Do(context.Background(), "SHUTDOWN", "NOSAVE").Err()
		_ = c.Close()
		_ = os.RemoveAll(srv.Dir)
	})
	return bundleOn(t, srv.URL)
}

// bundleOn returns a bundle of a new tenant on the Redis at url, with a client and a store on it.
func bundleOn(t *testing.T, url string) *bgBundle {
	t.Helper()
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	store, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	return &bgBundle{
		testBundle: &testBundle{redisURL: url, tenant: redistest.Tenant(t)},
		ctx:        context.Background(),
		rdb:        rdb,
		store:      store,
	}
}

// tenantWithToken creates the bundle's tenant (plan professional) and a user with every
// permission, and returns the user's API token.
func (b *bgBundle) tenantWithToken(t *testing.T, user string) string {
	t.Helper()
	b.admin(t, "tenant", "create", b.tenant, "--plan", "professional")
	b.admin(t, "user", "create", b.tenant, user, "--perms", "all")
	token, _ := b.admin(t, "token", "create", b.tenant, user)
	return strings.TrimSpace(token)
}

// eventually polls cond every 20ms until it holds, and fails the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(raw)
}

func TestWorkerAndSchedulerProcesses(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)

	for _, tc := range []struct {
		name    string
		args    []string
		metrics []string
		stopped string
	}{
		{"Worker", []string{"worker", "--shutdown-timeout", "5s"},
			[]string{"go_goroutines", "process_start_time_seconds", "crmflow_trash_bin_records", "crmflow_trash_bin_sample_ok 1"},
			"worker stopped"},
		{"Scheduler", []string{"scheduler"}, []string{"go_goroutines", "process_start_time_seconds"}, "scheduler stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			admin := freeAddr(t)
			p := start(t, nil, append(tc.args, "--redis", b.redisURL, "--admin-addr", admin, "--log-format", "json")...)
			base := "http://" + admin
			waitReady(t, p, base)

			code, body := get(t, base+"/healthz")
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, "ok\n", body)
			code, body = get(t, base+"/metrics")
			require.Equal(t, http.StatusOK, code)
			for _, m := range tc.metrics {
				require.Contains(t, body, m)
			}

			require.Equal(t, 0, p.stop(t), "stderr:\n%s", p.stderr)
			msgs := logMessages(t, p.stderr.String())
			require.Contains(t, msgs, "crmflow starting")
			require.Contains(t, msgs, "shutting down")
			require.Contains(t, msgs, tc.stopped)
			require.Contains(t, msgs, "crmflow stopped")
			require.Contains(t, p.stderr.String(), `"role":"`+strings.ToLower(tc.name)+`"`)
		})
	}

	t.Run("QueueOnAnotherRedis", func(t *testing.T) {
		t.Parallel()
		q := setupBackground(t)
		admin := freeAddr(t)
		p := start(t, nil, "worker", "--redis", b.redisURL, "--queue-redis", q.redisURL, "--admin-addr", admin,
			"--log-format", "json")
		waitReady(t, p, "http://"+admin)
		require.Equal(t, 0, p.stop(t), "stderr:\n%s", p.stderr)
		require.Contains(t, p.stderr.String(), fmt.Sprintf(`"queue_redis_addr":"%s"`, strings.TrimSuffix(strings.TrimPrefix(q.redisURL, "redis://"), "/0")))
	})
}

func TestBackgroundUsageErrors(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		stderr []string
	}{
		{"WorkerWithoutRedis", nil, []string{"worker"}, []string{"crmflow worker needs a Redis", "pass --redis", "set REDIS_URL"}},
		{"SchedulerWithoutRedis", nil, []string{"scheduler"}, []string{"crmflow scheduler needs a Redis", "pass --redis", "or --queue-redis or QUEUE_REDIS_URL"}},
		{"PurgeWithoutRedis", nil, []string{"purge"}, []string{"crmflow purge needs a Redis"}},
		{"SMTPHostWithoutFrom", nil, []string{"worker", "--redis", url, "--smtp-host", "smtp.example.com"},
			[]string{"--smtp-from (SMTP_FROM) is required with --smtp-host"}},
		{"SMTPPasswordWithoutUser", []string{"SMTP_HOST=smtp.example.com", "SMTP_FROM=crm@example.com", "SMTP_PASSWORD=hunter2"},
			[]string{"worker", "--redis", url}, []string{"SMTP_PASSWORD is set but --smtp-username"}},
		{"BadStartTLS", nil, []string{"worker", "--redis", url, "--smtp-starttls", "sometimes"}, []string{`--smtp-starttls "sometimes" is unknown`}},
		{"ZeroConcurrency", nil, []string{"worker", "--redis", url, "--concurrency", "0"}, []string{"--concurrency must be at least 1"}},
		{"BulkOverConcurrency", nil, []string{"worker", "--redis", url, "--concurrency", "4", "--bulk-concurrency", "5"},
			[]string{"--bulk-concurrency must be between 1 and --concurrency (4), got 5"}},
		{"BadPurgeSpec", nil, []string{"scheduler", "--redis", url, "--purge-spec", "every hour"},
			[]string{`--purge-spec "every hour" is not a valid cron spec`, "@hourly"}},
		{"BadSweepSpecFromEnv", []string{"CRMFLOW_JOBS_SWEEP_SPEC=@every soon"}, []string{"scheduler", "--redis", url},
			[]string{`--jobs-sweep-spec "@every soon" is not a valid cron spec`}},
		{"BadChangesSweepSpec", nil, []string{"scheduler", "--redis", url, "--changes-sweep-spec", "often"},
			[]string{`--changes-sweep-spec "often" is not a valid cron spec`}},
		{"BadWorkflowSweepSpecFromEnv", []string{"CRMFLOW_WORKFLOW_SWEEP_SPEC=@every never"}, []string{"scheduler", "--redis", url},
			[]string{`--workflow-sweep-spec "@every never" is not a valid cron spec`}},
		{"AdminAddrWithoutPort", nil, []string{"worker", "--redis", url, "--admin-addr", "nonsense"},
			[]string{`--admin-addr "nonsense" is not a listen address`, "127.0.0.1:9091"}},
		{"SchedulerAdminAddrBadPortFromEnv", []string{"CRMFLOW_ADMIN_ADDR=127.0.0.1:99999"}, []string{"scheduler", "--redis", url},
			[]string{`--admin-addr "127.0.0.1:99999" has no valid port`}},
		{"ServeAddrWithoutPort", nil, []string{"serve", "--redis", url, "--addr", "localhost"},
			[]string{`--addr "localhost" is not a listen address`}},
		{"BadRetentionDays", nil, []string{"purge", "--redis", url, "--retention", "ninety days"},
			[]string{`"ninety days" is not a duration`, "days such as 90d"}},
		// Days are a plain decimal: "9_0d" is not read as 90 days, nor "0x1p4d" as 16.
		{"RetentionDaysWithSeparator", nil, []string{"purge", "--redis", url, "--retention", "9_0d"},
			[]string{`"9_0d" is not a duration`, "days such as 90d"}},
		{"RetentionDaysHexadecimal", nil, []string{"purge", "--redis", url, "--retention", "0x1p4d"},
			[]string{`"0x1p4d" is not a duration`}},
		{"ZeroOutboxRetention", nil, []string{"worker", "--redis", url, "--outbox-retention", "0s"},
			[]string{"--outbox-retention must be positive, got 0s", "720h"}},
		{"NegativeOutboxRetentionFromEnv", []string{"CRMFLOW_OUTBOX_RETENTION=-1h"}, []string{"worker", "--redis", url},
			[]string{"--outbox-retention must be positive, got -1h0m0s"}},
		{"ZeroOutboxMax", nil, []string{"worker", "--redis", url, "--outbox-max", "0"},
			[]string{"--outbox-max must be 1 or more, got 0", "default 1000"}},
		{"NegativeOutboxMaxFromEnv", []string{"CRMFLOW_OUTBOX_MAX=-5"}, []string{"worker", "--redis", url},
			[]string{"--outbox-max must be 1 or more, got -5"}},
		{"ZeroEveryPurgeSpec", nil, []string{"scheduler", "--redis", url, "--purge-spec", "@every 0s"},
			[]string{`--purge-spec "@every 0s" is not a valid cron spec`, "at least 1s"}},
		{"NegativeEverySweepSpecFromEnv", []string{"CRMFLOW_JOBS_SWEEP_SPEC=@every -30s"}, []string{"scheduler", "--redis", url},
			[]string{`--jobs-sweep-spec "@every -30s" is not a valid cron spec`, "at least 1s"}},
		{"SubSecondEverySweepSpec", nil, []string{"scheduler", "--redis", url, "--mail-sweep-spec", "@every 1500ms"},
			[]string{`--mail-sweep-spec "@every 1500ms" is not a valid cron spec`, "whole number of seconds"}},
		{"BadQueueURL", nil, []string{"worker", "--redis", url, "--queue-redis", "redis://:hunter2@127.0.0.1:nope/0"},
			[]string{"--queue-redis/QUEUE_REDIS_URL is not a valid Redis URL"}},
		{"BadAsOf", nil, []string{"purge", "--redis", url, "--as-of", "tomorrow"}, []string{`--as-of "tomorrow" is not an RFC 3339 time`}},
		{"FutureAsOf", nil, []string{"purge", "--redis", url, "--as-of", "2999-01-01T00:00:00Z"},
			[]string{"--as-of 2999-01-01T00:00:00Z is in the future", "Add --dry-run to see what it will remove, or --allow-early"}},
		{"BadPurgeTenant", nil, []string{"purge", "--redis", url, "--tenant", "Not_A_Tenant"}, []string{"is invalid"}},
		{"QueueRedisWithEmbedded", nil, []string{"run", "--queue-redis", url}, []string{"--queue-redis (QUEUE_REDIS_URL) needs --redis"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := crmflow(t, tc.env, tc.args...)
			require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
			require.Empty(t, stdout)
			for _, s := range tc.stderr {
				require.Contains(t, stderr, s)
			}
			require.NotContains(t, stderr, "hunter2")
		})
	}
}

var embeddedAddrRE = regexp.MustCompile(`store=embedded redis_addr=(\S+)`)

// adminHintRE reads the admin command line the banner of `crmflow run` prints for its embedded store.
var adminHintRE = regexp.MustCompile(`export REDIS_URL=(\S+) CRMFLOW_EMAIL_SALT=(\S+)`)

// TestEmbeddedRunsBackgroundWork runs `crmflow run` on the embedded store: its worker runs a bulk
// delete job and keeps the confirmation email of a permanent delete in the outbox, which the admin
// command reads from the embedded Redis.
func TestEmbeddedRunsBackgroundWork(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	base := "http://" + addr
	// With no salt, as on a first try: the embedded store draws one and prints it.
	admin := freeAddr(t)
	p := start(t, []string{"CRMFLOW_EMAIL_SALT="}, "run", "--addr", addr, "--admin-addr", admin)
	waitReady(t, p, base)
	m := p.stdoutMatch(t, exportTokenRE)
	token := m[1]
	em := p.stderrMatch(t, embeddedAddrRE)
	require.Contains(t, p.stderr.String(), "roles=api,worker,scheduler")

	contacts := base + "/crm/v3/objects/contacts"
	var inputs []map[string]any
	for i := range 3 {
		inputs = append(inputs, map[string]any{"properties": map[string]string{"email": fmt.Sprintf("lead%d@example.com", i), "lifecyclestage": "lead"}})
	}
	inputs = append(inputs, map[string]any{"properties": map[string]string{"email": "gone@example.com", "lifecyclestage": "customer"}})
	code, body := call(t, http.MethodPost, contacts+"/batch/create", token, map[string]any{"inputs": inputs})
	require.Equal(t, http.StatusCreated, code, "body: %v", body)
	gone := body["results"].([]any)[3].(map[string]any)["id"].(string)

	code, body = call(t, http.MethodPost, contacts+"/gdpr-delete", token, map[string]any{"objectId": gone})
	require.Equal(t, http.StatusNoContent, code, "body: %v", body)
	stdout, stderr, code := crmflow(t, []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=" + token},
		"delete", "--type", "contacts", "--filter", `lifecyclestage == "lead"`, "--confirm", "3", "--wait", "--interval", "50ms")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Contains(t, stdout, "COMPLETE: 3 of 3 contacts moved to the recycle bin")

	// The admin commands, as the start-up banner prints them: the embedded store's URL and salt.
	adm := adminHintRE.FindStringSubmatch(p.stdout.String())
	require.NotNil(t, adm, "no admin command line in stdout:\n%s", p.stdout)
	require.Equal(t, "redis://"+em[1]+"/0", adm[1])
	adminEnv := []string{"REDIS_URL=" + adm[1], "CRMFLOW_EMAIL_SALT=" + adm[2]}
	require.Contains(t, p.stdout.String(), "The console: "+base+"/ (sign in with the token).")
	var outbox string
	eventually(t, 20*time.Second, "the confirmation email is kept in the outbox", func() bool {
		outbox, stderr, code = crmflow(t, adminEnv, "admin", "outbox", "list", "demo", "--brief")
		require.Equal(t, 0, code, "stderr:\n%s", stderr)
		return strings.Count(outbox, "\n") == 2
	})
	require.Regexp(t, `(?m)^TIME\s+TO\s+SUBJECT\s+KIND$`, outbox)
	require.Regexp(t, `(?m)^\S+Z\s+admin@demo\.example\s+Permanent deletion completed\s+permanent_delete_confirmation$`, outbox)
	require.Contains(t, stderr, "1 email in the outbox of tenant demo")

	// One /metrics for every role of the process, on its admin address only.
	code, _ = get(t, base+"/metrics")
	require.Equal(t, http.StatusNotFound, code)
	code, metrics := get(t, "http://"+admin+"/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, m := range []string{
		`(?m)^crmflow_http_requests_total\{`,
		`(?m)^crmflow_mail_outbox_total\{kind="permanent_delete_confirmation"\} 1$`,
		`(?m)^crmflow_bulk_deleted_records_total\{object_type="contacts"\} [1-9]\d*$`, // may overcount: see TestOperatorWalkthrough
		`(?m)^crmflow_trash_bin_records\{object_type="contacts"\} 3$`,
		`(?m)^go_goroutines `,
	} {
		require.Regexp(t, m, metrics)
	}

	require.Equal(t, 0, p.stop(t), "stderr:\n%s", p.stderr)
	require.Contains(t, p.stderr.String(), `msg="worker stopped"`)
	require.Contains(t, p.stderr.String(), `msg="scheduler stopped"`)
}

// TestScheduledPurge runs the purge as a deployment does: the scheduler enqueues it, a worker
// removes the bin entries older than the worker's --retention, and its metrics count them.
func TestScheduledPurge(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	tenant := crm.TenantID(b.tenant)
	_, err := b.store.CreateTenant(b.ctx, tenant, crm.PlanProfessional)
	require.NoError(t, err)
	by := crm.Actor{User: "ops@example.com", Via: crm.ViaAPI}
	in := make([]crm.RecordInput, 5)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"firstname": fmt.Sprint("C", i)}}
	}
	recs, err := b.store.CreateRecords(b.ctx, tenant, crm.Contacts, in, by)
	require.NoError(t, err)
	ids := make([]crm.RecordID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	_, err = b.store.ArchiveRecords(b.ctx, tenant, crm.Contacts, ids[:3], by)
	require.NoError(t, err)

	admin := freeAddr(t)
	wrk := start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", admin, "--retention", "1s", "--log-format", "json")
	schedAdmin := freeAddr(t)
	sched := start(t, nil, "scheduler", "--redis", b.redisURL, "--admin-addr", schedAdmin, "--purge-spec", "@every 1s")
	waitReady(t, wrk, "http://"+admin)
	waitReady(t, sched, "http://"+schedAdmin)
	eventually(t, 20*time.Second, "the scheduled purge empties the bin", func() bool {
		n, err := b.store.BinSize(b.ctx, tenant, crm.Contacts)
		require.NoError(t, err)
		return n == 0
	})
	// A task is counted once its handler has returned, which may trail the purge's last write.
	var metrics string
	eventually(t, 10*time.Second, "the purge task counted", func() bool {
		var code int
		code, metrics = get(t, "http://"+admin+"/metrics")
		require.Equal(t, http.StatusOK, code)
		return regexp.MustCompile(`(?m)^crmflow_worker_tasks_processed_total\{type="trash:purge"\} \d+$`).MatchString(metrics)
	})
	require.Regexp(t, `(?m)^crmflow_trash_purged_records_total\{object_type="contacts"\} 3$`, metrics)
	require.Regexp(t, `(?m)^crmflow_worker_tasks_processed_total\{type="trash:sweep"\} \d+$`, metrics)
	require.Equal(t, 0, sched.stop(t), "stderr:\n%s", sched.stderr)
	require.Equal(t, 0, wrk.stop(t), "stderr:\n%s", wrk.stderr)
	require.Contains(t, logMessages(t, wrk.stderr.String()), "trash purge done")

	live, err := b.store.Records(b.ctx, tenant, crm.Contacts, ids[3:], nil)
	require.NoError(t, err)
	require.Len(t, live, 2, "live records are never purged")

	stdout, stderr, code := crmflow(t, nil, "purge", "--redis", b.redisURL, "--tenant", "t-unknown")
	require.Equal(t, 1, code, "stderr:\n%s", stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "tenant t-unknown does not exist")
}

// TestRedisURLMistakes: a Redis URL with blank space around it (an environment file's trailing
// space) works, and a rediss:// URL to a server without TLS says to check for TLS.
func TestRedisURLMistakes(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)

	t.Run("BlankAround", func(t *testing.T) {
		t.Parallel()
		stdout, stderr, code := crmflow(t, []string{"REDIS_URL= " + url + " "}, "purge", "--dry-run")
		require.Equal(t, 0, code, "stderr:\n%s", stderr)
		require.Contains(t, stdout, "WOULD PURGE")
	})

	// --retention takes days, as --ttl does and as retention periods are spoken of.
	t.Run("RetentionInDays", func(t *testing.T) {
		t.Parallel()
		_, stderr, code := crmflow(t, []string{"REDIS_URL=" + url}, "purge", "--dry-run", "--retention", "90d")
		require.Equal(t, 0, code, "stderr:\n%s", stderr)
		require.Contains(t, stderr, "retention 2160h0m0s")
		// A value other than the deployment's is refused, and named as it was read.
		_, stderr, code = crmflow(t, []string{"REDIS_URL=" + url, "CRMFLOW_RETENTION=1.5d"}, "purge", "--dry-run")
		require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
		require.Contains(t, stderr, "the retention given (CRMFLOW_RETENTION) is 1d12h")
	})

	t.Run("TLSToAServerWithout", func(t *testing.T) {
		t.Parallel()
		stdout, stderr, code := crmflow(t, nil, "purge", "--dry-run", "--redis", "rediss://"+strings.TrimPrefix(url, "redis://"))
		require.Equal(t, 1, code, "stderr:\n%s", stderr)
		require.Empty(t, stdout)
		require.Contains(t, stderr, "cannot reach Redis at")
		require.Contains(t, stderr, "speaks TLS (rediss://): for a server without TLS, write redis://")
	})

	// A URL of the wrong kind for its server can never work, so it is a configuration error
	// (exit 2: a supervisor does not restart it in a loop) that says which URL to write. A redis://
	// client of a cluster node would reach only that node's slots: on the node holding the salt's
	// fingerprint it started, and then failed the tenants of every other slot with MOVED.
	t.Run("ClusterURLOfOneServer", func(t *testing.T) {
		t.Parallel()
		u, err := neturl.Parse(url)
		require.NoError(t, err)
		u.Scheme, u.Path = "redis+cluster", ""
		stdout, stderr, code := crmflow(t, nil, "purge", "--dry-run", "--redis", u.String())
		require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
		require.Empty(t, stdout)
		require.Contains(t, stderr, "the server is not a Redis Cluster: give --redis/REDIS_URL the URL of one server, redis://")
	})

	t.Run("OneServerURLOfAClusterNode", func(t *testing.T) {
		t.Parallel()
		node, err := redistest.StartServer("", "--cluster-enabled", "yes")
		require.NoError(t, err)
		t.Cleanup(func() {
			node.Stop()
			_ = os.RemoveAll(node.Dir)
		})
		stdout, stderr, code := crmflow(t, nil, "purge", "--dry-run", "--redis", node.URL)
		require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
		require.Empty(t, stdout)
		require.Contains(t, stderr, "the server is a node of a Redis Cluster")
		require.Contains(t, stderr, "give --redis/REDIS_URL the cluster's URL, redis+cluster://")
	})
}
