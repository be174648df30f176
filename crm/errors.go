package crm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors of the store. Callers test them with errors.Is.
var (
	// ErrNotFound means the record, list, user or tenant does not exist (or belongs to another tenant).
	ErrNotFound = errors.New("crm: not found")
	// ErrTenantExists means a tenant of that id already exists.
	ErrTenantExists = errors.New("crm: tenant already exists")
	// ErrUserExists means a user of that email already exists in the tenant.
	ErrUserExists = errors.New("crm: user already exists")
	// ErrUnauthenticated means a token is missing, malformed, unknown or revoked.
	ErrUnauthenticated = errors.New("crm: invalid or missing token")
	// ErrNoEmailSalt means a store was configured without Config.EmailSalt.
	ErrNoEmailSalt = errors.New("crm: Config.EmailSalt is required: it salts the hashes of the blocklisted emails of erased contacts")
	// ErrEmailSaltMismatch means the store's email salt is not the one the Redis was first used with.
	ErrEmailSaltMismatch = errors.New("crm: the email salt does not match this Redis")
	// ErrRetentionShorter means a change of the deployment's retention would shorten it without
	// the caller allowing that: bin entries users were told they could restore would become
	// purgeable at once.
	ErrRetentionShorter = errors.New("crm: the new retention is shorter than the deployment's")
	// ErrUserDisabled means the user is disabled: it may not be issued a token.
	ErrUserDisabled = errors.New("crm: user is disabled")
	// ErrEvictionPolicy means the Redis server may evict keys, which would lose records.
	ErrEvictionPolicy = errors.New("crm: redis maxmemory-policy must be noeviction")
)

// RetentionMismatchError means a process was given a retention (how long a deleted record stays
// restorable) other than the deployment's, which its Redis holds: a process purging or answering
// by another value would remove records users were told they could restore, or tell them wrong
// dates. Deployment is the stored retention, or DefaultRetention when Unset (none stored yet).
type RetentionMismatchError struct {
	Given, Deployment time.Duration
	Unset             bool
}

func (e *RetentionMismatchError) Error() string {
	held := "holds the deployment's retention " + FormatWindow(e.Deployment)
	if e.Unset {
		held = "holds no retention yet, so the deployment's is the default " + FormatWindow(e.Deployment)
	}
	return fmt.Sprintf("crm: the retention given, %s, is not the deployment's: this Redis %s", FormatWindow(e.Given), held)
}

// UnauthenticatedError is a valid token that is refused, with the reason and what to do (it
// expired; its user is disabled). It matches ErrUnauthenticated with errors.Is.
type UnauthenticatedError struct {
	Reason string
}

func (e *UnauthenticatedError) Error() string { return ErrUnauthenticated.Error() + ": " + e.Reason }

// Is makes errors.Is(err, ErrUnauthenticated) true.
func (e *UnauthenticatedError) Is(target error) bool { return target == ErrUnauthenticated }

// NotFoundError says which thing was not found. It matches ErrNotFound with errors.Is.
type NotFoundError struct {
	Kind string // "record", "list", "user", "tenant", "object type", "property"
	ID   string
	// Hint, when set, says where to find what exists (such as the request that lists them).
	Hint string
}

func (e *NotFoundError) Error() string {
	if e.Hint != "" {
		return fmt.Sprintf("%s %s not found: %s", e.Kind, e.ID, e.Hint)
	}
	return fmt.Sprintf("%s %s not found", e.Kind, e.ID)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ValidationError is input that can never succeed as given. Field names the offending field or
// property, Code is a stable machine-readable code, Message says what was wrong and what to do.
type ValidationError struct {
	Field   string
	Code    string
	Message string
}

func (e *ValidationError) Error() string { return e.Message }

// ValidationErrors is several validation errors found in one input; it is returned whole so a
// caller can show every problem at once.
type ValidationErrors []*ValidationError

func (es ValidationErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Message
	}
	return strings.Join(msgs, "; ")
}

// Unwrap gives errors.As access to each error.
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// EmailConflictError means an email already belongs to a live contact of the tenant.
type EmailConflictError struct {
	Email      string
	BlockingID RecordID
}

func (e *EmailConflictError) Error() string {
	return fmt.Sprintf("email %s already belongs to contact %s: use a different email or update contact %s", e.Email, e.BlockingID, e.BlockingID)
}

// UniqueConflictError means a value of a unique property (Property.Unique) already belongs to
// another live record of the type: a create, update or restore that would give it to a second
// record is refused, and nothing changes.
type UniqueConflictError struct {
	// Type is the object type; Property the unique property and Value its value.
	Type     ObjectType
	Property string
	Value    string
	// BlockingID is the record that holds the value.
	BlockingID RecordID
}

func (e *UniqueConflictError) Error() string {
	return fmt.Sprintf("%s %q already belongs to %s record %s, and %s is a unique property: use another value, or change or delete record %s first",
		e.Property, e.Value, e.Type, e.BlockingID, e.Property, e.BlockingID)
}

// RetentionExpiredError means a record's retention period in the bin has passed (SPEC S6): it can
// no longer be restored, even though no purge has removed it yet.
type RetentionExpiredError struct {
	ID RecordID
	// DeletedAt is when the record was deleted; ExpiredAt when its retention period ended.
	DeletedAt, ExpiredAt time.Time
}

func (e *RetentionExpiredError) Error() string {
	return fmt.Sprintf("record %s was deleted on %s and its retention period ended on %s: it can no longer be restored, and the next purge removes it for good",
		e.ID, e.DeletedAt.UTC().Format(time.RFC3339), e.ExpiredAt.UTC().Format(time.RFC3339))
}

// ConflictError is a change refused because of the current state (an existing name, for example).
type ConflictError struct {
	// Code is a stable machine-readable code (PROPERTY_ARCHIVED, ...); "" for the general CONFLICT.
	Code    string
	Message string
}

func (e *ConflictError) Error() string { return e.Message }

// NothingToUndoError refuses an undo of an operation none of whose records is left in the recycle
// bin (all restored, purged or permanently deleted since), with no job of it to stop and no
// workflow to pause, or of "job-<id>" where that job moved nothing (an undo job, or a job that
// ended before its first move): there is nothing for an undo job to do, so none is started.
type NothingToUndoError struct {
	// Operation is the operation's id, Moved the records it moved to the bin, and UndoJob the id of
	// its latest undo job ("" if it was never undone).
	Operation string
	Moved     int64
	UndoJob   string
	// Detail, when set, says why instead: the operation names a job that moved nothing.
	Detail string
}

func (e *NothingToUndoError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("operation %s has nothing to undo: %s", e.Operation, e.Detail)
	}
	moved := fmt.Sprintf("the %d records it moved there were each", e.Moved)
	if e.Moved == 1 {
		moved = "the record it moved there was"
	}
	msg := fmt.Sprintf("operation %s has no record left in the recycle bin, so there is nothing to undo (%s restored, purged or permanently deleted since",
		e.Operation, moved)
	if e.UndoJob != "" {
		msg += "; its latest undo is undo job " + e.UndoJob + ", at GET /crm/v3/jobs/" + e.UndoJob
	}
	return msg + ")"
}

// UndoForbiddenError refuses an undo that would do more than restore, asked by a user who may
// not do that more: cancel the operation's bulk or list job that is still running (which needs
// JobNeeds, the permissions the job deletes with) or pause the workflow still active at the
// operation's activation (which needs PermWorkflows, as pausing it directly does). Nothing was
// changed: no undo job, no cancel, no pause, no audit entry.
type UndoForbiddenError struct {
	// Tenant is the tenant of the operation and of User.
	Tenant TenantID
	// Operation is the operation's id and User the user who asked.
	Operation string
	User      string
	// Job is the id of the job the undo would cancel, and Workflow the name of the workflow it
	// would pause ("" when none).
	Job      string
	Workflow string
	// Missing are the permissions User lacks for that, in AllPermissions order. Empty when User
	// is disabled or no user of the tenant (Code says which).
	Missing []Permission
	// Code is "" for missing permissions, else StoppedUserDisabled or StoppedUserMissing.
	Code string
}

func (e *UndoForbiddenError) Error() string {
	lead := fmt.Sprintf("the undo of operation %s is refused and nothing was changed: ", e.Operation)
	switch e.Code {
	case StoppedUserDisabled:
		return lead + fmt.Sprintf("user %s is disabled (an admin disabled it after this request was signed in), and a disabled user may not act; "+
			"an admin enables the user again with `%s`, after which the undo can be asked again", e.User, EnableUserCommand(e.Tenant, e.User))
	case StoppedUserMissing:
		return lead + fmt.Sprintf("%s is no longer a user of the tenant (it was removed after this request was signed in); "+
			"ask a user of the tenant who holds the permissions the undo needs to undo the operation", e.User)
	}
	quoted := make([]string, len(e.Missing))
	for i, p := range e.Missing {
		quoted[i] = strconv.Quote(string(p))
	}
	lacks := fmt.Sprintf("user %s lacks %s", e.User, strings.Join(quoted, " and "))
	if e.Workflow != "" {
		return lead + fmt.Sprintf("workflow %s is still active at the activation whose deletions this undoes, so the undo would pause it, "+
			"and pausing a workflow needs the \"workflows\" permission, which %s lacks; ask a user who holds it to undo the operation, "+
			"or to pause the workflow first (POST /automation/v4/flows/%s/pause, or crmflow workflows pause %s), then undo it again",
			e.Workflow, e.User, e.Workflow, e.Workflow)
	}
	return lead + fmt.Sprintf("bulk delete job %s is still running, so the undo would cancel it, and canceling a job needs the permissions "+
		"it deletes with, \"delete\" and \"bulk_delete\"; %s: ask a user who holds them to undo the operation, or undo it once the job "+
		"has finished (GET /crm/v3/jobs/%s)", e.Job, lacks, e.Job)
}

// BlockedEmailError means an email was permanently deleted for privacy law and may not be used again.
type BlockedEmailError struct {
	Email string
}

func (e *BlockedEmailError) Error() string {
	return fmt.Sprintf("email %s was permanently deleted at the contact's request and is blocklisted: it cannot be used for a new contact", e.Email)
}

// ErasedEmailError means a contact in the bin holds an email that a permanent delete (privacy law,
// SPEC S9/S10) blocklisted since the contact was deleted: restoring it would make the erased
// address live again, so it is refused and the contact stays in the bin, unchanged.
type ErasedEmailError struct {
	Email string
	// Property holds it: "email" or "additional_emails".
	Property string
}

func (e *ErasedEmailError) Error() string {
	return fmt.Sprintf("the contact's %s %s was permanently deleted under a privacy request and is blocklisted, so the contact cannot be restored with that address: "+
		"it stays in the recycle bin until its retention period ends; to keep its other details, create a new contact without that address",
		emailPropertyWord(e.Property), e.Email)
}

// emailPropertyWord names an email property for people.
func emailPropertyWord(property string) string {
	if property == "additional_emails" {
		return "additional email"
	}
	return "email"
}

// ErrNotReplicated means a destructive change was made on its master, but fewer replicas than
// Config.WaitReplicas acknowledged it within Config.WaitReplicasTimeout: it stands, and may be lost
// if the master fails before its replicas catch up. Calls that return it may be retried: the
// changes they make are idempotent.
var ErrNotReplicated = errors.New("crm: change not acknowledged by enough replicas")

// Sentinel errors of a store in trouble. Callers test them with errors.Is; the API answers both
// with 503 and Retry-After.
var (
	// ErrStoreUnavailable means the store's Redis could not be reached or did not answer in time:
	// it is down, hung, loading its data set or refusing clients, or, on a Redis Cluster, the
	// cluster is down or the slot of the call is moving between masters. Retrying later may succeed.
	ErrStoreUnavailable = errors.New("crm: store unavailable")
	// ErrStoreFull means the store's Redis refused a write because it reached its maxmemory (OOM,
	// with the noeviction policy crmflow requires). Reads still work; writes may succeed once
	// memory is freed.
	ErrStoreFull = errors.New("crm: store full")
	// ErrOutcomeUnknown means a change was sent to the store's Redis and no answer came back (the
	// connection broke or timed out, or the caller's deadline passed while it waited): the change
	// may have been made or not. It comes beside ErrStoreUnavailable or the context's error, so
	// errors.Is finds both. A change that is not idempotent (a create) must be read back before
	// it is tried again, or it may be made twice.
	ErrOutcomeUnknown = errors.New("crm: the store did not confirm the change: it may have been made")
)

// MaxEcho is the most characters of a client's text (a name, an operator, a value) an error
// message repeats: a longer one is cut, so that a 64 KiB value makes a message of a line.
const MaxEcho = 64

// Echo is s quoted as %q quotes it, cut after MaxEcho characters and ended with "…" when longer,
// for an error message that names what a client sent.
func Echo(s string) string {
	r := []rune(s)
	if len(r) <= MaxEcho {
		return strconv.Quote(s)
	}
	return strconv.Quote(string(r[:MaxEcho])) + "…"
}
