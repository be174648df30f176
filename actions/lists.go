package actions

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/crmflow/crmflow/crm"
)

type listOp int

const (
	addToList listOp = iota
	removeFromList
)

var listIDRE = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)

func listDef(op listOp) Definition {
	d := Definition{
		Name:        "add_to_list",
		Summary:     "Adds the record to a static list of contacts or companies (of the workflow's object type).",
		ObjectTypes: []crm.ObjectType{crm.Contacts, crm.Companies},
		Params: []Param{
			{Name: "list", Required: true, AnyScalar: true, Doc: "the id of a static list of the workflow's object type (a number, as the lists API shows it)"},
		},
	}
	if op == removeFromList {
		d.Name = "remove_from_list"
		d.Summary = "Removes the record from a static list of contacts or companies; nothing happens when it is not a member."
	}
	d.Needs = func(Params) []crm.Permission { return []crm.Permission{crm.PermWrite} }
	d.Configure = func(p Params, _ crm.Schema) (Step, error) {
		id := p["list"]
		if !listIDRE.MatchString(id) {
			return nil, FieldErrors{{Path: "list", Message: fmt.Sprintf("list id %q is invalid: use the list's number, such as 12 (GET /crm/v3/lists shows them)", id)}}
		}
		return ListMembership{List: crm.ListID(id), Remove: op == removeFromList}, nil
	}
	return d
}

// ListMembership is the add_to_list step, or with Remove the remove_from_list step. The list must
// exist and hold the record's object type when the step runs; else the run fails with an error
// wrapping ErrCannotRun.
type ListMembership struct {
	List   crm.ListID
	Remove bool
}

func (s ListMembership) name() string {
	if s.Remove {
		return "remove_from_list"
	}
	return "add_to_list"
}

// Bind implements Step.
func (s ListMembership) Bind(deps Deps, _ Invocation) Action {
	return Func(func(ctx context.Context, tenant crm.TenantID, rec crm.Record) (Result, error) {
		if deps.Store == nil {
			return Result{}, errNoStore
		}
		l, err := deps.Store.List(ctx, tenant, s.List)
		if errors.Is(err, crm.ErrNotFound) {
			return Result{}, fmt.Errorf("%s: list %s does not exist: %w", s.name(), s.List, ErrCannotRun)
		}
		if err != nil {
			return Result{}, fmt.Errorf("%s: read list %s: %w", s.name(), s.List, err)
		}
		if l.ObjectType != rec.Type {
			return Result{}, fmt.Errorf("%s: list %s holds %s, not %s: %w", s.name(), s.List, l.ObjectType, rec.Type, ErrCannotRun)
		}
		if s.Remove {
			removed, err := deps.Store.RemoveListMembers(ctx, tenant, s.List, []crm.RecordID{rec.ID})
			if errors.Is(err, crm.ErrNotFound) {
				return Result{}, fmt.Errorf("remove_from_list: list %s does not exist: %w", s.List, ErrCannotRun)
			}
			if err != nil {
				return Result{}, fmt.Errorf("remove_from_list %s: %w", s.List, err)
			}
			if len(removed) == 0 {
				return Result{Outcome: OutcomeUnchanged, Detail: fmt.Sprintf("%s %s was not in list %s", Singular(rec.Type), rec.ID, s.List)}, nil
			}
			return Result{Outcome: OutcomeDone, Detail: fmt.Sprintf("removed %s %s from list %s", Singular(rec.Type), rec.ID, s.List)}, nil
		}
		added, missing, err := deps.Store.AddListMembers(ctx, tenant, s.List, []crm.RecordID{rec.ID})
		if errors.Is(err, crm.ErrNotFound) {
			return Result{}, fmt.Errorf("add_to_list: list %s does not exist: %w", s.List, ErrCannotRun)
		}
		if err != nil {
			return Result{}, fmt.Errorf("add_to_list %s: %w", s.List, err)
		}
		switch {
		case len(missing) > 0:
			return Result{Outcome: OutcomeSkipped, Detail: fmt.Sprintf("%s %s is not live", Singular(rec.Type), rec.ID)}, nil
		case len(added) == 0:
			return Result{Outcome: OutcomeUnchanged, Detail: fmt.Sprintf("%s %s was already in list %s", Singular(rec.Type), rec.ID, s.List)}, nil
		}
		return Result{Outcome: OutcomeDone, Detail: fmt.Sprintf("added %s %s to list %s", Singular(rec.Type), rec.ID, s.List)}, nil
	})
}
