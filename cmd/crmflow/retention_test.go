package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// TestDeploymentRetention: the first process on a fresh Redis stores the default retention; a
// process given another is refused, and a purge given a mistyped one removes nothing; a shortening
// without --confirm-shorter changes nothing, and with it is stored, counted and audited; a process
// given none then uses the stored one.
func TestDeploymentRetention(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	tenant := crm.TenantID(b.tenant)
	_, err := b.store.CreateTenant(b.ctx, tenant, crm.PlanProfessional)
	require.NoError(t, err)
	now := time.Now()
	for _, ago := range []int{50, 5} { // days
		s := storeAt(t, b, now.Add(-time.Duration(ago)*24*time.Hour))
		by := crm.Actor{User: "ops@example.com", Via: crm.ViaAPI}
		recs, err := s.CreateRecords(b.ctx, tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": fmt.Sprint("C", ago)}}}, by)
		require.NoError(t, err)
		_, err = s.ArchiveRecords(b.ctx, tenant, crm.Contacts, []crm.RecordID{recs[0].ID}, by)
		require.NoError(t, err)
	}
	stored := func() string { return b.rdb.Get(b.ctx, redisstore.RetentionKey()).Val() }
	binSize := func() int64 {
		n, err := b.store.BinSize(b.ctx, tenant, crm.Contacts)
		require.NoError(t, err)
		return n
	}
	const days90, days30 = "7776000000", "2592000000" // ms

	// The first process on a fresh Redis stores the default.
	admin := freeAddr(t)
	wrk := start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", admin)
	waitReady(t, wrk, "http://"+admin)
	require.Equal(t, 0, wrk.stop(t), "stderr:\n%s", wrk.stderr)
	require.Equal(t, days90, stored())

	// A process given another retention refuses to start, naming both and how to change it.
	_, stderr, code := crmflow(t, []string{"CRMFLOW_RETENTION=30d"}, "serve", "--redis", b.redisURL, "--addr", freeAddr(t))
	require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
	require.Contains(t, stderr, "the retention given (CRMFLOW_RETENTION) is 30d, but this deployment's retention, which this Redis holds, is 90d")
	require.Contains(t, stderr, "crmflow admin retention set 30d")

	// purge --retention 9d (90d meant) is refused and removes nothing.
	stdout, stderr, code := crmflow(t, nil, "purge", "--redis", b.redisURL, "--retention", "9d")
	require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "the retention given (--retention) is 9d, but this deployment's retention, which this Redis holds, is 90d")
	require.Equal(t, int64(2), binSize())
	require.Equal(t, days90, stored())

	// Shortening without --confirm-shorter is refused, says how many entries, and changes nothing.
	stdout, stderr, code = crmflow(t, nil, "admin", "retention", "set", "30d", "--redis", b.redisURL)
	require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
	require.Regexp(t, `(?m)^`+b.tenant+` +1$`, stdout)
	require.Contains(t, stderr, "refusing to shorten the deployment's retention from 90d to 30d: 1 deleted record of 1 tenant")
	require.Contains(t, stderr, "--confirm-shorter")
	require.Equal(t, days90, stored())

	// With it, the retention is stored, the count reported and the change audited.
	stdout, stderr, code = crmflow(t, nil, "admin", "retention", "set", "30d", "--confirm-shorter", "--redis", b.redisURL, "--by", "ops-lead")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Regexp(t, `(?m)^TOTAL +1$`, stdout)
	require.Contains(t, stderr, "90d -> 30d; 1 deleted record of 1 tenant now purgeable at once")
	require.Contains(t, stderr, "Restart every serve, worker and run process")
	require.Equal(t, days30, stored())
	entries, _, err := b.store.Audit(b.ctx, tenant, &crm.AuditOpts{Actions: []string{crm.AuditRetentionSet}})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "ops-lead", entries[0].By)
	require.Equal(t, 1, entries[0].Count)

	// A process given none uses the stored retention: the purge removes the entry deleted 50 days
	// ago, and keeps the one deleted 5 days ago.
	stdout, stderr, code = crmflow(t, nil, "purge", "--redis", b.redisURL)
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Regexp(t, `(?m)^TOTAL +1$`, stdout)
	require.Contains(t, stderr, "retention 720h0m0s")
	require.Equal(t, int64(1), binSize())
	stdout, _, code = crmflow(t, nil, "admin", "retention", "show", "--redis", b.redisURL)
	require.Equal(t, 0, code)
	require.Equal(t, "30d\n", stdout)
}

// TestRetentionShorterWithAnEmptyBin: a shortening that makes nothing purgeable is still refused
// without --confirm-shorter, and says so in those words rather than "0 deleted records of 0
// tenants ... would become purgeable".
func TestRetentionShorterWithAnEmptyBin(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	_, stderr, code := crmflow(t, nil, "admin", "retention", "set", "180d", "--redis", b.redisURL)
	require.Equal(t, 0, code, "stderr:\n%s", stderr)

	_, stderr, code = crmflow(t, nil, "admin", "retention", "set", "90d", "--redis", b.redisURL)
	require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
	require.Contains(t, stderr, "refusing to shorten the deployment's retention from 180d to 90d without --confirm-shorter: "+
		"no deleted record would become purgeable at once, but every record deleted from now on would be restorable for 90d instead of 180d")
	require.NotContains(t, stderr, "0 deleted records")
	require.Equal(t, "15552000000", b.rdb.Get(b.ctx, redisstore.RetentionKey()).Val(), "nothing changed: 180d in ms")
}
