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
