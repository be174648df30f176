package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// The bounds of the property batches. HubSpot's reference states no limit for them. A read costs
// one schema read whatever its size; a create or an archive costs, per input, the one script call
// (with its audit entry) of the single endpoint, since the store's property scripts each take one
// property: those batches are kept small.
const (
	maxPropertyBatchRead  = 100
	maxPropertyBatchWrite = 25
)

// propertyNameInput is one input of the property batch read and archive: HubSpot's PropertyName.
type propertyNameInput struct {
	Name string `json:"name"`
}

// propertyBatchReadInput is the body of POST /crm/v3/properties/{objectType}/batch/read, HubSpot's
// BatchReadInputPropertyName: the names, and archived to read archived properties instead.
type propertyBatchReadInput struct {
	Archived bool                `json:"archived"`
	Inputs   []propertyNameInput `json:"inputs"`
}

// propertyBatchCreateInput is the body of POST /crm/v3/properties/{objectType}/batch/create,
// HubSpot's BatchInputPropertyCreate.
type propertyBatchCreateInput struct {
	Inputs []propertyInput `json:"inputs"`
}

// propertyBatchArchiveInput is the body of POST /crm/v3/properties/{objectType}/batch/archive,
// HubSpot's BatchInputPropertyName.
type propertyBatchArchiveInput struct {
	Inputs []propertyNameInput `json:"inputs"`
}

// batchNames checks the names of a batch read or archive: from 1 to limit inputs, each with a
// name, none twice. Every bad input is named (inputs[i].name) in one 400.
func batchNames(in []propertyNameInput, limit int) ([]string, error) {
	if err := checkBatchLimit(len(in), limit); err != nil {
		return nil, err
	}
	names := make([]string, len(in))
	first := make(map[string]int, len(in))
	var details []errorDetail
	for i, x := range in {
		at := fmt.Sprintf("inputs[%d].name", i)
		switch j, dup := first[x.Name]; {
		case x.Name == "":
			details = append(details, errorDetail{Code: "MISSING_NAME", In: at,
				Message: fmt.Sprintf("%s is missing or empty: give each input the name of a property", at)})
		case dup:
			details = append(details, errorDetail{Code: "DUPLICATE_NAME", In: at,
				Message: fmt.Sprintf("%s %q repeats inputs[%d].name: name each property once", at, x.Name, j)})
		default:
			first[x.Name] = i
		}
		names[i] = x.Name
	}
	return names, batchInputsError(details)
}

// batchInputsError is the 400 of the bad inputs details names, or nil when there are none.
func batchInputsError(details []errorDetail) error {
	if len(details) == 0 {
		return nil
	}
	msg := details[0].Message
	if len(details) > 1 {
		msg = fmt.Sprintf("%d inputs are invalid, the first: %s (nothing was changed)", len(details), msg)
	}
	return &apiError{status: http.StatusBadRequest, category: categoryValidation, message: msg, details: details}
}

// batchReadProperties serves POST /crm/v3/properties/{objectType}/batch/read (HubSpot's
// batchApi.read): 200 with HubSpot's BatchResponseProperty, status COMPLETE and a result per input
// in the inputs' order; with "archived": true the archived properties are read, as
// GET .../{name}?archived=true does. A name the type does not have (live, or archived when
// archived is true) is a 400 naming each such input, as are an empty name and a name given twice.
// It reads the schema once, whatever the batch holds.
func (s *Server) batchReadProperties(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	started := s.clock.Now()
	o, schema, err := s.pathSchema(r, p)
	if err != nil {
		return err
	}
	var in propertyBatchReadInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	names, err := batchNames(in.Inputs, maxPropertyBatchRead)
	if err != nil {
		return err
	}
	props := schema.Properties
	if in.Archived {
		props = schema.Archived
	}
	out := make([]propertyJSON, 0, len(names))
	var details []errorDetail
	for i, name := range names {
		prop, ok := props[name]
		if !ok {
			at := fmt.Sprintf("inputs[%d].name", i)
			details = append(details, errorDetail{Code: "UNKNOWN_PROPERTY", In: at, Message: unknownBatchProperty(o, schema, at, name, in.Archived)})
			continue
		}
		out = append(out, toPropertyJSON(prop))
	}
	if err := batchInputsError(details); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, batchJSON[propertyJSON]{Status: "COMPLETE", Results: out,
		StartedAt: crm.FormatDatetime(started), CompletedAt: crm.FormatDatetime(s.clock.Now())})
	return nil
}

// unknownBatchProperty says that input at names no property of o that a batch can read (an
// archived one when archived), and where to find the ones there are.
func unknownBatchProperty(o crm.ObjectType, schema crm.Schema, at, name string, archived bool) string {
	switch _, isArchived := schema.Archived[name]; {
	case archived:
		return fmt.Sprintf("%s %q is not an archived property of %s: GET /crm/v3/properties/%s?archived=true lists the archived ones", at, name, o, o)
	case isArchived:
		return fmt.Sprintf("%s %q is an archived property of %s: read it with \"archived\": true, or restore it (POST /crm/v3/properties/%s/%s/restore)", at, name, o, o, name)
	}
	return fmt.Sprintf("%s %q is not a property of %s: GET /crm/v3/properties/%s lists the ones it has", at, name, o, o)
}

// inputError names input i of a batch in err: the field of each validation error becomes
// inputs[i].<field>. Other errors name their property themselves.
func inputError(i int, err error) error {
	prefix := func(ve *crm.ValidationError) *crm.ValidationError {
		named := *ve
		named.Field = fmt.Sprintf("inputs[%d].%s", i, ve.Field)
		return &named
	}
	var ves crm.ValidationErrors
	if errors.As(err, &ves) {
		out := make(crm.ValidationErrors, len(ves))
		for j, ve := range ves {
			out[j] = prefix(ve)
		}
		return out
	}
	if ve := (*crm.ValidationError)(nil); errors.As(err, &ve) {
		return prefix(ve)
	}
	return err
}

// batchCreateProperties serves POST /crm/v3/properties/{objectType}/batch/create (HubSpot's
// batchApi.create, which its reference says follows the rules of a single create): 201 with
// HubSpot's BatchResponseProperty, status COMPLETE and the properties made, in the inputs' order.
// Each input is checked as POST /crm/v3/properties/{objectType} checks its body, and the batch is
// checked whole before anything is created: a bad input (inputs[i].<field>), a name given twice,
// or a name the type has (live, or archived: 409 PROPERTY_ARCHIVED) refuses the batch, and
// nothing is created. Each property is then created by the single create's store call, with its
// own audit entry. A refusal that only the store sees when an input's turn comes (a property of
// that name made meanwhile by another request, or the type's definitions past
// crm.MaxSchemaBytes) leaves that input out: 207 with the properties made and an error per input
// that was not, naming it in context.name. When none was made, the first refusal is the answer.
func (s *Server) batchCreateProperties(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	started := s.clock.Now()
	o, schema, err := s.pathSchema(r, p)
	if err != nil {
		return err
	}
	var in propertyBatchCreateInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	if err := checkBatchLimit(len(in.Inputs), maxPropertyBatchWrite); err != nil {
		return err
	}
	props := make([]crm.Property, len(in.Inputs))
	first := make(map[string]int, len(in.Inputs))
	for i, x := range in.Inputs {
		prop, err := newProperty(o, x)
		if err != nil {
			return inputError(i, err)
		}
		if j, dup := first[prop.Name]; dup {
			return errInvalid(fmt.Sprintf("inputs[%d].name", i), "DUPLICATE_NAME",
				"inputs[%d].name %q repeats inputs[%d].name: create each property once (nothing was created)", i, prop.Name, j)
		}
		first[prop.Name] = i
		if err := nameFree(o, schema, prop.Name); err != nil {
			return err
		}
		props[i] = prop
	}
	out := batchJSON[propertyJSON]{Status: "COMPLETE", Results: make([]propertyJSON, 0, len(props))}
	var firstErr error
	for i, prop := range props {
		created, err := s.store.CreateProperty(r.Context(), p.Tenant, o, prop, p.User.Email)
		if err != nil {
			err = inputError(i, fmt.Errorf("create property %s.%s: %w", o, prop.Name, err))
			if firstErr == nil {
				firstErr = err
			}
			out.Errors = append(out.Errors, batchInputFailure(err, prop.Name))
			continue
		}
		out.Results = append(out.Results, toPropertyJSON(created))
	}
	if len(out.Results) == 0 {
		return firstErr
	}
	out.NumErrors = len(out.Errors)
	out.StartedAt, out.CompletedAt = crm.FormatDatetime(started), crm.FormatDatetime(s.clock.Now())
	status := http.StatusCreated
	if out.NumErrors > 0 {
		status = http.StatusMultiStatus
	}
	writeJSON(w, status, out)
	return nil
}

// batchInputFailure is the StandardError of a batch's input that failed with err, naming the
// property in its context.
func batchInputFailure(err error, name string) batchErrorJSON {
	status, body := mapError(err)
	return batchErrorJSON{Status: "error", Category: body.Category, Message: fmt.Sprintf("%s (HTTP %d)", body.Message, status),
		Context: map[string][]string{"name": {name}}}
}

// newProperty is the property the body in defines for type o, checked as a create checks it:
// the single create and each input of a batch create.
func newProperty(o crm.ObjectType, in propertyInput) (crm.Property, error) {
	prop := in.property()
	if err := prop.Validate(); err != nil {
		return crm.Property{}, fmt.Errorf("create property of %s: %w", o, err)
	}
	return prop, nil
}

// nameFree refuses, with the store's answers, a new property of a name that schema has: a 409,
// PROPERTY_ARCHIVED for an archived one, saying how to restore it.
func nameFree(o crm.ObjectType, schema crm.Schema, name string) error {
	if _, ok := schema.Properties[name]; ok {
		return &crm.ConflictError{Message: fmt.Sprintf("property %q already exists on %s: choose another name (nothing was created)", name, o)}
	}
	if _, ok := schema.Archived[name]; ok {
		return &crm.ConflictError{Code: "PROPERTY_ARCHIVED",
			Message: fmt.Sprintf("property %q of %s is archived, and its records keep their values of it: restore it (POST /crm/v3/properties/%s/%s/restore) to use it again with those values, or choose another name (nothing was created)",
				name, o, o, name)}
	}
	return nil
}

// batchArchiveProperties serves POST /crm/v3/properties/{objectType}/batch/archive (HubSpot's
// batchApi.archive): 204 once every input is archived. Each is checked as DELETE
// /crm/v3/properties/{objectType}/{name} checks it (checkArchive), and the batch whole before
// anything is archived: an empty name, a name given twice or a name the type does not have is a
// 400 naming each such input; a property that comes with crmflow or is unique, or that active
// workflows, protection rules or bulk deletes still selecting use, is the single archive's 409;
// nothing is archived then. An input archived already is left as it is, as the single archive
// does. Each property is then archived by the single archive's store call, with its own audit
// entry; one that another request changed meanwhile stops the batch with that refusal, whose
// message names the inputs archived before it.
func (s *Server) batchArchiveProperties(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, schema, err := s.pathSchema(r, p)
	if err != nil {
		return err
	}
	var in propertyBatchArchiveInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	names, err := batchNames(in.Inputs, maxPropertyBatchWrite)
	if err != nil {
		return err
	}
	var details []errorDetail
	for i, name := range names {
		_, archived := schema.Archived[name]
		if _, live := schema.Properties[name]; !live && !archived {
			at := fmt.Sprintf("inputs[%d].name", i)
			details = append(details, errorDetail{Code: "UNKNOWN_PROPERTY", In: at,
				Message: fmt.Sprintf("%s %q is not a property of %s: GET /crm/v3/properties/%s lists the ones it has (nothing was archived)", at, name, o, o)})
		}
	}
	if err := batchInputsError(details); err != nil {
		return err
	}
	todo := make([]crm.Property, 0, len(names))
	for _, name := range names {
		prop, archived, err := s.checkArchive(r.Context(), p.Tenant, schema, name)
		if err != nil {
			return err
		}
		if !archived {
			todo = append(todo, prop)
		}
	}
	var done []string
	for _, prop := range todo {
		if _, err := s.store.ArchiveProperty(r.Context(), p.Tenant, o, prop, p.User.Email); err != nil {
			err = fmt.Errorf("archive property %s.%s: %w", o, prop.Name, err)
			if len(done) == 0 {
				return err
			}
			status, body := mapError(err)
			return &apiError{status: status, category: body.Category, context: body.Context,
				message: fmt.Sprintf("%s; archived before it: %s (they stay archived; send the others again)", body.Message, strings.Join(done, ", ")),
				details: body.Errors}
		}
		done = append(done, prop.Name)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkArchive checks an archive of property name of schema's type, as DELETE
// /crm/v3/properties/{objectType}/{name} does it: archived reports a property archived already
// (nothing to do); else the live property, unless it comes with crmflow or is unique
// (crm.ValidatePropertyArchive) or is used by active workflows, protection rules or bulk deletes
// still selecting (checkPropertyUses). An unknown name is a 404.
func (s *Server) checkArchive(ctx context.Context, t crm.TenantID, schema crm.Schema, name string) (_ crm.Property, archived bool, _ error) {
	if a, ok := schema.Archived[name]; ok {
		return a, true, nil
	}
	prop, ok := schema.Properties[name]
	if !ok {
		return crm.Property{}, false, unknownProperty(schema, name)
	}
	if err := crm.ValidatePropertyArchive(schema.Type, prop); err != nil {
		return crm.Property{}, false, err
	}
	if err := s.checkPropertyUses(ctx, t, schema, name, nil, "archive"); err != nil {
		return crm.Property{}, false, err
	}
	return prop, false, nil
}
