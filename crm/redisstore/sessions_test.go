package redisstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

func TestSessions(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		now := b.clock.Now().UTC().Truncate(time.Millisecond)
		sess := crm.Session{User: "ops@acme.example", SealedToken: []byte{0, 1, 2, 0xff}, CSRF: "c5rf",
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		require.NoError(t, b.store.PutSession(b.ctx, b.tenant, "s1", sess))

		got, err := b.store.Session(b.ctx, b.tenant, "s1")
		require.NoError(t, err)
		require.Equal(t, sess.User, got.User)
		require.Equal(t, sess.SealedToken, got.SealedToken)
		require.Equal(t, sess.CSRF, got.CSRF)
		require.True(t, sess.CreatedAt.Equal(got.CreatedAt))
		require.True(t, sess.ExpiresAt.Equal(got.ExpiresAt))
		ttl := b.rdb.PTTL(b.ctx, redisstore.SessionKey(b.tenant, "s1")).Val()
		require.Positive(t, ttl, "the session's key must expire with it")

		// Another tenant never sees it.
		var nf *crm.NotFoundError
		_, err = b.store.Session(b.ctx, b.tenant+"x", "s1")
		require.ErrorAs(t, err, &nf)

		// Past its end by the store's clock it is gone, even before Redis drops the key.
		b.clock.Advance(time.Hour)
		_, err = b.store.Session(b.ctx, b.tenant, "s1")
		require.ErrorAs(t, err, &nf)

		// Signing out ends it; ending it twice is no error.
		require.NoError(t, b.store.PutSession(b.ctx, b.tenant, "s2", crm.Session{User: "u", CSRF: "c",
			CreatedAt: b.clock.Now(), ExpiresAt: b.clock.Now().Add(time.Hour)}))
		require.NoError(t, b.store.DeleteSession(b.ctx, b.tenant, "s2"))
		require.NoError(t, b.store.DeleteSession(b.ctx, b.tenant, "s2"))
		_, err = b.store.Session(b.ctx, b.tenant, "s2")
		require.ErrorAs(t, err, &nf)
	})
}

// TestSessionIdleEnd: a session with an idle end ends there unless it is touched before; a touch
// moves it, never past the session's absolute end, and brings back no session that has ended.
func TestSessionIdleEnd(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		now := b.clock.Now().UTC().Truncate(time.Millisecond)
		key := redisstore.SessionKey(b.tenant, "s1")
		require.NoError(t, b.store.PutSession(b.ctx, b.tenant, "s1", crm.Session{User: "u", CSRF: "c",
			CreatedAt: now, ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(10 * time.Minute)}))
		got, err := b.store.Session(b.ctx, b.tenant, "s1")
		require.NoError(t, err)
		require.True(t, now.Add(10*time.Minute).Equal(got.IdleExpiresAt))
		ttl := b.rdb.PTTL(b.ctx, key).Val()
		require.Positive(t, ttl)
		require.LessOrEqual(t, ttl, 10*time.Minute, "Redis drops it at its idle end")

		// Used after 9 minutes, it lasts 10 minutes from then.
		b.clock.Advance(9 * time.Minute)
		require.NoError(t, b.store.TouchSession(b.ctx, b.tenant, "s1", b.clock.Now().Add(10*time.Minute)))
		b.clock.Advance(9 * time.Minute)
		got, err = b.store.Session(b.ctx, b.tenant, "s1")
		require.NoError(t, err)
		require.True(t, now.Add(19*time.Minute).Equal(got.IdleExpiresAt))

		// Never past its absolute end.
		require.NoError(t, b.store.TouchSession(b.ctx, b.tenant, "s1", now.Add(2*time.Hour)))
		got, err = b.store.Session(b.ctx, b.tenant, "s1")
		require.NoError(t, err)
		require.True(t, now.Add(time.Hour).Equal(got.IdleExpiresAt))
		ttl = b.rdb.PTTL(b.ctx, key).Val()
		require.Greater(t, ttl, 40*time.Minute, "the key lives on with it, to the session's end (42 minutes on)")
		require.LessOrEqual(t, ttl, 42*time.Minute)

		// Unused past its idle end, it has ended, and a touch then brings nothing back.
		require.NoError(t, b.store.TouchSession(b.ctx, b.tenant, "s1", b.clock.Now().Add(time.Minute)))
		b.clock.Advance(time.Minute)
		var nf *crm.NotFoundError
		_, err = b.store.Session(b.ctx, b.tenant, "s1")
		require.ErrorAs(t, err, &nf)
		require.NoError(t, b.store.TouchSession(b.ctx, b.tenant, "s1", b.clock.Now().Add(10*time.Minute)))
		_, err = b.store.Session(b.ctx, b.tenant, "s1")
		require.ErrorAs(t, err, &nf)

		// A touch of a session that is gone creates nothing.
		require.NoError(t, b.store.TouchSession(b.ctx, b.tenant, "gone", b.clock.Now().Add(10*time.Minute)))
		require.Zero(t, b.rdb.Exists(b.ctx, redisstore.SessionKey(b.tenant, "gone")).Val())
	})
}
