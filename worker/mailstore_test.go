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
			_, err := store.AppendOutbox(ctx, tenant, crm.Mail{ID: id, To: "x@example.com",
				Subject: "S " + id, Body: "B", Kind: "test"}, nil)
			require.NoError(t, err)
		}
		_, err := store.AppendOutbox(ctx, tenant, crm.Mail{ID: "b", Subject: "again"}, nil)
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

	// Past its cap the outbox drops the workflow notifications (the entries that expire) oldest
	// first, counting them, and never an email that does not expire.
	t.Run("CapDropsOldestNotificationsOnly", func(t *testing.T) {
		t.Parallel()
		store, tenant := mailStore(t)
		capped := &crm.AppendOutboxOpts{Max: 3}
		keep := func(id string, expires bool) int {
			t.Helper()
			m := crm.Mail{ID: id, To: "x@example.com", Subject: "S " + id, Body: "B", Kind: "test"}
			if expires {
				m.Kind, m.ExpiresAt = "workflow_notification", t0.Add(24*time.Hour)
			}
			n, err := store.AppendOutbox(ctx, tenant, m, capped)
			require.NoError(t, err)
			return n
		}
		ids := func() []string {
			t.Helper()
			out, err := store.Outbox(ctx, tenant, 0)
			require.NoError(t, err)
			var ids []string
			for _, m := range out {
				ids = append(ids, m.ID)
			}
			return ids
		}
		require.Zero(t, keep("c1", false))
		require.Zero(t, keep("n1", true))
		require.Zero(t, keep("n2", true))
		require.Equal(t, 1, keep("n3", true))
		require.Equal(t, []string{"c1", "n2", "n3"}, ids())
		require.Equal(t, 1, keep("c2", false))
		require.Equal(t, 1, keep("c3", false))
		require.Equal(t, []string{"c1", "c2", "c3"}, ids())
		// Only emails that never expire are left: the outbox goes past its cap rather than drop one.
		require.Zero(t, keep("c4", false))
		require.Equal(t, []string{"c1", "c2", "c3", "c4"}, ids())
		// A notification kept then makes no room for itself: it is dropped at once, and counted.
		require.Equal(t, 1, keep("n4", true))
		require.Equal(t, []string{"c1", "c2", "c3", "c4"}, ids())
		_, err := store.AppendOutbox(ctx, tenant, crm.Mail{ID: "n4", Kind: "workflow_notification", ExpiresAt: t0.Add(time.Hour)}, capped)
		require.ErrorIs(t, err, crm.ErrMailDone, "a retry of a dropped notification does not come back")

		drops, err := store.OutboxDropped(ctx, tenant)
		require.NoError(t, err)
		require.Equal(t, crm.OutboxDrops{Count: 4, LastAt: t0}, drops)
		left, err := redistest.Client(t).ZCard(ctx, redisstore.OutboxExpiryKey(tenant)).Result()
		require.NoError(t, err)
		require.Zero(t, left, "the dropped notifications left the expiry index too")

		// Another tenant's outbox has its own cap and count.
		other := crm.TenantID(redistest.Tenant(t))
		drops, err = store.OutboxDropped(ctx, other)
		require.NoError(t, err)
		require.Zero(t, drops)

		// A bad cap is refused and changes nothing.
		var ve *crm.ValidationError
		_, err = store.AppendOutbox(ctx, tenant, crm.Mail{ID: "n5", ExpiresAt: t0.Add(time.Hour)}, &crm.AppendOutboxOpts{Max: -1})
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "max", ve.Field)
		require.Equal(t, []string{"c1", "c2", "c3", "c4"}, ids())
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		store, tenant := mailStore(t)
		var ve *crm.ValidationError
		_, err := store.AppendOutbox(ctx, tenant, crm.Mail{}, nil)
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "id", ve.Field)
		_, err = store.AppendOutbox(ctx, "Bad Tenant", crm.Mail{ID: "a"}, nil)
		require.ErrorAs(t, err, &ve)
		_, err = store.Outbox(ctx, "Bad Tenant", 0)
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
		_, err = store.AppendOutbox(ctx, tenant, crm.Mail{ID: "k"}, nil)
		require.ErrorIs(t, err, crm.ErrMailInFlight)

		require.NoError(t, store.FinishMail(ctx, tenant, "k", "attempt-1", true))
		claim, err = store.ClaimMail(ctx, tenant, "k", "attempt-3", time.Minute)
		require.NoError(t, err)
		require.Equal(t, crm.MailDone, claim)
		_, err = store.AppendOutbox(ctx, tenant, crm.Mail{ID: "k"}, nil)
		require.ErrorIs(t, err, crm.ErrMailDone)
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
