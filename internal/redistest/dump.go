package redistest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/redis/go-redis/v9"
)

// Dump reads every key of a tenant ("crm:{<tenant>}:*") with its whole value, by type, into a map
// from key to a printable value: what a refused request must not change, and where no trace of a
// permanently deleted contact may remain. Set members are sorted, so two dumps of the same data are
// equal. A key deleted between KEYS and its read is left out.
func Dump(t testing.TB, rdb redis.UniversalClient, tenant string) map[string]string {
	t.Helper()
	return dump(t, rdb, "crm:{"+tenant+"}:*")
}

// DumpAll reads every key of the server, whatever its owner (asynq's queues and task payloads
// included), with its whole value, as Dump does. Use it on a server of the test's own: it is where
// a zero-trace check looks.
func DumpAll(t testing.TB, rdb redis.UniversalClient) map[string]string {
	t.Helper()
	return dump(t, rdb, "*")
}

func dump(t testing.TB, rdb redis.UniversalClient, pattern string) map[string]string {
	t.Helper()
	ctx := context.Background()
	var (
		mu   sync.Mutex
		keys []string
	)
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	// SCAN answers for one node: on a cluster, read every master's keys.
	if err := redisstore.EachServer(ctx, rdb, scan); err != nil {
		t.Fatalf("redistest: dump keys: %v", err)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("redistest: type of %s: %v", k, err)
		}
		var v any
		switch typ {
		case "hash":
			v, err = rdb.HGetAll(ctx, k).Result()
		case "set":
			var m []string
			m, err = rdb.SMembers(ctx, k).Result()
			sort.Strings(m)
			v = m
		case "zset":
			v, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "string":
			v, err = rdb.Get(ctx, k).Result()
		case "list":
			v, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "stream":
			v, err = rdb.XRange(ctx, k, "-", "+").Result()
		case "none":
			continue
		default:
			t.Fatalf("redistest: key %s has unexpected type %s", k, typ)
		}
		if err != nil && err != redis.Nil {
			t.Fatalf("redistest: read %s: %v", k, err)
		}
		out[k] = typ + ":" + fmt.Sprint(v)
	}
	return out
}
