package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// testDeletionLimitCountsPerWorkflowAndWindow checks ArchiveWithLimit (SPEC S24): it moves only
// the allowance left in the window, reports the rest as over the limit without touching them,
// counts the deletions of all the workflow's activations together (activating it again resets
// nothing) and each workflow apart, and frees the allowance as the window slides.
func testDeletionLimitCountsPerWorkflowAndWindow(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	var ids []crm.RecordID
	for range 8 {
		ids = append(ids, b.contact(t, map[string]string{"firstname": "x"}).ID)
	}
	by := crm.Actor{User: "ops@x.example", Via: crm.ViaWorkflow, Ref: "wf", Revision: 1}
	act := b.clock.Now()
	lim := crm.ArchiveLimit{DeletionLimit: crm.DeletionLimit{Max: 3, Per: time.Hour}, ActivatedAt: act}

	res, err := b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[:2], by, lim)
	require.NoError(t, err)
	require.Equal(t, ids[:2], res.Archived)
	require.Empty(t, res.OverLimit)

	b.clock.Advance(30 * time.Minute)
	// Half an hour later, one left: the first live id goes, the others are refused; an id not live is missing.
	res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, []crm.RecordID{ids[0], ids[2], ids[3], ids[4]}, by, lim)
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{ids[2]}, res.Archived)
	require.Equal(t, []crm.RecordID{ids[3], ids[4]}, res.OverLimit)
	require.Equal(t, []crm.RecordID{ids[0]}, res.Missing)
	for _, id := range ids[3:5] {
		rec, err := b.store.Record(ctx, b.tenant, crm.Contacts, id, nil)
		require.NoError(t, err, "a refused record stays live")
		require.False(t, rec.Archived)
	}

	// Another activation of the workflow (paused and activated again, at another revision) shares
	// the count: the limit is still reached.
	other := lim
	other.ActivatedAt = act.Add(time.Minute)
	again := by
	again.Revision = 2
	before := b.dump(t)
	res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, []crm.RecordID{ids[3]}, again, other)
	require.NoError(t, err)
	require.Empty(t, res.Archived)
	require.Equal(t, []crm.RecordID{ids[3]}, res.OverLimit)
	require.Equal(t, before, b.dump(t), "a refused deletion changes nothing")

	// Another workflow counts apart.
	res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, []crm.RecordID{ids[3]},
		crm.Actor{User: "ops@x.example", Via: crm.ViaWorkflow, Ref: "wf-other", Revision: 1}, lim)
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{ids[3]}, res.Archived)
	inWindow := func(name string, per time.Duration) int64 {
		t.Helper()
		n, err := b.store.FlowDeletionsInWindow(ctx, b.tenant, name, per)
		require.NoError(t, err)
		return n
	}
	require.EqualValues(t, 3, inWindow("wf", time.Hour), "the workflow's deletions in the window, every activation's")
	require.EqualValues(t, 1, inWindow("wf", 10*time.Minute), "a shorter window counts fewer")
	require.EqualValues(t, 1, inWindow("wf-other", time.Hour))
	require.EqualValues(t, 0, inWindow("wf-none", time.Hour))

	// The window slides: an hour after the first two, their room comes back, and only theirs,
	// whichever activation asks.
	b.clock.Advance(30 * time.Minute)
	require.EqualValues(t, 1, inWindow("wf", time.Hour), "the first two are out of the window")
	res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[4:], again, other)
	require.NoError(t, err)
	require.Equal(t, ids[4:6], res.Archived)
	require.Equal(t, ids[6:], res.OverLimit)
	res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[6:], by, lim)
	require.NoError(t, err)
	require.Empty(t, res.Archived)
	require.Equal(t, ids[6:], res.OverLimit, "the first activation sees the later one's deletions")

	// The count needs no activation: without one it is the workflow's all the same.
	res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[6:7], by, crm.ArchiveLimit{DeletionLimit: lim.DeletionLimit})
	require.NoError(t, err)
	require.Equal(t, ids[6:7], res.OverLimit)

	// Unlimited counts nothing and refuses nothing.
	res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[6:], by, crm.ArchiveLimit{ActivatedAt: act})
	require.NoError(t, err)
	require.Equal(t, ids[6:], res.Archived)

	// A limited archive is a workflow's.
	_, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[:1], crm.Actor{User: "ops@x.example"}, lim)
	var ve *crm.ValidationError
	require.ErrorAs(t, err, &ve)
}

// testDeletionLimitHoldsUnderConcurrentCalls runs many limited archives at once: exactly the
// limit's number of records move, whatever the interleaving.
func testDeletionLimitHoldsUnderConcurrentCalls(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	var ids []crm.RecordID
	for range 40 {
		ids = append(ids, b.contact(t, map[string]string{"firstname": "x"}).ID)
	}
	by := crm.Actor{User: "ops@x.example", Via: crm.ViaWorkflow, Ref: "wf", Revision: 1}
	lim := crm.ArchiveLimit{DeletionLimit: crm.DeletionLimit{Max: 10, Per: time.Hour}, ActivatedAt: b.clock.Now()}
	var (
		mu              sync.Mutex
		moved, overList []crm.RecordID
		wg              sync.WaitGroup
	)
	for i := 0; i < len(ids); i += 4 {
		wg.Add(1)
		go func(batch []crm.RecordID) {
			defer wg.Done()
			res, err := b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, batch, by, lim)
			require.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			moved = append(moved, res.Archived...)
			overList = append(overList, res.OverLimit...)
		}(ids[i : i+4])
	}
	wg.Wait()
	require.Len(t, moved, 10)
	require.Len(t, overList, 30)
	n, err := b.store.BinSize(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 10, n)
}

// testTenantDeletionLimit checks the tenant's default limit: DefaultDeletionLimit until set.
func testTenantDeletionLimit(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	tn, err := b.store.Tenant(ctx, b.tenant)
	require.NoError(t, err)
	require.Equal(t, crm.DefaultDeletionLimit, tn.DeletionLimit)

	want := crm.DeletionLimit{Max: 50, Per: 30 * time.Minute}
	tn, err = b.store.SetDeletionLimit(ctx, b.tenant, want)
	require.NoError(t, err)
	require.Equal(t, want, tn.DeletionLimit)
	tn, err = b.store.Tenant(ctx, b.tenant)
	require.NoError(t, err)
	require.Equal(t, want, tn.DeletionLimit)
	require.Equal(t, crm.PlanProfessional, tn.Plan)

	_, err = b.store.SetDeletionLimit(ctx, b.tenant, crm.DeletionLimit{})
	require.NoError(t, err)
	tn, err = b.store.Tenant(ctx, b.tenant)
	require.NoError(t, err)
	require.True(t, tn.DeletionLimit.Unlimited())

	before := b.dump(t)
	var ve *crm.ValidationError
	_, err = b.store.SetDeletionLimit(ctx, b.tenant, crm.DeletionLimit{Max: 10, Per: time.Second})
	require.ErrorAs(t, err, &ve)
	_, err = b.store.SetDeletionLimit(ctx, b.tenant, crm.DeletionLimit{Max: -1, Per: time.Hour})
	require.ErrorAs(t, err, &ve)
	require.Equal(t, before, b.dump(t))
	_, err = b.store.SetDeletionLimit(ctx, NewTenant(t), want)
	require.ErrorIs(t, err, crm.ErrNotFound)
}

// testDeletionGuardChecksTheWorkflowAndItsActivator: a workflow's archive with Needs moves records
// only while the workflow is active at the activation named and its activator is enabled and holds
// the permissions; otherwise nothing moves and the live ids are reported as stopped.
func testDeletionGuardChecksTheWorkflowAndItsActivator(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	var ids []crm.RecordID
	for range 3 {
		ids = append(ids, b.contact(t, map[string]string{"firstname": "x"}).ID)
	}
	_, err := b.store.CreateUser(ctx, b.tenant, "ann@x.example", crm.Permissions{crm.PermDelete, crm.PermWorkflows}, "admin@x.example")
	require.NoError(t, err)
	_, _, err = b.store.PutFlow(ctx, b.tenant, "bounced", crm.Contacts, flowSrc, "ops@x.example")
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "ann@x.example"})
	require.NoError(t, err)
	by := crm.Actor{User: "ann@x.example", Via: crm.ViaWorkflow, Ref: "bounced", Revision: f.ActiveRevision}
	guard := func(max int) crm.ArchiveLimit {
		lim := crm.ArchiveLimit{ActivatedAt: f.ActivatedAt, Needs: []crm.Permission{crm.PermDelete}}
		if max > 0 {
			lim.DeletionLimit = crm.DeletionLimit{Max: max, Per: time.Hour}
		}
		return lim
	}
	stopped := func(lim crm.ArchiveLimit, why string) {
		t.Helper()
		before := b.dump(t)
		res, err := b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[1:], by, lim)
		require.NoError(t, err)
		require.Equal(t, ids[1:], res.Stopped, why)
		require.Empty(t, res.Archived, why)
		require.Equal(t, before, b.dump(t), why+": nothing changes")
	}

	// The activator as a workflow may name it, in another case.
	cased := by
	cased.User = " Ann@X.example"
	res, err := b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[:1], cased, guard(0))
	require.NoError(t, err)
	require.Equal(t, ids[:1], res.Archived)
	require.Empty(t, res.Stopped)

	other := guard(5)
	other.ActivatedAt = f.ActivatedAt.Add(-time.Minute)
	stopped(other, "another activation")
	_, err = b.store.SetUserPermissions(ctx, b.tenant, "ann@x.example", crm.Permissions{crm.PermWorkflows}, "admin@x.example")
	require.NoError(t, err)
	stopped(guard(5), "delete taken away")
	stopped(guard(0), "delete taken away, unlimited")
	_, err = b.store.SetUserPermissions(ctx, b.tenant, "ann@x.example", crm.Permissions{crm.PermDelete, crm.PermWorkflows}, "admin@x.example")
	require.NoError(t, err)
	_, err = b.store.SetUserDisabled(ctx, b.tenant, "ann@x.example", true, "admin@x.example")
	require.NoError(t, err)
	stopped(guard(5), "activator disabled")
	_, err = b.store.SetUserDisabled(ctx, b.tenant, "ann@x.example", false, "admin@x.example")
	require.NoError(t, err)
	_, err = b.store.PauseFlow(ctx, b.tenant, "bounced", nil)
	require.NoError(t, err)
	stopped(guard(5), "workflow paused")
	bob := by
	bob.User = "bob@x.example"
	_, err = b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "ann@x.example"})
	require.NoError(t, err)
	f, err = b.store.Flow(ctx, b.tenant, "bounced")
	require.NoError(t, err)
	res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[1:], bob, guard(5))
	require.NoError(t, err)
	require.Equal(t, ids[1:], res.Stopped, "an actor who is no user")

	res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[1:], by, guard(5))
	require.NoError(t, err)
	require.Equal(t, ids[1:], res.Archived, "active again")
}
