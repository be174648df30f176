package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

func TestAdminReindex(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.admin(t, "tenant", "create", b.tenant, "--plan", "free")
	rdb := redistest.Client(t)
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	tn := crm.TenantID(b.tenant)
	var in []crm.RecordInput
	for range 1200 {
		in = append(in, crm.RecordInput{Properties: map[string]string{"lifecyclestage": "lead", "firstname": "Ada"}})
	}
	for i := 0; i < len(in); i += 100 {
		_, err := st.CreateRecords(ctx, tn, crm.Contacts, in[i:i+100], crm.Actor{User: "ops@example.com"})
		require.NoError(t, err)
	}
	lead := crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{{PropertyName: "lifecyclestage", Operator: crm.OpEQ, Value: "lead", HasValue: true}}}}
	count := func() int {
		res, err := st.Search(ctx, tn, crm.Contacts, lead)
		require.NoError(t, err)
		return res.Total
	}
	require.Equal(t, 1200, count())

	// Records written before their indexes existed: as if the index keys were never there.
	keys, err := rdb.Keys(ctx, "crm:{"+b.tenant+"}:ix*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	require.NoError(t, rdb.Del(ctx, keys...).Err())
	// A stale entry (an id that is not live) goes too.
	require.NoError(t, rdb.SAdd(ctx, redisstore.SearchValueKey(tn, crm.Contacts, "lifecyclestage", "customer"), "999999").Err())
	require.Equal(t, 0, count())

	_, stderr := b.admin(t, "reindex", b.tenant)
	require.Contains(t, stderr, "contacts: 1200 records indexed")
	require.Contains(t, stderr, "deals: 0 records indexed")
	require.Equal(t, 1200, count())
	after, err := rdb.Keys(ctx, "crm:{"+b.tenant+"}:ix*").Result()
	require.NoError(t, err)
	require.ElementsMatch(t, keys, after)

	_, stderr, code := crmflow(t, nil, "admin", "reindex", b.tenant, "--type", "unicorns", "--redis", b.redisURL)
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `no object type "unicorns"`)
}
