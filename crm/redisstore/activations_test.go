package redisstore_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// TestActivationsOfEarlierVersions: data written by a version that did not number activations
// works as before. A workflow whose hash carries no activation number is named by its
// activated_at alone (a conditional pause, a guarded deletion), and its operation keeps the id
// "wf-<name>-<activated_at>"; an operation that records no number (moved by such a version while
// the current activation was already numbered) goes on collecting that activation's deletions.
func TestActivationsOfEarlierVersions(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
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
		base := "wf-bounced-" + strconv.FormatInt(f.ActivatedAt.UnixMilli(), 10)
		guard := func(f crm.Flow) crm.ArchiveLimit {
			return crm.ArchiveLimit{ActivatedAt: f.ActivatedAt, Activation: f.Activation, Needs: []crm.Permission{crm.PermDelete}}
		}

		// The first move of the numbered activation records its number; a move by an earlier
		// version would not have: that operation still gathers the activation's deletions.
		res, err := b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[:1], by, guard(f))
		require.NoError(t, err)
		require.Equal(t, ids[:1], res.Archived)
		require.Equal(t, "1", b.rdb.HGet(ctx, redisstore.OperationKey(b.tenant, base), "activation").Val())
		require.NoError(t, b.rdb.HDel(ctx, redisstore.OperationKey(b.tenant, base), "activation").Err())
		res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[1:2], by, guard(f))
		require.NoError(t, err)
		require.Equal(t, ids[1:2], res.Archived)
		op, err := b.store.Operation(ctx, b.tenant, base)
		require.NoError(t, err)
		require.EqualValues(t, 2, op.Moved)

		// A workflow activated by an earlier version: no number.
		require.NoError(t, b.rdb.HDel(ctx, redisstore.FlowKey(b.tenant, "bounced"), "activation").Err())
		old, err := b.store.Flow(ctx, b.tenant, "bounced")
		require.NoError(t, err)
		require.Zero(t, old.Activation)
		res, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[2:3], by, guard(old))
		require.NoError(t, err)
		require.Equal(t, ids[2:3], res.Archived, "activated_at alone names the activation")
		op, err = b.store.Operation(ctx, b.tenant, base)
		require.NoError(t, err)
		require.EqualValues(t, 3, op.Moved)
		_, err = b.store.PauseFlow(ctx, b.tenant, "bounced", &crm.PauseOpts{Reason: "limit", Code: crm.PauseDeletionLimit,
			IfActivatedAt: old.ActivatedAt.Add(-time.Millisecond), IfActivation: old.Activation})
		require.ErrorIs(t, err, crm.ErrFlowReactivated, "another activated_at is another activation")
		paused, err := b.store.PauseFlow(ctx, b.tenant, "bounced", &crm.PauseOpts{Reason: "limit", Code: crm.PauseDeletionLimit,
			IfActivatedAt: old.ActivatedAt, IfActivation: old.Activation})
		require.NoError(t, err)
		require.Equal(t, crm.FlowPaused, paused.State)
	})
}
