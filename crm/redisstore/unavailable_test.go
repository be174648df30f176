package redisstore_test

import (
	"context"
	"errors"
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
