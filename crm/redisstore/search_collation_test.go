package redisstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// TestSearchComparesTextByBytesUnderAnyCollation: Redis applies the collation of its environment
// to Lua's < on strings, and a Redis started by systemd gets the machine's locale. Under
// en_US.UTF-8, a search run in one script call must still order text, and test text ranges, byte by
// byte, as the text indexes and a search run in slices do: the same search must not answer another
// order or other records as the tenant grows.
func TestSearchComparesTextByBytesUnderAnyCollation(t *testing.T) {
	t.Parallel()
	srv, err := redistest.StartServerEnv("", redistest.Locale(t, "en_US.UTF-8"))
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	opt, err := redis.ParseURL(srv.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	collates, err := rdb.Eval(ctx, "return tostring('a' < 'B')", nil).Text()
	require.NoError(t, err)
	require.Equal(t, "true", collates, "the server collates as en_US.UTF-8 does (else this test proves nothing)")

	b := setupOn(t, rdb)
	tn := b.tenant
	one, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, SearchCallWork: 1 << 30})
	require.NoError(t, err)
	sliced, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, SearchCallWork: 8})
	require.NoError(t, err)

	names := []string{"ab", "a-c", "a b", "Zed", "zebra", "\u00e9clair", "e", "o'neil", "oa", "Ab", "B", "a"}
	in := make([]crm.RecordInput, len(names))
	for i, n := range names {
		in[i] = crm.RecordInput{Properties: map[string]string{
			"firstname": n, "lastname": "same", "email": fmt.Sprintf("c%d@collation.example", i)}}
	}
	recs, err := one.CreateRecords(ctx, tn, crm.Contacts, in, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)

	// What byte order gives: the names without ASCII case, ties by id as text.
	type rec struct{ id, key string }
	all := make([]rec, len(recs))
	for i, r := range recs {
		all[i] = rec{string(r.ID), strings.Map(func(c rune) rune {
			if c >= 'A' && c <= 'Z' {
				return c + 32
			}
			return c
		}, names[i])}
	}
	byBytes := func(desc bool, keep func(string) bool) []string {
		var ids []rec
		for _, r := range all {
			if keep(r.key) {
				ids = append(ids, r)
			}
		}
		slices.SortFunc(ids, func(a, b rec) int {
			c := strings.Compare(a.key, b.key)
			if c == 0 {
				c = strings.Compare(a.id, b.id)
			}
			if desc {
				c = -c
			}
			return c
		})
		out := make([]string, len(ids))
		for i, r := range ids {
			out[i] = r.id
		}
		return out
	}
	every := func(string) bool { return true }
	search := func(st *redisstore.Store, p crm.SearchParams) []string {
		t.Helper()
		p.Limit = 100
		res, err := st.Search(ctx, tn, crm.Contacts, p)
		require.NoError(t, err, "%+v", p)
		ids := make([]string, len(res.Records))
		for i, r := range res.Records {
			ids[i] = string(r.ID)
		}
		return ids
	}
	sorted := func(desc bool) []crm.SearchSort {
		return []crm.SearchSort{{PropertyName: "firstname", Descending: desc}}
	}
	same := sf("lastname", crm.OpEQ, "same")
	for _, desc := range []bool{false, true} {
		want := byBytes(desc, every)
		// Through the text index's order (one filter, or none), in one general call (two filters) and in slices.
		require.Equal(t, want, search(one, crm.SearchParams{Sorts: sorted(desc)}), "sorted by the index, descending %v", desc)
		general := crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{same, sf("firstname", crm.OpHasProperty, "")}}, Sorts: sorted(desc)}
		require.Equal(t, want, search(one, general), "sorted in one call, descending %v", desc)
		require.Equal(t, want, search(sliced, general), "sorted in slices, descending %v", desc)
	}
	for _, f := range []crm.SearchFilter{
		sf("firstname", crm.OpGT, "a-c"), sf("firstname", crm.OpLT, "b"), sf("firstname", crm.OpGTE, "ab"),
		sf("firstname", crm.OpLTE, "o'neil"), {PropertyName: "firstname", Operator: crm.OpBetween, Value: "a b", HighValue: "e", HasValue: true, HasHighValue: true},
	} {
		lo, hi := strings.ToLower(f.Value), strings.ToLower(f.HighValue)
		keep := map[crm.SearchOperator]func(string) bool{
			crm.OpGT: func(k string) bool { return k > lo }, crm.OpLT: func(k string) bool { return k < lo },
			crm.OpGTE: func(k string) bool { return k >= lo }, crm.OpLTE: func(k string) bool { return k <= lo },
			crm.OpBetween: func(k string) bool { return k >= lo && k <= hi },
		}[f.Operator]
		want := byBytes(false, keep)
		require.NotEmpty(t, want)
		require.Equal(t, want, search(one, crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{f}}, Sorts: sorted(false)}), "%s %q by the index", f.Operator, f.Value)
		require.Equal(t, want, search(one, crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{same, f}}, Sorts: sorted(false)}), "%s %q in one call", f.Operator, f.Value)
		require.Equal(t, want, search(sliced, crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{same, f}}, Sorts: sorted(false)}), "%s %q in slices", f.Operator, f.Value)
	}
}
