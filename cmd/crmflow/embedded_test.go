package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The embedded store expires keys by the wall clock, as a real Redis does: leases, idempotency
// keys and the task queue's heartbeats depend on it.
func TestEmbeddedStoreExpiresKeysByTheClock(t *testing.T) {
	t.Parallel()
	a := &app{logger: slog.New(slog.DiscardHandler)}
	b, err := a.openEmbedded()
	require.NoError(t, err)
	defer b.Close()
	ctx := context.Background()

	require.NoError(t, b.rdb.Set(ctx, "short", "v", 300*time.Millisecond).Err())
	require.NoError(t, b.rdb.Set(ctx, "long", "v", time.Hour).Err())
	require.NoError(t, b.rdb.Set(ctx, "forever", "v", 0).Err())
	require.Eventually(t, func() bool {
		n, err := b.rdb.Exists(ctx, "short").Result()
		return err == nil && n == 0
	}, 30*time.Second, 50*time.Millisecond, "a key past its TTL is still there")

	ttl, err := b.rdb.TTL(ctx, "long").Result()
	require.NoError(t, err)
	require.Greater(t, ttl, 50*time.Minute)
	require.LessOrEqual(t, ttl, time.Hour)
	n, err := b.rdb.Exists(ctx, "long", "forever").Result()
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
}

// The embedded store keeps the fingerprint of its salt, as a real Redis's first process does: the
// admin commands on it accept the salt it was given, however short, and refuse another.
func TestEmbeddedStoreKeepsItsSaltFingerprint(t *testing.T) {
	t.Parallel()
	a := &app{logger: slog.New(slog.DiscardHandler), cfg: Config{EmailSalt: "short"}}
	b, err := a.openEmbedded()
	require.NoError(t, err)
	defer b.Close()
	url := "redis://" + b.addr + "/0"

	stdout, stderr, code := crmflow(t, []string{"REDIS_URL=" + url, "CRMFLOW_EMAIL_SALT=short"}, "admin", "tenant", "list")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Contains(t, stdout, "TENANT")
	_, stderr, code = crmflow(t, []string{"REDIS_URL=" + url, "CRMFLOW_EMAIL_SALT=another"}, "admin", "tenant", "list")
	require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
	require.Contains(t, stderr, "is not the one this Redis was first used with")
}
