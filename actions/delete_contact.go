package actions

import (
	"context"
	"fmt"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/triggers"
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
		prot, err := protectedContacts(ctx, deps, tenant, []crm.Record{rec})
		if err != nil {
			return Result{}, fmt.Errorf("delete_contact %s: %w", rec.ID, err)
		}
		if rule, ok := prot[rec.ID]; ok {
			return protectedResult(rec.ID, rule), nil
		}
		res, err := archive(ctx, deps, inv, tenant, []crm.RecordID{rec.ID})
		if err != nil {
			return Result{}, fmt.Errorf("delete_contact %s: %w", rec.ID, err)
		}
		if len(res.OverLimit) > 0 {
			return overLimitResult(rec.ID, inv), nil
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
	prot, err := protectedContacts(ctx, deps, tenant, recs)
	if err != nil {
		return nil, fmt.Errorf("delete_contact: %w", err)
	}
	if len(prot) > 0 {
		ids = ids[:0]
		for _, rec := range recs {
			if _, ok := prot[rec.ID]; !ok {
				ids = append(ids, rec.ID)
			}
		}
	}
	moved := make(map[crm.RecordID]bool, len(ids))
	refused := map[crm.RecordID]bool{}
	for start := 0; start < len(ids); start += crm.MaxScriptBatch {
		res, err := archive(ctx, deps, inv, tenant, ids[start:min(start+crm.MaxScriptBatch, len(ids))])
		if err != nil {
			return nil, fmt.Errorf("delete_contact: %w", err)
		}
		for _, id := range res.Archived {
			moved[id] = true
		}
		for _, id := range res.OverLimit {
			refused[id] = true
		}
	}
	out := make([]Result, len(recs))
	for i, rec := range recs {
		id := rec.ID
		if rule, ok := prot[id]; ok {
			out[i] = protectedResult(id, rule)
			continue
		}
		if refused[id] {
			out[i] = overLimitResult(id, inv)
			continue
		}
		if moved[id] {
			out[i] = Result{Outcome: OutcomeDone, Detail: fmt.Sprintf("moved contact %s to the recycle bin", id)}
		} else {
			out[i] = Result{Outcome: OutcomeSkipped, Detail: fmt.Sprintf("contact %s is not live (already in the recycle bin, or gone)", id)}
		}
	}
	return out, nil
}

// archive moves ids to the bin for the workflow, under its blast-radius limit when it has one.
func archive(ctx context.Context, deps Deps, inv Invocation, tenant crm.TenantID, ids []crm.RecordID) (crm.ArchiveResult, error) {
	if inv.Limit == nil {
		return deps.Store.ArchiveRecords(ctx, tenant, crm.Contacts, ids, inv.actor())
	}
	return deps.Store.ArchiveWithLimit(ctx, tenant, crm.Contacts, ids, inv.actor(), *inv.Limit)
}

// overLimitResult is the result of delete_contact on a contact its workflow's limit refused.
func overLimitResult(id crm.RecordID, inv Invocation) Result {
	lim := crm.DeletionLimit{}
	if inv.Limit != nil {
		lim = inv.Limit.DeletionLimit
	}
	return Result{Outcome: OutcomeOverLimit, Detail: fmt.Sprintf("contact %s not deleted: the workflow's blast-radius limit of %s is reached", id, lim)}
}

// protectedContacts returns the contacts among recs that a protection rule protects, with the
// rule: the rules are loaded once, and the contacts read again with what the rules read, in one
// round trip (the records a step is given may hold only some properties).
func protectedContacts(ctx context.Context, deps Deps, tenant crm.TenantID, recs []crm.Record) (map[crm.RecordID]string, error) {
	set, err := triggers.LoadProtection(ctx, deps.Store, tenant, crm.Contacts)
	if err != nil || set.Empty() || len(recs) == 0 {
		return nil, err
	}
	ids := make([]crm.RecordID, len(recs))
	for i, rec := range recs {
		ids[i] = rec.ID
	}
	fresh, err := deps.Store.Records(ctx, tenant, crm.Contacts, ids, &crm.ReadOpts{Properties: set.ReadProps(nil, false)})
	if err != nil {
		return nil, fmt.Errorf("read contacts for their protection rules: %w", err)
	}
	var c clock.Clock = clock.Real{}
	if deps.Clock != nil {
		c = deps.Clock
	}
	prot, _ := set.Protected(fresh, c.Now())
	out := make(map[crm.RecordID]string, len(prot))
	for _, p := range prot {
		out[p.ID] = p.Rule
	}
	return out, nil
}

// protectedResult is the result of delete_contact on a protected contact: skipped, naming the rule.
func protectedResult(id crm.RecordID, rule string) Result {
	return Result{Outcome: OutcomeSkipped, Detail: fmt.Sprintf("contact %s is protected by rule %q: not deleted", id, rule)}
}
