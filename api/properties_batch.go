package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/crmflow/crmflow/crm"
)

// The most inputs of a property batch. HubSpot's reference states no limit for these batches;
// crmflow takes as many as in its record batches. A batch costs a few Redis round trips whatever
// its size: a read reads the schema once, a create or an archive writes every property in one
// script call.
const maxPropertyBatch = 100

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
				Message: fmt.Sprintf("%s %s repeats inputs[%d].name: name each property once", at, crm.Echo(x.Name), j)})
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
	names, err := batchNames(in.Inputs, maxPropertyBatch)
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
		return fmt.Sprintf("%s %s is not an archived property of %s: GET /crm/v3/properties/%s?archived=true lists the archived ones", at, crm.Echo(name), o, o)
	case isArchived:
		return fmt.Sprintf("%s %q is an archived property of %s: read it with \"archived\": true, or restore it (POST /crm/v3/properties/%s/%s/restore)", at, name, o, o, name)
	}
	return fmt.Sprintf("%s %s is not a property of %s: GET /crm/v3/properties/%s lists the ones it has", at, crm.Echo(name), o, o)
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
// All are created or none: each input is checked as POST /crm/v3/properties/{objectType} checks
// its body, and a bad input (inputs[i].<field>), a name given twice, or a name the type has (live,
// or archived: 409 PROPERTY_ARCHIVED) refuses the batch; the store then adds them all in one step
// (crm.SchemaStore.CreateProperties), with an audit entry each, unless a name was taken meanwhile
// or the type's definitions would pass crm.MaxSchemaBytes, which refuses the batch too.
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
	if err := checkBatchLimit(len(in.Inputs), maxPropertyBatch); err != nil {
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
				"inputs[%d].name %s repeats inputs[%d].name: create each property once (nothing was created)", i, crm.Echo(prop.Name), j)
		}
		first[prop.Name] = i
		if err := nameFree(o, schema, prop.Name); err != nil {
			return err
		}
		props[i] = prop
	}
	created, err := s.store.CreateProperties(r.Context(), p.Tenant, o, props, p.User.Email)
	if err != nil {
		return fmt.Errorf("create properties of %s: %w", o, err)
	}
	out := batchJSON[propertyJSON]{Status: "COMPLETE", Results: make([]propertyJSON, len(created)),
		StartedAt: crm.FormatDatetime(started), CompletedAt: crm.FormatDatetime(s.clock.Now())}
	for i, c := range created {
		out.Results[i] = toPropertyJSON(c)
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
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
// batchApi.archive): 204 once every input is archived. All are archived or none: each is checked
// as DELETE /crm/v3/properties/{objectType}/{name} checks it (checkArchive), and an empty name, a
// name given twice or a name the type does not have is a 400 naming each such input; a property
// that comes with crmflow or is unique, or that active workflows, protection rules or bulk deletes
// still selecting use, is the single archive's 409; nothing is archived then. An input archived
// already is left as it is, as the single archive does. The store then archives the others in one
// step (crm.SchemaStore.ArchiveProperties), with an audit entry each, unless one was changed
// meanwhile, which refuses the batch. What may use the properties is read once for the batch.
func (s *Server) batchArchiveProperties(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, schema, err := s.pathSchema(r, p)
	if err != nil {
		return err
	}
	var in propertyBatchArchiveInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	names, err := batchNames(in.Inputs, maxPropertyBatch)
	if err != nil {
		return err
	}
	var details []errorDetail
	for i, name := range names {
		_, archived := schema.Archived[name]
		if _, live := schema.Properties[name]; !live && !archived {
			at := fmt.Sprintf("inputs[%d].name", i)
			details = append(details, errorDetail{Code: "UNKNOWN_PROPERTY", In: at,
				Message: fmt.Sprintf("%s %s is not a property of %s: GET /crm/v3/properties/%s lists the ones it has (nothing was archived)", at, crm.Echo(name), o, o)})
		}
	}
	if err := batchInputsError(details); err != nil {
		return err
	}
	var users *propertyUsers
	uses := func(name string) error {
		if users == nil {
			u, err := s.propertyUsers(r.Context(), p.Tenant, o)
			if err != nil {
				return err
			}
			users = &u
		}
		return users.check(r.Context(), schema, name, nil, "archive")
	}
	todo := make([]crm.Property, 0, len(names))
	for _, name := range names {
		prop, archived, err := checkArchive(schema, name, uses)
		if err != nil {
			return err
		}
		if !archived {
			todo = append(todo, prop)
		}
	}
	if len(todo) > 0 {
		if _, err := s.store.ArchiveProperties(r.Context(), p.Tenant, o, todo, p.User.Email); err != nil {
			return fmt.Errorf("archive properties of %s: %w", o, err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkArchive checks an archive of property name of schema's type, as DELETE
// /crm/v3/properties/{objectType}/{name} does it: archived reports a property archived already
// (nothing to do); else the live property, unless it comes with crmflow or is unique
// (crm.ValidatePropertyArchive) or uses refuses it (what active workflows, protection rules or
// bulk deletes still selecting need: checkPropertyUses). An unknown name is a 404.
func checkArchive(schema crm.Schema, name string, uses func(name string) error) (_ crm.Property, archived bool, _ error) {
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
	if err := uses(name); err != nil {
		return crm.Property{}, false, err
	}
	return prop, false, nil
}
