package worker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// wakeBundle is a Worker on a private redis-server (so that its one blocked client is the wake
// loop's), not running, and a client of that server.
type wakeBundle struct {
	w   *Worker
	rdb *redis.Client
}

func newWakeBundle(t *testing.T) *wakeBundle {
	t.Helper()
	srv, err := redistest.StartServer("")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Kill() })
	opt, err := redis.ParseURL(srv.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	w, err := New(st, asynq.RedisClientOpt{Addr: opt.Addr}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return &wakeBundle{w: w, rdb: rdb}
}

// runWakeLoop runs w's wake loop until the returned cancel, and returns a channel closed when the
// loop has returned. The test's end cancels the loop and waits for it.
func runWakeLoop(t *testing.T, w *Worker) (context.CancelFunc, <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.wakeLoop(ctx, 1)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return cancel, done
}

// waitBlocked waits until the Redis of rdb has a client blocked on a BLPOP.
func waitBlocked(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	require.Eventually(t, func() bool {
		info, err := rdb.Info(context.Background(), "clients").Result()
		require.NoError(t, err)
		return strings.Contains(info, "blocked_clients:1\r\n")
	}, 10*time.Second, 5*time.Millisecond, "the wake loop waits on its BLPOP")
}

// requireStopsBeforeItsWait cancels the loop and requires it to return well before its BLPOP of a
// minute could have ended by itself.
func requireStopsBeforeItsWait(t *testing.T, cancel context.CancelFunc, done <-chan struct{}) {
	t.Helper()
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the wake loop still waits on its BLPOP after its context ended")
	}
}

// TestWakeLoopStopsAtOnce: a worker asked to stop while it waits for a wake-up on an idle list
// leaves its wait at once, not when its BLPOP times out (a minute here).
func TestWakeLoopStopsAtOnce(t *testing.T) {
	t.Parallel()
	b := newWakeBundle(t)
	b.w.wakeWait = time.Minute
	cancel, done := runWakeLoop(t, b.w)
	waitBlocked(t, b.rdb)
	requireStopsBeforeItsWait(t, cancel, done)
}

// TestWakeLoopStopsAtOnceOnACluster: the same with the queue on a Redis Cluster, where the loop
// waits on the master that holds WakeKey.
func TestWakeLoopStopsAtOnceOnACluster(t *testing.T) {
	t.Parallel()
	cc := redistest.ClusterClient(t)
	st, err := redisstore.New(cc, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	w, err := New(st, asynq.RedisClusterClientOpt{Addrs: cc.Options().Addrs}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	w.wakeWait = time.Minute
	master, err := cc.MasterForKey(context.Background(), WakeKey)
	require.NoError(t, err)
	cancel, done := runWakeLoop(t, w)
	waitBlocked(t, master)
	requireStopsBeforeItsWait(t, cancel, done)
}

// TestWakeLoopAfterADroppedConnection: a wake loop whose connection is killed under its BLPOP
// waits again on a new one, and takes the next wake-up.
func TestWakeLoopAfterADroppedConnection(t *testing.T) {
	t.Parallel()
	b := newWakeBundle(t)
	ctx := context.Background()
	tenant := crm.TenantID(redistest.Tenant(t))
	_, err := b.w.store.CreateTenant(ctx, tenant, crm.PlanProfessional)
	require.NoError(t, err)
	runWakeLoop(t, b.w)
	waitBlocked(t, b.rdb)
	killed, err := b.rdb.ClientKillByFilter(ctx, "TYPE", "normal").Result()
	require.NoError(t, err)
	require.Positive(t, killed)
	require.NoError(t, b.rdb.LPush(ctx, WakeKey, string(tenant)).Err())
	require.Eventually(t, func() bool {
		n, err := b.rdb.LLen(ctx, WakeKey).Result()
		require.NoError(t, err)
		return n == 0
	}, 10*time.Second, 5*time.Millisecond, "the wake-up pushed after the kill is taken")
	waitBlocked(t, b.rdb)
}
