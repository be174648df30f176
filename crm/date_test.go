package crm

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestParseDate checks the forms a date property takes (HubSpot's: YYYY-MM-DD, or unix ms at
// midnight UTC), the reason given for each it refuses, and that what FormatDate writes reads back,
// through ParseDate and through ParseDatetime (how triggers read it) alike.
func TestParseDate(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for range 5_000 {
		want := time.UnixMilli(r.Int64N(1 << 42)).UTC().Truncate(24 * time.Hour)
		for _, in := range []string{FormatDate(want), FormatDate(want.Add(23 * time.Hour))} {
			got, err := ParseDate(in)
			require.NoError(t, err)
			require.True(t, want.Equal(got), "%s read as %s", in, got)
			dt, err := ParseDatetime(in)
			require.NoError(t, err)
			require.True(t, want.Equal(dt), "%s read as the datetime %s", in, dt)
		}
	}
	for _, tc := range []struct {
		in     string
		want   string // as FormatDate writes it; "" when refused
		reason string // a part of the refusal's reason
	}{
		{"2027-05-01", "2027-05-01", ""},
		{" 2027-05-01 ", "2027-05-01", ""},
		{"2024-02-29", "2024-02-29", ""},
		{"1809129600000", "2027-05-01", ""},
		{"0000-01-01", "0000-01-01", ""},
		{"-62167219200000", "0000-01-01", ""},
		{"253402214400000", "9999-12-31", ""},
		{"1809165600000", "", "are 2027-05-01T10:00:00.000Z, not midnight UTC"},
		{"1809165600000", "", "2027-05-01 at 00:00 UTC, 1809129600000"},
		{"2027-05-01T10:00:00Z", "", "it is a datetime, and a date holds a day without a time: write the day alone, 2027-05-01"},
		{"2027-05-01T00:00:00.000Z", "", "it is a datetime"},
		{"2027-02-30", "", "2027-02-30 is not a day of the calendar"},
		{"2023-02-29", "", "not a day of the calendar"},
		{"2027-13-01", "", "not a day of the calendar"},
		{"2027-02-30T00:00:00Z", "", "2027-02-30 is not a day of the calendar"},
		{"05/01/2027", "", "neither a day written as YYYY-MM-DD nor unix milliseconds"},
		{"2027-5-1", "", "neither"},
		{"1809129600000.0", "", "neither"},
		{"tomorrow", "", "neither"},
		{"253402300800000", "", "outside the years 0000 to 9999"},
		{"-62167219200001", "", "outside the years 0000 to 9999"},
	} {
		got, err := ParseDate(tc.in)
		if tc.want != "" {
			require.NoError(t, err, tc.in)
			require.Equal(t, tc.want, FormatDate(got), tc.in)
			require.Equal(t, time.UTC, got.Location())
			continue
		}
		var de *DateError
		require.True(t, errors.As(err, &de), "%q: %v", tc.in, err)
		require.Equal(t, tc.in, de.Value)
		require.Contains(t, de.Reason, tc.reason, tc.in)
		require.Contains(t, err.Error(), DateForms)
	}
}

// TestNormalizeDate checks a date property's values as records write them: stored as YYYY-MM-DD,
// and each refusal an INVALID_DATE naming the property, the value, what is wrong and the forms
// it takes.
func TestNormalizeDate(t *testing.T) {
	t.Parallel()
	s := Schema{Type: "subscriptions", Properties: map[string]Property{
		"renewal": {Name: "renewal", Label: "Renewal", Type: TypeDate},
		"seats":   {Name: "seats", Label: "Seats", Type: TypeNumber},
	}}
	got, err := s.Normalize(map[string]string{"renewal": "1809129600000", "seats": "3"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"renewal": "2027-05-01", "seats": "3"}, got)
	got, err = s.Normalize(map[string]string{"renewal": ""})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"renewal": ""}, got, "an empty value clears it")

	_, err = s.Normalize(map[string]string{"renewal": "2027-05-01T10:00:00Z", "seats": "3"})
	var ves ValidationErrors
	require.True(t, errors.As(err, &ves), "%v", err)
	require.Len(t, ves, 1)
	require.Equal(t, "renewal", ves[0].Field)
	require.Equal(t, "INVALID_DATE", ves[0].Code)
	require.Equal(t, `property "renewal": "2027-05-01T10:00:00Z" is not a valid date: it is a datetime, and a date holds a day without a time: write the day alone, 2027-05-01; `+DateForms,
		ves[0].Message)
}

// TestDateProperty checks that date is a property type of its own, indexed as datetimes are and
// never unique.
func TestDateProperty(t *testing.T) {
	t.Parallel()
	p := Property{Name: "renewal", Label: "Renewal", Type: TypeDate}
	require.NoError(t, p.Validate())
	idx := SearchIndexes(Schema{Type: Contacts, Properties: map[string]Property{"renewal": p}})
	var got []IndexedProperty
	for _, ip := range idx {
		if ip.Name == "renewal" {
			got = append(got, ip)
		}
	}
	require.Equal(t, []IndexedProperty{{Name: "renewal", Kind: IndexScore, Type: TypeDate, Field: "renewal"}}, got)
	p.Unique = true
	err := p.Validate()
	var ves ValidationErrors
	require.True(t, errors.As(err, &ves), "%v", err)
	require.Equal(t, "INVALID_UNIQUE_TYPE", ves[0].Code)
}

// TestDateErrorEchoesLittle: a refused date names what was sent, cut short when long, so that a
// value of 64 KiB does not make a message of 64 KiB.
func TestDateErrorEchoesLittle(t *testing.T) {
	t.Parallel()
	_, err := ParseDate("2026-" + strings.Repeat("x", 5000))
	require.Error(t, err)
	require.Contains(t, err.Error(), `"2026-xxxx`)
	require.Less(t, len(err.Error()), 500, err.Error())
}
