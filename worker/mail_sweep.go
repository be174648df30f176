package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmflow/crmflow/crm"
)

// TypeMailSweep is the type of the task that re-enqueues the pending emails left behind: emails the
// store wrote with the change that caused them (a permanent delete's confirmation) whose enqueue
// was lost (the API crashed, or the queue was down). The scheduler enqueues one per tick.
const TypeMailSweep = "mail:sweep"

// MailSweepGrace is how old a pending email must be before a sweep re-enqueues it: younger ones are
// most likely being enqueued by the request that wrote them. (Enqueueing twice would still send once.)
const MailSweepGrace = time.Minute

// NewMailSweepTask returns a mail:sweep task for queue default. With a non-zero asOf its task id is
// derived from asOf, so a second sweep of the same asOf within DedupeWindow is refused with
// ErrDuplicate.
func NewMailSweepTask(asOf time.Time) *asynq.Task {
	return newSweepTask(TypeMailSweep, asOf, 3, DedupeWindow)
}

// outboxExpirer is implemented by a MailStore whose outbox entries expire (*redisstore.Store).
type outboxExpirer interface {
	ExpireOutbox(ctx context.Context, t crm.TenantID, now time.Time, limit int) (int, error)
}

// HandleMailSweep handles a mail:sweep task: for every tenant it removes the expired outbox
// entries (at most crm.MaxScriptBatch a tenant and sweep), and enqueues a mail:send
// (NewPendingMailTask) for each pending email written at least MailSweepGrace before as_of. An email
// already queued is skipped, one already delivered is acknowledged by its task without sending it
// again. It returns an error (and is retried) if a tenant's pending emails cannot be read or one
// cannot be enqueued. A bad payload wraps asynq.SkipRetry.
func (w *Worker) HandleMailSweep(ctx context.Context, t *asynq.Task) error {
	asOf, tenants, _, err := w.routineSweepStart(ctx, t)
	if err != nil {
		return err
	}
	var enqueued, duplicates int
	var errs []error
	for _, tenant := range tenants {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if ex, ok := w.mail.(outboxExpirer); ok {
			// Workflow notifications past Config.OutboxRetention leave the outbox even when no
			// new email is appended to it.
			if _, err := ex.ExpireOutbox(ctx, tenant, asOf, crm.MaxScriptBatch); err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", tenant, err))
			}
		}
		mails, err := w.store.PendingMails(ctx, tenant)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", tenant, err))
			continue
		}
		for _, m := range mails {
			if asOf.Sub(m.CreatedAt) < MailSweepGrace {
				continue
			}
			task, err := NewPendingMailTask(tenant, m)
			if err != nil {
				// A pending email that can never be sent: say so loudly, leave it for an operator.
				w.taskLogger(ctx, t).Error("pending email cannot be sent", "tenant_id", string(tenant),
					"mail_id", m.ID, "error", err)
				continue
			}
			_, err = w.enq.Enqueue(ctx, task)
			switch {
			case errors.Is(err, ErrDuplicate):
				duplicates++
			case err != nil:
				errs = append(errs, fmt.Errorf("tenant %s, email %s: %w", tenant, m.ID, err))
			default:
				enqueued++
			}
		}
	}
	w.taskLogger(ctx, t).Log(ctx, sweepLevel(enqueued, len(errs)), "mail sweep done", "tenants", len(tenants), "enqueued", enqueued,
		"already_enqueued", duplicates, "failed", len(errs))
	if len(errs) > 0 {
		return fmt.Errorf("enqueue pending emails: %w", errors.Join(errs...))
	}
	return nil
}
