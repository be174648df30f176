package actions

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/crmflow/crmflow/crm"

	"github.com/crmflow/crmflow/internal/suggest"
)

func setPropertyDef() Definition {
	return Definition{
		Name:    "set_property",
		Summary: "Sets one property of the record to a value, checked and normalized against the property's type; an empty value clears it.",
		Params: []Param{
			{Name: "property", Required: true, Doc: "the name of a property of the workflow's object type"},
			{Name: "value", Required: true, AnyScalar: true, Doc: `the value, valid for the property's type (an option of an enumeration, a number, true/false, a date); "" clears the property`},
		},
		Configure: configureSetProperty,
		Needs:     func(Params) []crm.Permission { return []crm.Permission{crm.PermWrite} },
	}
}

func configureSetProperty(p Params, schema crm.Schema) (Step, error) {
	name := p["property"]
	prop, ok := schema.Properties[name]
	if !ok {
		return nil, FieldErrors{{Path: "property", Message: unknownPropertyMessage(name, schema), Unknown: name}}
	}
	if v := p["value"]; prop.Type == crm.TypeEnumeration && v != "" && !slices.Contains(prop.Options, v) {
		if o := suggest.Option(v, prop.Options, prop.OptionLabel); o != "" {
			msg := fmt.Sprintf("property %q: %q is not one of its options: did you mean %q", name, v, o)
			if l := prop.OptionLabel(o); l != o {
				msg += fmt.Sprintf(" (label %q)", l)
			}
			return nil, FieldErrors{{Path: "value", Message: msg + "?"}}
		}
	}
	norm, err := schema.Normalize(map[string]string{name: p["value"]})
	if err != nil {
		var ves crm.ValidationErrors
		var ve *crm.ValidationError
		switch {
		case errors.As(err, &ves) && len(ves) > 0:
			return nil, FieldErrors{{Path: "value", Message: ves[0].Message}}
		case errors.As(err, &ve):
			return nil, FieldErrors{{Path: "value", Message: ve.Message}}
		}
		return nil, FieldErrors{{Path: "value", Message: err.Error()}}
	}
	return SetProperty{Property: name, Value: norm[name]}, nil
}

// SetProperty is the set_property step: it sets Property to Value (already normalized; "" clears
// the property).
type SetProperty struct {
	Property string
	Value    string
}

// Bind implements Step. The action leaves the record alone when rec (read just before the run)
// already has the value, so a retried step changes nothing.
func (s SetProperty) Bind(deps Deps, inv Invocation) Action {
	return Func(func(ctx context.Context, tenant crm.TenantID, rec crm.Record) (Result, error) {
		if deps.Store == nil {
			return Result{}, errNoStore
		}
		if rec.Properties[s.Property] == s.Value {
			return Result{Outcome: OutcomeUnchanged, Detail: fmt.Sprintf("%s already had the value", s.Property)}, nil
		}
		_, err := deps.Store.UpdateRecords(ctx, tenant, rec.Type,
			[]crm.RecordUpdate{{ID: rec.ID, Properties: map[string]string{s.Property: s.Value}}}, inv.actor())
		if errors.Is(err, crm.ErrNotFound) {
			return Result{Outcome: OutcomeSkipped, Detail: fmt.Sprintf("%s %s is not live", Singular(rec.Type), rec.ID)}, nil
		}
		if err != nil {
			return Result{}, fmt.Errorf("set_property %s on %s %s: %w", s.Property, rec.Type, rec.ID, err)
		}
		if s.Value == "" {
			return Result{Outcome: OutcomeDone, Detail: "cleared " + s.Property}, nil
		}
		return Result{Outcome: OutcomeDone, Detail: "set " + s.Property}, nil
	})
}

func unknownPropertyMessage(name string, schema crm.Schema) string {
	if name == "" {
		return fmt.Sprintf("the property name is empty: name a property of %s", schema.Type)
	}
	msg := fmt.Sprintf("unknown property %q of %s", name, schema.Type)
	if s := suggest.Closest(name, schema.Names()); s != "" {
		return msg + fmt.Sprintf(": did you mean %q?", s)
	}
	return msg + ": create it first, or fix the name"
}
