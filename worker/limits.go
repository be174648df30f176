package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/workflows"
)

// KindWorkflowLimitReached is the kind of the email that tells a workflow's activator the workflow
// paused itself at its blast-radius limit (SPEC S24).
const KindWorkflowLimitReached = "workflow_limit_reached"

// deletionLimit returns the blast-radius limit the deletions of flow run under: wf's own limits,
// or else its tenant's default (unlimited when either says so), counted by the store over all the
// workflow's activations, with the permissions wf acts with (wf.Permissions(many)), which the
// store checks again as the records move for flow's activation (crm.ArchiveLimit.Needs). nil for
// a workflow that deletes nothing.
func (w *Worker) deletionLimit(ctx context.Context, t crm.TenantID, flow crm.Flow, wf *workflows.Workflow, many bool) (*crm.ArchiveLimit, error) {
	if !wf.Deletes() {
		return nil, nil
	}
	lim := crm.DefaultDeletionLimit
	if wf.Limits != nil {
		lim = wf.Limits.Deletions
	} else {
		tn, err := w.store.Tenant(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("read the deletion limit of tenant %s: %w", t, err)
		}
		lim = tn.DeletionLimit
	}
	return &crm.ArchiveLimit{DeletionLimit: lim, ActivatedAt: flow.ActivatedAt, Activation: flow.Activation, Needs: wf.Permissions(many)}, nil
}

// LimitPauseReason is the reason a workflow shows (GET /automation/v4/flows/{name}) once it paused
// itself at its blast-radius limit lim.
func LimitPauseReason(lim crm.DeletionLimit) string {
	return fmt.Sprintf("paused: blast-radius limit of %s reached; the records still waiting stay enrolled: "+
		"raise the limit (limits in the workflow, or crmflow admin tenant set-limits) or let the window pass, then activate the workflow again", lim)
}

// LimitPauseParams are the values LimitPauseReason names, kept with the code
// crm.PauseDeletionLimit: maxDeletions and per (the window as a workflow file writes it).
func LimitPauseParams(lim crm.DeletionLimit) map[string]string {
	return map[string]string{"maxDeletions": strconv.Itoa(lim.Max), "per": crm.FormatWindow(lim.Per)}
}

// pauseAtLimit handles a step whose deletions the workflow's limit refused: it emails the
// activator (once per activation: the email's idempotency key names it, so that a workflow
// activated again inside its window, whose deletions still count, pauses with a new email) and
// pauses the workflow with the reason, unless it was activated again since flow was read. The
// refused records stay enrolled at their step, which runs again once the workflow is active (the
// activation's workflow:resume enqueues it, or else the workflow:sweep). The email goes first: if its enqueue fails, the error makes the
// task run again, and the limit refuses the same records again.
func (w *Worker) pauseAtLimit(ctx context.Context, log *slog.Logger, t crm.TenantID, flow crm.Flow, lim crm.DeletionLimit, refused int) error {
	reason := LimitPauseReason(lim)
	if flow.ActivatedBy != "" {
		task, err := NewMailSendTask(MailSendPayload{TenantID: t, To: flow.ActivatedBy, Kind: KindWorkflowLimitReached,
			Subject:        fmt.Sprintf("crmflow: workflow %s paused at its blast-radius limit", flow.Name),
			Body:           limitMailBody(t, flow, lim),
			IdempotencyKey: limitMailKey(flow)})
		if err != nil {
			log.Error("cannot email the activator of a workflow paused at its limit", "error", err)
		} else if _, err := w.enq.Enqueue(ctx, task); err != nil && !errors.Is(err, ErrDuplicate) {
			return fmt.Errorf("email the activator of workflow %s about its limit: %w", flow.Name, err)
		}
	}
	_, err := w.store.PauseFlow(ctx, t, flow.Name, &crm.PauseOpts{Reason: reason, Code: crm.PauseDeletionLimit,
		Params: LimitPauseParams(lim), IfActivatedAt: flow.ActivatedAt, IfActivation: flow.Activation})
	switch {
	case errors.Is(err, crm.ErrFlowReactivated):
		log.Info("workflow activated again while its limit was reached: leaving it to the new activation")
		return nil
	case err != nil:
		return fmt.Errorf("pause workflow %s: %w", flow.Name, err)
	}
	log.Warn("workflow paused at its blast-radius limit", "limit", lim.String(), "refused", refused)
	return nil
}

// limitMailKey is the idempotency key of the email about flow's activation paused at its limit:
// "limit:<name>:<activated_at, unix ms>:<activation>", so that an activation made in the same
// millisecond after a pause is emailed too; "limit:<name>:<activated_at>" for a workflow last
// activated by a version that did not number its activations, as that version named it.
func limitMailKey(flow crm.Flow) string {
	key := "limit:" + flow.Name + ":" + strconv.FormatInt(flow.ActivatedAt.UnixMilli(), 10)
	if flow.Activation != 0 {
		key += ":" + strconv.FormatInt(flow.Activation, 10)
	}
	return key
}

// limitMailBody is the text of the email to the activator of a workflow paused at its limit. It
// names no record: only the workflow, the limit and what to do.
func limitMailBody(t crm.TenantID, flow crm.Flow, lim crm.DeletionLimit) string {
	return fmt.Sprintf(`The workflow %s of tenant %s, which you activated, reached its blast-radius limit of %s and paused itself.

The deletion that would have gone past the limit was not done. The records still waiting stay
enrolled where they are: none was dropped, none was deleted.

To carry on, check what the workflow deleted (the recycle bin, GET /crm/v3/objects/contacts?archived=true,
shows each record deleted "via workflow %s"), then raise the limit (limits: in the workflow's file,
or crmflow admin tenant set-limits for a workflow without limits) or wait for the window to pass,
and activate the workflow again. If the deletions were a mistake, restore them from the bin.
`, flow.Name, t, lim, flow.Name)
}
