package engine

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
)

// OutcomeFailed is the outcome recorded for a step whose action failed for good (an error wrapping
// actions.ErrCannotRun); the enrollment ends there.
const OutcomeFailed = "failed"

// StepResult turns one run of a step's action on record id, at time now, into what the store
// records (redisstore.Store.AdvanceSteps):
//
//   - an error wrapping actions.ErrCannotRun: outcome "failed" with the error's text, and the
//     enrollment stops;
//   - any other error: returned as is, for the caller to run the step again (actions are
//     idempotent);
//   - actions.OutcomeOverLimit: an error wrapping crm.ErrLimitReached, so that nothing is recorded
//     and the step stays due, to run again once the workflow resumes (SPEC S24);
//   - actions.OutcomeStopped: likewise, an error wrapping crm.ErrWorkflowStopped (SPEC S23);
//   - actions.OutcomeWait: the next step is due at Result.Until, or now when that has passed;
//   - actions.OutcomeSkipped (the record is no longer live): the enrollment stops;
//   - otherwise the next step is due now. An empty outcome reads as actions.OutcomeDone.
//
// StepResult is pure.
func StepResult(id crm.RecordID, res actions.Result, err error, now time.Time) (crm.StepResult, error) {
	if err != nil {
		if errors.Is(err, actions.ErrCannotRun) {
			return crm.StepResult{ID: id, Outcome: OutcomeFailed, Detail: truncate(err.Error(), MaxDetail), Due: now, Stop: true}, nil
		}
		return crm.StepResult{}, err
	}
	switch res.Outcome {
	case actions.OutcomeOverLimit:
		return crm.StepResult{}, fmt.Errorf("%s: %w", res.Detail, crm.ErrLimitReached)
	case actions.OutcomeStopped:
		return crm.StepResult{}, fmt.Errorf("%s: %w", res.Detail, crm.ErrWorkflowStopped)
	}
	out := crm.StepResult{ID: id, Outcome: string(res.Outcome), Detail: truncate(res.Detail, MaxDetail), Due: now}
	switch res.Outcome {
	case "":
		out.Outcome = string(actions.OutcomeDone)
	case actions.OutcomeWait:
		if res.Until.After(now) {
			out.Due = res.Until
		}
	case actions.OutcomeSkipped:
		out.Stop = true
	}
	return out, nil
}

// Run is a batch of records whose next step is due at the same time.
type Run struct {
	// Step is the index of the step to run.
	Step int
	// Due is when it may run.
	Due time.Time
	// IDs are the records, in the order of the results they came from.
	IDs []crm.RecordID
}

// NextRuns groups the records the store advanced past step (of nsteps) by when their next step is
// due: those due at or before now, whose next step the caller runs at once, and the others, in
// runs by due time rounded up to round (zero: no rounding), earliest first. Records that stopped,
// that finished the last step, or that the store did not advance (an earlier run advanced them)
// are left out. NextRuns is pure.
func NextRuns(results []crm.StepResult, advanced []crm.RecordID, step, nsteps int, now time.Time, round time.Duration) (dueNow []crm.RecordID, later []Run) {
	if step+1 >= nsteps {
		return nil, nil
	}
	moved := make(map[crm.RecordID]bool, len(advanced))
	for _, id := range advanced {
		moved[id] = true
	}
	byDue := map[time.Time]int{}
	for _, r := range results {
		if !moved[r.ID] || r.Stop {
			continue
		}
		delete(moved, r.ID) // a record listed twice runs once
		if !r.Due.After(now) {
			dueNow = append(dueNow, r.ID)
			continue
		}
		due := r.Due
		if round > 0 {
			if t := due.Truncate(round); t.Before(due) {
				due = t.Add(round)
			}
		}
		i, ok := byDue[due]
		if !ok {
			i = len(later)
			byDue[due] = i
			later = append(later, Run{Step: step + 1, Due: due})
		}
		later[i].IDs = append(later[i].IDs, r.ID)
	}
	slices.SortStableFunc(later, func(a, b Run) int { return a.Due.Compare(b.Due) })
	return dueNow, later
}
