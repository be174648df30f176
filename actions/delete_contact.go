package actions

import (
	"context"
	"fmt"

	"github.com/crmflow/crmflow/crm"
)

func deleteContactDef() Definition {
	return Definition{
		Name:        "delete_contact",
		Summary:     "Moves the contact to the recycle bin, restorable for the retention period (90 days by default), recorded as deleted by the workflow.",
		ObjectTypes: []crm.ObjectType{crm.Contacts},
		Configure: func(Params, crm.Schema) (Step, error) {
			return DeleteContact{}, nil
		},
		Needs: func(Params) []crm.Permission { return []crm.Permission{crm.PermDelete} },
	}
}

// DeleteContact is the delete_contact step: a restorable delete of the enrolled contact, recorded
// as made by the workflow's activator through the workflow (crm.Actor{User: <activator>, Via:
// crm.ViaWorkflow, Ref: <workflow name>, Revision: <revision>}). It never deletes permanently.
type DeleteContact struct{}

// Bind implements Step.
func (DeleteContact) Bind(deps Deps, inv Invocation) Action {
	return Func(func(ctx context.Context, tenant crm.TenantID, rec crm.Record) (Result, error) {
		if deps.Store == nil {
			return Result{}, errNoStore
		}
		if rec.Type != crm.Contacts {
			return Result{}, fmt.Errorf("delete_contact on %s %s: %w: it deletes contacts only", rec.Type, rec.ID, ErrCannotRun)
		}
		res, err := deps.Store.ArchiveRecords(ctx, tenant, crm.Contacts, []crm.RecordID{rec.ID}, inv.actor())
		if err != nil {
			return Result{}, fmt.Errorf("delete_contact %s: %w", rec.ID, err)
		}
		if len(res.Archived) == 0 {
			return Result{Outcome: OutcomeSkipped, Detail: fmt.Sprintf("contact %s is not live (already in the recycle bin, or gone)", rec.ID)}, nil
		}
		return Result{Outcome: OutcomeDone, Detail: fmt.Sprintf("moved contact %s to the recycle bin", rec.ID)}, nil
	})
}

// RunBatch implements BatchStep: the contacts go to the bin in one store call per
// crm.MaxScriptBatch, with one audit entry per call.
func (DeleteContact) RunBatch(ctx context.Context, deps Deps, inv Invocation, tenant crm.TenantID, recs []crm.Record) ([]Result, error) {
	if deps.Store == nil {
		return nil, errNoStore
	}
	ids := make([]crm.RecordID, len(recs))
	for i, rec := range recs {
		if rec.Type != crm.Contacts {
			return nil, fmt.Errorf("delete_contact on %s %s: %w: it deletes contacts only", rec.Type, rec.ID, ErrCannotRun)
		}
		ids[i] = rec.ID
	}
	moved := make(map[crm.RecordID]bool, len(ids))
	for start := 0; start < len(ids); start += crm.MaxScriptBatch {
		res, err := deps.Store.ArchiveRecords(ctx, tenant, crm.Contacts, ids[start:min(start+crm.MaxScriptBatch, len(ids))], inv.actor())
		if err != nil {
			return nil, fmt.Errorf("delete_contact: %w", err)
		}
		for _, id := range res.Archived {
			moved[id] = true
		}
	}
	out := make([]Result, len(recs))
	for i, id := range ids {
		if moved[id] {
			out[i] = Result{Outcome: OutcomeDone, Detail: fmt.Sprintf("moved contact %s to the recycle bin", id)}
		} else {
			out[i] = Result{Outcome: OutcomeSkipped, Detail: fmt.Sprintf("contact %s is not live (already in the recycle bin, or gone)", id)}
		}
	}
	return out, nil
}
