package engine

import (
	"time"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/workflows"
)

// untilDelayBefore returns the delay until a date property that step `step` of wf comes after, or
// nil when the step before it is no such delay.
func untilDelayBefore(wf *workflows.Workflow, step int) *actions.Delay {
	if step < 1 || step > len(wf.Actions) || wf.Actions[step-1].Action == nil {
		return nil
	}
	var d actions.Delay
	switch s := wf.Actions[step-1].Action.Step.(type) {
	case actions.Delay:
		d = s
	case *actions.Delay:
		d = *s
	default:
		return nil
	}
	if d.Until == "" {
		return nil
	}
	return &d
}

// FollowsDates reports whether wf has a delay until a date property followed by a step: the records
// waiting there follow writes to that property (see FollowDates). FollowsDates is pure.
func FollowsDates(wf *workflows.Workflow) bool {
	for step := 1; step < len(wf.Actions); step++ {
		if untilDelayBefore(wf, step) != nil {
			return true
		}
	}
	return false
}

// FollowDates decides, for the records of enrs enrolled in wf at revision rev and waiting at the
// step after a delay until a date property, whether the date as recs hold it now moves their next
// step (recs are the live records; one not among them is left alone):
//
//   - a date still to come that is not the one the step is due at moves it to that date, later or
//     earlier;
//   - a date cleared, unreadable or gone by moves a step still to come to now: it runs at once, as
//     the delay step itself would have decided;
//   - otherwise nothing moves: a write to another property leaves the step where it is, and a step
//     already due stays due.
//
// It returns the moves, for the store (EnrollmentStore.RescheduleSteps), which moves each only if
// the record still waits at that step of that enrollment. FollowDates is pure.
func FollowDates(wf *workflows.Workflow, rev int64, enrs []crm.Enrollment, recs map[crm.RecordID]crm.Record, now time.Time) []crm.StepDue {
	var out []crm.StepDue
	for _, e := range enrs {
		if e.State != crm.Enrolled || e.Revision != rev || e.Due.IsZero() {
			continue
		}
		d := untilDelayBefore(wf, e.Step)
		if d == nil {
			continue
		}
		rec, ok := recs[e.ID]
		if !ok {
			continue
		}
		due := d.Due(rec, now)
		switch {
		case due.After(now) && due.UnixMilli() != e.Due.UnixMilli():
			out = append(out, crm.StepDue{ID: e.ID, Step: e.Step, Count: e.Count, Due: due})
		case !due.After(now) && e.Due.After(now):
			out = append(out, crm.StepDue{ID: e.ID, Step: e.Step, Count: e.Count, Due: now})
		}
	}
	return out
}

// NotYetDue returns, of the records ids whose step `step` of wf is about to run, those whose step
// comes after a delay until a date property that, as recs hold it now, is still to come: the date
// was moved later while they waited (and their step was due at the date read before). Their step
// must not run now but at that date. countOf gives each record's enrollment count. NotYetDue is
// pure.
func NotYetDue(wf *workflows.Workflow, step int, ids []crm.RecordID, recs map[crm.RecordID]crm.Record, countOf map[crm.RecordID]int,
	now time.Time) []crm.StepDue {
	d := untilDelayBefore(wf, step)
	if d == nil {
		return nil
	}
	var out []crm.StepDue
	for _, id := range ids {
		rec, ok := recs[id]
		if !ok {
			continue
		}
		if due := d.Due(rec, now); due.After(now) {
			out = append(out, crm.StepDue{ID: id, Step: step, Count: countOf[id], Due: due})
		}
	}
	return out
}
