package worker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/crmflow/crmflow/crm"
)

// TypeMailSend is the type of the task that sends one email.
const TypeMailSend = "mail:send"

// MailMaxRetry is how many times a mail:send task is retried before asynq archives it (where an
// operator can still see and re-run it). With the default backoff this keeps trying for about a day.
const MailMaxRetry = 25

// KindPermanentDeleteConfirmation is the kind of the email confirming a permanent delete.
const KindPermanentDeleteConfirmation = "permanent_delete_confirmation"

// MailSendPayload is the payload of a mail:send task.
type MailSendPayload struct {
	// TenantID is the tenant the email is sent for; its outbox keeps the email when no SMTP server
	// is configured.
	TenantID crm.TenantID `json:"tenant_id"`
	// To is the recipient's address.
	To string `json:"to"`
	// Subject is one line of text.
	Subject string `json:"subject"`
	// Body is plain UTF-8 text.
	Body string `json:"body"`
	// Kind names what the email is for, in lowercase letters, digits and underscores (a metric
	// label), such as KindPermanentDeleteConfirmation.
	Kind string `json:"kind"`
	// IdempotencyKey identifies the email: however often its task runs, an email of a key is sent
	// (or kept in the outbox) once. NewMailSendTask fills in a random one when it is empty.
	IdempotencyKey string `json:"idempotency_key"`
	// ObjectType, RecordID and Workflow, when RecordID is set, name the record a workflow
	// notification is about and the workflow that wrote it. Subject and Body are then templates
	// ({{property}}, {{id}}), rendered from the record only when the email is delivered: no queued
	// or retried task holds the record's data. An email about a record that no longer exists (live
	// or in the bin) is dropped, never sent (see HandleMailSend).
	ObjectType crm.ObjectType `json:"object_type,omitempty"`
	RecordID   crm.RecordID   `json:"record_id,omitempty"`
	Workflow   string         `json:"workflow,omitempty"`
	// ActivatedAt, with a Workflow, is the workflow's activation whose step queued the
	// notification (crm.Flow.ActivatedAt): it is delivered, or kept in the outbox, only while that
	// activation is the workflow's current one, and dropped otherwise (audit entry "mail_dropped",
	// reason "workflow_reactivated"), so that pausing a workflow stops the emails it queued for
	// good. A task queued by a version that did not record it has none: its email is taken to
	// belong to the current activation.
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	// Activation, with ActivatedAt, is that activation's number (crm.Flow.Activation), which tells
	// apart two activations made in the same millisecond. 0 for a task queued by a version that
	// did not record it: ActivatedAt alone then names the activation.
	Activation int64 `json:"activation,omitempty"`
	// PendingMail is set when the email is a crm.Mail of the tenant (whose ID is the
	// IdempotencyKey): once it is delivered or kept, the handler acknowledges it in the store.
	PendingMail bool `json:"pending_mail,omitempty"`
}

func (p MailSendPayload) ref() crm.MailRef {
	return crm.MailRef{ObjectType: p.ObjectType, RecordID: p.RecordID, Workflow: p.Workflow, ActivatedAt: p.ActivatedAt,
		Activation: p.Activation}
}

// LogValue logs the payload without the address or the text, which are personal data.
func (p MailSendPayload) LogValue() slog.Value {
	return slog.GroupValue(slog.String("tenant_id", string(p.TenantID)), slog.String("kind", p.Kind),
		slog.String("mail_id", p.IdempotencyKey))
}

var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func (p MailSendPayload) validate() error {
	if err := p.TenantID.Validate(); err != nil {
		return err
	}
	if a, err := mail.ParseAddress(p.To); err != nil || a.Address != p.To {
		return &crm.ValidationError{Field: "to", Code: "INVALID_EMAIL",
			Message: "the email's recipient is not a plain email address (such as jane@example.com)"}
	}
	if p.Subject == "" || strings.ContainsAny(p.Subject, "\r\n") {
		return &crm.ValidationError{Field: "subject", Code: "INVALID_SUBJECT",
			Message: "the email's subject must be one non-empty line"}
	}
	if p.RecordID != "" && p.ObjectType == "" {
		return &crm.ValidationError{Field: "object_type", Code: "INVALID_RECORD_REF",
			Message: "an email about a record needs the record's object type beside its id"}
	}
	if !kindRE.MatchString(p.Kind) {
		return &crm.ValidationError{Field: "kind", Code: "INVALID_KIND",
			Message: fmt.Sprintf("email kind %q is invalid: use lowercase letters, digits and underscores", p.Kind)}
	}
	if p.IdempotencyKey == "" || len(p.IdempotencyKey) > 200 || strings.ContainsFunc(p.IdempotencyKey, unicode.IsSpace) {
		return &crm.ValidationError{Field: "idempotency_key", Code: "INVALID_IDEMPOTENCY_KEY",
			Message: "the email's idempotency key must be 1 to 200 characters without spaces"}
	}
	return nil
}

// NewMailSendTask returns a mail:send task for queue critical, retried up to MailMaxRetry times with
// the worker's exponential backoff (see MailConfig.RetryBase). Its task id is derived from the
// tenant and the idempotency key (and, for a workflow's notification, the activation it was queued
// under), so enqueueing the same email twice while the first is queued fails with ErrDuplicate. It returns a *crm.ValidationError naming a bad field.
func NewMailSendTask(p MailSendPayload) (*asynq.Task, error) {
	return newMailSendTask(p, 0)
}

// newMailSendTask is NewMailSendTask for the retry-th operator's retry of a pending email.
func newMailSendTask(p MailSendPayload, retry int) (*asynq.Task, error) {
	if p.IdempotencyKey == "" {
		p.IdempotencyKey = uuid.NewString()
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", TypeMailSend, err)
	}
	key := p.IdempotencyKey
	if p.RecordID != "" && !p.ActivatedAt.IsZero() {
		// Each activation's copy of a notification is a task of its own: a step that runs again
		// under a new activation (its first run's result lost) queues its email even while the
		// first activation's copy is still queued, retried or archived; the delivery ledger sends
		// the email once (see HandleMailSend).
		key += ":" + stamp(p.ActivatedAt)
		if p.Activation != 0 {
			key += "." + strconv.FormatInt(p.Activation, 10)
		}
	}
	return asynq.NewTask(TypeMailSend, raw,
		asynq.Queue(QueueCritical),
		asynq.MaxRetry(MailMaxRetry),
		asynq.TaskID(mailTaskID(p.TenantID, key, retry)),
	), nil
}

// mailTaskID is the task id of the email of an idempotency key; after an operator's retry of a
// failed pending email it names the retry, apart from the failed task kept in the queue's archive.
func mailTaskID(t crm.TenantID, key string, retry int) string {
	id := TypeMailSend + ":" + string(t) + ":" + key
	if retry > 0 {
		id += ":retry-" + strconv.Itoa(retry)
	}
	return id
}

// NewPendingMailTask returns the mail:send task that delivers a pending email the store wrote
// atomically with the change that caused it (such as crm.PermanentDeleteResult.Mail), with m.ID as
// its idempotency key; once delivered (or kept in the outbox) the handler acknowledges it
// (redisstore.Store.AckPendingMail). Enqueueing it twice, from the API and from the mail sweep, sends
// it once. After an operator's retry of it (m.Retries, see crm.MailFailure) its task id names the
// retry, so that the failed task kept in the queue's archive does not hold it back. Options and
// errors as NewMailSendTask.
func NewPendingMailTask(tenant crm.TenantID, m crm.Mail) (*asynq.Task, error) {
	if m.ID == "" {
		return nil, &crm.ValidationError{Field: "id", Code: "INVALID_IDEMPOTENCY_KEY",
			Message: "a pending email needs its id: it is the email's idempotency key"}
	}
	return newMailSendTask(MailSendPayload{TenantID: tenant, To: m.To, Subject: m.Subject, Body: m.Body,
		Kind: m.Kind, IdempotencyKey: m.ID, PendingMail: true}, m.Retries)
}

// NewPermanentDeleteConfirmation returns the mail:send task that tells the acting user, at
// userEmail, that the permanent delete they asked for at time at is done (SPEC S11). what is what
// the user typed to name the contact. The email names no personal data beyond that: a record id
// is echoed as typed, but an email address is not (the message is kept in the tenant's outbox when
// no SMTP server is configured, and no key of the tenant may hold the deleted contact's email, SPEC
// S9); it is then described as "the contact with the email address you entered". Each call draws a
// new idempotency key, so call it once per delete. A *crm.ValidationError for a bad tenant,
// address or time. When the store wrote the confirmation with the delete
// (crm.PermanentDeleteResult.Mail), send that one with NewPendingMailTask instead.
func NewPermanentDeleteConfirmation(tenant crm.TenantID, userEmail, what string, at time.Time) (*asynq.Task, error) {
	if at.IsZero() {
		return nil, &crm.ValidationError{Field: "at", Code: "MISSING_TIME",
			Message: "the confirmation of a permanent delete needs the time of the delete"}
	}
	return NewMailSendTask(MailSendPayload{
		TenantID: tenant,
		To:       userEmail,
		Subject:  "crmflow: your permanent delete is done",
		Body:     permanentDeleteBody(tenant, what, at),
		Kind:     KindPermanentDeleteConfirmation,
	})
}

func permanentDeleteBody(tenant crm.TenantID, what string, at time.Time) string {
	target := "the contact with the email address you entered"
	what = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return -1
		}
		return r
	}, what))
	switch {
	case what == "":
		target = "the contact you named"
	case !strings.Contains(what, "@"):
		if len(what) > 100 {
			// At most 100 bytes, never cutting a character in half.
			n := 0
			for i := range what {
				if i > 100 {
					break
				}
				n = i
			}
			what = what[:n]
		}
		target = "contact " + what
	}
	return fmt.Sprintf(`Hello,

The permanent delete you asked for in the crmflow account %s is done.

Deleted: %s
At: %s

The contact and everything tied to it (notes, activities, form submissions, workflow history,
list memberships) were removed for good; they cannot be restored. Its email addresses are
blocklisted: a new contact with one of them will be refused.

You receive this email because you made this request.
`, tenant, target, at.UTC().Format("2006-01-02 15:04:05 MST"))
}

// MailStore keeps the outbox and the delivery ledger of emails. *redisstore.Store implements it;
// see its methods for the contract.
type MailStore interface {
	// AppendOutbox keeps an email in the tenant's outbox, once per message ID (again: an error
	// wrapping crm.ErrMailDone), and returns how many workflow notifications it dropped to stay
	// within opts.Max. It drops a notification as ClaimRecordMail does: when its record is gone
	// (crm.ErrMailDropped), when its recipient is no longer an enabled user of the tenant
	// (crm.ErrMailRecipientGone), or when its workflow is no longer active under the activation it
	// was queued under or its activator lacks the read its text needs (crm.ErrMailWorkflowStopped).
	AppendOutbox(ctx context.Context, t crm.TenantID, m crm.Mail, opts *crm.AppendOutboxOpts) (int, error)
	// ClaimMail takes a lease on the delivery of the email of an idempotency key.
	ClaimMail(ctx context.Context, t crm.TenantID, id, token string, lease time.Duration) (crm.MailClaim, error)
	// FinishMail records the email as sent, or releases the lease after a failure.
	FinishMail(ctx context.Context, t crm.TenantID, id, token string, delivered bool) error
	// ClaimRecordMail is ClaimMail for a workflow's notification: it drops the email when the record
	// exists neither live nor in the bin (crm.MailDropped), when its recipient is no longer an
	// enabled user of the tenant (crm.MailRecipientGone), or when its workflow is no longer active
	// under the activation it was queued under (crm.MailRef.ActivatedAt) or its activator lacks the
	// read its text needs (crm.MailWorkflowStopped).
	ClaimRecordMail(ctx context.Context, t crm.TenantID, id, token string, lease time.Duration, d crm.MailDelivery) (crm.MailClaim, error)
}

// HandleMailSend handles a mail:send task. With no SMTP host configured it keeps the email in the
// tenant's outbox (a workflow notification as its templates and record reference, expiring after
// Config.OutboxRetention; past Config.OutboxMax entries the oldest notifications are dropped,
// counted and logged).
// An email about a record (MailSendPayload.RecordID) is rendered from the record, live or in the
// bin, only after the delivery's lease is taken; when the record exists in neither (permanently
// deleted or purged) the email is dropped in the same step as the claim (or as keeping it in the
// outbox), with an audit entry "mail_dropped" naming the mail id, the workflow and the record id,
// and is never sent: a task queued or retrying before an erasure sends nothing after it. A
// notification whose recipient is no longer an enabled user of the tenant, whose workflow is no
// longer active under the activation that queued it (MailSendPayload.ActivatedAt), or whose
// workflow's activator no longer holds the read its text needs is dropped likewise (audit reasons
// "recipient_gone", "workflow_inactive" or "workflow_reactivated", "activator_lacks_read"), over
// SMTP and in the outbox alike: an email queued before a pause is never sent, nor kept, nor
// retried, even once the workflow is activated again. A step that runs again under a new activation, its first run's result lost (a crash
// between the email and the step's record), queues the same email under the new activation: that
// copy is sent (or kept) unless the first copy was sent (or kept) already, so that the email goes
// out once. A task run again after its email was dropped does nothing, and counts no second drop.
// Otherwise it takes the delivery ledger's lease on the email's idempotency key,
// sends over SMTP, and records the email as sent, so that a retry after a successful send does
// nothing. A pending email (MailSendPayload.PendingMail) is then acknowledged in the store. A
// temporary failure (network, 4xx, refused credentials) returns an error so that asynq retries with
// backoff; a permanent one (5xx, an address outside ASCII for a server without SMTPUTF8) or a bad
// payload wraps asynq.SkipRetry and the task is archived. A server that drops the connection after
// taking the message but before its reply may get it again from the retry, with the same
// Message-ID (derived from the tenant and the idempotency key).
func (w *Worker) HandleMailSend(ctx context.Context, t *asynq.Task) error {
	var p MailSendPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode %s payload: %w: %w", TypeMailSend, asynq.SkipRetry, err)
	}
	if err := p.validate(); err != nil {
		return fmt.Errorf("%s payload: %w: %w", TypeMailSend, asynq.SkipRetry, err)
	}
	log := w.taskLogger(ctx, t).With("kind", p.Kind, "mail_id", p.IdempotencyKey)
	if err := w.deliver(ctx, log, p); err != nil {
		if p.PendingMail && failedForGood(ctx, err) {
			// Even when ctx ends: the failure must not be lost.
			w.failPendingMail(context.WithoutCancel(ctx), log, p.TenantID, p.IdempotencyKey, p.Kind, redactAddress(err.Error(), p.To))
		}
		return err
	}
	if p.PendingMail {
		// Even when ctx ends: the email is out, only the acknowledgement is left.
		if err := w.store.AckPendingMail(context.WithoutCancel(ctx), p.TenantID, p.IdempotencyKey); err != nil {
			// The retry finds the email delivered in the ledger and acknowledges it then.
			return fmt.Errorf("acknowledge pending email: %w", err)
		}
	}
	return nil
}

// failedForGood reports whether err, the error of a mail:send task, ends the task: the server
// refused for good (asynq.SkipRetry), or this was its last retry. Another delivery of the same
// email in flight is not a failure.
func failedForGood(ctx context.Context, err error) bool {
	if errors.Is(err, crm.ErrMailInFlight) {
		return false
	}
	if errors.Is(err, asynq.SkipRetry) {
		return true
	}
	n, ok1 := asynq.GetRetryCount(ctx)
	last, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= last
}

// failPendingMail records that the delivery of a pending email failed for good, so that an operator
// sees it (crmflow admin outbox pending) and the mail sweep no longer enqueues it; reason names no
// address. It counts and logs the failure, saying what to do.
func (w *Worker) failPendingMail(ctx context.Context, log *slog.Logger, t crm.TenantID, id, kind, reason string) {
	ok, err := w.store.FailPendingMail(ctx, t, id, crm.MailFailure{At: w.clock.Now(), Reason: reason})
	switch {
	case err != nil:
		log.Error("could not record that a pending email failed for good: the mail sweep records it later", "error", err)
		return
	case !ok:
		return // delivered and acknowledged meanwhile
	}
	w.metrics.mailPendingFailed.WithLabelValues(mailKindLabel(kind)).Inc()
	log.Error(fmt.Sprintf("a pending email failed for good and is no longer tried: fix the cause the reason gives, "+
		"then run `crmflow admin outbox retry %s %s` (or `crmflow admin outbox discard` to give up on it); "+
		"`crmflow admin outbox pending %s` lists such emails", t, id, t),
		"tenant_id", string(t), "mail_id", id, "kind", kind, "reason", reason)
}

// deliver sends the email, or keeps it in the outbox, once per idempotency key; an email already
// delivered is not an error.
func (w *Worker) deliver(ctx context.Context, log *slog.Logger, p MailSendPayload) error {
	ref := p.ref()
	if w.cfg.Mail.Host == "" {
		now := w.clock.Now()
		m := crm.Mail{ID: p.IdempotencyKey, To: p.To, Subject: p.Subject, Body: p.Body,
			Kind: p.Kind, CreatedAt: now, Ref: ref}
		if !ref.IsZero() {
			m.ExpiresAt = now.Add(w.cfg.OutboxRetention)
		}
		dropped, err := w.mail.AppendOutbox(ctx, p.TenantID, m, &crm.AppendOutboxOpts{Max: w.cfg.OutboxMax})
		switch {
		case errors.Is(err, crm.ErrMailDropped):
			w.metrics.mailDropped.WithLabelValues(mailKindLabel(p.Kind)).Inc()
			log.Info("the email's record no longer exists: email dropped, not kept")
			return nil
		case errors.Is(err, crm.ErrMailRecipientGone):
			w.metrics.mailDropped.WithLabelValues(mailKindLabel(p.Kind)).Inc()
			log.Warn("the email's recipient is no longer an enabled user of the tenant: email dropped, not kept (audit entry mail_dropped)")
			return nil
		case errors.Is(err, crm.ErrMailWorkflowStopped):
			w.metrics.mailDropped.WithLabelValues(mailKindLabel(p.Kind)).Inc()
			log.Warn("the email's workflow is no longer active, was activated again since the email was queued, "+
				"or its activator no longer holds read: email dropped, not kept (audit entry mail_dropped)", "workflow", p.Workflow)
			return nil
		case errors.Is(err, crm.ErrMailDone):
			log.Info("email already kept, sent or dropped: not keeping it again")
			return nil
		case err != nil:
			return fmt.Errorf("keep email in the outbox: %w", err)
		}
		w.metrics.mailKept.WithLabelValues(mailKindLabel(p.Kind)).Inc()
		if dropped > 0 {
			w.metrics.outboxDropped.Add(float64(dropped))
			log.Warn("no SMTP server is configured: email kept in the tenant's outbox, which is full: "+
				"dropped its oldest workflow notifications; configure --smtp-host to send emails, or raise --outbox-max",
				"dropped", dropped, "outbox_max", w.cfg.OutboxMax)
			return nil
		}
		log.Warn("no SMTP server is configured: email kept in the tenant's outbox")
		return nil
	}

	token := randomToken()
	claim := func() (crm.MailClaim, error) {
		if ref.IsZero() {
			return w.mail.ClaimMail(ctx, p.TenantID, p.IdempotencyKey, token, w.cfg.Mail.lease())
		}
		return w.mail.ClaimRecordMail(ctx, p.TenantID, p.IdempotencyKey, token, w.cfg.Mail.lease(),
			crm.MailDelivery{Ref: ref, To: p.To, ShowsRecordData: crm.ShowsRecordData(p.Subject, p.Body)})
	}
	c, err := claim()
	if err != nil {
		return fmt.Errorf("claim email delivery: %w", err)
	}
	// dropped says whether the claim dropped the email, and counts and logs it if so.
	dropped := func(c crm.MailClaim) bool {
		switch c {
		case crm.MailDropped:
			log.Info("the email's record no longer exists: email dropped, not sent")
		case crm.MailRecipientGone:
			log.Warn("the email's recipient is no longer an enabled user of the tenant: email dropped, not sent (audit entry mail_dropped)")
		case crm.MailWorkflowStopped:
			log.Warn("the email's workflow is no longer active, was activated again since the email was queued, "+
				"or its activator no longer holds read: email dropped, not sent (audit entry mail_dropped)", "workflow", p.Workflow)
		default:
			return false
		}
		w.metrics.mailDropped.WithLabelValues(mailKindLabel(p.Kind)).Inc()
		return true
	}
	switch {
	case c == crm.MailDone:
		log.Info("email already delivered: not sending it again")
		return nil
	case c == crm.MailAlreadyDropped:
		log.Info("email dropped before (audit entry mail_dropped): not sending it, nor counting it again")
		return nil
	case c == crm.MailBusy:
		return fmt.Errorf("email %s: %w", p.IdempotencyKey, crm.ErrMailInFlight)
	case dropped(c):
		return nil
	}
	// The ledger is written even when ctx ends: the outcome of the delivery must not be lost.
	finishCtx := context.WithoutCancel(ctx)

	subject, body := p.Subject, p.Body
	if !ref.IsZero() {
		rec, err := w.mailRecord(ctx, p.TenantID, ref)
		if errors.Is(err, crm.ErrNotFound) {
			// Erased between the claim and this read: the claim again (same lease) drops it. Should
			// it not, the read's error stands: the lease is released and the task retried.
			if c, cerr := claim(); cerr == nil && dropped(c) {
				return nil
			}
		}
		if err != nil {
			if rerr := w.mail.FinishMail(finishCtx, p.TenantID, p.IdempotencyKey, token, false); rerr != nil {
				log.Warn("could not release the email's lease: its retry waits for the lease to expire", "error", rerr)
			}
			return fmt.Errorf("read the email's record: %w", err)
		}
		subject, body = crm.RenderNotification(p.Subject, p.Body, ref, rec)
	}

	to := transportAddress(p.To)
	msg := buildMessage(w.cfg.Mail.From, to, subject, body, messageID(p), w.clock.Now())
	if err := w.cfg.Mail.send(ctx, to, msg); err != nil {
		w.metrics.mailFailed.WithLabelValues(mailKindLabel(p.Kind)).Inc()
		if rerr := w.mail.FinishMail(finishCtx, p.TenantID, p.IdempotencyKey, token, false); rerr != nil {
			log.Warn("could not release the email's lease: its retry waits for the lease to expire", "error", rerr)
		}
		return err
	}
	w.metrics.mailSent.WithLabelValues(mailKindLabel(p.Kind)).Inc()
	if err := w.mail.FinishMail(finishCtx, p.TenantID, p.IdempotencyKey, token, true); err != nil {
		// Returning an error would retry, and send again once the lease expires: the email went.
		log.Error("email delivered but not recorded as sent", "error", err)
	}
	log.Info("email delivered")
	return nil
}

// mailRecord reads the record an email is about, live or else in the bin: a notification written
// before a restorable delete is still delivered (the bin keeps the data until the purge). A
// *crm.NotFoundError when it exists in neither.
func (w *Worker) mailRecord(ctx context.Context, t crm.TenantID, ref crm.MailRef) (crm.Record, error) {
	rec, err := w.store.Record(ctx, t, ref.ObjectType, ref.RecordID, nil)
	if errors.Is(err, crm.ErrNotFound) {
		rec, err = w.store.Record(ctx, t, ref.ObjectType, ref.RecordID, &crm.ReadOpts{Archived: true})
	}
	return rec, err
}

// messageID derives the Message-ID's local part from the email's tenant and idempotency key, so a
// receiving server can recognise a copy too.
func messageID(p MailSendPayload) string {
	sum := sha256.Sum256([]byte(string(p.TenantID) + "\x00" + p.IdempotencyKey))
	return hex.EncodeToString(sum[:16])
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
