package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

func testBackfillLease(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	activated := b.clock.Now().Add(-time.Minute)
	bf := crm.Backfill{Revision: 1, State: "running", Total: 10, Done: 4, Enrolled: 2, After: "4", Prev: "2",
		ActivatedAt: activated, StartedAt: activated}

	// Without the lease, nothing is recorded.
	ok, err := b.store.AdvanceBackfill(ctx, b.tenant, "wf", "runner-a", bf)
	require.NoError(t, err)
	require.False(t, ok)
	_, found, err := b.store.Backfill(ctx, b.tenant, "wf")
	require.NoError(t, err)
	require.False(t, found)

	// One runner at a time holds it; it records, the other does not.
	ok, err = b.store.LeaseBackfill(ctx, b.tenant, "wf", "runner-a", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = b.store.LeaseBackfill(ctx, b.tenant, "wf", "runner-b", time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "held by runner-a")
	ok, err = b.store.AdvanceBackfill(ctx, b.tenant, "wf", "runner-a", bf)
	require.NoError(t, err)
	require.True(t, ok)
	stale := bf
	stale.Done, stale.After, stale.Prev = 2, "2", "2"
	ok, err = b.store.AdvanceBackfill(ctx, b.tenant, "wf", "runner-b", stale)
	require.NoError(t, err)
	require.False(t, ok, "a runner without the lease moves nothing back")
	got, found, err := b.store.Backfill(ctx, b.tenant, "wf")
	require.NoError(t, err)
	require.True(t, found)
	bf.UpdatedAt = b.clock.Now()
	require.Equal(t, bf, got, "position, activation and progress as recorded")

	// Released, it goes to the next runner.
	require.NoError(t, b.store.ReleaseBackfill(ctx, b.tenant, "wf", "runner-b"), "not the holder: no effect")
	ok, err = b.store.LeaseBackfill(ctx, b.tenant, "wf", "runner-b", time.Minute)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, b.store.ReleaseBackfill(ctx, b.tenant, "wf", "runner-a"))
	ok, err = b.store.LeaseBackfill(ctx, b.tenant, "wf", "runner-b", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
}
