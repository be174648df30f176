package crm

import (
	"context"
	"fmt"
	"time"
)

// The kinds of an Operation.
const (
	OpDelete   = "delete"   // one record deleted by the API
	OpBatch    = "batch"    // a batch archive of several records by the API
	OpBulk     = "bulk"     // a bulk delete job ("all N in this view", or ids)
	OpList     = "list"     // a job deleting a list's members
	OpWorkflow = "workflow" // a workflow's deletions from its activation until it pauses
)

// OperationKinds are the kinds an Operation can have, for validating filters.
var OperationKinds = []string{OpDelete, OpBatch, OpBulk, OpList, OpWorkflow}

// JobKindUndo is the Kind of an undo job; a bulk delete job's is "bulk_delete".
const JobKindUndo = "undo"

// JobOperationID is the id of the operation of bulk delete job jobID: the records the job moves to
// the bin carry it.
func JobOperationID(jobID string) string { return "job-" + jobID }

// Operation is one destructive operation (SPEC S26): an API call (a delete or a batch archive), a
// bulk or list delete job, or a workflow's deletions from one activation until it pauses. Every
// record it moved to the bin carries its ID (Deletion.Operation); undoing it restores those still
// there. A permanent delete is not an operation: it cannot be undone.
type Operation struct {
	// ID names the operation: the call's id, "job-<job id>", or "wf-<workflow>-<activation, unix ms>"
	// (with "_<Flow.Activation>" after it for an activation made in the same millisecond as the
	// one before, whose operation has the first id). Clients take it as it is: nothing parses it.
	ID string
	// Kind is one of the Op* kinds.
	Kind       string
	ObjectType ObjectType
	// By is who deleted, and how (for a workflow: the activating user via workflow NAME).
	By Actor
	// FirstAt and LastAt are the times of its first and its latest move to the bin.
	FirstAt, LastAt time.Time
	// Moved counts the records it moved to the bin; InBin those of them still there (not restored,
	// purged or permanently deleted since).
	Moved, InBin int64
	// UndoJob is the id of its latest undo job, "" if it was never undone.
	UndoJob string
}

// Workflow is the name of the workflow whose deletions the operation is, or "".
func (op Operation) Workflow() string {
	if op.Kind != OpWorkflow {
		return ""
	}
	return op.By.Ref
}

// OperationsOpts are the filters and the page of Operations. nil means the defaults.
type OperationsOpts struct {
	// Kind keeps the operations of that kind (one of OperationKinds); "" keeps all.
	Kind string
	// Actor keeps the operations of that user (the deleting user, or a workflow's activating user).
	Actor string
	// Workflow keeps the operations of that workflow.
	Workflow string
	// From and To keep the operations whose first move is within [From, To]; zero is unbounded.
	From, To time.Time
	// After is the cursor of the previous page; "" starts with the newest.
	After string
	// Limit is the page size. Defaults to 10; at most 100.
	Limit int
}

// JobFailure is one record an undo job could not restore, with the reason.
type JobFailure struct {
	ID RecordID
	// Code is "conflict" (its email belongs to a live contact), "unique" (the value of a unique
	// property belongs to a live record), "erased" (an email of the contact was permanently deleted
	// under a privacy request since, and is blocklisted), "expired" (past its retention period) or
	// "missing" (no longer in the bin from this operation: restored, purged or deleted again since).
	Code string
	// Property is the property whose value is taken (for conflict and unique) or erased (email or
	// additional_emails, for erased), BlockingID the live record that holds a taken one.
	Property   string
	BlockingID RecordID
	// DeletedAt is when the record was deleted (for expired).
	DeletedAt time.Time
}

// Reason says, for people, why the record was not restored, naming the record that blocks it.
func (f JobFailure) Reason(o ObjectType) string {
	switch f.Code {
	case "conflict":
		return fmt.Sprintf("its email belongs to the live contact %s: change that contact's email or delete it, then undo again", f.BlockingID)
	case "unique":
		return fmt.Sprintf("its %s belongs to the live %s record %s (%s values are unique): change that record's %s or delete it, then undo again",
			f.Property, o, f.BlockingID, f.Property, f.Property)
	case "erased":
		return fmt.Sprintf("its %s was permanently deleted under a privacy request and is blocklisted, so the contact cannot be restored with that address: "+
			"it stays in the recycle bin until its retention period ends; to keep its other details, create a new contact without that address", emailPropertyWord(f.Property))
	case "expired":
		return fmt.Sprintf("deleted at %s, it is past its retention period and can no longer be restored", FormatDatetime(f.DeletedAt))
	default:
		return "it is no longer in the recycle bin from this operation (restored, purged or deleted again since)"
	}
}

// UndoParams asks for an undo of an operation.
type UndoParams struct {
	// Operation is the id of the operation to undo.
	Operation string
	// By is the user who asks (who needs the restore permission, and, when the undo would cancel
	// a job or pause a workflow, what that needs: see OperationStore.CreateUndoJob).
	By string
}

// UndoStops is what an undo of an operation would stop at this moment, besides restoring: Job is
// the id of the operation's bulk or list job still selecting, pending or running, which the undo
// cancels, and Workflow the name of the workflow still active at the operation's activation, which
// it pauses ("" when none).
type UndoStops struct {
	Job, Workflow string
}

// Undo's permissions beyond restore: UndoCancelNeeds to cancel the operation's running job (the
// permissions the job deletes with), UndoPauseNeeds to pause its active workflow (what a pause of
// it needs). The store's undo checks them in the same step as the cancel or the pause.
var (
	UndoCancelNeeds = JobNeeds
	UndoPauseNeeds  = []Permission{PermWorkflows}
)

// UndoNeeds are the permissions an undo that stops s needs: PermRestore, then UndoCancelNeeds
// when it cancels a job and UndoPauseNeeds when it pauses a workflow.
func UndoNeeds(s UndoStops) []Permission {
	out := []Permission{PermRestore}
	if s.Job != "" {
		out = append(out, UndoCancelNeeds...)
	}
	if s.Workflow != "" {
		out = append(out, UndoPauseNeeds...)
	}
	return out
}

// OperationStore keeps the operations that moved records to the bin and undoes them (SPEC S26).
// The scripts that move records keep each operation and its records still in the bin in the same
// step as the move; nothing here scans the bin.
type OperationStore interface {
	// Operations pages through a tenant's operations, newest first, keeping those opts
	// filters; next is "" after the last page. A *ValidationError for a bad filter or cursor.
	Operations(ctx context.Context, t TenantID, opts *OperationsOpts) (ops []Operation, next string, err error)
	// Operation returns one operation, or a *NotFoundError.
	Operation(ctx context.Context, t TenantID, id string) (Operation, error)
	// CreateUndoJob starts an undo of an operation as a job (Kind JobKindUndo) that restores,
	// in batches, every record of the operation still in the bin, and records the undo in the
	// audit trail, all in one step. While an undo job of the operation is not finished, it returns
	// that job and changes nothing. An operation's own bulk or list job that is not finished is
	// stopped in the same step (JobCanceled, with CanceledBy the undo job): it moves nothing after,
	// so the undo restores every record it moved. A job stopped before its first move has no
	// operation yet; its undo restores nothing. A workflow still active at the activation whose
	// operation it is pauses in the same step, with a reason naming the undo job. An operation
	// with no record left in the bin and nothing to stop or pause, or "job-<id>" of a job that moved
	// nothing (an undo job, or a job that ended before its first move), is a *NothingToUndoError,
	// and nothing changes. A *NotFoundError for an unknown operation.
	// Stopping a job or pausing a workflow is more than a restore: p.By must also hold, as it is
	// in that same step, JobNeeds to cancel the job and PermWorkflows to pause the workflow (what a
	// pause of it needs). Without them, or when p.By is disabled or no user, the undo is an
	// *UndoForbiddenError naming what it lacks, and nothing changes. An undo that stops or pauses
	// nothing asks for nothing beyond restore here (the caller checks restore).
	CreateUndoJob(ctx context.Context, t TenantID, p UndoParams) (Job, error)
	// UndoStops says what an undo of operation id would stop if asked now, by the same rule as
	// CreateUndoJob (UndoNeeds then says what the undo needs). It changes nothing, and the answer
	// may be out of date the moment after (a job ends, a workflow is paused). A *NotFoundError for
	// an unknown operation.
	UndoStops(ctx context.Context, t TenantID, id string) (UndoStops, error)
	// RunUndoBatch restores the next at most limit records of undo job id under the rules of
	// RestoreRecords, in one script that also records the progress and each failure, and returns
	// the job after it. The job acts with its creator's authority as it is at each batch: when the
	// creator is no user of the tenant, is disabled or lacks PermRestore, the batch restores
	// nothing and the job ends JobStopped, with a Stop naming the user and the
	// permission, in the same step. A finished job comes back unchanged; safe to call again after
	// a crash or from a retried task.
	RunUndoBatch(ctx context.Context, t TenantID, id string, limit int) (Job, error)
	// JobFailures reads the first at most limit records an undo job could not restore, in order.
	JobFailures(ctx context.Context, t TenantID, id string, limit int) ([]JobFailure, error)
	// ForgetOperations forgets a tenant's operations that are over: those whose last move was at
	// or before horizon (the retention period before now) and that have no record left in the bin.
	// It looks at limit operations a script call and returns how many it forgot. The purge calls
	// it, so that operations do not pile up.
	ForgetOperations(ctx context.Context, t TenantID, horizon time.Time, limit int) (int, error)
}
