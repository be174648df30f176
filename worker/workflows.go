package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/engine"
	"github.com/crmflow/crmflow/workflows"
)

// FlowStore is the part of the store the workflow engine's tasks use: workflows and their
// revisions, enrollments, steps, history and the change marks every record write leaves.
// *crm.RedisStore implements it; see its methods for the contract.
type FlowStore interface {
	// Flow returns a workflow, or an error matching crm.ErrNotFound.
	Flow(ctx context.Context, t crm.TenantID, name string) (crm.Flow, error)
	// Flows lists a tenant's workflows.
	Flows(ctx context.Context, t crm.TenantID) ([]crm.Flow, error)
	// FlowRevision returns one revision of a workflow, or an error matching crm.ErrNotFound.
	FlowRevision(ctx context.Context, t crm.TenantID, name string, rev int64) (crm.FlowRevision, error)
	// ActiveFlows returns the active workflows of an object type with their active revision.
	ActiveFlows(ctx context.Context, t crm.TenantID, o crm.ObjectType) ([]crm.Flow, []crm.FlowRevision, error)
	// EvaluateFlow applies verdicts to a workflow and returns the records it enrolled.
	EvaluateFlow(ctx context.Context, t crm.TenantID, f crm.FlowRef, vs []crm.FlowVerdict) ([]crm.RecordID, error)
	// AdvanceSteps records the results of a step and moves each record to its next step, once.
	AdvanceSteps(ctx context.Context, t crm.TenantID, f crm.FlowRef, step, nsteps int, action string, rs []crm.StepResult) ([]crm.RecordID, error)
	// Enrollments reads the enrollments of records in a workflow.
	Enrollments(ctx context.Context, t crm.TenantID, flow string, o crm.ObjectType, ids []crm.RecordID) ([]crm.Enrollment, error)
	// DueEnrollments returns the records whose next step was due at or before until, earliest first.
	DueEnrollments(ctx context.Context, t crm.TenantID, flow string, until time.Time, limit int) ([]crm.RecordID, error)
	// PendingChanges reads a tenant's oldest change marks.
	PendingChanges(ctx context.Context, t crm.TenantID, limit int) ([]crm.Change, error)
	// AckChanges forgets change marks, except those that changed again since they were read.
	AckChanges(ctx context.Context, t crm.TenantID, cs []crm.Change) (int, error)
	// TenantsWithChanges returns which of tenants have change marks waiting.
	TenantsWithChanges(ctx context.Context, tenants []crm.TenantID) ([]crm.TenantID, error)
}

// workflowDeps are the services the workflow actions run with (see actions.Deps).
func (w *Worker) workflowDeps() actions.Deps {
	return actions.Deps{Clock: w.clock, Mailer: workflowMailer{w}, Store: w.store}
}

// workflowMailer hands notify_user's emails to mail:send, the path of the permanent-delete
// confirmation: the task id is derived from the tenant and the email's idempotency key, and the
// delivery ledger (or the outbox) keeps a second task of the same key from sending again.
type workflowMailer struct{ w *Worker }

// SendMail implements actions.Mailer. An email that cannot be sent at all (a bad address) wraps
// actions.ErrCannotRun; one already queued is not an error.
func (m workflowMailer) SendMail(ctx context.Context, tenant crm.TenantID, mail actions.Mail) error {
	task, err := NewMailSendTask(MailSendPayload{TenantID: tenant, To: mail.To, Subject: mail.Subject, Body: mail.Body,
		Kind: mail.Kind, IdempotencyKey: mail.IdempotencyKey})
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

// cacheStore is what the program cache reads: revisions from the FlowStore, schemas from the store.
type cacheStore struct{ w *Worker }

func (c cacheStore) FlowRevision(ctx context.Context, t crm.TenantID, name string, rev int64) (crm.FlowRevision, error) {
	return c.w.flows.FlowRevision(ctx, t, name, rev)
}

func (c cacheStore) Schema(ctx context.Context, t crm.TenantID, o crm.ObjectType) (crm.Schema, error) {
	return c.w.store.Schema(ctx, t, o)
}

var _ engine.Store = cacheStore{}

// listSets reads the members of the suppression lists of a workflow of object type o into sets,
// reusing those already read in this task run (seen). A list that does not exist, or holds another
// object type, has no members here; it is logged.
func (w *Worker) listSets(ctx context.Context, log *slog.Logger, t crm.TenantID, o crm.ObjectType, ids []crm.ListID, seen engine.ListSets) (engine.ListSets, error) {
	for _, id := range ids {
		if _, ok := seen[id]; ok {
			continue
		}
		set := map[crm.RecordID]bool{}
		seen[id] = set
		def, err := w.store.List(ctx, t, id)
		switch {
		case errors.Is(err, crm.ErrNotFound):
			log.Warn("a suppression list of a workflow does not exist: it suppresses no one", "list_id", id)
			continue
		case err != nil:
			delete(seen, id)
			return nil, fmt.Errorf("read list %s: %w", id, err)
		case def.ObjectType != o:
			log.Warn("a suppression list of a workflow holds another object type: it suppresses no one", "list_id", id,
				"list_object_type", def.ObjectType, "object_type", o)
			continue
		}
		after := ""
		for {
			if err := ctx.Err(); err != nil {
				delete(seen, id)
				return nil, err
			}
			members, next, err := w.store.ListMembers(ctx, t, id, &crm.ListOpts{After: after, Limit: 100})
			if err != nil {
				delete(seen, id)
				return nil, fmt.Errorf("read members of list %s: %w", id, err)
			}
			for _, m := range members {
				set[m] = true
			}
			if next == "" {
				break
			}
			after = next
		}
	}
	return seen, nil
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
