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

// TestSessionTrace: a session stored with KeepUntil leaves a trace (its user and CSRF token, never
// its token) that outlives its end until KeepUntil, and holds the draft set on it; signing out
// drops it, and a draft set on a trace that is gone keeps nothing.
func TestSessionTrace(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		now := b.clock.Now().UTC().Truncate(time.Millisecond)
		var nf *crm.NotFoundError
		sess := crm.Session{User: "ops@acme.example", SealedToken: []byte("sealed-token"), CSRF: "c5rf", CreatedAt: now,
			ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(10 * time.Minute), KeepUntil: now.Add(2 * time.Hour)}
		require.NoError(t, b.store.PutSession(b.ctx, b.tenant, "s1", sess))
		tr, err := b.store.SessionTrace(b.ctx, b.tenant, "s1")
		require.NoError(t, err)
		require.Equal(t, crm.SessionTrace{User: sess.User, CSRF: sess.CSRF}, tr)
		h := b.rdb.HGetAll(b.ctx, redisstore.SessionTraceKey(b.tenant, "s1")).Val()
		require.NotEmpty(t, h)
		for _, v := range h {
			require.NotContains(t, v, "sealed-token", "the trace holds no token")
		}
		ttl := b.rdb.PTTL(b.ctx, redisstore.SessionTraceKey(b.tenant, "s1")).Val()
		require.Greater(t, ttl, time.Hour+59*time.Minute, "Redis keeps the trace until KeepUntil")
		require.LessOrEqual(t, ttl, 2*time.Hour)
		ttl = b.rdb.PTTL(b.ctx, redisstore.SessionKey(b.tenant, "s1")).Val()
		require.LessOrEqual(t, ttl, 10*time.Minute, "the session itself still goes at its idle end")

		// Past the session's idle end, the session is gone and its trace is not; the trace keeps a
		// draft, replaces it and removes it.
		b.clock.Advance(11 * time.Minute)
		_, err = b.store.Session(b.ctx, b.tenant, "s1")
		require.ErrorAs(t, err, &nf)
		require.NoError(t, b.store.SetSessionDraft(b.ctx, b.tenant, "s1", []byte{0, 1, 0xff}))
		tr, err = b.store.SessionTrace(b.ctx, b.tenant, "s1")
		require.NoError(t, err)
		require.Equal(t, []byte{0, 1, 0xff}, tr.Draft)
		require.NoError(t, b.store.SetSessionDraft(b.ctx, b.tenant, "s1", []byte("second")))
		tr, err = b.store.SessionTrace(b.ctx, b.tenant, "s1")
		require.NoError(t, err)
		require.Equal(t, []byte("second"), tr.Draft)
		require.NoError(t, b.store.SetSessionDraft(b.ctx, b.tenant, "s1", nil))
		tr, err = b.store.SessionTrace(b.ctx, b.tenant, "s1")
		require.NoError(t, err)
		require.Nil(t, tr.Draft)

		// Another tenant never sees it.
		_, err = b.store.SessionTrace(b.ctx, b.tenant+"x", "s1")
		require.ErrorAs(t, err, &nf)

		// Past KeepUntil it is gone by the store's clock, and a draft set then keeps nothing.
		b.clock.Set(now.Add(2 * time.Hour))
		_, err = b.store.SessionTrace(b.ctx, b.tenant, "s1")
		require.ErrorAs(t, err, &nf)
		require.NoError(t, b.store.SetSessionDraft(b.ctx, b.tenant, "s1", []byte("late")))
		require.Empty(t, b.rdb.HGet(b.ctx, redisstore.SessionTraceKey(b.tenant, "s1"), "draft").Val())

		// Signing out drops the trace with the session; a draft set then creates nothing.
		now = b.clock.Now().UTC().Truncate(time.Millisecond)
		require.NoError(t, b.store.PutSession(b.ctx, b.tenant, "s2", crm.Session{User: "u", CSRF: "c", CreatedAt: now,
			ExpiresAt: now.Add(time.Hour), KeepUntil: now.Add(2 * time.Hour)}))
		require.NoError(t, b.store.SetSessionDraft(b.ctx, b.tenant, "s2", []byte("draft")))
		require.NoError(t, b.store.DeleteSession(b.ctx, b.tenant, "s2"))
		_, err = b.store.SessionTrace(b.ctx, b.tenant, "s2")
		require.ErrorAs(t, err, &nf)
		require.NoError(t, b.store.SetSessionDraft(b.ctx, b.tenant, "s2", []byte("draft")))
		require.Zero(t, b.rdb.Exists(b.ctx, redisstore.SessionTraceKey(b.tenant, "s2")).Val())

		// A session stored without KeepUntil leaves no trace.
		require.NoError(t, b.store.PutSession(b.ctx, b.tenant, "s3", crm.Session{User: "u", CSRF: "c", CreatedAt: now,
			ExpiresAt: now.Add(time.Hour)}))
		_, err = b.store.SessionTrace(b.ctx, b.tenant, "s3")
		require.ErrorAs(t, err, &nf)
		require.Zero(t, b.rdb.Exists(b.ctx, redisstore.SessionTraceKey(b.tenant, "s3")).Val())
	})
}

// TestSignInCounts: a client's sign-in attempts are counted to a bound per window, from its first
// attempt; a success taken back frees its attempt but clears no failure; the window's end frees
// the client, and a take-back from an ended window takes nothing from the next.
func TestSignInCounts(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		client := "192.0.2.1-" + string(b.tenant) // one client per test
		start := b.clock.Now().UTC().Truncate(time.Millisecond)
		var first crm.SignInCount
		for i := range 3 {
			c, err := b.store.CountSignIn(b.ctx, client, 3, 15*time.Minute)
			require.NoError(t, err)
			require.True(t, c.Allowed, "attempt %d", i+1)
			require.True(t, start.Equal(c.WindowStart))
			require.True(t, start.Add(15*time.Minute).Equal(c.RetryAt))
			if i == 0 {
				first = c
			}
			b.clock.Advance(time.Minute)
		}
		ttl := b.rdb.PTTL(b.ctx, redisstore.SignInKey(client)).Val()
		require.Positive(t, ttl)
		require.LessOrEqual(t, ttl, 15*time.Minute, "the count goes with its window")

		// The first attempt succeeded: taken back, it frees one attempt, no more.
		require.NoError(t, b.store.UncountSignIn(b.ctx, client, first))
		c, err := b.store.CountSignIn(b.ctx, client, 3, 15*time.Minute)
		require.NoError(t, err)
		require.True(t, c.Allowed)
		c, err = b.store.CountSignIn(b.ctx, client, 3, 15*time.Minute)
		require.NoError(t, err)
		require.False(t, c.Allowed, "the bound holds")
		require.True(t, start.Add(15*time.Minute).Equal(c.RetryAt))
		// Another client is not held back.
		other, err := b.store.CountSignIn(b.ctx, client+"x", 3, 15*time.Minute)
		require.NoError(t, err)
		require.True(t, other.Allowed)

		// At the window's end the client may try again, in a window of its own.
		b.clock.Set(start.Add(15 * time.Minute))
		c, err = b.store.CountSignIn(b.ctx, client, 3, 15*time.Minute)
		require.NoError(t, err)
		require.True(t, c.Allowed)
		require.True(t, start.Add(15*time.Minute).Equal(c.WindowStart))
		require.NoError(t, b.store.UncountSignIn(b.ctx, client, first), "a take-back from the ended window")
		for range 2 {
			c, err = b.store.CountSignIn(b.ctx, client, 3, 15*time.Minute)
			require.NoError(t, err)
			require.True(t, c.Allowed)
		}
		c, err = b.store.CountSignIn(b.ctx, client, 3, 15*time.Minute)
		require.NoError(t, err)
		require.False(t, c.Allowed, "the old window's take-back freed nothing in the new one")
	})
}
