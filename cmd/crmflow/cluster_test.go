package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// TestClusterEndToEnd runs admin, serve, worker and scheduler on a Redis Cluster of three masters,
// with tenants on every master: each tenant's workflow deletes its matching contacts with
// enroll-existing, a bulk delete by filter runs as a job, a contact is erased, and a purge empties
// the bins.
func TestClusterEndToEnd(t *testing.T) {
	t.Parallel()
	url := redistest.ClusterURL(t)
	rdb := redistest.ClusterClient(t)
	ctx := context.Background()
	store, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	admin := func(args ...string) string {
		t.Helper()
		stdout, stderr, code := crmflow(t, nil, append(append([]string{"admin"}, args...), "--redis", url)...)
		require.Equal(t, 0, code, "crmflow admin %v\nstderr:\n%s", args, stderr)
		return strings.TrimSpace(stdout)
	}

	// Tenants until every master holds one.
	masterOf := func(tn string) string {
		t.Helper()
		var at string
		require.NoError(t, rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			if n, err := m.Exists(ctx, redisstore.TenantKey(crm.TenantID(tn))).Result(); err == nil && n == 1 {
				at = m.Options().Addr
			}
			return nil
		}))
		return at
	}
	tokens := map[string]string{}
	masters := map[string]bool{}
	for i := 0; len(masters) < 3; i++ {
		require.Less(t, i, 40, "40 tenants and still a master without one")
		tn := redistest.Tenant(t)
		admin("tenant", "create", tn, "--plan", "professional")
		admin("user", "create", tn, "ops@example.com", "--perms", "all")
		tokens[tn] = admin("token", "create", tn, "ops@example.com")
		at := masterOf(tn)
		require.NotEmpty(t, at, "tenant %s is on no master", tn)
		masters[at] = true
	}
	t.Logf("%d tenants on %d masters", len(tokens), len(masters))

	addr := freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", url, "--log-format", "json")
	workerAdmin := freeAddr(t)
	wrk := start(t, nil, "worker", "--redis", url, "--admin-addr", workerAdmin, "--log-format", "json")
	schedAdmin := freeAddr(t)
	sched := start(t, nil, "scheduler", "--redis", url, "--admin-addr", schedAdmin, "--log-format", "json",
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
	for tn, token := range tokens {
		contacts := base + "/crm/v3/objects/contacts"
		var in []map[string]any
		for i := range 9 {
			in = append(in, map[string]any{"properties": map[string]string{
				"email": fmt.Sprintf("p%d@%s.example", i, tn), "email_bounced": fmt.Sprint(i < 3),
				"lifecyclestage": map[bool]string{true: "lead", false: "customer"}[i >= 3 && i < 6]}})
		}
		code, body := call(t, http.MethodPost, contacts+"/batch/create", token, map[string]any{"inputs": in})
		require.Equal(t, http.StatusCreated, code, "tenant %s: %v", tn, body)
		ids := map[string]string{}
		for _, r := range body["results"].([]any) {
			rec := r.(map[string]any)
			ids[rec["properties"].(map[string]any)["email"].(string)] = rec["id"].(string)
		}

		// The workflow deletes the 3 bounced contacts, with enroll-existing.
		_, _, err := store.PutFlow(ctx, crm.TenantID(tn), flow, crm.Contacts, src, "ops@example.com")
		require.NoError(t, err)
		code, body = call(t, http.MethodPost, base+"/automation/v4/flows/"+flow+"/activate", token, map[string]any{"enrollExisting": true})
		require.Equal(t, http.StatusOK, code, "tenant %s: %v", tn, body)

		// A bulk delete by filter of the 3 leads, as a job.
		code, body = call(t, http.MethodPost, contacts+"/bulk-delete", token, map[string]any{"filter": `lifecyclestage == "lead"`, "confirmCount": 3})
		require.Equal(t, http.StatusAccepted, code, "tenant %s: %v", tn, body)
		job := body["id"].(string)
		eventually(t, 60*time.Second, "the bulk job of tenant "+tn, func() bool {
			code, body := call(t, http.MethodGet, base+"/crm/v3/jobs/"+job, token, nil)
			require.Equal(t, http.StatusOK, code)
			require.NotEqual(t, "REFUSED", body["status"], "body: %v", body)
			return body["status"] == "COMPLETE"
		})
		eventually(t, 60*time.Second, "the workflow's deletes in tenant "+tn, func() bool {
			n, err := rdb.ZCard(ctx, redisstore.TrashKey(crm.TenantID(tn), crm.Contacts)).Result()
			require.NoError(t, err)
			return n == 6
		})

		// An erasure by email of a live customer.
		code, body = call(t, http.MethodPost, contacts+"/gdpr-delete", token,
			map[string]any{"objectId": fmt.Sprintf("p8@%s.example", tn), "idProperty": "email"})
		require.Equal(t, http.StatusNoContent, code, "tenant %s: %v", tn, body)
		code, _ = call(t, http.MethodGet, contacts+"/"+ids[fmt.Sprintf("p8@%s.example", tn)], token, nil)
		require.Equal(t, http.StatusNotFound, code)
		live, err := rdb.ZCard(ctx, redisstore.LiveKey(crm.TenantID(tn), crm.Contacts)).Result()
		require.NoError(t, err)
		require.EqualValues(t, 2, live, "tenant %s: 9 - 3 bounced - 3 leads - 1 erased", tn)
	}

	// The purge as of 91 days later empties every tenant's bin, on every master.
	later := time.Now().Add(91 * 24 * time.Hour).UTC().Format(time.RFC3339)
	stdout, stderr, code := crmflow(t, nil, "purge", "--redis", url, "--as-of", later, "--allow-early")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	for tn := range tokens {
		require.Regexp(t, `(?m)^`+tn+`\s+contacts\s+6$`, stdout)
		n, err := rdb.ZCard(ctx, redisstore.TrashKey(crm.TenantID(tn), crm.Contacts)).Result()
		require.NoError(t, err)
		require.Zero(t, n, "tenant %s", tn)
	}
	// Every process is ready still. A probe's answer is due within a second, which a machine
	// short of CPU (the race detector, three masters and three processes on two cores) can miss
	// once: as a supervisor's probe, it is asked again.
	for _, p := range []string{base, "http://" + workerAdmin, "http://" + schedAdmin} {
		eventually(t, 15*time.Second, p+" ready", func() bool {
			code, _ := get(t, p+"/readyz")
			return code == http.StatusOK
		})
	}
	require.NotContains(t, wrk.stderr.String(), "MOVED")
	require.NotContains(t, wrk.stderr.String(), "CROSSSLOT")
}

// A database other than 0 is refused for a cluster, and a cluster URL is read as one.
func TestClusterURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, want string
	}{
		{"redis+cluster://127.0.0.1:1/2", "names database 2, but a Redis Cluster has only database 0"},
		{"redis+cluster://127.0.0.1:1?nonsense=1", "not a valid Redis Cluster URL"},
		{"cluster://127.0.0.1:1", "redis+cluster://"},
	} {
		_, stderr, code := crmflow(t, nil, "serve", "--redis", tc.url)
		require.Equal(t, 2, code, "%s: stderr:\n%s", tc.url, stderr)
		require.Contains(t, stderr, tc.want, tc.url)
	}
	target, err := parseRedisTarget("redis+cluster://u:secret@127.0.0.1:7001/0?addr=127.0.0.1:7002&addr=127.0.0.1:7003", "--redis")
	require.NoError(t, err)
	require.Nil(t, target.single)
	require.Equal(t, []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}, target.cluster.Addrs)
	require.Equal(t, "secret", target.cluster.Password)
	require.True(t, target.cluster.ContextTimeoutEnabled)
	require.Equal(t, redisReadTimeout, target.cluster.ReadTimeout)
	require.Equal(t, "cluster 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003", target.where())
	require.NotContains(t, target.where(), "secret")
}

// TestClusterFailoverDuringBulkDelete kills the master of a tenant's slot while a worker runs a
// 20,000-record bulk delete on a cluster with a replica per master, with --wait-replicas 1: once
// the replica is promoted (and the killed node restarted, rejoining as its replica), the job
// finishes with every record in the bin once, a delete the API acknowledged just before the kill is
// still there, and the processes recover by themselves.
func TestClusterFailoverDuringBulkDelete(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster with replicas and a failover: left out by -short")
	}
	t.Parallel()
	c, err := redistest.StartClusterWithReplicas(3, 1)
	require.NoError(t, err)
	t.Cleanup(c.Stop)
	ctx := context.Background()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, ClusterStateReloadInterval: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	store, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	b := &bgBundle{testBundle: &testBundle{redisURL: c.URL, tenant: redistest.Tenant(t)}, ctx: ctx, rdb: nil, store: store}
	tenant, token := b.opsTenant(t)
	const n = 20_000
	in := make([]crm.RecordInput, 0, crm.MaxScriptBatch)
	for start := 0; start < n; start += crm.MaxScriptBatch {
		in = in[:0]
		for i := start; i < start+crm.MaxScriptBatch; i++ {
			in = append(in, crm.RecordInput{Properties: map[string]string{"lifecyclestage": "lead"}})
		}
		_, err := store.CreateRecords(ctx, tenant, crm.Contacts, in, crm.Actor{User: opsUser})
		require.NoError(t, err)
	}
	kept, err := store.CreateRecords(ctx, tenant, crm.Contacts, []crm.RecordInput{
		{Properties: map[string]string{"lifecyclestage": "customer"}}, {Properties: map[string]string{"lifecyclestage": "customer"}}},
		crm.Actor{User: opsUser})
	require.NoError(t, err)

	addr := freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", c.URL, "--wait-replicas", "1")
	workerAdmin := freeAddr(t)
	wrk := start(t, nil, "worker", "--redis", c.URL, "--admin-addr", workerAdmin, "--wait-replicas", "1")
	schedAdmin := freeAddr(t)
	sched := start(t, nil, "scheduler", "--redis", c.URL, "--admin-addr", schedAdmin, "--jobs-sweep-spec", "@every 1s")
	for _, p := range []struct {
		p   *proc
		url string
	}{{api, base}, {wrk, "http://" + workerAdmin}, {sched, "http://" + schedAdmin}} {
		waitReady(t, p.p, p.url)
	}
	t.Cleanup(func() {
		for _, p := range []*proc{api, wrk, sched} {
			require.Equal(t, 0, p.stop(t), "crmflow %v\nstderr:\n%s", p.cmd.Args[1:], p.stderr)
		}
	})

	code, body := call(t, http.MethodPost, base+"/crm/v3/objects/contacts/bulk-delete", token,
		map[string]any{"filter": `lifecyclestage == "lead"`, "confirmCount": n})
	require.Equal(t, http.StatusAccepted, code, "body: %v", body)
	job := body["id"].(string)
	eventually(t, 60*time.Second, "the job under way", func() bool {
		j, err := store.Job(ctx, tenant, job)
		require.NoError(t, err)
		return j.Done >= 2000
	})
	// Acknowledged with --wait-replicas 1: the replica has it when the answer comes.
	code, body = call(t, http.MethodDelete, base+"/crm/v3/objects/contacts/"+string(kept[0].ID), token, nil)
	require.Equal(t, http.StatusNoContent, code, "body: %v", body)

	m, err := rdb.MasterForKey(ctx, redisstore.TenantKey(tenant))
	require.NoError(t, err)
	var victim *redistest.Server
	for i, a := range c.Addrs {
		if a == m.Options().Addr {
			victim = c.Masters[i]
		}
	}
	require.NotNil(t, victim, "the tenant's master %s", m.Options().Addr)
	j, err := store.Job(ctx, tenant, job)
	require.NoError(t, err)
	require.NoError(t, victim.Kill())
	killed := time.Now()
	t.Logf("killed master %s with the job at %d of %d", m.Options().Addr, j.Done, n)

	// The replica takes over; then the killed node is started again, as its supervisor would, and
	// rejoins as a replica of the new master, so that --wait-replicas 1 can be met again (until
	// then each destructive change waits its 2 s and answers not replicated).
	eventually(t, 60*time.Second, "the failover", func() bool {
		return rdb.Exists(ctx, redisstore.TenantKey(tenant)).Err() == nil
	})
	t.Logf("the replica took over %s after the kill", time.Since(killed).Round(time.Millisecond))
	require.NoError(t, victim.Restart())
	eventually(t, 3*time.Minute, "the job to finish after the failover", func() bool {
		j, err = store.Job(ctx, tenant, job)
		return err == nil && j.State.Finished()
	})
	t.Logf("the job finished %s after the kill: %d done, %d skipped", time.Since(killed).Round(time.Millisecond), j.Done, j.Skipped)
	require.Equal(t, crm.JobDone, j.State)
	require.EqualValues(t, n, j.Done, "every record moved once")
	require.Zero(t, j.Skipped)
	binned, err := rdb.ZCard(ctx, redisstore.TrashKey(tenant, crm.Contacts)).Result()
	require.NoError(t, err)
	require.EqualValues(t, n+1, binned, "the leads and the contact deleted through the API")
	_, err = store.Record(ctx, tenant, crm.Contacts, kept[0].ID, &crm.ReadOpts{Archived: true})
	require.NoError(t, err, "the acknowledged delete survived the failover")
	_, err = store.Record(ctx, tenant, crm.Contacts, kept[1].ID, nil)
	require.NoError(t, err, "the other customer is live")
	for _, p := range []string{base, "http://" + workerAdmin, "http://" + schedAdmin} {
		eventually(t, 30*time.Second, p+"/readyz", func() bool {
			code, _ := get(t, p+"/readyz")
			return code == http.StatusOK
		})
	}
}

// A URL whose password holds a % not followed by two hex digits cannot be parsed; the error says
// how to write it and shows no part of the password (url's own message quotes the three
// characters at the %).
func TestRedisURLWithABadEscapeHidesThePassword(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"redis://:p%tPq@127.0.0.1:6379/0",
		"redis://ops:p%tPq@127.0.0.1:6379/0",
		"redis+cluster://ops:p%tPq@127.0.0.1:7001?addr=127.0.0.1:7002",
	} {
		_, err := parseRedisTarget(raw, "--redis")
		require.Error(t, err, raw)
		require.NotContains(t, err.Error(), "%tP", raw)
		require.NotContains(t, err.Error(), "tPq", raw)
		require.Contains(t, err.Error(), "write a % in a password as %25", raw)
	}
}
