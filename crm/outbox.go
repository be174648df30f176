package crm

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// This file holds the store side of outgoing email: the outbox, where an email is kept when no
// SMTP server is configured, and the delivery ledger that keeps a retried email task from sending
// twice. The worker package reaches both through a small interface of its own.

// MailSentTTL is how long the ledger remembers a delivered email. A retry of the same email within
// that time is not sent again; it is far longer than any retry schedule of the worker.
const MailSentTTL = 7 * 24 * time.Hour

// DefaultOutboxMax is the most emails a tenant's outbox keeps by default (AppendOutboxOpts.Max).
const DefaultOutboxMax = 1000

// AppendOutboxOpts are the options of keeping an email in a tenant's outbox; nil means the defaults.
type AppendOutboxOpts struct {
	// Max is the most entries the tenant's outbox keeps. Past it, keeping an email drops the workflow
	// notifications nearest their expiry (the oldest) and counts them (OutboxDrops); an email that
	// does not expire, such as a permanent delete's confirmation, is never dropped. 0 means
	// DefaultOutboxMax.
	Max int
}

// OutboxDrops counts the workflow notifications a tenant's outbox dropped to stay within its cap.
type OutboxDrops struct {
	// Count is how many were dropped since the outbox was created.
	Count int64
	// LastAt is when the last one was dropped; zero when none was.
	LastAt time.Time
}

// ErrMailDone means an email of that idempotency key was already sent, kept in the outbox or
// dropped: there is nothing left to do.
var ErrMailDone = errors.New("crm: this email was already sent or kept")

// ErrMailDropped means the email was about a record that no longer exists (permanently deleted or
// purged): it was dropped, with an audit entry "mail_dropped", and is never sent or kept.
var ErrMailDropped = errors.New("crm: this email was about a record that no longer exists: dropped")

// ErrMailWorkflowStopped means the email was a workflow's notification whose workflow is no longer
// active, or is active under another activation than the one its step ran under (MailRef.ActivatedAt),
// or whose workflow's activator no longer holds the read permission its text needs (it shows the
// record's data): it was dropped, with an audit entry "mail_dropped", and is never sent or kept.
var ErrMailWorkflowStopped = errors.New("crm: this notification's workflow is no longer active, was activated again since it was queued, or its activator no longer holds read: dropped")

// ErrMailRecipientGone means the email was a workflow's notification whose recipient is no longer a
// user of the tenant, or is a disabled one: it was dropped, with an audit entry "mail_dropped"
// naming the recipient, and is never sent or kept (its text, rendered from the record, would show
// record data to someone without access).
var ErrMailRecipientGone = errors.New("crm: this notification's recipient is no longer an enabled user of the tenant: dropped")

// ErrMailInFlight means another worker holds the lease on the delivery of the same email; the
// caller should try again after the lease expires.
var ErrMailInFlight = errors.New("crm: another delivery of this email is in progress")

// Mail is an email of crmflow's, in each place it is kept: written atomically with the change that
// causes it until a worker has delivered it (PendingMailKey, as the confirmation of a permanent
// delete), and in a tenant's outbox when no SMTP server is configured (OutboxKey, as JSON, oldest
// first). A pending mail has no Ref nor ExpiresAt.
type Mail struct {
	// ID is the email's idempotency key: one message of an ID is ever kept.
	ID string `json:"id"`
	// To is the recipient's address.
	To string `json:"to"`
	// Subject and Body are the email's text.
	Subject string `json:"subject"`
	Body    string `json:"body"`
	// Kind names what the email is for, such as "permanent_delete_confirmation".
	Kind string `json:"kind"`
	// CreatedAt is when the email was kept.
	CreatedAt time.Time `json:"created_at"`
	// Ref, when set, names the record a workflow notification is about: Subject and Body are then
	// stored as templates, and Outbox renders them from the record when they are read (the record's
	// data is never stored in the outbox). Zero for an email stored as text.
	Ref MailRef `json:"ref,omitzero"`
	// ExpiresAt, when set, is when the entry leaves the outbox: AppendOutbox and ExpireOutbox
	// remove the expired entries (indexed by time in OutboxExpiryKey). Zero keeps it.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Erased is set by Outbox, never stored, on a notification whose record no longer exists
	// (permanently deleted or purged): Subject and Body then say so, naming the record's id only.
	Erased bool `json:"-"`
	// Failure is set by PendingMails, never stored with the email, on a pending email whose
	// delivery failed for good; nil otherwise.
	Failure *MailFailure `json:"-"`
	// Retries is set by PendingMails: how many times an operator asked for the pending email to be
	// tried again after it failed (RetryPendingMail).
	Retries int `json:"-"`
}

// MailFailure is why the delivery of a pending email stopped for good: the SMTP server refused it
// for good (a 5xx reply), or its last retry failed. Neither the worker nor the mail sweep tries it
// again until an operator retries it (crmflow admin outbox retry) or discards it.
type MailFailure struct {
	// At is when the last delivery failed.
	At time.Time `json:"at"`
	// Reason is the last delivery's error, with the recipient's address replaced by "recipient".
	Reason string `json:"reason"`
}

// MaxMailFailureReason is the longest MailFailure.Reason kept, in bytes.
const MaxMailFailureReason = 500

// LogValue logs a message by id and kind only: the address and the text are personal data.
func (m Mail) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mail_id", m.ID), slog.String("kind", m.Kind))
}

// MailClaim is what ClaimMail found in the delivery ledger.
type MailClaim int

// The answers of ClaimMail.
const (
	// MailClaimed means the caller now holds the lease: it must deliver the email and then call
	// FinishMail, whatever the outcome.
	MailClaimed MailClaim = iota + 1
	// MailDone means the email was already delivered (or kept in the outbox): do nothing.
	MailDone
	// MailBusy means another delivery holds the lease: try again after it expires.
	MailBusy
	// MailDropped means the email was about a record that no longer exists (permanently deleted or
	// purged): it was dropped, with an audit entry, and must never be sent.
	MailDropped
	// MailRecipientGone means the recipient of a notification is no longer a user of the tenant,
	// or is a disabled one: it was dropped, with an audit entry naming the recipient, and must
	// never be sent (its text would show record data to someone without access).
	MailRecipientGone
	// MailWorkflowStopped means the workflow of a notification is no longer active, or is active
	// under another activation than the one the notification was queued under (MailRef.ActivatedAt),
	// or its activator no longer holds the read permission its text needs: it was dropped, with an
	// audit entry, and must never be sent (a paused workflow sends no more emails, not even once it
	// is activated again).
	MailWorkflowStopped
	// MailAlreadyDropped means the email was dropped before (one of the reasons above, with its
	// audit entry then): nothing was written now, and it must never be sent. A task run again
	// after its email's drop gets it, so that a drop is counted once.
	MailAlreadyDropped
)

// MailDelivery is what the delivery of a workflow notification is checked against when it is
// claimed (ClaimRecordMail): the record it is about, its recipient, and whether its text shows the
// record's data (ShowsRecordData).
type MailDelivery struct {
	Ref             MailRef
	To              string
	ShowsRecordData bool
}

// String returns "claimed", "done", "busy", "dropped", "recipient gone", "workflow stopped" or
// "already dropped".
func (c MailClaim) String() string {
	switch c {
	case MailClaimed:
		return "claimed"
	case MailDone:
		return "done"
	case MailBusy:
		return "busy"
	case MailDropped:
		return "dropped"
	case MailRecipientGone:
		return "recipient gone"
	case MailWorkflowStopped:
		return "workflow stopped"
	case MailAlreadyDropped:
		return "already dropped"
	}
	return fmt.Sprintf("MailClaim(%d)", int(c))
}
