package actions

import (
	"context"
	"fmt"
	"slices"

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

// Bind implements Step: RunBatch of the one record.
func (d DeleteContact) Bind(deps Deps, inv Invocation) Action {
	return Func(func(ctx context.Context, tenant crm.TenantID, rec crm.Record) (Result, error) {
		out, err := d.RunBatch(ctx, deps, inv, tenant, []crm.Record{rec})
		if err != nil {
			return Result{}, err
		}
		return out[0], nil
	})
}

// checkRounds bounds how many times RunBatch reads and checks again the contacts written between
// its protection check and their move.
const checkRounds = 3

// RunBatch implements BatchStep: the contacts go to the bin in one store call per
// crm.MaxScriptBatch, with one audit entry per call. With protection rules (SPEC S25), the contacts
// are read and checked, and a contact moves only if it was not written since it was read, and no
// rule was written since the rules were read (crm.BinStore.ArchiveChecked); one written meanwhile
// (or all, after a rule) is read and checked again, up to checkRounds times, then left live and
// reported.
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
	refused := map[crm.RecordID]bool{}
	stopped := map[crm.RecordID]bool{}
	changed := map[crm.RecordID]bool{}
	prot := map[crm.RecordID]crm.ProtectedRecord{}
	collect := func(res crm.ArchiveResult) {
		for _, id := range res.Archived {
			moved[id] = true
		}
		for _, id := range res.OverLimit {
			refused[id] = true
		}
		for _, id := range res.Stopped {
			stopped[id] = true
		}
	}
	todo := ids
	for round := 0; round < checkRounds && len(todo) > 0; round++ {
		// The rules are read at every round: a record comes back for another only when it was
		// written, or a rule was, since its check.
		set, err := triggers.LoadProtection(ctx, deps.Store, tenant, crm.Contacts)
		if err != nil {
			return nil, fmt.Errorf("delete_contact: %w", err)
		}
		var next []crm.RecordID
		for start := 0; start < len(todo); start += crm.MaxScriptBatch {
			batch := todo[start:min(start+crm.MaxScriptBatch, len(todo))]
			var fresh []crm.Record
			if set.Empty() {
				// Nothing to read: the ids alone move, while no rule is written.
				fresh = make([]crm.Record, len(batch))
				for i, id := range batch {
					fresh[i] = crm.Record{ID: id, Type: crm.Contacts}
				}
			} else if fresh, err = protectedContacts(ctx, deps, set, tenant, batch, prot); err != nil {
				return nil, fmt.Errorf("delete_contact: %w", err)
			}
			if len(fresh) == 0 {
				continue
			}
			res, err := deps.Store.ArchiveChecked(ctx, tenant, crm.Contacts, fresh, inv.actor(),
				crm.CheckedArchive{Limit: inv.Limit, RulesVersion: set.Version()})
			if err != nil {
				return nil, fmt.Errorf("delete_contact: %w", err)
			}
			collect(res)
			next = append(next, res.Changed...)
		}
		todo = next
	}
	for _, id := range todo {
		changed[id] = true
	}
	out := make([]Result, len(recs))
	for i, rec := range recs {
		id := rec.ID
		switch p, ok := prot[id]; {
		case ok:
			out[i] = protectedResult(p)
		case refused[id]:
			out[i] = overLimitResult(id, inv)
		case stopped[id]:
			out[i] = Result{Outcome: OutcomeStopped, Detail: fmt.Sprintf("contact %s not deleted: the workflow was paused, or its activator lost the authority it acts with", id)}
		case moved[id]:
			out[i] = Result{Outcome: OutcomeDone, Detail: fmt.Sprintf("moved contact %s to the recycle bin", id)}
		case changed[id]:
			out[i] = Result{Outcome: OutcomeSkipped, Detail: fmt.Sprintf("contact %s was written while it was being deleted, %d times: not deleted", id, checkRounds)}
		default:
			out[i] = Result{Outcome: OutcomeSkipped, Detail: fmt.Sprintf("contact %s is not live (already in the recycle bin, or gone)", id)}
		}
	}
	return out, nil
}

// overLimitResult is the result of delete_contact on a contact its workflow's limit refused.
func overLimitResult(id crm.RecordID, inv Invocation) Result {
	lim := crm.DeletionLimit{}
	if inv.Limit != nil {
		lim = inv.Limit.DeletionLimit
	}
	return Result{Outcome: OutcomeOverLimit, Detail: fmt.Sprintf("contact %s not deleted: the workflow's blast-radius limit of %s is reached", id, lim)}
}

// protectedContacts reads the live contacts of ids with what the rules of set read, in one round
// trip (the records a step is given may hold only some properties), adds those the rules protect
// to prot with their rule, and returns the others, as read (their last modification included).
func protectedContacts(ctx context.Context, deps Deps, set *triggers.ProtectionSet, tenant crm.TenantID, ids []crm.RecordID,
	prot map[crm.RecordID]crm.ProtectedRecord) ([]crm.Record, error) {
	fresh, err := deps.Store.Records(ctx, tenant, crm.Contacts, ids, &crm.ReadOpts{Properties: set.ReadProps(nil, false)})
	if err != nil {
		return nil, fmt.Errorf("read contacts for their protection rules: %w", err)
	}
	var c clock.Clock = clock.Real{}
	if deps.Clock != nil {
		c = deps.Clock
	}
	hit, _ := set.Protected(fresh, c.Now())
	if len(hit) == 0 {
		return fresh, nil
	}
	for _, p := range hit {
		prot[p.ID] = p
	}
	return slices.DeleteFunc(fresh, func(r crm.Record) bool { _, ok := prot[r.ID]; return ok }), nil
}

// protectedResult is the result of delete_contact on a protected contact: skipped, naming the rule,
// and saying when the rule protects it only because it cannot be evaluated on it.
func protectedResult(p crm.ProtectedRecord) Result {
	if p.Failed {
		return Result{Outcome: OutcomeSkipped, Detail: fmt.Sprintf(
			"contact %s is protected by rule %q, which cannot be evaluated on it (fix the rule): not deleted", p.ID, p.Rule)}
	}
	return Result{Outcome: OutcomeSkipped, Detail: fmt.Sprintf("contact %s is protected by rule %q: not deleted", p.ID, p.Rule)}
}
