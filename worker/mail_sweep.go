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
// again. A pending email whose delivery failed for good (crm.MailFailure) is left to an operator:
// not enqueued, but counted in a warning per tenant that says what to do. One that can never be
// sent (a bad address), or whose task the queue archived without its failure being recorded (a
// worker stopped first), is recorded as failed here. It returns an error (and is retried) if a
// tenant's pending emails cannot be read or one cannot be enqueued. A bad payload wraps
// asynq.SkipRetry.
func (w *Worker) HandleMailSweep(ctx context.Context, t *asynq.Task) error {
	asOf, tenants, _, err := w.routineSweepStart(ctx, t)
	if err != nil {
		return err
	}
	log := w.taskLogger(ctx, t)
	var enqueued, duplicates, failedTotal int
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
		failed := 0
		for _, m := range mails {
			if m.Failure != nil {
				failed++
				continue
			}
			if asOf.Sub(m.CreatedAt) < MailSweepGrace {
				continue
			}
			mlog := log.With("tenant_id", string(tenant), "mail_id", m.ID, "kind", m.Kind)
			task, err := NewPendingMailTask(tenant, m)
			if err != nil {
				// A pending email that can never be sent: leave it to an operator.
				w.failPendingMail(ctx, mlog, tenant, m.ID, m.Kind, redactAddress(err.Error(), m.To))
				failed++
				continue
			}
			_, err = w.enq.Enqueue(ctx, task)
			switch {
			case errors.Is(err, ErrDuplicate):
				// Queued, or archived by the queue (failed for good) without its failure recorded.
				lastErr, archived, err := w.enq.archivedTask(QueueCritical, mailTaskID(tenant, m.ID, m.Retries))
				switch {
				case err != nil:
					errs = append(errs, fmt.Errorf("tenant %s, email %s: %w", tenant, m.ID, err))
				case archived:
					w.failPendingMail(ctx, mlog, tenant, m.ID, m.Kind, redactAddress("its task failed for good: "+lastErr, m.To))
					failed++
				default:
					duplicates++
				}
			case err != nil:
				errs = append(errs, fmt.Errorf("tenant %s, email %s: %w", tenant, m.ID, err))
			default:
				enqueued++
			}
		}
		if failed > 0 {
			failedTotal += failed
			log.Warn(fmt.Sprintf("pending emails whose delivery failed for good wait for an operator: "+
				"`crmflow admin outbox pending %s` lists them with the reason; fix the cause, then retry or discard each", tenant),
				"tenant_id", string(tenant), "failed", failed)
		}
	}
	log.Log(ctx, sweepLevel(enqueued, len(errs)), "mail sweep done", "tenants", len(tenants), "enqueued", enqueued,
		"already_enqueued", duplicates, "failed_for_good", failedTotal, "failed", len(errs))
	if len(errs) > 0 {
		return fmt.Errorf("enqueue pending emails: %w", errors.Join(errs...))
	}
	return nil
}
