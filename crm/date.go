package crm

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DateForms says how to write a value of a date property (TypeDate), as HubSpot takes one: the
// day as YYYY-MM-DD, or unix milliseconds at that day's midnight UTC.
const DateForms = "use a day as YYYY-MM-DD (2026-01-31) or unix milliseconds at midnight UTC (1769817600000), in the years 0000 to 9999"

// DateError is the refusal of a value that is not a date (ParseDate).
type DateError struct {
	// Value is the value as given.
	Value string
	// Reason says what is wrong with it: a time of day, a day the calendar lacks, another layout.
	Reason string
}

func (e *DateError) Error() string {
	return fmt.Sprintf("%s is not a date: %s; %s", Echo(e.Value), e.Reason, DateForms)
}

// ParseDate parses a value of a date property (TypeDate), a calendar day without a time, as
// HubSpot takes one: the day as YYYY-MM-DD (the form FormatDate writes), or unix milliseconds at
// its midnight UTC (HubSpot's stored form), in the years 0000 to 9999. It returns the day's
// midnight UTC. Anything else is a *DateError saying what is wrong: a time of day (RFC 3339, or
// milliseconds past midnight UTC), a day the calendar lacks (2027-02-30), another layout
// (05/01/2027).
func ParseDate(v string) (time.Time, error) {
	s := strings.TrimSpace(v)
	if t, ok := parseStoredDate(s); ok {
		return t, nil
	}
	bad := func(format string, args ...any) (time.Time, error) {
		return time.Time{}, &DateError{Value: v, Reason: fmt.Sprintf(format, args...)}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		t := time.UnixMilli(ms).UTC()
		if y := t.Year(); y < 0 || y > 9999 {
			return bad("unix milliseconds %d are outside the years 0000 to 9999", ms)
		}
		if t != t.Truncate(24*time.Hour) {
			return bad("unix milliseconds %d are %s, not midnight UTC, and a date holds a day without a time: give the milliseconds of %s at 00:00 UTC, %d",
				ms, FormatDatetime(t), FormatDate(t), t.Truncate(24*time.Hour).UnixMilli())
		}
		return t, nil
	}
	if len(s) >= 10 && s[4] == '-' && s[7] == '-' {
		if _, err := parseDatetime(s); err == nil {
			return bad("it is a datetime, and a date holds a day without a time: write the day alone, %s", s[:10])
		}
		if _, ok := parseStoredDate(s[:10]); !ok && isDigits(s[:4]) && isDigits(s[5:7]) && isDigits(s[8:10]) {
			return bad("%s is not a day of the calendar (check the month and the day)", s[:10])
		}
	}
	return bad("it is neither a day written as YYYY-MM-DD nor unix milliseconds")
}

// FormatDate formats t's day (in UTC) as a date property stores it, and HubSpot's v3 objects API
// answers it: YYYY-MM-DD.
func FormatDate(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// parseStoredDate reads the form FormatDate writes, 2006-01-02, without time.Parse (triggers read
// every stored date they name); ok is false for anything else, a day the calendar lacks too.
func parseStoredDate(v string) (t time.Time, ok bool) {
	if len(v) != 10 || v[4] != '-' || v[7] != '-' {
		return t, false
	}
	y, mo, d := digits(v[0:4]), digits(v[5:7]), digits(v[8:10])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return t, false
	}
	t = time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // February 30th and the like
		return time.Time{}, false
	}
	return t, true
}

// digits returns the number the ASCII digits s spell, or -1 when s holds anything else.
func digits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return -1
		}
		n = n*10 + int(c)
	}
	return n
}

func isDigits(s string) bool { return s != "" && digits(s) >= 0 }
