package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// TestBenchUnknownScenario: a scenario misspelt is a usage error naming the scenarios, said before
// bench connects to anything (here a Redis that does not answer).
func TestBenchUnknownScenario(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := crmflow(t, nil, "bench", "--redis", "redis://"+freeAddr(t)+"/0", "--scenario", "purge,backfil")
	require.Equal(t, exitUsage, code, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, `crmflow: --scenario "backfil" is not a scenario: choose from `)
	require.Contains(t, stderr, "backfill, bulk-delete")
	require.NotContains(t, stderr, "Redis")
}

// TestBenchCommand checks that bench refuses to run without a real Redis, with bad flags, and on a
// Redis that holds a tenant, and that a small run prints a JSON report whose ratios agree with
// its exit status. The run gets a redis-server of its own: bench clears the worker queues.
func TestBenchCommand(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := crmflow(t, []string{"REDIS_URL="}, "bench")
	require.Equal(t, exitUsage, code, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "needs a real Redis")
	require.Contains(t, stderr, "--redis")

	srv, err := redistest.StartServer(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Kill() })

	_, stderr, code = crmflow(t, nil, "bench", "--redis", srv.URL, "--records", "10")
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "--records 10 is too small")

	_, stderr, code = crmflow(t, nil, "bench", "--redis", srv.URL, "--scenario", "fairness", "--fairness-records", "10")
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "--fairness-records 10 is too small")

	stdout, stderr, code = crmflow(t, nil, "bench", "--redis", srv.URL, "--records", "1000", "--json", "--skip-figures",
		"--scenario", "trigger-eval,backfill,bulk-delete,purge")
	require.Contains(t, []int{0, 1}, code, stderr)
	var rep struct {
		Records   int `json:"records"`
		Scenarios []struct {
			Name  string             `json:"name"`
			Ratio float64            `json:"ratio"`
			Goal  float64            `json:"goal"`
			Extra map[string]float64 `json:"extra"`
		} `json:"scenarios"`
		Machine struct {
			RedisVersion string `json:"redis_version"`
		} `json:"machine"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Equal(t, 1000, rep.Records)
	require.NotEmpty(t, rep.Machine.RedisVersion)
	var names []string
	missed := false
	for _, s := range rep.Scenarios {
		names = append(names, s.Name)
		require.Positive(t, s.Ratio, s.Name)
		require.Positive(t, s.Goal, s.Name)
		missed = missed || s.Ratio < s.Goal
	}
	require.Equal(t, []string{"trigger-eval", "backfill", "bulk-delete", "purge"}, names)
	require.Equal(t, missed, code == 1, "exit status %d, stderr:\n%s", code, stderr)
	require.Contains(t, stderr, "crmflow bench: 1000 records per scenario")
	require.Equal(t, 4, strings.Count(stderr, "(goal "), "one progress line per scenario on stderr:\n%s", stderr)

	// A second run on the same Redis is allowed: the first left no tenant and no task behind.
	stdout, stderr, code = crmflow(t, nil, "bench", "--redis", srv.URL, "--records", "1000", "--skip-figures", "--scenario", "purge")
	require.Contains(t, []int{0, 1}, code, stderr)
	require.Contains(t, stdout, "slowest Redis command during the purge")

	// A Redis that holds a tenant is not the bench's own: refused, and the tenant untouched.
	opt, err := redis.ParseURL(srv.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	_, err = st.CreateTenant(context.Background(), "acme", crm.PlanProfessional)
	require.NoError(t, err)
	before := redistest.Dump(t, rdb, "acme")
	_, stderr, code = crmflow(t, nil, "bench", "--redis", srv.URL, "--records", "1000", "--skip-figures", "--scenario", "purge")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "holds 1 tenants: the bench needs a Redis of its own")
	require.Equal(t, before, redistest.Dump(t, rdb, "acme"))
}
