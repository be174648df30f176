package redisstore_test

import (
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// TestSearchWalksALargeValueByID pages one value held by more records than the budget through the
// live records in id order, on every backend (the embedded server runs the same script): the
// pages the budget reaches come in the order of the value's sorted set, and the next is refused.
func TestSearchWalksALargeValueByID(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		var in []crm.RecordInput
		for i := 1; i <= 12; i++ {
			stage := "customer"
			if i%2 == 1 {
				stage = "lead"
			}
			in = append(in, crm.RecordInput{Properties: map[string]string{"lifecyclestage": stage}})
		}
		recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, in, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
		require.Equal(t, crm.RecordID("12"), recs[11].ID)
		small, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, SearchWorkBudget: 5})
		require.NoError(t, err)
		lead := [][]crm.SearchFilter{{{PropertyName: "lifecyclestage", Operator: crm.OpEQ, Value: "lead", HasValue: true}}}
		search := func(st *redisstore.Store, desc bool, after, limit int) (crm.SearchResult, error) {
			p := crm.SearchParams{FilterGroups: lead, After: after, Limit: limit}
			if desc {
				p.Sorts = []crm.SearchSort{{PropertyName: "hs_object_id", Descending: true}}
			}
			return st.Search(b.ctx, b.tenant, crm.Contacts, p)
		}
		ids := func(res crm.SearchResult) []string {
			var out []string
			for _, r := range res.Records {
				out = append(out, string(r.ID))
			}
			return out
		}
		// Five contacts read hold three leads from the first (1, 3, 5) and two from the last (11, 9).
		for _, tc := range []struct {
			desc      bool
			reachable int
		}{{false, 3}, {true, 2}} {
			all, err := search(b.store, tc.desc, 0, 6) // within the default budget: SORT of the set
			require.NoError(t, err)
			require.Equal(t, 6, all.Total)
			var seen []string
			for after := 0; after < tc.reachable; after++ {
				res, err := search(small, tc.desc, after, 1)
				require.NoError(t, err, "after %d", after)
				require.Equal(t, 6, res.Total)
				require.Equal(t, strconv.Itoa(after+1), res.After)
				seen = append(seen, ids(res)...)
			}
			require.Equal(t, ids(all)[:tc.reachable], seen, "descending: %v", tc.desc)
			_, err = search(small, tc.desc, tc.reachable, 1)
			var ve *crm.ValidationError
			require.ErrorAs(t, err, &ve, "descending: %v", tc.desc)
			require.Equal(t, "SEARCH_TOO_BROAD", ve.Code)
		}
	})
}

// TestIndexScoresOfDatetimesAndNumbers pins the score each write gives a datetime (unix ms) and a
// number in its search index, across the years and values a property may hold, on every backend.
func TestIndexScoresOfDatetimesAndNumbers(t *testing.T) {
	t.Parallel()
	datetimes := []string{
		"0000-01-01T00:00:00.000Z", "0000-02-29T23:59:59.999Z", "0001-03-01T00:00:00.001Z", "1600-02-29T12:00:00.000Z",
		"1899-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00.001Z",
		"2000-02-29T12:34:56.789Z", "2024-01-01T00:00:00Z", "2024-04-30T08:09:10.011Z", "2100-02-28T23:00:00.000Z",
		"2100-03-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z",
	}
	numbers := []string{"0", "-0", "1", "-7", "42", "3.5", "0.1", "-2.25", "1796677672882", "9007199254740991",
		"9007199254740993", "123456789012345678", "-0.000001"}
	eachBackend(t, func(t *testing.T, b *testBundle) {
		var in []crm.RecordInput
		for _, d := range datetimes {
			in = append(in, crm.RecordInput{Properties: map[string]string{"last_activity_date": d}})
		}
		for _, n := range numbers {
			in = append(in, crm.RecordInput{Properties: map[string]string{"num_notes": n}})
		}
		recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, in, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
		for i, r := range recs {
			if d := in[i].Properties["last_activity_date"]; d != "" {
				at, err := crm.ParseDatetime(d)
				require.NoError(t, err)
				got, err := b.rdb.ZScore(b.ctx, redisstore.SearchIndexKey(b.tenant, crm.Contacts, "last_activity_date"), string(r.ID)).Result()
				require.NoError(t, err, d)
				require.Equal(t, float64(at.UnixMilli()), got, d)
			}
			if n := in[i].Properties["num_notes"]; n != "" {
				want, err := strconv.ParseFloat(n, 64)
				require.NoError(t, err)
				got, err := b.rdb.ZScore(b.ctx, redisstore.SearchIndexKey(b.tenant, crm.Contacts, "num_notes"), string(r.ID)).Result()
				require.NoError(t, err, n)
				require.Equal(t, want, got, n)
			}
		}
	})
}

// TestDateScoreAsTheScripts: the score a create sends for a datetime or date (DateScore) is the
// text the scripts' ix_score makes of it, and DateScore leaves to the script every value it does
// not read as a real day and time, on every backend.
func TestDateScoreAsTheScripts(t *testing.T) {
	t.Parallel()
	values := []string{
		"0000-01-01T00:00:00.000Z", "0000-02-29T23:59:59.999Z", "0001-03-01T00:00:00.001Z", "1600-02-29T12:00:00.000Z",
		"1899-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00.001Z",
		"2000-02-29T12:34:56.789Z", "2024-04-30T08:09:10.011Z", "2100-02-28T23:00:00.000Z", "9999-12-31T23:59:59.999Z",
		"0000-01-01", "1969-12-31", "1970-01-01", "2024-02-29", "9999-12-31",
		// Read by the scripts alone (month 13, February 30th, hour 24), or by neither.
		"2024-13-01T00:00:00.000Z", "2023-02-29T00:00:00.000Z", "2024-01-01T24:00:00.000Z", "2024-02-30",
		"2024-01-01T00:00:00Z", "2024-01-0aT00:00:00.000Z", "x", "",
	}
	src := redisstore.LuaSource("helpers") + "\n" + redisstore.LuaSource("index") + "\nreturn ix_score('d', ARGV[1]) or false\n"
	eachBackend(t, func(t *testing.T, b *testBundle) {
		for _, v := range values {
			lua, err := b.rdb.Eval(b.ctx, src, nil, v).Result()
			if err != nil {
				require.ErrorIs(t, err, redis.Nil, v)
			}
			got, ok := redisstore.DateScore(v)
			if !ok {
				continue
			}
			require.Equal(t, lua, got, v)
		}
		_, ok := redisstore.DateScore("2024-13-01T00:00:00.000Z")
		require.False(t, ok)
	})
}
