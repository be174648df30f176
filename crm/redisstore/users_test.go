package redisstore_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

func TestTokens(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		for _, e := range []string{"ops@acme.example", "ann@acme.example"} {
			_, err := b.store.CreateUser(ctx, b.tenant, e, crm.Permissions{crm.PermRead}, "admin")
			require.NoError(t, err)
		}
		t0 := b.clock.Now().UTC().Truncate(time.Millisecond)
		forever, err := b.store.CreateToken(ctx, b.tenant, "ops@acme.example", &crm.TokenOpts{By: "admin"})
		require.NoError(t, err)
		b.clock.Advance(time.Second)
		daily, err := b.store.CreateToken(ctx, b.tenant, "OPS@acme.example", &crm.TokenOpts{By: "admin", TTL: 24 * time.Hour})
		require.NoError(t, err)
		b.clock.Advance(time.Second)
		anns, err := b.store.CreateToken(ctx, b.tenant, "ann@acme.example", nil)
		require.NoError(t, err)

		_, err = b.store.CreateToken(ctx, b.tenant, "ops@acme.example", &crm.TokenOpts{TTL: -time.Second})
		var ve *crm.ValidationError
		require.ErrorAs(t, err, &ve)
		var nf *crm.NotFoundError
		_, err = b.store.CreateToken(ctx, b.tenant, "nobody@acme.example", nil)
		require.ErrorAs(t, err, &nf)
		require.Equal(t, "user", nf.Kind)
		_, err = b.store.CreateToken(ctx, crm.TenantID(redistest.Tenant(t)), "ops@acme.example", nil)
		require.ErrorAs(t, err, &nf)
		require.Equal(t, "tenant", nf.Kind)

		all, err := b.store.Tokens(ctx, b.tenant, "")
		require.NoError(t, err)
		require.Equal(t, []crm.TokenInfo{
			{ID: crm.TokenID(forever), User: "ops@acme.example", CreatedAt: t0},
			{ID: crm.TokenID(daily), User: "ops@acme.example", CreatedAt: t0.Add(time.Second), ExpiresAt: t0.Add(time.Second + 24*time.Hour)},
			{ID: crm.TokenID(anns), User: "ann@acme.example", CreatedAt: t0.Add(2 * time.Second)},
		}, all)
		ops, err := b.store.Tokens(ctx, b.tenant, "ops@acme.example")
		require.NoError(t, err)
		require.Equal(t, all[:2], ops)
		_, err = b.store.Tokens(ctx, b.tenant, "nobody@acme.example")
		require.ErrorAs(t, err, &nf)

		// The listing shows no secret, and the id cannot be used as a token.
		for _, ti := range all {
			require.Len(t, ti.ID, crm.TokenIDLen)
			_, err := b.store.Authenticate(ctx, ti.ID)
			require.ErrorIs(t, err, crm.ErrUnauthenticated)
		}
		// Redis drops the token that expires by itself.
		if be, ok := b.rdb.(*redis.Client); ok {
			ttl, err := be.PTTL(ctx, redisstore.TokenKey(b.tenant, tokenHash(t, b, crm.TokenID(daily)))).Result()
			require.NoError(t, err)
			require.Greater(t, ttl, 23*time.Hour)
		}

		// Expiry by the store's clock, whatever Redis's clock says.
		_, err = b.store.Authenticate(ctx, daily)
		require.NoError(t, err)
		b.clock.Advance(24*time.Hour - time.Second - time.Millisecond)
		_, err = b.store.Authenticate(ctx, daily)
		require.NoError(t, err)
		b.clock.Advance(time.Millisecond)
		_, err = b.store.Authenticate(ctx, daily)
		require.ErrorIs(t, err, crm.ErrUnauthenticated)
		require.ErrorContains(t, err, "expired")
		_, err = b.store.Authenticate(ctx, forever)
		require.NoError(t, err)

		// Revoking removes the token for good, at once.
		require.NoError(t, b.store.RevokeToken(ctx, b.tenant, crm.TokenID(forever), "admin-cli:root"))
		_, err = b.store.Authenticate(ctx, forever)
		require.ErrorIs(t, err, crm.ErrUnauthenticated)
		err = b.store.RevokeToken(ctx, b.tenant, crm.TokenID(forever), "admin-cli:root")
		require.ErrorAs(t, err, &nf)
		require.Equal(t, "token", nf.Kind)
		require.ErrorAs(t, b.store.RevokeToken(ctx, b.tenant, "0000000000000000", "x"), &nf)
		// Another tenant cannot revoke it.
		other := crm.TenantID(redistest.Tenant(t))
		require.ErrorAs(t, b.store.RevokeToken(ctx, other, crm.TokenID(anns), "x"), &nf)
		_, err = b.store.Authenticate(ctx, anns)
		require.NoError(t, err)

		all, err = b.store.Tokens(ctx, b.tenant, "")
		require.NoError(t, err)
		require.Len(t, all, 2)
		require.True(t, all[0].Expired(b.clock.Now()))
		for k, v := range b.tenantDump(t) {
			require.NotContains(t, k, crm.TokenID(forever))
			require.NotContains(t, v, hashOf(forever))
			if k != redisstore.AuditKey(b.tenant) {
				require.NotContains(t, v, crm.TokenID(forever))
			}
		}

		entries, _, err := b.store.Audit(ctx, b.tenant, nil)
		require.NoError(t, err)
		last := entries[len(entries)-1]
		require.Equal(t, crm.AuditTokenRevoke, last.Action)
		require.Equal(t, crm.TokenID(forever), last.TokenID)
		require.Equal(t, "ops@acme.example", last.User)
		require.Equal(t, "admin-cli:root", last.By)
		require.Equal(t, crm.AuditTokenCreate, entries[len(entries)-3].Action)
		require.Equal(t, t0.Add(time.Second+24*time.Hour), entries[len(entries)-3].ExpiresAt)
	})
}

// TestExpiredTokenDroppedByRedis checks that a token Redis dropped at its expiry is refused and
// leaves the index when the tokens are next listed.
func TestExpiredTokenDroppedByRedis(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	ctx := t.Context()
	tn := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(ctx, tn, crm.PlanFree)
	require.NoError(t, err)
	_, err = st.CreateUser(ctx, tn, "ops@acme.example", nil, "admin")
	require.NoError(t, err)
	tok, err := st.CreateToken(ctx, tn, "ops@acme.example", &crm.TokenOpts{TTL: time.Hour})
	require.NoError(t, err)
	mr.FastForward(time.Hour)
	_, err = st.Authenticate(ctx, tok)
	require.ErrorIs(t, err, crm.ErrUnauthenticated)
	tokens, err := st.Tokens(ctx, tn, "")
	require.NoError(t, err)
	require.Empty(t, tokens)
	require.False(t, mr.Exists(redisstore.TokensKey(tn)))
}

func TestEmailSalt(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	_, err := redisstore.New(rdb, nil)
	require.ErrorIs(t, err, crm.ErrNoEmailSalt)
	_, err = redisstore.New(rdb, &redisstore.Config{})
	require.ErrorIs(t, err, crm.ErrNoEmailSalt)

	ctx := t.Context()
	first, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: "s3cret"})
	require.NoError(t, err)
	require.NoError(t, first.CheckEmailSalt(ctx))
	require.NoError(t, first.CheckEmailSalt(ctx))
	stored, err := rdb.Get(ctx, redisstore.SaltFingerprintKey()).Result()
	require.NoError(t, err)
	require.Equal(t, crm.SaltFingerprint("s3cret"), stored)
	require.NotContains(t, stored, "s3cret")
	require.NotEqual(t, crm.SaltFingerprint("s3cret"), crm.SaltFingerprint("s3cre7"))

	other, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: "s3cre7"})
	require.NoError(t, err)
	err = other.CheckEmailSalt(ctx)
	require.ErrorIs(t, err, crm.ErrEmailSaltMismatch)
	require.ErrorContains(t, err, "CRMFLOW_EMAIL_SALT")

	// The shared test Redis holds the fingerprint of the tests' salt.
	shared, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	require.NoError(t, shared.CheckEmailSalt(ctx))
}

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// tokenHash finds the hash a token id stands for, through the tenant's index.
func tokenHash(t *testing.T, b *testBundle, id string) string {
	t.Helper()
	h, err := b.rdb.HGet(b.ctx, redisstore.TokensKey(b.tenant), id).Result()
	require.NoError(t, err)
	return h
}

// TestLegacyTokenIndexedAtFirstUse checks that a token stored before tokens had public ids (no id
// field, no index entry) still works, and is listed and revocable once used.
func TestLegacyTokenIndexedAtFirstUse(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		_, err := b.store.CreateUser(ctx, b.tenant, "old@acme.example", crm.Permissions{crm.PermRead}, "admin")
		require.NoError(t, err)
		tok := "cft_" + string(b.tenant) + "_" + strings.Repeat("ab", 32)
		require.NoError(t, b.rdb.HSet(ctx, redisstore.TokenKey(b.tenant, hashOf(tok)), "user", "old@acme.example", "created_at", "1").Err())
		tokens, err := b.store.Tokens(ctx, b.tenant, "")
		require.NoError(t, err)
		require.Empty(t, tokens)

		_, err = b.store.Authenticate(ctx, tok)
		require.NoError(t, err)
		tokens, err = b.store.Tokens(ctx, b.tenant, "")
		require.NoError(t, err)
		require.Len(t, tokens, 1)
		require.Equal(t, crm.TokenID(tok), tokens[0].ID)
		require.NoError(t, b.store.RevokeToken(ctx, b.tenant, crm.TokenID(tok), "admin"))
		_, err = b.store.Authenticate(ctx, tok)
		require.ErrorIs(t, err, crm.ErrUnauthenticated)
	})
}
