package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// TestEveryWriteIsSeenWithRealProcesses: against `crmflow serve` and `crmflow worker`, a contact
// created and updated right after (the drain on write may run between the two or not) is judged
// write by write: a workflow on created sees the create only, one on updated the update only, and
// one on both enrolls when either matched.
func TestEveryWriteIsSeenWithRealProcesses(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	tenant, token := b.opsTenant(t)
	base := b.serveWithWorker(t)
	events := map[string]string{"on-create": "[created]", "on-update": "[updated]", "on-both": "[created, updated]"}
	for name, ev := range events {
		src := "name: " + name + "\nobject_type: contacts\ntrigger: email_bounced\nevents: " + ev + "\n" +
			"actions:\n  - type: delay\n    duration: 1d\n  - type: set_property\n    property: hs_lead_status\n    value: new\n"
		_, _, err := b.store.PutFlow(b.ctx, tenant, name, crm.Contacts, src, opsUser)
		require.NoError(t, err)
		code, body := call(t, http.MethodPost, base+"/automation/v4/flows/"+name+"/activate", token, map[string]any{})
		require.Equal(t, http.StatusOK, code, "body: %v", body)
	}
	write := func(first, then string) string {
		t.Helper()
		code, body := call(t, http.MethodPost, base+"/crm/v3/objects/contacts", token,
			map[string]any{"properties": map[string]string{"email_bounced": first}})
		require.Equal(t, http.StatusCreated, code, "body: %v", body)
		id := body["id"].(string)
		code, body = call(t, http.MethodPatch, base+"/crm/v3/objects/contacts/"+id, token,
			map[string]any{"properties": map[string]string{"email_bounced": then}})
		require.Equal(t, http.StatusOK, code, "body: %v", body)
		return id
	}
	missThenMatch := write("false", "true")
	matchThenMiss := write("true", "false")
	eventually(t, 30*time.Second, "every change drained", func() bool {
		n, err := b.rdb.ZCard(b.ctx, redisstore.ChangedKey(tenant)).Result()
		require.NoError(t, err)
		return n == 0
	})
	enrolled := func(flow, id string) bool {
		t.Helper()
		code, body := call(t, http.MethodGet, base+"/automation/v4/flows/"+flow+"/history?recordId="+id, token, nil)
		require.Equal(t, http.StatusOK, code, "body: %v", body)
		for _, e := range body["results"].([]any) {
			if e.(map[string]any)["kind"] == "enrolled" {
				return true
			}
		}
		return false
	}
	require.False(t, enrolled("on-create", missThenMatch), "created not matching: a later update does not count")
	require.True(t, enrolled("on-create", matchThenMiss), "created matching")
	require.True(t, enrolled("on-update", missThenMatch), "updated to match")
	require.False(t, enrolled("on-update", matchThenMiss), "updated to no longer match")
	require.True(t, enrolled("on-both", missThenMatch))
	require.True(t, enrolled("on-both", matchThenMiss))
}
