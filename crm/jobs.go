package crm

import (
	"fmt"
	"strconv"
	"time"
)

// JobState is the state of a bulk job.
type JobState string

// The states of a bulk job.
const (
	JobSelecting JobState = "selecting" // a worker selects the records (a filter or a list) and checks the count
	JobPending   JobState = "pending"   // confirmed, waiting for a worker
	JobRunning   JobState = "running"   // a worker has started it
	JobDone      JobState = "done"      // every selected record was processed
	JobRefused   JobState = "refused"   // the selection did not hold (see Job.Refusal): nothing was deleted
	JobCanceled  JobState = "canceled"  // stopped by an undo of its operation (see Job.CanceledBy): it moves nothing more
	JobStopped   JobState = "stopped"   // its creator lost the authority to delete (see Job.Stop): it moves nothing more
)

// Finished reports whether a job in state s has ended (done, refused, canceled or stopped): no
// worker will run it again.
func (s JobState) Finished() bool {
	return s == JobDone || s == JobRefused || s == JobCanceled || s == JobStopped
}

// The codes of a JobStop.
const (
	// StoppedUserMissing: the job's creator is no longer a user of the tenant.
	StoppedUserMissing = "USER_MISSING"
	// StoppedUserDisabled: the job's creator was disabled.
	StoppedUserDisabled = "USER_DISABLED"
	// StoppedPermission: the job's creator no longer holds a permission the job needs (JobNeeds
	// for a delete job, PermRestore for an undo job; JobStop.Permission names it).
	StoppedPermission = "PERMISSION_MISSING"
)

// JobStop says why a job stopped (JobStopped): a job acts with its creator's authority as it is at
// each batch (SPEC S2), checked in the step that moves the records. What a delete job moved before
// stays in the bin (an undo of its operation restores them), and the others stay live; what an
// undo job restored stays live, and the others stay in the bin.
type JobStop struct {
	// Code is one of the Stopped* codes.
	Code string
	// User is the job's creator.
	User string
	// Permission is the permission the user lacks, with StoppedPermission.
	Permission Permission
	// Message says what happened and what to do, for people.
	Message string
}

// JobNeeds are the permissions a bulk or list delete job acts with: its creator must hold them
// at each of its batches. An undo job acts with PermRestore.
var JobNeeds = []Permission{PermDelete, PermBulkDelete}

// NewJobStop returns the JobStop of code for user (and the permission lacked, with
// StoppedPermission), with its message: j is the job of tenant t as it stopped. The message of a
// disabled creator also names the admin command that enables the user again
// (EnableUserCommand), as every refusal of a disabled user's request does.
func NewJobStop(t TenantID, j Job, code, user string, perm Permission) *JobStop {
	var what, enable string
	switch code {
	case StoppedUserMissing:
		what = fmt.Sprintf("the job's creator %s is no longer a user of the tenant", user)
	case StoppedUserDisabled:
		what = fmt.Sprintf("the job's creator %s was disabled", user)
		enable = fmt.Sprintf("; an admin enables %s again with `%s`", user, EnableUserCommand(t, user))
	default:
		what = fmt.Sprintf("the job's creator %s no longer holds the %s permission", user, perm)
	}
	if j.Kind == JobKindUndo {
		return &JobStop{Code: code, User: user, Permission: perm, Message: fmt.Sprintf(
			"%s, so the undo stopped: %d of %d records had been restored, the rest stay in the recycle bin; "+
				"a user with the restore permission may undo the operation %s again to restore them%s",
			what, j.Done, j.Total, j.By.Ref, enable)}
	}
	if j.Total == 0 && j.Done == 0 {
		// Stopped while it selected its records: nothing was selected for good, nor moved.
		return &JobStop{Code: code, User: user, Permission: perm, Message: fmt.Sprintf(
			"%s, so the job stopped while it selected its records (%d looked at), before it deleted anything: nothing was deleted; "+
				"a user with the delete and bulk_delete permissions may start the bulk delete again%s",
			what, j.Scanned, enable)}
	}
	if j.Done == 0 {
		// Nothing moved: the job has no operation to undo.
		return &JobStop{Code: code, User: user, Permission: perm, Message: fmt.Sprintf(
			"%s, so the job stopped before it moved anything to the recycle bin: its %s; "+
				"a user with the delete and bulk_delete permissions may delete %s again%s",
			what, strconv.FormatInt(j.Total, 10)+" "+plural(j.Total, "record stays live", "records stay live"), plural(j.Total, "it", "them"), enable)}
	}
	return &JobStop{Code: code, User: user, Permission: perm, Message: fmt.Sprintf(
		"%s, so the job stopped: %d of %d records had been moved to the recycle bin and stay there (undo the operation %s to restore them), "+
			"the rest stay live; a user with the delete and bulk_delete permissions may delete them again%s",
		what, j.Done, j.Total, JobOperationID(j.ID), enable)}
}

// The codes of a JobRefusal.
const (
	// RefusedCountMismatch: the selection's size was not the count the user confirmed.
	RefusedCountMismatch = "COUNT_MISMATCH"
	// RefusedInvalidFilter: the filter no longer compiles against the type's properties.
	RefusedInvalidFilter = "INVALID_FILTER"
	// RefusedListGone: the list was deleted, or holds another type, before its members were selected.
	RefusedListGone = "LIST_GONE"
	// RefusedFilterErased: a permanent delete erased a contact whose email the filter named.
	RefusedFilterErased = "FILTER_ERASED"
)

// JobRefusal says why a bulk delete job was refused. Nothing of a refused job was deleted.
type JobRefusal struct {
	// Code is one of the Refused* codes.
	Code string
	// Message says what was wrong and what to do, for people.
	Message string
}

// Job is a bulk delete running in the background.
type Job struct {
	ID         string
	Kind       string // "bulk_delete" or JobKindUndo
	ObjectType ObjectType
	State      JobState
	// Total is the number of records selected and confirmed; Done were moved to the bin; Skipped were
	// no longer live when their turn came. Total is 0 while the job is selecting. For an undo job,
	// Total is the records of the operation in the bin when it started (more if the operation
	// moved more since), Done those restored and Skipped those it could not restore (see
	// JobFailures).
	Total, Done, Skipped int64
	// Gone, for an undo job once done, counts the records of the operation that left the bin before
	// the undo reached them (restored by someone, or purged): Done, Skipped and Gone add up to Total.
	Gone int64
	// ConfirmCount is the count the user confirmed.
	ConfirmCount int64
	// Scanned is how many records (or list members) the selection has looked at, and Matched how many
	// of them it selected: its progress while the job is selecting, and its outcome after.
	Scanned, Matched int64
	// Protected counts, by rule, the records the job did not delete because a protection rule
	// protects them (SPEC S25): those the selection left out (not in Matched nor Total), and those
	// found protected when their batch came (a rule written or a record changed since the
	// selection), which are also in Skipped. Empty when none.
	Protected ProtectedCounts
	// Filter is the filter's text of a job selecting by filter, kept only while it is selecting: it
	// may name a contact's data (SPEC S9), and a permanent delete of a contact whose email it names
	// refuses the job and erases it.
	Filter string
	// Cursor is where the next step of the selection starts ("" at first), while the job is selecting.
	Cursor string
	// Refusal says why, when State is JobRefused.
	Refusal *JobRefusal
	// CanceledBy is the id of the undo job that stopped this job, when State is JobCanceled. The
	// records it moved before are that undo job's to restore; the others stay live.
	CanceledBy string
	// Stop says why, when State is JobStopped.
	Stop *JobStop
	// By is who asked, and how (ViaBulk with the job id as Ref, ViaList with the list id, or for
	// an undo job ViaUndo with the operation's id).
	By Actor
	// Selection describes what was selected, for people ("records matching a filter", "members of
	// list 7", "12 ids"); never a filter's text, which may name a contact's data.
	Selection  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time
}

// CountMismatchError means the confirmed count of a bulk delete is not the count matched now.
// Matched counts the records that would be deleted: those protected (Protected, by rule) are
// not among them.
type CountMismatchError struct {
	Confirmed, Matched int64
	Protected          ProtectedCounts
}

func (e *CountMismatchError) Error() string {
	if e.Protected.Total() > 0 {
		return fmt.Sprintf("you confirmed deleting %s but %d %s now, not counting %s protected records that are never deleted: nothing was deleted; check the selection and confirm %d",
			strconv.FormatInt(e.Confirmed, 10)+" "+plural(e.Confirmed, "record", "records"), e.Matched, plural(e.Matched, "matches", "match"), e.Protected, e.Matched)
	}
	return fmt.Sprintf("you confirmed deleting %s but %d %s now: nothing was deleted; check the selection and confirm %d",
		strconv.FormatInt(e.Confirmed, 10)+" "+plural(e.Confirmed, "record", "records"), e.Matched, plural(e.Matched, "matches", "match"), e.Matched)
}

// plural is one when n is 1, else many.
func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// DeleteJobParams selects the records of a bulk delete: IDs, the records Filter matches, or the
// members of ListID (exactly one).
type DeleteJobParams struct {
	ObjectType ObjectType
	// IDs are the selected records. Records not live are dropped. They are checked against
	// ConfirmCount in the call.
	IDs []RecordID
	// Filter selects the live records a filter (in the trigger language) matches. The job starts in
	// JobSelecting: a worker evaluates it (StageSelection) and checks the count (SealSelection).
	Filter string
	// ListID deletes the list's members (never the list). The job starts in JobSelecting: a worker
	// reads the live members (NextListMembers), leaves out the protected ones, stages the others
	// (StageSelection) and checks the count.
	ListID ListID
	// ConfirmCount is the number the user typed; it must equal the number of records selected now.
	ConfirmCount int64
	// By is the requesting user.
	By string
	// Selection describes the selection for people.
	Selection string
}

// SelectionStep is one step of a bulk delete job's selection by filter, as a worker evaluated it.
type SelectionStep struct {
	// After is the cursor the step started from: the job's Cursor when the step was read. A step from another cursor (a runner that lost its lease) changes nothing.
	After string
	// Next is the cursor after the step; "" when the scan is over, which ends the selection.
	Next string
	// IDs are the records of the step the filter matched. Those no longer live are not selected.
	IDs []RecordID
	// Scanned is how many records the step looked at.
	Scanned int
}

// MaxJobsLimit is the largest page of RecentJobs.
const MaxJobsLimit = 100
