package actions

import (
	"context"
	"errors"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/clock"
)

// ErrCannotRun marks an error that running the same step again cannot fix: a list that no longer
// exists or holds another object type, a user who is no longer in the tenant, a record of a type
// the action does not apply to. A worker treats it as final (asynq.SkipRetry) and records the
// failure in the workflow's history. Test it with errors.Is.
var ErrCannotRun = errors.New("actions: this step cannot succeed")

// ErrPermanentDelete is returned by the store an action is bound to when the action tries a
// permanent delete: workflows only ever delete restorably (SPEC S17). It wraps [ErrCannotRun].
var ErrPermanentDelete error = &cannotRunError{msg: "actions: workflows never delete permanently: use delete_contact, which moves the contact to the recycle bin"}

type cannotRunError struct{ msg string }

func (e *cannotRunError) Error() string { return e.msg }
func (e *cannotRunError) Unwrap() error { return ErrCannotRun }

// Action runs one step of a workflow on one record. Implementations must be idempotent: the same
// step may run again on the same record after a crash or a retry, and must then change nothing
// more. Bound actions returned by [Configured.Bind] are safe for concurrent use.
type Action interface {
	Run(ctx context.Context, tenant crm.TenantID, rec crm.Record) (Result, error)
}

// Func adapts a function to [Action].
type Func func(ctx context.Context, tenant crm.TenantID, rec crm.Record) (Result, error)

// Run calls f.
func (f Func) Run(ctx context.Context, tenant crm.TenantID, rec crm.Record) (Result, error) {
	return f(ctx, tenant, rec)
}

// Middleware wraps an Action, to log, measure or trace it.
type Middleware func(Action) Action

// Chain wraps a with mws so that mws[0] is the outermost: Chain(a, m1, m2) runs m1(m2(a)).
func Chain(a Action, mws ...Middleware) Action {
	for i := len(mws) - 1; i >= 0; i-- {
		a = mws[i](a)
	}
	return a
}

// Outcome says what a run of an action did, for the workflow's history.
type Outcome string

// The outcomes of a run.
const (
	// OutcomeDone means the action changed the record (or its lists), or sent its email.
	OutcomeDone Outcome = "done"
	// OutcomeUnchanged means there was nothing left to do: the change was already made, by an
	// earlier run of the same step or otherwise.
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeSkipped means the record is no longer live (deleted, or purged), so nothing was done.
	OutcomeSkipped Outcome = "skipped"
	// OutcomeWait means the next step must wait until [Result.Until] (the delay action).
	OutcomeWait Outcome = "wait"
	// OutcomeOverLimit means the workflow's blast-radius limit refused the action (SPEC S24):
	// nothing was done, and the step must stay where it is, to run once the workflow resumes.
	// It is never recorded as a result (see engine.StepResult).
	OutcomeOverLimit Outcome = "over_limit"
	// OutcomeStopped means the workflow was paused, or its activator lost the authority it acts
	// with, between the step's checks and the action (SPEC S23; crm.ArchiveLimit.Needs): nothing
	// was done, and the step must stay where it is. It is never recorded as a result.
	OutcomeStopped Outcome = "stopped"
)

// Result is what a run of an action did.
type Result struct {
	// Outcome says what happened.
	Outcome Outcome
	// Detail is one sentence for the workflow's history. It names ids and property names only,
	// never property values or addresses, which may be personal data.
	Detail string
	// Until is when the next step may run, set with OutcomeWait. It may be in the past (a delay
	// until a date that has gone by): the next step then runs at once.
	Until time.Time
}

// Deps are the services a bound action uses. Build one per process and share it; it is read-only.
type Deps struct {
	// Clock tells the time for delays. Defaults to the wall clock.
	Clock clock.Clock
	// Mailer sends notify_user's emails. Required by notify_user only: without it that action
	// fails with an error.
	Mailer Mailer
	// Store is the CRM store. Required by every built-in action but delay. Bound actions see it
	// through a guard that refuses permanent deletes ([ErrPermanentDelete]).
	Store crm.Store
}

// Invocation names the run a step belongs to.
type Invocation struct {
	// Key identifies this run of this step uniquely and stably across retries: for example
	// "<workflow>:<revision>:<enrollment>:<step>". notify_user derives its email's idempotency key
	// from it, so a retried step sends one email. Required by notify_user.
	Key string
	// Workflow is the workflow's name. Changes are recorded as made by By through it, at
	// Revision (crm.Actor{User: By, Via: crm.ViaWorkflow, Ref: Workflow, Revision: Revision}).
	Workflow string
	// By is the user the workflow acts for: its activator (SPEC S23). Optional.
	By string
	// Revision is the workflow revision the step belongs to. Optional.
	Revision int64
	// ActivatedAt is the workflow's activation the step runs under (crm.Flow.ActivatedAt).
	// notify_user's email carries it (crm.MailRef.ActivatedAt) and is delivered only while that
	// activation is the workflow's current one. Zero: the email names no activation, and goes out
	// under whichever is current.
	ActivatedAt time.Time
	// Activation is that activation's number (crm.Flow.Activation): notify_user's email carries
	// it (crm.MailRef.Activation), so that an activation made in the same millisecond as the one
	// before is still told apart from it. Zero: ActivatedAt alone names the activation.
	Activation int64
	// Limit is the blast-radius limit the step's deletions run under (SPEC S24), counted for the
	// workflow's activation: delete_contact deletes through crm.Store.ArchiveChecked and
	// answers OutcomeOverLimit for the records it refuses, and OutcomeStopped for those its
	// guard (crm.ArchiveLimit.Needs) kept. nil deletes without a limit.
	Limit *crm.ArchiveLimit
}

func (inv Invocation) actor() crm.Actor {
	return crm.Actor{User: inv.By, Via: crm.ViaWorkflow, Ref: inv.Workflow, Revision: inv.Revision}
}

// Mail is one email from a workflow to a user of its tenant.
type Mail struct {
	// IdempotencyKey identifies the email: however often it is handed to the Mailer, it must be
	// delivered once.
	IdempotencyKey string
	// Kind names what the email is for: [KindWorkflowNotification].
	Kind string
	// To is the recipient's address, a user of the tenant.
	To string
	// Subject is one line of text. With a Ref it is a template ({{property}}, {{id}}), rendered
	// from the record when the email is delivered (crm.RenderNotification).
	Subject string
	// Body is plain UTF-8 text; with a Ref, a template like Subject.
	Body string
	// Ref names the record the email is about and the workflow that wrote it. The Mailer must keep
	// the templates and this reference, never the rendered text: the record's data is read only when
	// the email is delivered, and an email about a record that no longer exists is dropped.
	Ref crm.MailRef
}

// KindWorkflowNotification is the Kind of notify_user's emails.
const KindWorkflowNotification = "workflow_notification"

// Mailer hands an email over for delivery. The worker implements it with its mail:send task, the
// same path as the permanent-delete confirmation; it must deduplicate by Mail.IdempotencyKey.
// Implementations are safe for concurrent use.
type Mailer interface {
	SendMail(ctx context.Context, tenant crm.TenantID, m Mail) error
}

// MailerFunc adapts a function to [Mailer].
type MailerFunc func(ctx context.Context, tenant crm.TenantID, m Mail) error

// SendMail calls f.
func (f MailerFunc) SendMail(ctx context.Context, tenant crm.TenantID, m Mail) error {
	return f(ctx, tenant, m)
}

// guardedStore is the store a bound action sees: everything but a permanent delete.
type guardedStore struct{ crm.Store }

// PermanentDeleteContact refuses: workflows never delete permanently.
func (guardedStore) PermanentDeleteContact(context.Context, crm.TenantID, crm.PermanentDeleteParams) (crm.PermanentDeleteResult, error) {
	return crm.PermanentDeleteResult{}, ErrPermanentDelete
}

func (d Deps) guarded() Deps {
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.Store != nil {
		if _, ok := d.Store.(guardedStore); !ok {
			d.Store = guardedStore{d.Store}
		}
	}
	return d
}

var errNoStore = errors.New("actions: Deps.Store is nil: bind the step with a store")
