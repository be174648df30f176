package worker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/worker"
)

// reactivatingStore runs act once, just before the first pause a worker makes for one activation
// (PauseOpts.IfActivatedAt): between the worker's reading of the workflow and its pause.
type reactivatingStore struct {
	*redisstore.Store
	once sync.Once
	act  func()
}

func (s *reactivatingStore) PauseFlow(ctx context.Context, t crm.TenantID, name string, opts *crm.PauseOpts) (crm.Flow, error) {
	if opts != nil && !opts.IfActivatedAt.IsZero() {
		s.once.Do(s.act)
	}
	return s.Store.PauseFlow(ctx, t, name, opts)
}

// A worker that pauses a workflow for the activation it read (its activator lost a permission,
// or its limit refused a deletion) leaves alone an activation made since, even within the same
// millisecond (the simulated clock stands still): the new activation decides.
func TestWorkerPauseLeavesAnActivationOfTheSameMillisecondAlone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src string
		// lose, run after the activation by ann, leads the worker's step to pause it.
		lose func(b *flowBundle)
	}{
		{name: "ActivatorLostDelete", src: unlimitedDelete, lose: func(b *flowBundle) {
			b.setUser(t, "ann@example.com", crm.Permissions{crm.PermWorkflows}, false)
		}},
		{name: "LimitReached", src: limitedDelete, lose: func(b *flowBundle) {
			b.bouncedContacts(t, 3)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupFlows(t, 0)
			st := &reactivatingStore{Store: b.store}
			w, err := worker.New(st, b.queue, b.config())
			require.NoError(t, err)
			t.Cleanup(func() { _ = w.Close() })
			b.w = w
			b.setUser(t, "ann@example.com", crm.AllPermissions, false)
			b.setUser(t, "bob@example.com", crm.AllPermissions, false)
			var again crm.Flow
			st.act = func() {
				_, err := b.store.PauseFlow(b.ctx, b.tenant, "limited-delete", nil)
				require.NoError(t, err)
				again, err = b.store.ActivateFlow(b.ctx, b.tenant, "limited-delete", crm.ActivateFlowParams{By: "bob@example.com"})
				require.NoError(t, err)
			}
			first := b.activateAs(t, "ann@example.com", "limited-delete", tc.src)
			b.bouncedContacts(t, 1)
			tc.lose(b)
			b.drain(t)

			require.NotZero(t, again.Activation, "the worker paused")
			require.True(t, again.ActivatedAt.Equal(first.ActivatedAt), "activated again in the same millisecond")
			got := b.flow(t, "limited-delete")
			require.Equal(t, crm.FlowActive, got.State, "bob's activation is not paused for ann's")
			require.Equal(t, "bob@example.com", got.ActivatedBy)
			require.Empty(t, got.PausedCode)
		})
	}
}

// TestWorkflowActivatedAgainInTheSameMillisecondEmailsAgain: a workflow paused at its limit and
// activated again within the same millisecond is a new activation: when it pauses at its limit,
// its activator is emailed again.
func TestWorkflowActivatedAgainInTheSameMillisecondEmailsAgain(t *testing.T) {
	t.Parallel()
	b, who, ids := pausedAtLimit(t)
	first := b.flow(t, "limited-delete")
	require.Len(t, b.limitMails(t), 1)
	again, err := b.store.ActivateFlow(b.ctx, b.tenant, "limited-delete", crm.ActivateFlowParams{By: who})
	require.NoError(t, err)
	require.True(t, again.ActivatedAt.Equal(first.ActivatedAt), "activated again in the same millisecond")
	b.sweepAfter(t, 2*time.Minute) // past the sweep's grace
	_, waiting := b.limitOutcome(t, "limited-delete", ids)
	require.Len(t, waiting, 7)
	got := b.flow(t, "limited-delete")
	require.Equal(t, crm.FlowPaused, got.State)
	require.Equal(t, crm.PauseDeletionLimit, got.PausedCode)
	require.Len(t, b.limitMails(t), 2, "the activator is emailed about the new pause")
}
