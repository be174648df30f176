package crm

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// DeletionLimit is a blast-radius limit (SPEC S24): at most Max deletions in any window of Per.
// A workflow's own `limits` set it; a workflow without them runs under its tenant's
// (Tenant.DeletionLimit, DefaultDeletionLimit unless set). The zero value is no limit.
type DeletionLimit struct {
	// Max is the most deletions in any window of Per. 0 means no limit (written `unlimited`).
	Max int
	// Per is the length of the sliding window. Unused when Max is 0.
	Per time.Duration
}

// DefaultDeletionLimit is a tenant's blast-radius limit until it sets one: 1000 deletions per hour.
var DefaultDeletionLimit = DeletionLimit{Max: 1000, Per: time.Hour}

// The bounds of a DeletionLimit.
const (
	// MaxDeletionsLimit is the largest Max: a workflow that must delete more per window is written
	// with `unlimited`.
	MaxDeletionsLimit = 100000
	// MinLimitWindow and MaxLimitWindow bound Per.
	MinLimitWindow = time.Minute
	MaxLimitWindow = 30 * 24 * time.Hour
)

// Unlimited reports whether l sets no limit.
func (l DeletionLimit) Unlimited() bool { return l.Max == 0 }

// String describes l as the reason of a pause shows it: "10 deletions per 1h", or "no limit".
func (l DeletionLimit) String() string {
	if l.Unlimited() {
		return "no limit"
	}
	unit := "deletions"
	if l.Max == 1 {
		unit = "deletion"
	}
	return fmt.Sprintf("%d %s per %s", l.Max, unit, FormatWindow(l.Per))
}

// Validate returns a *ValidationError unless l is no limit, or Max is 1 to MaxDeletionsLimit and
// Per is MinLimitWindow to MaxLimitWindow.
func (l DeletionLimit) Validate() error {
	if l.Unlimited() {
		return nil
	}
	if l.Max < 0 || l.Max > MaxDeletionsLimit {
		return &ValidationError{Field: "max_deletions", Code: "INVALID_LIMIT",
			Message: fmt.Sprintf("max deletions %d is out of range: give 1 to %d, or unlimited", l.Max, MaxDeletionsLimit)}
	}
	if l.Per < MinLimitWindow || l.Per > MaxLimitWindow {
		return &ValidationError{Field: "per", Code: "INVALID_LIMIT",
			Message: fmt.Sprintf("window %s is out of range: give %s to %s, such as 1h", FormatWindow(l.Per), FormatWindow(MinLimitWindow), FormatWindow(MaxLimitWindow))}
	}
	return nil
}

// FormatWindow writes a window as a workflow file would: "1h", "30m", "1d", "1d12h".
func FormatWindow(d time.Duration) string {
	const day = 24 * time.Hour
	var s string
	if d >= day {
		s = strconv.FormatInt(int64(d/day), 10) + "d"
		d %= day
	}
	if d >= time.Hour {
		s += strconv.FormatInt(int64(d/time.Hour), 10) + "h"
		d %= time.Hour
	}
	if d >= time.Minute {
		s += strconv.FormatInt(int64(d/time.Minute), 10) + "m"
		d %= time.Minute
	}
	if d > 0 || s == "" {
		s += strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
	}
	return s
}

// ArchiveLimit is the limit a workflow's deletions run under (ArchiveWithLimit): its
// DeletionLimit, counted over the deletions of the workflow, all its activations and revisions
// together: pausing it and activating it again never resets the count.
type ArchiveLimit struct {
	DeletionLimit
	// ActivatedAt names the activation the deletions act for (Flow.ActivatedAt), which Needs
	// checks. It does not split the count.
	ActivatedAt time.Time
	// Activation is, with ActivatedAt, that activation's number (Flow.Activation), which Needs
	// checks too: an activation made in the same millisecond after a pause is another one. 0 (a
	// workflow last activated by a version that did not number its activations) checks
	// ActivatedAt alone.
	Activation int64
	// Needs, when not empty, are the permissions the workflow acts with (SPEC S23), checked in the
	// step that moves the records: unless the workflow is still active at ActivatedAt (and
	// Activation) and its activator (the actor's User) exists, is enabled and holds every one of
	// them, nothing moves and the live records are reported as ArchiveResult.Stopped. This holds
	// for an unlimited DeletionLimit too. Empty checks neither.
	Needs []Permission
}

// ErrWorkflowStopped means a workflow's deletion was not done because, at the moment of the
// move, the workflow was no longer active at its activation, or its activator was disabled or
// lacked a permission it needs (SPEC S23; ArchiveLimit.Needs). Test it with errors.Is.
var ErrWorkflowStopped = errors.New("crm: the workflow was paused, or its activator lost the authority it acts with")

// ErrLimitReached means a workflow's blast-radius limit refused a deletion (SPEC S24). Test it
// with errors.Is.
var ErrLimitReached = errors.New("crm: the workflow's blast-radius limit is reached")

// LimitReachedError says which limit refused a workflow's deletion. It wraps ErrLimitReached.
type LimitReachedError struct {
	Limit DeletionLimit
}

func (e *LimitReachedError) Error() string {
	return fmt.Sprintf("blast-radius limit of %s reached", e.Limit)
}

// Unwrap returns ErrLimitReached.
func (e *LimitReachedError) Unwrap() error { return ErrLimitReached }
