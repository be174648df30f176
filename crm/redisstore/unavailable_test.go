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

// A tenant's slot in the middle of a move between masters (an operator adding a master and
// resharding) is a Redis in trouble, not a bug: a call whose redirections (MOVED, ASK) outlast the
// client's retries fails with ErrStoreUnavailable, which the API answers 503 with Retry-After, and
// works again once the slot has settled.
func TestStoreTroubleErrorsWhileASlotMoves(t *testing.T) {
	t.Parallel()
	c, err := redistest.StartCluster(3)
	require.NoError(t, err)
	t.Cleanup(c.Stop)
	opt, err := redis.ParseClusterURL(strings.Replace(c.URL, "redis+cluster://", "redis://", 1))
	require.NoError(t, err)
	rdb := redis.NewClusterClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	ctx := context.Background()
	tenant := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(ctx, tenant, crm.PlanProfessional)
	require.NoError(t, err)
	create := func() error {
		_, err := st.CreateRecords(ctx, tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "A"}}}, crm.Actor{User: "t"})
		return err
	}
	require.NoError(t, create())

	// The tenant's master marks its slot as migrating to another master that does not import it
	// (yet): the keys it lacks are sent there with ASK, and sent back from there with MOVED.
	slot, err := rdb.ClusterKeySlot(ctx, redisstore.TenantKey(tenant)).Result()
	require.NoError(t, err)
	var from, to *redis.Client
	for _, a := range c.Addrs {
		m := redis.NewClient(&redis.Options{Addr: a})
		t.Cleanup(func() { _ = m.Close() })
		owner, err := m.Do(ctx, "CLUSTER", "COUNTKEYSINSLOT", slot).Int()
		require.NoError(t, err)
		if owner > 0 && from == nil {
			from = m
		} else if to == nil {
			to = m
		}
	}
	require.NotNil(t, from, "no master holds the tenant's keys")
	toID, err := to.Do(ctx, "CLUSTER", "MYID").Text()
	require.NoError(t, err)
	require.NoError(t, from.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", toID).Err())

	err = create()
	require.ErrorIs(t, err, crm.ErrStoreUnavailable)

	require.NoError(t, from.Do(ctx, "CLUSTER", "SETSLOT", slot, "STABLE").Err())
	require.NoError(t, create(), "the slot settled: writes work again")
}
