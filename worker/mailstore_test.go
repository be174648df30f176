package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/redistest"
	"github.com/crmflow/crmflow/worker"
)

// The store side of email (crm/outbox.go) is tested here, beside its one user, on the shared test
// Redis with a fresh tenant per test.

var _ worker.MailStore = (*redisstore.Store)(nil)

func mailStore(t *testing.T) (*redisstore.Store, crm.TenantID) {
	t.Helper()
	store, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: clock.NewSim(t0)})
	require.NoError(t, err)
	return store, crm.TenantID(redistest.Tenant(t))
}

func TestOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("KeepsEachMessageOnceOldestFirst", func(t *testing.T) {
		t.Parallel()
		store, tenant := mailStore(t)
		for _, id := range []string{"a", "b", "c"} {
			require.NoError(t, store.AppendOutbox(ctx, tenant, crm.Mail{ID: id, To: "x@example.com",
				Subject: "S " + id, Body: "B", Kind: "test"}))
		}
		err := store.AppendOutbox(ctx, tenant, crm.Mail{ID: "b", Subject: "again"})
		require.ErrorIs(t, err, crm.ErrMailDone)

		all, err := store.Outbox(ctx, tenant, 0)
		require.NoError(t, err)
		require.Len(t, all, 3)
		require.Equal(t, crm.Mail{ID: "a", To: "x@example.com", Subject: "S a", Body: "B", Kind: "test",
			CreatedAt: t0}, all[0])
		first2, err := store.Outbox(ctx, tenant, 2)
		require.NoError(t, err)
		require.Equal(t, all[:2], first2)

		// Another tenant sees nothing of it.
		empty, err := store.Outbox(ctx, crm.TenantID(redistest.Tenant(t)), 0)
		require.NoError(t, err)
		require.Empty(t, empty)
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		store, tenant := mailStore(t)
		var ve *crm.ValidationError
		require.ErrorAs(t, store.AppendOutbox(ctx, tenant, crm.Mail{}), &ve)
		require.Equal(t, "id", ve.Field)
		require.ErrorAs(t, store.AppendOutbox(ctx, "Bad Tenant", crm.Mail{ID: "a"}), &ve)
		_, err := store.Outbox(ctx, "Bad Tenant", 0)
		require.ErrorAs(t, err, &ve)
	})
}

func TestMailLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("LeaseThenSent", func(t *testing.T) {
		t.Parallel()
		store, tenant := mailStore(t)
		claim, err := store.ClaimMail(ctx, tenant, "k", "attempt-1", time.Minute)
		require.NoError(t, err)
		require.Equal(t, crm.MailClaimed, claim)
		// The holder may claim again (same attempt); another attempt waits.
		claim, err = store.ClaimMail(ctx, tenant, "k", "attempt-1", time.Minute)
		require.NoError(t, err)
		require.Equal(t, crm.MailClaimed, claim)
		claim, err = store.ClaimMail(ctx, tenant, "k", "attempt-2", time.Minute)
		require.NoError(t, err)
		require.Equal(t, crm.MailBusy, claim)
		// The outbox does not take over an email being sent.
		require.ErrorIs(t, store.AppendOutbox(ctx, tenant, crm.Mail{ID: "k"}), crm.ErrMailInFlight)

		require.NoError(t, store.FinishMail(ctx, tenant, "k", "attempt-1", true))
		claim, err = store.ClaimMail(ctx, tenant, "k", "attempt-3", time.Minute)
		require.NoError(t, err)
		require.Equal(t, crm.MailDone, claim)
		require.ErrorIs(t, store.AppendOutbox(ctx, tenant, crm.Mail{ID: "k"}), crm.ErrMailDone)
		ttl, err := redistest.Client(t).TTL(ctx, redisstore.MailSentKey(tenant, "k")).Result()
		require.NoError(t, err)
		require.InDelta(t, crm.MailSentTTL.Seconds(), ttl.Seconds(), 5)
	})

	t.Run("FailureReleasesOnlyItsOwnLease", func(t *testing.T) {
		t.Parallel()
		store, tenant := mailStore(t)
		claim, err := store.ClaimMail(ctx, tenant, "k", "attempt-1", time.Minute)
		require.NoError(t, err)
		require.Equal(t, crm.MailClaimed, claim)
		require.NoError(t, store.FinishMail(ctx, tenant, "k", "attempt-2", false)) // not its lease: no-op
		claim, err = store.ClaimMail(ctx, tenant, "k", "attempt-2", time.Minute)
		require.NoError(t, err)
		require.Equal(t, crm.MailBusy, claim)
		require.NoError(t, store.FinishMail(ctx, tenant, "k", "attempt-1", false))
		claim, err = store.ClaimMail(ctx, tenant, "k", "attempt-2", time.Minute)
		require.NoError(t, err)
		require.Equal(t, crm.MailClaimed, claim)
	})

	t.Run("KeyShape", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, "crm:{acme}:mailsent:k-1", redisstore.MailSentKey("acme", "k-1"))
		require.Equal(t, "crm:{acme}:outbox", redisstore.OutboxKey("acme"))
	})
}
