package worker_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

const day = 24 * time.Hour

// untilCloseDate is a contact workflow that, once a bounced contact enrolls, waits until its
// closedate and then sets its lead status.
const untilCloseDate = "name: wf\nobject_type: contacts\ntrigger: email_bounced\n" +
	"actions:\n  - type: delay\n    until: closedate\n  - type: set_property\n    property: hs_lead_status\n    value: new\n"

// waitingUntil sets up a contact waiting in untilCloseDate for its closedate, 10 days after
// tFuture; it returns the bundle and the contact.
func waitingUntil(t *testing.T) (*flowBundle, crm.RecordID) {
	t.Helper()
	b := setupFlows(t, 0)
	_, err := b.store.CreateProperty(b.ctx, b.tenant, crm.Contacts, crm.Property{Name: "closedate", Label: "Close date", Type: crm.TypeDatetime}, "ops@x.example")
	require.NoError(t, err)
	b.activate(t, "wf", untilCloseDate)
	id := b.contact(t, map[string]string{"email_bounced": "true", "closedate": dateAt(10 * day)})
	b.drain(t)
	enr := b.enrollment(t, "wf", id)
	require.Equal(t, crm.Enrolled, enr.State)
	require.Equal(t, 1, enr.Step, "waiting in the delay")
	require.True(t, enr.Due.Equal(tFuture.Add(10*day)), "due %s", enr.Due)
	return b, id
}

// dateAt writes the time d after tFuture as a datetime property value.
func dateAt(d time.Duration) string { return tFuture.Add(d).Format(time.RFC3339) }

// stepRuns returns how many times step 1 of wf ran on id (its history's action entries).
func (b *flowBundle) stepRuns(t *testing.T, id crm.RecordID) int {
	t.Helper()
	n := 0
	for _, e := range b.history(t, "wf", id) {
		if e.Kind == "action" && e.Step != nil && *e.Step == 1 {
			n++
		}
	}
	return n
}

// requireWaiting checks that id still waits in the delay: its next step has not run.
func (b *flowBundle) requireWaiting(t *testing.T, id crm.RecordID) {
	t.Helper()
	require.Empty(t, b.live(t, id).Properties["hs_lead_status"], "the step after the delay ran")
	require.Equal(t, 0, b.stepRuns(t, id))
	enr := b.enrollment(t, "wf", id)
	require.Equal(t, crm.Enrolled, enr.State)
	require.Equal(t, 1, enr.Step)
}

// requireRanOnce checks that id's step after the delay ran, once.
func (b *flowBundle) requireRanOnce(t *testing.T, id crm.RecordID) {
	t.Helper()
	require.Equal(t, "new", b.live(t, id).Properties["hs_lead_status"])
	require.Equal(t, 1, b.stepRuns(t, id))
	require.Equal(t, crm.Completed, b.enrollment(t, "wf", id).State)
}

// TestDelayUntilFollowsTheDate: a record waiting in a delay until a date property follows writes
// to that property: a date pushed later runs the next step at the new date and not at the old one,
// a date moved earlier runs it at that date, and a date moved into the past or cleared runs it on
// the drain of the write. Each runs it once.
func TestDelayUntilFollowsTheDate(t *testing.T) {
	t.Parallel()

	t.Run("PushedLater", func(t *testing.T) {
		t.Parallel()
		b, id := waitingUntil(t)
		b.clock.Advance(time.Hour)
		b.update(t, id, map[string]string{"closedate": dateAt(20 * day)})
		b.drain(t)
		require.True(t, b.enrollment(t, "wf", id).Due.Equal(tFuture.Add(20*day)))
		var wakes []time.Time
		for _, ti := range b.scheduledSteps(t) {
			wakes = append(wakes, ti.NextProcessAt.UTC())
		}
		slices.SortFunc(wakes, time.Time.Compare)
		require.Equal(t, []time.Time{tFuture.Add(10 * day), tFuture.Add(20 * day)}, wakes,
			"the drain schedules the new date beside the wake of the date read before, which finds the step not due")

		b.clock.Set(tFuture.Add(11 * day))
		b.runTasks(t)
		b.requireWaiting(t, id)

		b.clock.Set(tFuture.Add(21 * day))
		b.runTasks(t)
		b.requireRanOnce(t, id)
	})

	t.Run("MovedEarlier", func(t *testing.T) {
		t.Parallel()
		b, id := waitingUntil(t)
		b.clock.Advance(time.Hour)
		b.update(t, id, map[string]string{"closedate": dateAt(5 * day)})
		b.drain(t)
		b.clock.Set(tFuture.Add(4 * day))
		b.runTasks(t)
		b.requireWaiting(t, id)

		b.clock.Set(tFuture.Add(6 * day))
		b.runTasks(t)
		b.requireRanOnce(t, id)
		b.clock.Set(tFuture.Add(11 * day)) // the wake of the date read before
		b.runTasks(t)
		b.requireRanOnce(t, id)
	})

	for _, tc := range []struct{ name, date string }{
		{name: "MovedToYesterday", date: dateAt(-day)},
		{name: "Cleared", date: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, id := waitingUntil(t)
			b.clock.Advance(time.Hour)
			b.update(t, id, map[string]string{"closedate": tc.date})
			b.drain(t) // runs the tasks due now, not the wake at day 10
			b.requireRanOnce(t, id)

			b.clock.Set(tFuture.Add(11 * day))
			b.runTasks(t)
			b.requireRanOnce(t, id)
		})
	}
}

// TestDelayUntilIgnoresOtherProperties: a write to another property of a record waiting in a delay
// until a date moves nothing: its step stays due at the date, with the same task.
func TestDelayUntilIgnoresOtherProperties(t *testing.T) {
	t.Parallel()
	b, id := waitingUntil(t)
	scheduled := func() []string {
		var out []string
		for _, ti := range b.scheduledSteps(t) {
			out = append(out, ti.ID+" "+ti.NextProcessAt.UTC().String())
		}
		slices.Sort(out)
		return out
	}
	before := scheduled()
	require.Len(t, before, 1)

	b.clock.Advance(time.Hour)
	b.update(t, id, map[string]string{"firstname": "Ann"})
	b.drain(t)
	require.Equal(t, before, scheduled())
	require.True(t, b.enrollment(t, "wf", id).Due.Equal(tFuture.Add(10*day)))

	b.clock.Set(tFuture.Add(10*day - time.Minute))
	b.runTasks(t)
	b.requireWaiting(t, id)
	b.clock.Set(tFuture.Add(10*day + time.Second))
	b.runTasks(t)
	b.requireRanOnce(t, id)
}

// TestDelayUntilStaleWakeWaitsForTheNewDate: when the wake of the date read before comes before
// any drain has seen the write that pushed the date later (the drain stopped, or has not run yet),
// the step finds the new date still to come: it does not run, and runs once at the new date.
func TestDelayUntilStaleWakeWaitsForTheNewDate(t *testing.T) {
	t.Parallel()
	b, id := waitingUntil(t)
	b.clock.Advance(time.Hour)
	b.update(t, id, map[string]string{"closedate": dateAt(20 * day)})

	b.clock.Set(tFuture.Add(11 * day))
	b.runScheduledSteps(t) // the step only, not the drain
	b.requireWaiting(t, id)
	require.True(t, b.enrollment(t, "wf", id).Due.Equal(tFuture.Add(20*day)), "the store holds the new date")
	steps := b.scheduledSteps(t)
	require.Len(t, steps, 1)
	require.True(t, steps[0].NextProcessAt.Equal(tFuture.Add(20*day)), "scheduled at %s", steps[0].NextProcessAt)

	b.drain(t)
	b.requireWaiting(t, id)
	b.clock.Set(tFuture.Add(21 * day))
	b.runTasks(t)
	b.requireRanOnce(t, id)
}
