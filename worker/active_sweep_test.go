package worker_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/worker"
)

// TestRoutineSweepsWalkActiveTenants: between full walks, a changes sweep looks only at the
// tenants that changed something lately, so an idle tenant costs nothing; the full walk, once per
// Config.FullSweepEvery, finds what a lost activity mark hid.
func TestRoutineSweepsWalkActiveTenants(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	idle := b.tenant
	b.watch(t, idle)
	b.contact(t, map[string]string{"firstname": "idle"}) // a change mark, and the tenant active at t
	start := b.clock.Now()
	busy := crm.TenantID(string(idle) + "-busy")
	_, err := b.store.CreateTenant(b.ctx, busy, crm.PlanProfessional)
	require.NoError(t, err)
	b.watch(t, busy)

	// drains runs a changes sweep at asOf and returns the tenants it enqueued a drain for, taking
	// the drains off the queue unrun (lost, as far as the next sweep knows).
	drains := func(asOf time.Time) []crm.TenantID {
		t.Helper()
		require.NoError(t, b.w.ProcessTask(b.ctx, worker.NewChangesSweepTask(asOf)))
		pending, err := b.insp.ListPendingTasks(worker.QueueDefault)
		require.NoError(t, err)
		var out []crm.TenantID
		for _, ti := range pending {
			require.NoError(t, b.insp.DeleteTask(ti.Queue, ti.ID))
			if ti.Type == worker.TypeChangesDrain {
				var p worker.ChangesDrainPayload
				require.NoError(t, json.Unmarshal(ti.Payload, &p))
				out = append(out, p.TenantID)
			}
		}
		return out
	}
	every := worker.DefaultFullSweepEvery
	// The first sweep of the kind walks every tenant.
	require.Equal(t, []crm.TenantID{idle}, drains(start.Add(3*every)))
	// Within the period, the idle tenant (its last change three periods ago) is not looked at.
	b.clock.Set(start.Add(3*every + time.Minute))
	_, err = b.store.CreateRecords(b.ctx, busy, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "busy"}}},
		crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	require.Equal(t, []crm.TenantID{busy}, drains(start.Add(3*every+2*time.Minute)))
	// A period after the last full walk, the next one finds both.
	require.ElementsMatch(t, []crm.TenantID{idle, busy}, drains(start.Add(4*every)))
}
