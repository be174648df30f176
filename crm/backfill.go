package crm

import (
	"time"
)

// BackfillState is the state of an enroll-existing backfill.
type BackfillState string

// The states of a backfill.
const (
	BackfillRunning BackfillState = "running" // records are still to be looked at
	BackfillDone    BackfillState = "done"    // every record was looked at
	BackfillStopped BackfillState = "stopped" // the workflow was paused, or another revision activated
)

// Backfill is the position and progress of a workflow's enroll-existing backfill: where a runner
// that takes it over continues, what people see, and what the CLI waits on.
type Backfill struct {
	Revision int64
	// State is BackfillRunning, BackfillDone or BackfillStopped.
	State BackfillState
	// Total is the number of live records when the backfill started; Done how many were looked at;
	// Enrolled how many of those enrolled (after a runner died, those whose steps ran before the
	// next runner took over may go uncounted).
	Total, Done, Enrolled int64
	// After is the id of the last record looked at ("" before the first batch). Prev is where the
	// batch counted last began: while it differs from After, that batch may not have been applied
	// yet, and the runner that takes the backfill over applies it again.
	After, Prev string
	// ActivatedAt is the activation the backfill belongs to (Flow.ActivatedAt): activating the same
	// revision again starts another backfill.
	ActivatedAt          time.Time
	StartedAt, UpdatedAt time.Time
}

// BatchOutcome says what BackfillStore.ApplyBackfillBatch did with a backfill's batch.
type BatchOutcome int

const (
	// BatchApplied: the verdicts were applied and the progress recorded.
	BatchApplied BatchOutcome = iota
	// BatchLeaseLost: the runner no longer holds the backfill's lease; nothing was done.
	BatchLeaseLost
	// BatchRefused: the workflow is no longer active at the revision; nothing was done.
	BatchRefused
)
