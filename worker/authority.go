package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/workflows"
)

// authorityLost tells why the activator of a workflow may no longer run it (SPEC S23), as the
// reason to pause it with, or nil when they may: the user must still exist, not be disabled, and
// hold every permission the workflow needs (wf.Permissions(many); many for a backfill, which
// enrolls every matching record).
func (w *Worker) authorityLost(ctx context.Context, t crm.TenantID, flow crm.Flow, wf *workflows.Workflow, many bool) (*crm.PauseOpts, error) {
	if flow.ActivatedBy == "" {
		return authorityOf(t, flow, wf, many, crm.User{}, nil)
	}
	u, err := w.store.User(ctx, t, flow.ActivatedBy)
	return authorityOf(t, flow, wf, many, u, err)
}

// authorityOf is authorityLost on u (and err), flow's activator in tenant t as the store returned it.
func authorityOf(t crm.TenantID, flow crm.Flow, wf *workflows.Workflow, many bool, u crm.User, err error) (*crm.PauseOpts, error) {
	if flow.ActivatedBy == "" {
		return &crm.PauseOpts{Code: crm.PauseActivatorUnknown,
			Reason: "no activating user is recorded for this workflow: a user who holds the permissions its actions need must activate it again"}, nil
	}
	who := map[string]string{"activator": flow.ActivatedBy}
	switch {
	case errors.Is(err, crm.ErrNotFound):
		return &crm.PauseOpts{Code: crm.PauseActivatorRemoved, Params: who,
			Reason: fmt.Sprintf("its activator %s is no longer a user of the tenant: a user who holds the permissions its actions need must activate it again",
				flow.ActivatedBy)}, nil
	case err != nil:
		return nil, fmt.Errorf("read the activator of workflow %s: %w", flow.Name, err)
	case u.Disabled:
		return &crm.PauseOpts{Code: crm.PauseActivatorDisabled, Params: who,
			Reason: fmt.Sprintf("its activator %s was disabled: a user who holds the permissions its actions need must activate it again "+
				"(an admin enables %s again with `%s`)", flow.ActivatedBy, flow.ActivatedBy, crm.EnableUserCommand(t, flow.ActivatedBy))}, nil
	}
	if missing := u.Permissions.Missing(wf.Permissions(many)); len(missing) > 0 {
		names := make([]string, len(missing))
		for i, p := range missing {
			names[i] = string(p)
		}
		return &crm.PauseOpts{Code: crm.PauseActivatorLacksPermission,
			Params: map[string]string{"activator": flow.ActivatedBy, "permissions": strings.Join(names, ",")},
			Reason: fmt.Sprintf("its activator %s no longer holds the %s permission its actions need: grant it, or have a user who holds it activate the workflow again",
				flow.ActivatedBy, strings.Join(names, " and "))}, nil
	}
	return nil, nil
}

// pauseForAuthority pauses a workflow whose activator lost the authority to run it, with the
// reason why (from authorityLost), unless it was activated again since flow was read (the new
// activation then decides). Either way the caller runs nothing more of the workflow in this task.
func (w *Worker) pauseForAuthority(ctx context.Context, log *slog.Logger, t crm.TenantID, flow crm.Flow, why *crm.PauseOpts) error {
	opts := *why
	opts.IfActivatedAt, opts.IfActivation = flow.ActivatedAt, flow.Activation
	_, err := w.store.PauseFlow(ctx, t, flow.Name, &opts)
	switch {
	case errors.Is(err, crm.ErrFlowReactivated):
		log.Info("workflow activated again while its activator's authority was checked: leaving it to the new activation")
		return nil
	case err != nil:
		return fmt.Errorf("pause workflow %s: %w", flow.Name, err)
	}
	log.Warn("workflow paused: its activator may no longer run it", "reason", why.Reason, "reason_code", string(why.Code))
	return nil
}

// pauseInvalid pauses an active workflow whose revision rev no longer validates against the
// tenant's schema (a property it reads or sets was removed or changed, say), with the reason,
// unless it was activated again since flow was read. Its records stay enrolled where they wait.
func (w *Worker) pauseInvalid(ctx context.Context, log *slog.Logger, t crm.TenantID, flow crm.Flow, rev int64, ve *workflows.ValidationError) error {
	msg := ve.Error()
	if len(msg) > 600 {
		msg = strings.ToValidUTF8(msg[:600], "") + "..."
	}
	reason := fmt.Sprintf("revision %d no longer validates against the tenant's properties: %s; fix the workflow (crmflow validate), "+
		"store it and activate it again", rev, msg)
	_, err := w.store.PauseFlow(ctx, t, flow.Name, &crm.PauseOpts{Reason: reason, Code: crm.PauseRevisionInvalid,
		Params:        map[string]string{"revision": strconv.FormatInt(rev, 10), "problem": msg},
		IfActivatedAt: flow.ActivatedAt, IfActivation: flow.Activation})
	switch {
	case errors.Is(err, crm.ErrFlowReactivated):
		return nil
	case err != nil:
		return fmt.Errorf("pause workflow %s: %w", flow.Name, err)
	}
	log.Error("workflow paused: its revision no longer validates", "workflow_id", flow.Name, "revision", rev, "error", ve)
	return nil
}
