package crm

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestParseDatetime checks that the stored form's fast path reads exactly what time.Parse reads,
// and that everything else still goes through time.Parse's rules.
func TestParseDatetime(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		want := time.UnixMilli(r.Int64N(1 << 42)).UTC() // 1970 to 2109
		got, err := ParseDatetime(FormatDatetime(want))
		require.NoError(t, err)
		require.True(t, want.Equal(got), "%s read as %s", FormatDatetime(want), got)
		require.Equal(t, time.UTC, got.Location())
	}
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-02-29T23:59:59.999Z", time.Date(2024, 2, 29, 23, 59, 59, 999e6, time.UTC), true},
		{"2023-02-29T00:00:00.000Z", time.Time{}, false}, // not a leap year
		{"2024-04-31T00:00:00.000Z", time.Time{}, false},
		{"2024-13-01T00:00:00.000Z", time.Time{}, false},
		{"2024-01-01T24:00:00.000Z", time.Time{}, false},
		{"2024-01-01T00:60:00.000Z", time.Time{}, false},
		{"2024-01-01T00:00:00.0a0Z", time.Time{}, false},
		{"2024-01-01T00:00:00.000+", time.Time{}, false},
		{"+024-01-01T00:00:00.000Z", time.Time{}, false},
		{"2024-01-01T10:00:00+02:00", time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC), true},
		{" 2024-01-01T00:00:00.000Z ", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"2024-01-01", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"1700000000000", time.UnixMilli(1700000000000).UTC(), true},
		{"yesterday", time.Time{}, false},
		// Only times FormatDatetime writes in its four-digit form, which every reader takes back.
		{"253402300799999", time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC), true},
		{"253402300800000", time.Time{}, false},
		{"99999999999999999", time.Time{}, false},
		{"-62167219200000", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"-62167219200001", time.Time{}, false},
		{"9999-12-31T23:00:00-05:00", time.Time{}, false},
		{"0000-01-01T00:30:00+01:00", time.Time{}, false},
	} {
		got, err := ParseDatetime(tc.in)
		if !tc.ok {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.True(t, tc.want.Equal(got), "%q read as %s", tc.in, got)
		back, err := ParseDatetime(FormatDatetime(got))
		require.NoError(t, err, tc.in)
		require.True(t, got.Equal(back), "%q written as %s", tc.in, FormatDatetime(got))
	}
}

func BenchmarkParseDatetime(b *testing.B) {
	v := FormatDatetime(time.Date(2025, 7, 14, 9, 30, 0, 0, time.UTC))
	for b.Loop() {
		if _, err := ParseDatetime(v); err != nil {
			b.Fatal(err)
		}
	}
}
