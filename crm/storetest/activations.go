package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// testSameMillisecondActivationsAreToldApart: a workflow paused and activated again within one
// millisecond (the suite's clock stands still) is another activation, told apart by its number:
// a conditional pause or a guarded deletion made for the first leaves the second alone, and the
// second's deletions are an operation of their own, which an undo of the first's does not pause.
func testSameMillisecondActivationsAreToldApart(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	b.addUndoer(t, crm.PermWorkflows)
	ctx := b.ctx
	ids := b.contacts(t, 4, "")
	_, err := b.store.CreateUser(ctx, b.tenant, "ann@x.example", crm.Permissions{crm.PermDelete, crm.PermWorkflows}, "admin@x.example")
	require.NoError(t, err)
	_, _, err = b.store.PutFlow(ctx, b.tenant, "bounced", crm.Contacts, flowSrc, "ops@x.example")
	require.NoError(t, err)
	first, err := b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "ann@x.example"})
	require.NoError(t, err)
	by := crm.Actor{User: "ann@x.example", Via: crm.ViaWorkflow, Ref: "bounced", Revision: first.ActiveRevision}
	guard := func(f crm.Flow) crm.ArchiveLimit {
		return crm.ArchiveLimit{ActivatedAt: f.ActivatedAt, Activation: f.Activation, Needs: []crm.Permission{crm.PermDelete}}
	}
	res, err := b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[:1], by, guard(first))
	require.NoError(t, err)
	require.Equal(t, ids[:1], res.Archived)
	firstOp := b.binnedOperation(t, crm.Contacts, ids[0])
	require.Equal(t, "wf-bounced-"+strconv.FormatInt(first.ActivatedAt.UnixMilli(), 10), firstOp,
		"the first activation of a millisecond keeps the id it always had")

	_, err = b.store.PauseFlow(ctx, b.tenant, "bounced", nil)
	require.NoError(t, err)
	second, err := b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "ann@x.example"})
	require.NoError(t, err)
	require.True(t, second.ActivatedAt.Equal(first.ActivatedAt), "both activations in one millisecond")
	require.Equal(t, first.Activation+1, second.Activation)

	// A deletion still acting for the first activation moves nothing.
	before := b.dump(t)
	res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[1:2], by, guard(first))
	require.NoError(t, err)
	require.Equal(t, ids[1:2], res.Stopped, "the first activation was paused")
	require.Empty(t, res.Archived)
	require.Equal(t, before, b.dump(t))

	// A pause meant for the first activation leaves the second running.
	_, err = b.store.PauseFlow(ctx, b.tenant, "bounced", &crm.PauseOpts{Code: crm.PauseDeletionLimit, Reason: "limit",
		IfActivatedAt: first.ActivatedAt, IfActivation: first.Activation})
	require.ErrorIs(t, err, crm.ErrFlowReactivated)
	require.Equal(t, before, b.dump(t))
	f, err := b.store.Flow(ctx, b.tenant, "bounced")
	require.NoError(t, err)
	require.Equal(t, crm.FlowActive, f.State)

	// The second activation's deletions are another operation, and stay one.
	res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[1:2], by, guard(second))
	require.NoError(t, err)
	require.Equal(t, ids[1:2], res.Archived)
	secondOp := b.binnedOperation(t, crm.Contacts, ids[1])
	require.NotEqual(t, firstOp, secondOp, "a new activation in the same millisecond is a new operation")
	b.clock.Advance(time.Second)
	res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[2:3], by, guard(second))
	require.NoError(t, err)
	require.Equal(t, ids[2:3], res.Archived)
	require.Equal(t, secondOp, b.binnedOperation(t, crm.Contacts, ids[2]))
	op, err := b.store.Operation(ctx, b.tenant, firstOp)
	require.NoError(t, err)
	require.EqualValues(t, 1, op.Moved)
	op, err = b.store.Operation(ctx, b.tenant, secondOp)
	require.NoError(t, err)
	require.EqualValues(t, 2, op.Moved)
	require.Equal(t, crm.OpWorkflow, op.Kind)

	// Undoing the first activation's deletions leaves the second activation running; undoing the
	// second's pauses it.
	undo, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: firstOp, By: undoer})
	require.NoError(t, err)
	require.EqualValues(t, 1, undo.Total)
	f, err = b.store.Flow(ctx, b.tenant, "bounced")
	require.NoError(t, err)
	require.Equal(t, crm.FlowActive, f.State, "the undo of another activation pauses nothing")
	undo, err = b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: secondOp, By: undoer})
	require.NoError(t, err)
	require.EqualValues(t, 2, undo.Total)
	f, err = b.store.Flow(ctx, b.tenant, "bounced")
	require.NoError(t, err)
	require.Equal(t, crm.FlowPaused, f.State)
	require.Equal(t, crm.PauseUndo, f.PausedCode)

	// A pause for the current activation, named by both, pauses it.
	third, err := b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "ann@x.example"})
	require.NoError(t, err)
	_, err = b.store.PauseFlow(ctx, b.tenant, "bounced", &crm.PauseOpts{Code: crm.PauseDeletionLimit, Reason: "limit",
		IfActivatedAt: third.ActivatedAt, IfActivation: third.Activation})
	require.NoError(t, err)
	f, err = b.store.Flow(ctx, b.tenant, "bounced")
	require.NoError(t, err)
	require.Equal(t, crm.FlowPaused, f.State)
	require.Equal(t, crm.PauseDeletionLimit, f.PausedCode)
}
