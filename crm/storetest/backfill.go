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

func testBackfillBatch(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	f := activeFlow(t, b, false)
	c1 := b.contact(t, map[string]string{"firstname": "a"})
	c2 := b.contact(t, map[string]string{"firstname": "b"})
	vs := append(verdicts(crm.VerdictMatch, c1.ID), verdicts(crm.VerdictNoMatch, c2.ID)...)
	activated := b.clock.Now().Add(-time.Minute)
	bf := crm.Backfill{Revision: f.Revision, State: "running", Total: 10, Done: 6, Enrolled: 3, After: string(c2.ID), Prev: string(c2.ID),
		ActivatedAt: activated, StartedAt: activated}
	state := func(id crm.RecordID) crm.EnrollmentState {
		t.Helper()
		enr, err := b.store.Enrollments(ctx, b.tenant, "wf", crm.Contacts, []crm.RecordID{id})
		require.NoError(t, err)
		require.Len(t, enr, 1)
		return enr[0].State
	}

	// A runner without the lease applies nothing and records nothing.
	got, outcome, err := b.store.ApplyBackfillBatch(ctx, b.tenant, f, vs, "runner-a", bf)
	require.NoError(t, err)
	require.Equal(t, crm.BatchLeaseLost, outcome)
	require.Empty(t, got)
	require.Empty(t, state(c1.ID), "not enrolled without the lease")
	_, found, err := b.store.Backfill(ctx, b.tenant, "wf")
	require.NoError(t, err)
	require.False(t, found)

	// With it, the verdicts are applied and the progress recorded, the batch's enrollments added.
	ok, err := b.store.LeaseBackfill(ctx, b.tenant, "wf", "runner-a", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	got, outcome, err = b.store.ApplyBackfillBatch(ctx, b.tenant, f, vs, "runner-a", bf)
	require.NoError(t, err)
	require.Equal(t, crm.BatchApplied, outcome)
	require.Equal(t, []crm.RecordID{c1.ID}, got)
	require.Equal(t, crm.Enrolled, state(c1.ID))
	rec, found, err := b.store.Backfill(ctx, b.tenant, "wf")
	require.NoError(t, err)
	require.True(t, found)
	want := bf
	want.Enrolled, want.UpdatedAt = 4, b.clock.Now()
	require.Equal(t, want, rec)

	// Applied again (a retry), it enrolls nobody twice and counts nothing twice.
	got, outcome, err = b.store.ApplyBackfillBatch(ctx, b.tenant, f, vs, "runner-a", bf)
	require.NoError(t, err)
	require.Equal(t, crm.BatchApplied, outcome)
	require.Empty(t, got)
	rec, _, err = b.store.Backfill(ctx, b.tenant, "wf")
	require.NoError(t, err)
	require.Equal(t, int64(3), rec.Enrolled, "the count the runner passed, plus none")

	// A workflow paused meanwhile: nothing applied, nothing recorded.
	_, err = b.store.PauseFlow(ctx, b.tenant, "wf", nil)
	require.NoError(t, err)
	later := bf
	later.Done, later.After, later.Prev = 8, "99", "99"
	c3 := b.contact(t, map[string]string{"firstname": "c"})
	got, outcome, err = b.store.ApplyBackfillBatch(ctx, b.tenant, f, verdicts(crm.VerdictMatch, c3.ID), "runner-a", later)
	require.NoError(t, err)
	require.Equal(t, crm.BatchRefused, outcome)
	require.Empty(t, got)
	require.Empty(t, state(c3.ID))
	rec, _, err = b.store.Backfill(ctx, b.tenant, "wf")
	require.NoError(t, err)
	require.Equal(t, bf.Done, rec.Done, "the progress stays where it was")
}

func testLeaseBackfillFlow(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx

	// No workflow: not found, and no lease taken.
	_, _, err := b.store.LeaseBackfillFlow(ctx, b.tenant, "wf", "runner-a", time.Minute)
	require.ErrorIs(t, err, crm.ErrNotFound)
	ok, err := b.store.LeaseBackfill(ctx, b.tenant, "wf", "runner-b", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "the lease was free")
	require.NoError(t, b.store.ReleaseBackfill(ctx, b.tenant, "wf", "runner-b"))

	// The workflow as Flow reads it, and the lease: taken, renewed, refused to another runner.
	activeFlow(t, b, false)
	want, err := b.store.Flow(ctx, b.tenant, "wf")
	require.NoError(t, err)
	got, held, err := b.store.LeaseBackfillFlow(ctx, b.tenant, "wf", "runner-a", time.Minute)
	require.NoError(t, err)
	require.True(t, held)
	require.Equal(t, want, got)
	_, held, err = b.store.LeaseBackfillFlow(ctx, b.tenant, "wf", "runner-a", time.Minute)
	require.NoError(t, err)
	require.True(t, held, "renewed")
	got, held, err = b.store.LeaseBackfillFlow(ctx, b.tenant, "wf", "runner-b", time.Minute)
	require.NoError(t, err)
	require.False(t, held, "held by runner-a")
	require.Equal(t, want, got, "the workflow is read all the same")
	ok, err = b.store.LeaseBackfill(ctx, b.tenant, "wf", "runner-b", time.Minute)
	require.NoError(t, err)
	require.False(t, ok)
}
