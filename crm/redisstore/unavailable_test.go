package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// A store's errors tell a Redis in trouble with errors.Is: down or hung is ErrStoreUnavailable,
// out of memory for a write is ErrStoreFull; other errors (not found) stay as they are.
func TestStoreTroubleErrors(t *testing.T) {
	t.Parallel()
	srv, err := redistest.StartServer("")
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	t.Cleanup(func() { _ = srv.Resume() })
	opt, err := redis.ParseURL(srv.URL)
	require.NoError(t, err)
	opt.ContextTimeoutEnabled, opt.ReadTimeout, opt.MaxRetries = true, 500*time.Millisecond, -1
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	ctx := context.Background()
	tenant := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(ctx, tenant, crm.PlanProfessional)
	require.NoError(t, err)

	_, err = st.Record(ctx, tenant, crm.Contacts, "404", nil)
	require.ErrorIs(t, err, crm.ErrNotFound)
	require.False(t, errors.Is(err, crm.ErrStoreUnavailable))

	require.NoError(t, rdb.ConfigSet(ctx, "maxmemory", "1").Err())
	_, err = st.CreateRecords(ctx, tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "A"}}}, crm.Actor{User: "t"})
	require.ErrorIs(t, err, crm.ErrStoreFull)
	_, err = st.Record(ctx, tenant, crm.Contacts, "404", nil)
	require.ErrorIs(t, err, crm.ErrNotFound, "reads still work")
	require.NoError(t, rdb.ConfigSet(ctx, "maxmemory", "0").Err())

	require.NoError(t, srv.Pause())
	_, err = st.Record(ctx, tenant, crm.Contacts, "1", nil)
	require.ErrorIs(t, err, crm.ErrStoreUnavailable)
	require.NoError(t, srv.Resume())

	require.NoError(t, srv.Kill())
	_, err = st.Record(ctx, tenant, crm.Contacts, "1", nil)
	require.ErrorIs(t, err, crm.ErrStoreUnavailable)
}

// clusterTenant starts a cluster of three masters of the test's own, and returns a client of it,
// a store on it with cfg (its EmailSalt set here) and a professional tenant of that store.
func clusterTenant(t *testing.T, cfg redisstore.Config) (*redistest.Cluster, *redis.ClusterClient, *redisstore.Store, crm.TenantID) {
	t.Helper()
	c, err := redistest.StartCluster(3)
	require.NoError(t, err)
	t.Cleanup(c.Stop)
	opt, err := redis.ParseClusterURL(strings.Replace(c.URL, "redis+cluster://", "redis://", 1))
	require.NoError(t, err)
	rdb := redis.NewClusterClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	cfg.EmailSalt = redistest.EmailSalt
	st, err := redisstore.New(rdb, &cfg)
	require.NoError(t, err)
	tenant := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(context.Background(), tenant, crm.PlanProfessional)
	require.NoError(t, err)
	return c, rdb, st, tenant
}

// tenantSlot returns the cluster slot of the tenant's keys, a client of the master that holds
// them (from) and one of another master (to), and their cluster node ids.
func tenantSlot(t *testing.T, c *redistest.Cluster, rdb *redis.ClusterClient, tenant crm.TenantID) (slot int64, from, to *redis.Client, fromID, toID string) {
	t.Helper()
	ctx := context.Background()
	slot, err := rdb.ClusterKeySlot(ctx, redisstore.TenantKey(tenant)).Result()
	require.NoError(t, err)
	for _, a := range c.Addrs {
		m := redis.NewClient(&redis.Options{Addr: a})
		t.Cleanup(func() { _ = m.Close() })
		n, err := m.Do(ctx, "CLUSTER", "COUNTKEYSINSLOT", slot).Int()
		require.NoError(t, err)
		if n > 0 && from == nil {
			from = m
		} else if to == nil {
			to = m
		}
	}
	require.NotNil(t, from, "no master holds the tenant's keys")
	fromID, err = from.Do(ctx, "CLUSTER", "MYID").Text()
	require.NoError(t, err)
	toID, err = to.Do(ctx, "CLUSTER", "MYID").Text()
	require.NoError(t, err)
	return slot, from, to, fromID, toID
}

// A tenant's slot in the middle of a move between masters (an operator adding a master and
// resharding) is a Redis in trouble, not a bug: a call whose redirections (MOVED, ASK) outlast the
// client's retries fails with ErrStoreUnavailable, which the API answers 503 with Retry-After, and
// works again once the slot has settled.
func TestStoreTroubleErrorsWhileASlotMoves(t *testing.T) {
	t.Parallel()
	c, rdb, st, tenant := clusterTenant(t, redisstore.Config{})
	ctx := context.Background()
	create := func() error {
		_, err := st.CreateRecords(ctx, tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "A"}}}, crm.Actor{User: "t"})
		return err
	}
	require.NoError(t, create())

	// The tenant's master marks its slot as migrating to another master that does not import it
	// (yet): the keys it lacks are sent there with ASK, and sent back from there with MOVED.
	slot, from, _, _, toID := tenantSlot(t, c, rdb, tenant)
	require.NoError(t, from.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", toID).Err())

	err := create()
	require.ErrorIs(t, err, crm.ErrStoreUnavailable)

	require.NoError(t, from.Do(ctx, "CLUSTER", "SETSLOT", slot, "STABLE").Err())
	require.NoError(t, create(), "the slot settled: writes work again")
}

// With WaitReplicas on a cluster, a destructive change goes straight to its slot's master, beside
// the cluster client's own routing: a slot on the move is a store in trouble there too (503 with
// Retry-After at the API), not an internal error.
func TestStoreTroubleErrorsWithWaitReplicasOnACluster(t *testing.T) {
	t.Parallel()
	c, rdb, st, tenant := clusterTenant(t, redisstore.Config{WaitReplicas: 1, WaitReplicasTimeout: 10 * time.Millisecond})
	ctx := context.Background()
	recs, err := st.CreateRecords(ctx, tenant, crm.Contacts, []crm.RecordInput{
		{Properties: map[string]string{"firstname": "A"}}, {Properties: map[string]string{"firstname": "B"}},
	}, crm.Actor{User: "t"})
	require.NoError(t, err)
	archive := func(id crm.RecordID) error {
		_, err := st.ArchiveRecords(ctx, tenant, crm.Contacts, []crm.RecordID{id}, crm.Actor{User: "t"})
		return err
	}
	require.ErrorIs(t, archive(recs[0].ID), crm.ErrNotReplicated, "no replicas: made, but not acknowledged")

	slot, from, to, fromID, toID := tenantSlot(t, c, rdb, tenant)
	// The slot moves from its master to another, as redis-cli --cluster reshard moves it, and
	// none of its keys has gone yet: the reads find what is there and are asked to the other
	// master for what is not, but the script of the move to the bin, whose bin key is not there,
	// is refused with TRYAGAIN until the slot has moved.
	require.NoError(t, to.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", fromID).Err())
	require.NoError(t, from.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", toID).Err())
	require.ErrorIs(t, archive(recs[1].ID), crm.ErrStoreUnavailable, "the slot is moving")

	require.NoError(t, from.Do(ctx, "CLUSTER", "SETSLOT", slot, "STABLE").Err())
	require.NoError(t, to.Do(ctx, "CLUSTER", "SETSLOT", slot, "STABLE").Err())
	require.ErrorIs(t, archive(recs[1].ID), crm.ErrNotReplicated, "the slot settled: made, but not acknowledged")
}
