package redisstore_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

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
