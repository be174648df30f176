package redistest_test

import (
	"context"
	"testing"

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
	masters := 0
	require.NoError(t, c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		masters++
		n, err := m.DBSize(ctx).Result()
		require.Positive(t, n, "master %s holds no key", m.Options().Addr)
		return err
	}))
	require.Equal(t, 3, masters)
}
