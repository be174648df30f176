package redistest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/internal/redistest"
)

// EachCommand sees a command sent alone and each command of a pipeline, before Redis answers it.
func TestEachCommand(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	ctx := context.Background()
	key := "crm:{" + redistest.Tenant(t) + "}:hook"
	var mu sync.Mutex
	var seen [][]any
	rdb.AddHook(redistest.EachCommand(func(cmd redis.Cmder) {
		if args := cmd.Args(); len(args) > 1 && args[1] == key { // not the connection's own HELLO and CLIENT
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, args)
		}
	}))

	require.NoError(t, rdb.Set(ctx, key, "1", 0).Err())
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, key)
		p.Get(ctx, key)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, "2", rdb.Get(ctx, key).Val(), "the commands still ran")
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, [][]any{{"set", key, "1"}, {"incr", key}, {"get", key}, {"get", key}}, seen)
}
