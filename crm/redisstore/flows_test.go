package redisstore_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

const flowSrc = "name: bounced\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n"

// TestEveryWriteKeepsWhatTheActiveTriggersRead: each write leaves, with its change state, the values
// of the properties that the active triggers of its type read (all of them for a trigger that may
// read any), numbered after the activation; with no workflow active it keeps no values.
// TestChangeStatesAreBounded: a record written more than 100 times before a drain keeps its first
// 99 states and its latest; states of the older format (letters) are kept, unnumbered.
func TestChangeStatesAreBounded(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		activeFlow(t, b, false)
		c := b.contact(t, map[string]string{"firstname": "v0"})
		for i := 1; i <= 150; i++ {
			_, err := b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: c.ID,
				Properties: map[string]string{"firstname": "v" + strconv.Itoa(i)}}}, crm.Actor{})
			require.NoError(t, err)
		}
		states := b.pendingChange(t, c.ID).States
		require.Len(t, states, 100)
		require.Equal(t, crm.EventCreated, states[0].Event)
		for i := 1; i < 99; i++ {
			require.Equal(t, states[i-1].Seq+1, states[i].Seq, "the first states in order")
		}
		require.Equal(t, states[0].Seq+150, states[99].Seq, "the latest state last")

		old := b.contact(t, map[string]string{"firstname": "a"})
		require.NoError(t, b.rdb.HSet(ctx, redisstore.ChangedEventsKey(b.tenant), "contacts:"+string(old.ID), "cu").Err())
		_, err := b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: old.ID,
			Properties: map[string]string{"firstname": "b"}}}, crm.Actor{})
		require.NoError(t, err)
		ch := b.pendingChange(t, old.ID)
		require.Equal(t, "cuu", ch.Events)
		require.Zero(t, ch.States[0].Seq)
		require.Zero(t, ch.States[1].Seq)
		require.NotZero(t, ch.States[2].Seq)
	})
}

func activeFlow(t *testing.T, b *testBundle, reenroll bool) crm.FlowRef {
	t.Helper()
	_, _, err := b.store.PutFlow(b.ctx, b.tenant, "wf", crm.Contacts, flowSrc, "ops@x.example")
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(b.ctx, b.tenant, "wf", crm.ActivateFlowParams{By: "ops@example.com"})
	require.NoError(t, err)
	return crm.FlowRef{Name: "wf", Revision: f.ActiveRevision, ObjectType: crm.Contacts, Reenrollment: reenroll}
}
func verdicts(v crm.Verdict, ids ...crm.RecordID) []crm.FlowVerdict {
	out := make([]crm.FlowVerdict, len(ids))
	for i, id := range ids {
		out[i] = crm.FlowVerdict{ID: id, Verdict: v}
	}
	return out
}
