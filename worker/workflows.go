package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/engine"
	"github.com/crmflow/crmflow/workflows"
)

// workflowDeps are the services the workflow actions run with (see actions.Deps).
func (w *Worker) workflowDeps() actions.Deps {
	return actions.Deps{Clock: w.clock, Mailer: workflowMailer{w}, Store: w.store}
}

// workflowMailer hands notify_user's emails to mail:send, the path of the permanent-delete
// confirmation, as templates plus the record's reference (never rendered text): the task id is
// derived from the tenant and the email's idempotency key, and the delivery ledger (or the outbox)
// keeps a second task of the same key from sending again.
type workflowMailer struct{ w *Worker }

// SendMail implements actions.Mailer. An email that cannot be sent at all (a bad address) wraps
// actions.ErrCannotRun; one already queued is not an error.
func (m workflowMailer) SendMail(ctx context.Context, tenant crm.TenantID, mail actions.Mail) error {
	task, err := NewMailSendTask(MailSendPayload{TenantID: tenant, To: mail.To, Subject: mail.Subject, Body: mail.Body,
		Kind: mail.Kind, IdempotencyKey: mail.IdempotencyKey,
		ObjectType: mail.Ref.ObjectType, RecordID: mail.Ref.RecordID, Workflow: mail.Ref.Workflow, ActivatedAt: mail.Ref.ActivatedAt,
		Activation: mail.Ref.Activation})
	if err != nil {
		return fmt.Errorf("%w: %w", actions.ErrCannotRun, err)
	}
	if _, err := m.w.enq.Enqueue(ctx, task); err != nil && !errors.Is(err, ErrDuplicate) {
		return err
	}
	return nil
}

// workflow returns the parsed revision of a workflow from the worker's cache.
func (w *Worker) workflow(ctx context.Context, t crm.TenantID, rev crm.FlowRevision) (*workflows.Workflow, error) {
	return w.programs.Workflow(ctx, cacheStore{w}, t, rev)
}

// cacheStore is what the program cache reads from the store: revisions and schemas.
type cacheStore struct{ w *Worker }

func (c cacheStore) FlowRevision(ctx context.Context, t crm.TenantID, name string, rev int64) (crm.FlowRevision, error) {
	return c.w.store.FlowRevision(ctx, t, name, rev)
}

func (c cacheStore) Schema(ctx context.Context, t crm.TenantID, o crm.ObjectType) (crm.Schema, error) {
	return c.w.store.Schema(ctx, t, o)
}

var _ engine.Store = cacheStore{}

// listSets reads the members of the suppression lists of a workflow of object type o into sets
// (engine.LoadLists), reusing those already read in this task run (seen). A list that does not
// exist, or holds another object type, has no members here; it is logged.
func (w *Worker) listSets(ctx context.Context, log *slog.Logger, t crm.TenantID, o crm.ObjectType, ids []crm.ListID, seen engine.ListSets) (engine.ListSets, error) {
	sets, unusable, err := engine.LoadLists(ctx, w.store, t, o, ids, seen)
	for _, u := range unusable {
		log.Warn("a suppression list of a workflow suppresses no one: "+u.Reason(o), "list_id", u.ID)
	}
	return sets, err
}

// idsHash names a set of record ids (with their enrollment counts, when known) in a task id.
func idsHash(ids []crm.RecordID, counts []int) string {
	h := sha256.New()
	for i, id := range ids {
		h.Write([]byte(id))
		if i < len(counts) {
			h.Write([]byte("#" + strconv.Itoa(counts[i])))
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
