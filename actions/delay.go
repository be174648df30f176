package actions

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// MaxDelay is the longest delay a workflow may wait: three years.
const MaxDelay = 3 * 366 * 24 * time.Hour

func delayDef() Definition {
	return Definition{
		Name:    "delay",
		Summary: "Waits before the next action: for a duration, or until the time in a datetime or date property of the record.",
		Params: []Param{
			{Name: "duration", Doc: `how long to wait: a number and a unit (d days, h hours, m minutes, s seconds), combined as in "1d12h"; give duration or until`},
			{Name: "until", Doc: "a datetime or date property of the record: wait until its time (a date's midnight UTC; no wait when it is unset or past); give duration or until"},
		},
		Configure: configureDelay,
	}
}

func configureDelay(p Params, schema crm.Schema) (Step, error) {
	dur, hasDur := p["duration"]
	until, hasUntil := p["until"]
	switch {
	case hasDur && hasUntil:
		return nil, FieldErrors{{Path: "until", Message: "delay takes duration or until, not both: remove one"}}
	case !hasDur && !hasUntil:
		return nil, FieldErrors{{Message: `delay needs duration (such as "3d") or until (a datetime or date property)`}}
	case hasDur:
		d, err := ParseDuration(dur)
		if err != nil {
			return nil, FieldErrors{{Path: "duration", Message: err.Error()}}
		}
		return Delay{Duration: d}, nil
	}
	prop, ok := schema.Properties[until]
	if !ok {
		return nil, FieldErrors{{Path: "until", Message: unknownPropertyMessage(until, schema), Unknown: until}}
	}
	if prop.Type != crm.TypeDatetime && prop.Type != crm.TypeDate {
		return nil, FieldErrors{{Path: "until", Message: fmt.Sprintf("property %q is %s: delay until needs a datetime or date property", until, prop.Type.WithArticle())}}
	}
	return Delay{Until: until}, nil
}

var durationTokenRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ms|d|h|m|s)`)

// ParseDuration parses a delay such as "3d", "12h", "90m", "1d12h" or "1.5d": Go's durations
// (time.ParseDuration, units h, m, s and ms) plus d for a day of 24 hours. The result is positive
// and at most MaxDelay; anything else is an error saying how to write one.
func ParseDuration(s string) (time.Duration, error) {
	bad := func(why string) error {
		return fmt.Errorf("duration %q is invalid: %s; write a number and a unit (d, h, m or s), such as 3d, 12h, 90m or 1d12h", s, why)
	}
	rest := strings.TrimSpace(s)
	if rest == "" {
		return 0, bad("it is empty")
	}
	if rest[0] == '-' || rest[0] == '+' {
		return 0, bad("a delay cannot be negative or signed")
	}
	var total float64
	for rest != "" {
		m := durationTokenRE.FindStringSubmatch(rest)
		if m == nil {
			if _, err := strconv.ParseFloat(rest, 64); err == nil {
				return 0, bad("the unit is missing")
			}
			return 0, bad(fmt.Sprintf("%q is not a number with a unit", rest))
		}
		n, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, bad(err.Error())
		}
		unit := map[string]time.Duration{"d": 24 * time.Hour, "h": time.Hour, "m": time.Minute, "s": time.Second, "ms": time.Millisecond}[m[2]]
		total += n * float64(unit)
		rest = rest[len(m[0]):]
		if total > float64(MaxDelay) {
			return 0, fmt.Errorf("duration %q is longer than the %d-day maximum: use a trigger on a date property instead", s, MaxDelay/(24*time.Hour))
		}
	}
	d := time.Duration(math.Round(total))
	if d <= 0 {
		return 0, bad("it must be longer than zero")
	}
	return d, nil
}

// Delay is the delay step: it waits Duration, or until the time in the datetime or date property
// Until (a date's midnight UTC).
type Delay struct {
	Duration time.Duration
	Until    string
}

// Due returns when the step after the delay may run, for a delay that starts at now: now plus
// Duration, or the date in rec's Until property. An unset or unreadable date, or one already past,
// gives now: the next step runs at once. Due is pure.
func (s Delay) Due(rec crm.Record, now time.Time) time.Time {
	if s.Until == "" {
		return now.Add(s.Duration)
	}
	t, err := crm.ParseDatetime(rec.Properties[s.Until])
	if err != nil || t.Before(now) {
		return now
	}
	return t
}

// Bind implements Step. The action changes nothing: it returns OutcomeWait with Until set to Due
// at the clock's now. The engine schedules the next step at that time; for a delay until a date,
// a date written while the record waits moves it (see engine.FollowDates).
func (s Delay) Bind(deps Deps, _ Invocation) Action {
	return Func(func(_ context.Context, _ crm.TenantID, rec crm.Record) (Result, error) {
		if deps.Clock == nil {
			return Result{}, errors.New("actions: Deps.Clock is nil")
		}
		now := deps.Clock.Now()
		due := s.Due(rec, now)
		detail := "wait " + formatDuration(s.Duration)
		if s.Until != "" {
			detail = "wait until " + s.Until
			if !due.After(now) {
				detail = s.Until + " is unset or past: no wait"
			}
		}
		return Result{Outcome: OutcomeWait, Detail: detail, Until: due}, nil
	})
}

// formatDuration writes d with days, as ParseDuration reads it: "3d", "1d12h0m0s".
func formatDuration(d time.Duration) string {
	day := 24 * time.Hour
	if d >= day {
		days := d / day
		if rest := d - days*day; rest != 0 {
			return fmt.Sprintf("%dd%s", days, rest)
		}
		return fmt.Sprintf("%dd", days)
	}
	return d.String()
}
