package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

func TestAdminBinLinks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.admin(t, "tenant", "create", b.tenant, "--plan", "free")
	rdb := redistest.Client(t)
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	tn := crm.TenantID(b.tenant)
	by := crm.Actor{User: "ops@example.com"}
	ann, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"email": "ann@example.com"}}}, by)
	require.NoError(t, err)
	calls, err := st.CreateRecords(ctx, tn, crm.Calls, []crm.RecordInput{{Properties: map[string]string{"hs_call_body": "Ann's call"}}}, by)
	require.NoError(t, err)
	annRef := crm.AssociationRef{Type: crm.Contacts, ID: ann[0].ID}
	require.NoError(t, st.Associate(ctx, tn, annRef, crm.AssociationRef{Type: crm.Calls, ID: calls[0].ID}))
	_, err = st.ArchiveRecords(ctx, tn, crm.Calls, []crm.RecordID{calls[0].ID}, by)
	require.NoError(t, err)

	// A call binned before the bin links existed: as if its key were never written.
	key := redisstore.BinLinksKey(tn, crm.Contacts, ann[0].ID)
	want, err := rdb.SMembers(ctx, key).Result()
	require.NoError(t, err)
	require.Equal(t, []string{"calls:" + string(calls[0].ID)}, want)
	require.NoError(t, rdb.Del(ctx, key).Err())

	_, stderr := b.admin(t, "bin-links", b.tenant)
	require.Contains(t, stderr, "calls: 1 bin link added")
	require.Contains(t, stderr, "contacts: 0 bin links added")
	got, err := rdb.SMembers(ctx, key).Result()
	require.NoError(t, err)
	require.Equal(t, want, got)
	_, stderr = b.admin(t, "bin-links", b.tenant)
	require.Contains(t, stderr, "calls: 0 bin links added", "run again, it adds nothing")

	res, err := st.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{ID: ann[0].ID, By: "dpo@example.com"})
	require.NoError(t, err)
	require.Equal(t, 1, res.CallsErased)

	_, stderr, code := crmflow(t, nil, "admin", "bin-links", "no-such-tenant-"+b.tenant, "--redis", b.redisURL)
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "does not exist")
}

// On a Redis with no tenant, the commands that walk every tenant say there is nothing to do
// rather than nothing at all.
func TestAdminWalksOfNoTenantSaySo(t *testing.T) {
	t.Parallel()
	srv, err := redistest.StartServer("")
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	for cmd, what := range map[string]string{"bin-links": "nothing to index", "reindex": "nothing to reindex"} {
		_, stderr, code := crmflow(t, nil, "admin", cmd, "--redis", srv.URL)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stderr, "no tenant on this Redis: "+what, cmd)
	}
}
