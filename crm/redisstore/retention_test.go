package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/redistest"
)

// privateClient returns a client of a Redis of the test's own, of the kind backend: the
// deployment's retention is one global key, which a test must not change on the shared servers.
func privateClient(t *testing.T, backend string) redis.UniversalClient {
	t.Helper()
	var rdb redis.UniversalClient
	switch backend {
	case "redis":
		srv, err := redistest.StartServer("")
		require.NoError(t, err)
		t.Cleanup(srv.Stop)
		opt, err := redis.ParseURL(srv.URL)
		require.NoError(t, err)
		rdb = redis.NewClient(opt)
	case "cluster":
		c, err := redistest.StartCluster(3)
		require.NoError(t, err)
		t.Cleanup(c.Stop)
		rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	case "embedded":
		rdb = redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// TestDeploymentRetention: the first process on a Redis stores its retention, a later one given
// another is refused and one given none takes the stored one; a shortening is refused without
// AllowShorter (changing nothing), and with it is stored, counted per tenant and audited in every
// tenant's trail; the stores that start after it restore by it.
func TestDeploymentRetention(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be, func(t *testing.T) {
			t.Parallel()
			rdb := privateClient(t, be)
			ctx := context.Background()
			clk := clock.NewSim(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
			newStore := func(retention time.Duration) *redisstore.Store {
				st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: clk, Retention: retention})
				require.NoError(t, err)
				return st
			}
			const day = 24 * time.Hour

			// A purge (NoStore) on a Redis that holds none stores nothing, and its own value is
			// checked against the default.
			var mismatch *crm.RetentionMismatchError
			_, err := newStore(9*day).CheckRetention(ctx, &redisstore.CheckRetentionOpts{Given: true, NoStore: true})
			require.ErrorAs(t, err, &mismatch)
			require.Equal(t, crm.RetentionMismatchError{Given: 9 * day, Deployment: crm.DefaultRetention, Unset: true}, *mismatch)
			require.Zero(t, rdb.Exists(ctx, redisstore.RetentionKey()).Val())

			// The first process stores the default.
			first := newStore(0)
			got, err := first.CheckRetention(ctx, nil)
			require.NoError(t, err)
			require.Equal(t, crm.DefaultRetention, got)
			require.Equal(t, fmt.Sprint(crm.DefaultRetention.Milliseconds()), rdb.Get(ctx, redisstore.RetentionKey()).Val())

			// Another given explicitly is refused, naming both; one not given takes the stored one.
			_, err = newStore(9*day).CheckRetention(ctx, &redisstore.CheckRetentionOpts{Given: true})
			require.ErrorAs(t, err, &mismatch)
			require.Equal(t, crm.RetentionMismatchError{Given: 9 * day, Deployment: crm.DefaultRetention}, *mismatch)
			require.ErrorContains(t, err, "9d")
			require.ErrorContains(t, err, "90d")
			quiet := newStore(9 * day)
			got, err = quiet.CheckRetention(ctx, nil)
			require.NoError(t, err)
			require.Equal(t, crm.DefaultRetention, got)
			require.Equal(t, crm.DefaultRetention, quiet.Retention())

			// Bin entries deleted 100, 50, 20 and 5 days ago in one tenant; another tenant's bin is empty.
			tn, other := crm.TenantID(redistest.Tenant(t)), crm.TenantID(redistest.Tenant(t))
			for _, x := range []crm.TenantID{tn, other} {
				_, err := first.CreateTenant(ctx, x, crm.PlanProfessional)
				require.NoError(t, err)
			}
			now := clk.Now()
			ids := map[int]crm.RecordID{}
			for _, ago := range []int{100, 50, 20, 5} {
				clk.Set(now.Add(-time.Duration(ago) * day))
				recs, err := first.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": fmt.Sprint("C", ago)}}}, crm.Actor{User: "ops@x.example"})
				require.NoError(t, err)
				ids[ago] = recs[0].ID
				_, err = first.ArchiveRecords(ctx, tn, crm.Contacts, []crm.RecordID{recs[0].ID}, crm.Actor{User: "ops@x.example", Via: crm.ViaAPI})
				require.NoError(t, err)
			}
			clk.Set(now)

			// Shorter without AllowShorter: refused, counted, nothing changed or audited.
			c, err := first.SetRetention(ctx, redisstore.SetRetentionParams{Retention: 30 * day, By: "admin-cli:ops"})
			require.ErrorIs(t, err, crm.ErrRetentionShorter)
			require.False(t, c.Changed)
			require.Equal(t, map[crm.TenantID]int64{tn: 1}, c.Purgeable, "only the entry deleted 50 days ago becomes purgeable")
			require.Equal(t, fmt.Sprint(crm.DefaultRetention.Milliseconds()), rdb.Get(ctx, redisstore.RetentionKey()).Val())
			entries, _, err := first.Audit(ctx, tn, &crm.AuditOpts{Actions: []string{crm.AuditRetentionSet}})
			require.NoError(t, err)
			require.Empty(t, entries)

			// With it: stored, counted, audited in every tenant's trail.
			c, err = first.SetRetention(ctx, redisstore.SetRetentionParams{Retention: 30 * day, By: "admin-cli:ops", AllowShorter: true})
			require.NoError(t, err)
			require.True(t, c.Changed)
			require.Equal(t, crm.DefaultRetention, c.Previous)
			require.Equal(t, int64(1), c.PurgeableTotal())
			require.Equal(t, 2, c.Audited)
			require.Equal(t, fmt.Sprint((30 * day).Milliseconds()), rdb.Get(ctx, redisstore.RetentionKey()).Val())
			for x, count := range map[crm.TenantID]int{tn: 1, other: 0} {
				entries, _, err := first.Audit(ctx, x, &crm.AuditOpts{Actions: []string{crm.AuditRetentionSet}})
				require.NoError(t, err)
				require.Len(t, entries, 1)
				e := entries[0]
				require.Equal(t, "admin-cli:ops", e.By)
				require.Equal(t, count, e.Count)
				require.Equal(t, 30*day, e.Retention)
				require.Equal(t, crm.DefaultRetention, e.PreviousRetention)
			}

			// A store that starts now restores by the new retention.
			later := newStore(0)
			got, err = later.CheckRetention(ctx, nil)
			require.NoError(t, err)
			require.Equal(t, 30*day, got)
			res, err := later.RestoreRecords(ctx, tn, crm.Contacts, []crm.RecordID{ids[50], ids[20]}, crm.Actor{User: "ops@x.example", Via: crm.ViaAPI})
			require.NoError(t, err)
			require.Equal(t, []crm.RecordID{ids[20]}, res.Restored)
			require.Len(t, res.Failed, 1)
			var expired *crm.RetentionExpiredError
			require.ErrorAs(t, res.Failed[0].Err, &expired)

			// Lengthening needs no confirmation; the same value changes nothing.
			c, err = first.SetRetention(ctx, redisstore.SetRetentionParams{Retention: 180 * day, By: "admin-cli:ops"})
			require.NoError(t, err)
			require.True(t, c.Changed)
			require.Empty(t, c.Purgeable)
			c, err = first.SetRetention(ctx, redisstore.SetRetentionParams{Retention: 180 * day, By: "admin-cli:ops"})
			require.NoError(t, err)
			require.False(t, c.Changed)
			entries, _, err = first.Audit(ctx, other, &crm.AuditOpts{Actions: []string{crm.AuditRetentionSet}})
			require.NoError(t, err)
			require.Len(t, entries, 2)

			// The bins of custom object types count as well: a pet deleted 40 days ago in the other
			// tenant, beside the contacts deleted 100 and 50 days ago (the one of 20 was restored).
			_, err = first.CreateObjectType(ctx, other, crm.ObjectTypeDef{Name: "pets", Properties: []crm.Property{{Name: "petname", Type: crm.TypeString}}}, "ops@x.example")
			require.NoError(t, err)
			clk.Set(now.Add(-40 * day))
			pets, err := first.CreateRecords(ctx, other, "pets", []crm.RecordInput{{Properties: map[string]string{"petname": "Rex"}}}, crm.Actor{User: "ops@x.example"})
			require.NoError(t, err)
			_, err = first.ArchiveRecords(ctx, other, "pets", []crm.RecordID{pets[0].ID}, crm.Actor{User: "ops@x.example", Via: crm.ViaAPI})
			require.NoError(t, err)
			clk.Set(now)
			c, err = first.SetRetention(ctx, redisstore.SetRetentionParams{Retention: 30 * day, By: "admin-cli:ops"})
			require.ErrorIs(t, err, crm.ErrRetentionShorter)
			require.Equal(t, map[crm.TenantID]int64{tn: 2, other: 1}, c.Purgeable)

			_, err = first.SetRetention(ctx, redisstore.SetRetentionParams{Retention: 0, By: "admin-cli:ops"})
			require.ErrorContains(t, err, "positive")
			require.Equal(t, fmt.Sprint((180 * day).Milliseconds()), rdb.Get(ctx, redisstore.RetentionKey()).Val(), "a bad value changes nothing")
		})
	}
}
