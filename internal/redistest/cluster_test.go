package redistest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/internal/redistest"
)

// The shared cluster has three masters that between them serve every slot: keys of different
// hash tags land on different masters, and each master holds some.
func TestCluster(t *testing.T) {
	t.Parallel()
	c := redistest.ClusterClient(t)
	ctx := context.Background()
	for i := range 60 {
		require.NoError(t, c.Set(ctx, "crm:{"+redistest.Tenant(t)+"}:probe", i, 0).Err())
	}
	var masters atomic.Int32 // ForEachMaster calls the function concurrently
	require.NoError(t, c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		masters.Add(1)
		n, err := m.DBSize(ctx).Result()
		require.Positive(t, n, "master %s holds no key", m.Options().Addr)
		return err
	}))
	require.EqualValues(t, 3, masters.Load())
}

// A master killed is replaced by its replica: the cluster is ok again, and the data it had
// replicated is served.
func TestClusterFailover(t *testing.T) {
	t.Parallel()
	c, err := redistest.StartClusterWithReplicas(3, 1)
	require.NoError(t, err)
	t.Cleanup(c.Stop)
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, ClusterStateReloadInterval: time.Second})
	t.Cleanup(func() { _ = cc.Close() })
	require.NoError(t, cc.Set(ctx, "probe", "1", 0).Err())
	require.NoError(t, cc.Do(ctx, "WAIT", 1, 5000).Err())
	master, err := cc.MasterForKey(ctx, "probe")
	require.NoError(t, err)
	var killed *redistest.Server
	for i, a := range c.Addrs {
		if a == master.Options().Addr {
			killed = c.Masters[i]
		}
	}
	require.NotNil(t, killed)
	require.NoError(t, killed.Kill())
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := cc.Get(ctx, "probe").Result()
		if err == nil {
			require.Equal(t, "1", v)
			break
		}
		require.True(t, time.Now().Before(deadline), "no failover within 30s: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
}
