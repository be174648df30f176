package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
	"github.com/crmflow/crmflow/workflows"
)

// propertyJSON is a property as HubSpot shows it. HubspotDefined marks a standard property.
// FieldType is HubSpot's form field of the type (see fieldTypes). crmflow has no property groups:
// GroupName is always "information". Archived and ArchivedAt are HubSpot's; ArchivedBy, who
// archived it, is crmflow's, as on records.
type propertyJSON struct {
	Name           string       `json:"name"`
	Label          string       `json:"label"`
	Type           string       `json:"type"`
	FieldType      string       `json:"fieldType"`
	GroupName      string       `json:"groupName"`
	Description    string       `json:"description"`
	Options        []optionJSON `json:"options"`
	DisplayOrder   int          `json:"displayOrder"`
	Hidden         bool         `json:"hidden"`
	FormField      bool         `json:"formField"`
	HubspotDefined bool         `json:"hubspotDefined"`
	HasUniqueValue bool         `json:"hasUniqueValue"`
	Archived       bool         `json:"archived"`
	ArchivedAt     string       `json:"archivedAt,omitempty"`
	ArchivedBy     string       `json:"archivedBy,omitempty"`
}

// fieldTypes are the form fields HubSpot gives each property type by default.
var fieldTypes = map[crm.PropertyType]string{
	crm.TypeString: "text", crm.TypeNumber: "number", crm.TypeEnumeration: "select", crm.TypeBool: "booleancheckbox",
	crm.TypeDatetime: "date", crm.TypeDate: "date",
}

// optionJSON is one option of an enumeration. In a request it may also be a plain string, which is
// both its value and its label. Answers give HubSpot's Option, whose hidden its clients' models
// require: DisplayOrder is the option's place (from 0) and Hidden always false, since crmflow lists
// options in their order and has no forms to hide them from. Requests' displayOrder and hidden are
// not kept.
type optionJSON struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

// optionInput is an option as HubSpot's clients send it (their OptionInput, whose hidden is
// required): description, displayOrder and hidden are accepted and not kept, since crmflow lists
// options in their order and has no forms to hide them from.
type optionInput struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	Description  string `json:"description"`
	DisplayOrder *int   `json:"displayOrder"`
	Hidden       *bool  `json:"hidden"`
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *optionJSON) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("option: %w", err)
		}
		*o = optionJSON{Label: s, Value: s}
		return nil
	}
	var in optionInput
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return &crm.ValidationError{Field: "options", Code: "INVALID_OPTION",
			Message: fmt.Sprintf("option %s is invalid: use a string or {\"label\": ..., \"value\": ...} (displayOrder, hidden and description are taken too)", b)}
	}
	*o = optionJSON{Label: in.Label, Value: in.Value}
	return nil
}

func toPropertyJSON(p crm.Property) propertyJSON {
	out := propertyJSON{Name: p.Name, Label: p.Label, Type: string(p.Type), FieldType: fieldTypes[p.Type],
		GroupName: "information", Description: p.Description, Options: []optionJSON{}, DisplayOrder: p.DisplayOrder,
		Hidden: p.Hidden, FormField: p.FormField, HubspotDefined: p.Standard, HasUniqueValue: p.Unique}
	for i, o := range p.Options {
		out.Options = append(out.Options, optionJSON{Label: p.OptionLabel(o), Value: o, DisplayOrder: i})
	}
	if !p.ArchivedAt.IsZero() {
		out.Archived, out.ArchivedAt, out.ArchivedBy = true, crm.FormatDatetime(p.ArchivedAt), p.ArchivedBy
	}
	return out
}

// toPropertiesJSON shows the properties of s (its archived ones with archived), sorted by name.
func toPropertiesJSON(s crm.Schema, archived bool) []propertyJSON {
	props := s.Properties
	if archived {
		props = s.Archived
	}
	out := make([]propertyJSON, 0, len(props))
	for _, name := range slices.Sorted(maps.Keys(props)) {
		out = append(out, toPropertyJSON(props[name]))
	}
	return out
}

// propertyInput is the body of a property definition: {"name", "label", "type", "options",
// "hasUniqueValue", "description", "displayOrder", "hidden", "formField"}. HasUniqueValue makes a
// string or number property unique (crm.Property.Unique): it can be set only here, at creation.
// HubSpot's clients also send "fieldType" and "groupName": they are accepted and not kept, since
// crmflow derives the form field from the type and has no property groups (reads show fieldTypes
// and "information"). What would change what the property holds (calculationFormula,
// externalOptions, referencedObjectType) stays refused.
type propertyInput struct {
	Name           string       `json:"name"`
	Label          string       `json:"label"`
	Type           string       `json:"type"`
	Options        []optionJSON `json:"options"`
	HasUniqueValue bool         `json:"hasUniqueValue"`
	FieldType      string       `json:"fieldType"`
	GroupName      string       `json:"groupName"`
	Description    string       `json:"description"`
	DisplayOrder   *int         `json:"displayOrder"`
	Hidden         *bool        `json:"hidden"`
	FormField      *bool        `json:"formField"`
}

// property is the definition in; each option keeps its label (an option without a label is labelled
// by its value). An option without a value is kept, for crm.Property.Validate to refuse it by its
// label: records could never be given it.
func (in propertyInput) property() crm.Property {
	p := crm.Property{Name: in.Name, Label: in.Label, Type: crm.PropertyType(in.Type), Unique: in.HasUniqueValue,
		Description: in.Description}
	if in.DisplayOrder != nil {
		p.DisplayOrder = *in.DisplayOrder
	}
	if in.Hidden != nil {
		p.Hidden = *in.Hidden
	}
	if in.FormField != nil {
		p.FormField = *in.FormField
	}
	for _, o := range in.Options {
		p.Options = append(p.Options, o.Value)
		if o.Label != "" && o.Label != o.Value {
			if p.OptionLabels == nil {
				p.OptionLabels = map[string]string{}
			}
			if _, dup := p.OptionLabels[o.Value]; !dup {
				p.OptionLabels[o.Value] = o.Label
			}
		}
	}
	return p
}

// listProperties serves GET /crm/v3/properties/{objectType}: every property, sorted by name; with
// ?archived=true the archived ones only, as HubSpot's.
func (s *Server) listProperties(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	_, schema, err := s.pathSchema(r, p)
	if err != nil {
		return err
	}
	archived, err := queryArchived(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageJSON[propertyJSON]{Results: toPropertiesJSON(schema, archived)})
	return nil
}

// getProperty serves GET /crm/v3/properties/{objectType}/{name}; with ?archived=true it reads an
// archived property, as HubSpot's.
func (s *Server) getProperty(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	archived, err := queryArchived(r)
	if err != nil {
		return err
	}
	if !archived {
		_, _, prop, err := s.pathProperty(r, p)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, toPropertyJSON(prop))
		return nil
	}
	o, schema, err := s.pathSchema(r, p)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	prop, ok := schema.Archived[name]
	if !ok {
		return &crm.NotFoundError{Kind: "archived property", ID: name,
			Hint: fmt.Sprintf("%s has no archived property of that name; GET /crm/v3/properties/%s?archived=true lists the ones it has", o, o)}
	}
	writeJSON(w, http.StatusOK, toPropertyJSON(prop))
	return nil
}

// pathSchema reads the schema of the request's {objectType}: a 404 when the type does not exist.
func (s *Server) pathSchema(r *http.Request, p crm.Principal) (crm.ObjectType, crm.Schema, error) {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return "", crm.Schema{}, err
	}
	schema, err := s.store.Schema(r.Context(), p.Tenant, o)
	if err != nil {
		return "", crm.Schema{}, fmt.Errorf("read schema of %s: %w", o, err)
	}
	return o, schema, nil
}

// pathProperty reads the schema of the request's {objectType} and the property its {name} names:
// a 404 when either does not exist, or the property is archived (the message then says how to
// read it and restore it).
func (s *Server) pathProperty(r *http.Request, p crm.Principal) (crm.ObjectType, crm.Schema, crm.Property, error) {
	o, schema, err := s.pathSchema(r, p)
	if err != nil {
		return "", crm.Schema{}, crm.Property{}, err
	}
	name := r.PathValue("name")
	prop, ok := schema.Properties[name]
	if !ok {
		return "", crm.Schema{}, crm.Property{}, unknownProperty(schema, name)
	}
	return o, schema, prop, nil
}

// unknownProperty is the 404 of a property name that schema does not have live: archived, or
// not at all.
func unknownProperty(schema crm.Schema, name string) error {
	o := schema.Type
	if _, ok := schema.Archived[name]; ok {
		return &crm.NotFoundError{Kind: "property", ID: name,
			Hint: fmt.Sprintf("%s's property %s is archived: GET /crm/v3/properties/%s/%s?archived=true reads it, POST /crm/v3/properties/%s/%s/restore restores it with its values",
				o, name, o, name, o, name)}
	}
	return &crm.NotFoundError{Kind: "property", ID: name,
		Hint: fmt.Sprintf("%s has no property of that name; GET /crm/v3/properties/%s lists the ones it has", o, o)}
}

// archiveProperty serves DELETE /crm/v3/properties/{objectType}/{propertyName} (HubSpot's
// coreApi.archive): 204 once the property is archived, or when it already was (nothing changes
// then). Only its definition moves: every record keeps its value, hidden from reads, writes and
// searches until POST .../restore brings it back. Refused with a 409, changing nothing: a property
// of the product or a unique one (crm.ValidatePropertyArchive), and one that active workflows,
// protection rules or bulk deletes still selecting use (checkPropertyUses, as for a change).
func (s *Server) archiveProperty(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, schema, err := s.pathSchema(r, p)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	prop, archived, err := checkArchive(schema, name, func(name string) error {
		return s.checkPropertyUses(r.Context(), p.Tenant, schema, name, nil, "archive")
	})
	if err != nil {
		return err
	}
	if archived {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if _, err := s.store.ArchiveProperty(r.Context(), p.Tenant, o, prop, p.User.Email); err != nil {
		return fmt.Errorf("archive property %s.%s: %w", o, name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// restoreProperty serves POST /crm/v3/properties/{objectType}/{propertyName}/restore, crmflow's
// (HubSpot restores archived properties in its screens only): 200 with the property restored, its
// records' values read, written and searched again as they were. A property that is not archived
// is answered as it is.
func (s *Server) restoreProperty(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, schema, err := s.pathSchema(r, p)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if _, ok := schema.Archived[name]; !ok {
		if _, ok := schema.Properties[name]; !ok {
			return unknownProperty(schema, name)
		}
	}
	prop, err := s.store.RestoreProperty(r.Context(), p.Tenant, o, name, p.User.Email)
	if err != nil {
		return fmt.Errorf("restore property %s.%s: %w", o, name, err)
	}
	writeJSON(w, http.StatusOK, toPropertyJSON(prop))
	return nil
}

// createProperty serves POST /crm/v3/properties/{objectType}: 201 with the new property. The
// name of an archived property is a 409 PROPERTY_ARCHIVED saying how to restore it.
func (s *Server) createProperty(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	var in propertyInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	prop, err := newProperty(o, in)
	if err != nil {
		return err
	}
	created, err := s.store.CreateProperty(r.Context(), p.Tenant, o, prop, p.User.Email)
	if err != nil {
		return fmt.Errorf("create property of %s: %w", o, err)
	}
	writeJSON(w, http.StatusCreated, toPropertyJSON(created))
	return nil
}

// propertyGroupJSON is a property group as HubSpot shows it. crmflow has one group per type,
// informationGroup, which every property is in (groupName "information").
type propertyGroupJSON struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder int    `json:"displayOrder"`
	Archived     bool   `json:"archived"`
}

// informationGroup is the one property group of every object type.
var informationGroup = propertyGroupJSON{Name: "information", Label: "Information", DisplayOrder: 0}

// listPropertyGroups serves GET /crm/v3/properties/{objectType}/groups: the type's one group. (A
// property named "groups" is read by GET /crm/v3/properties/{objectType} or batch reads of records,
// since this path is the groups', as in HubSpot's API.)
func (s *Server) listPropertyGroups(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	if _, err := s.objectType(r, p.Tenant, "objectType"); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resultsJSON[propertyGroupJSON]{Results: []propertyGroupJSON{informationGroup}})
	return nil
}

// getPropertyGroup serves GET /crm/v3/properties/{objectType}/groups/{groupName}: the group
// "information"; any other name is a 404.
func (s *Server) getPropertyGroup(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	if _, err := s.objectType(r, p.Tenant, "objectType"); err != nil {
		return err
	}
	if name := r.PathValue("groupName"); name != informationGroup.Name {
		return errNotFound("property group", name)
	}
	writeJSON(w, http.StatusOK, informationGroup)
	return nil
}

// propertyUpdateInput is the body of PATCH /crm/v3/properties/{objectType}/{propertyName}
// (HubSpot's PropertyUpdate): each field given replaces the property's, each left out (or null)
// keeps it. Options, when given, are the whole new list, as in HubSpot: an option left out is
// removed. Kept: label, description, displayOrder, hidden, formField, type and options.
// fieldType must be one HubSpot gives the (new) type, and is not kept (crmflow derives it from the
// type); groupName is accepted and not kept (crmflow has one group, information), as at creation.
// name and hasUniqueValue may be given only with the values they have: a property is never
// renamed, nor made unique or not. Anything else (calculationFormula, ...) is an unknown field.
type propertyUpdateInput struct {
	Label          *string       `json:"label"`
	Description    *string       `json:"description"`
	GroupName      *string       `json:"groupName"`
	Type           *string       `json:"type"`
	FieldType      *string       `json:"fieldType"`
	Options        *[]optionJSON `json:"options"`
	DisplayOrder   *int          `json:"displayOrder"`
	Hidden         *bool         `json:"hidden"`
	FormField      *bool         `json:"formField"`
	Name           *string       `json:"name"`
	HasUniqueValue *bool         `json:"hasUniqueValue"`
}

// updateFieldTypes are the form fields HubSpot gives each property type: an update's fieldType
// must be one of its type's. An enumeration's "checkbox" holds several values at once, which
// crmflow's enumerations do not.
var updateFieldTypes = map[crm.PropertyType][]string{
	crm.TypeString:      {"text", "textarea", "phonenumber", "html", "file"},
	crm.TypeNumber:      {"number"},
	crm.TypeEnumeration: {"select", "radio", "booleancheckbox"},
	crm.TypeBool:        {"booleancheckbox"},
	crm.TypeDatetime:    {"date"},
	crm.TypeDate:        {"date"},
}

// apply returns old with the fields of in. It refuses (ValidationErrors) an empty label and a
// fieldType its type does not take; crm.ValidatePropertyChange checks the rest.
func (in propertyUpdateInput) apply(old crm.Property) (crm.Property, error) {
	next := old
	next.Options = slices.Clone(old.Options)
	next.OptionLabels = maps.Clone(old.OptionLabels)
	var errs crm.ValidationErrors
	if in.Name != nil {
		next.Name = *in.Name
	}
	if in.HasUniqueValue != nil {
		next.Unique = *in.HasUniqueValue
	}
	if in.Label != nil {
		if strings.TrimSpace(*in.Label) == "" {
			errs = append(errs, &crm.ValidationError{Field: "label", Code: "MISSING_LABEL",
				Message: fmt.Sprintf("property %q: label is empty: give the label people see, or leave label out to keep %q", old.Name, old.Label)})
		}
		next.Label = *in.Label
	}
	if in.Description != nil {
		next.Description = *in.Description
	}
	if in.DisplayOrder != nil {
		next.DisplayOrder = *in.DisplayOrder
	}
	if in.Hidden != nil {
		next.Hidden = *in.Hidden
	}
	if in.FormField != nil {
		next.FormField = *in.FormField
	}
	if in.Type != nil {
		next.Type = crm.PropertyType(*in.Type)
		if next.Type != crm.TypeEnumeration && in.Options == nil {
			// An enumeration that becomes another type leaves its options behind.
			next.Options, next.OptionLabels = nil, nil
		}
	}
	if in.Options != nil {
		opts := propertyInput{Name: next.Name, Type: string(next.Type), Options: *in.Options}.property()
		next.Options, next.OptionLabels = opts.Options, opts.OptionLabels
	}
	if in.FieldType != nil {
		if ok, known := updateFieldTypes[next.Type]; known && !slices.Contains(ok, *in.FieldType) {
			errs = append(errs, &crm.ValidationError{Field: "fieldType", Code: "INVALID_FIELD_TYPE",
				Message: fmt.Sprintf("property %q: fieldType %q does not go with type %s: use %s (or leave fieldType out)",
					old.Name, *in.FieldType, next.Type, strings.Join(ok, ", "))})
		}
	}
	if len(errs) > 0 {
		return crm.Property{}, errs
	}
	return next, nil
}

// updateProperty serves PATCH /crm/v3/properties/{objectType}/{propertyName}: 200 with the
// property as it is now. A change that active workflows or protection rules of the type would no
// longer validate under, or whose type change their triggers read, is a 409 PROPERTY_IN_USE
// naming them (checkPropertyUses); one that stored values would not fit, too (the store's).
func (s *Server) updateProperty(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, schema, old, err := s.pathProperty(r, p)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	var in propertyUpdateInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	next, err := in.apply(old)
	if err != nil {
		return err
	}
	if err := crm.ValidatePropertyChange(o, old, next); err != nil {
		return err
	}
	if reflect.DeepEqual(old, next) {
		writeJSON(w, http.StatusOK, toPropertyJSON(old))
		return nil
	}
	change := "change"
	switch removed := crm.RemovedOptions(old, next); {
	case next.Type != old.Type:
		change = fmt.Sprintf("change the type (%s to %s) of", old.Type, next.Type)
	case len(removed) == 1:
		change = fmt.Sprintf("remove option %q of", removed[0])
	case len(removed) > 1:
		change = fmt.Sprintf("remove options %s of", quoteAll(removed))
	}
	if err := s.checkPropertyUses(r.Context(), p.Tenant, schema, name, &next, change); err != nil {
		return err
	}
	updated, err := s.store.UpdateProperty(r.Context(), p.Tenant, o, old, next, p.User.Email)
	if err != nil {
		return fmt.Errorf("update property %s.%s: %w", o, name, err)
	}
	writeJSON(w, http.StatusOK, toPropertyJSON(updated))
	return nil
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// proposedSchemas is the workflows.SchemaLookup of a tenant's live schemas with one of them
// replaced by the schema a property change would give it.
type proposedSchemas struct {
	liveSchemas
	schema crm.Schema
}

// Schema returns the proposed schema for its type, the live one for any other.
func (l proposedSchemas) Schema(o crm.ObjectType) (crm.Schema, error) {
	if o == l.schema.Type {
		return l.schema, nil
	}
	return l.liveSchemas.Schema(o)
}

// checkPropertyUses refuses (a *crm.PropertyInUseError naming them) a change of property name of
// schema's type to next (nil: its archive) that the tenant's active workflows of the type, its
// protection rules of the type or its bulk deletes of the type still selecting by filter would no
// longer validate under, while they do under the schema as it is: a removed option or property
// they name, a type their expressions compare. A type change is refused too when their triggers
// read the property at all (the workflows' compiled triggers, and a selecting job's compiled
// filter, are typed against the schema they were compiled under). Workflows that are not active
// are validated again when activated, so they do not hold a change back. A selecting job does:
// its worker evaluates the filter it compiled record by record, and a property that vanished
// midway (its values left out of reads, once archived) would select other records than the ones
// the user confirmed the count of. change says what is refused ("remove option \"m\" of").
func (s *Server) checkPropertyUses(ctx context.Context, t crm.TenantID, schema crm.Schema, name string, next *crm.Property, change string) error {
	users, err := s.propertyUsers(ctx, t, schema.Type)
	if err != nil {
		return err
	}
	return users.check(ctx, schema, name, next, change)
}

// propertyUsers is what may use the properties of a type: its active workflows' revisions, the
// tenant's protection rules and the bulk deletes still selecting, read once for the checks of one
// request (checkPropertyUses, or every input of a batch archive).
type propertyUsers struct {
	srv   *Server
	t     crm.TenantID
	revs  []crm.FlowRevision
	rules []crm.ProtectionRule
	jobs  []crm.Job
}

// propertyUsers reads what may use the properties of type o: three reads whatever it holds.
func (s *Server) propertyUsers(ctx context.Context, t crm.TenantID, o crm.ObjectType) (propertyUsers, error) {
	u := propertyUsers{srv: s, t: t}
	var err error
	if _, u.revs, err = s.store.ActiveFlows(ctx, t, o); err != nil {
		return u, fmt.Errorf("read active workflows of %s: %w", o, err)
	}
	if u.rules, err = s.store.ProtectionRules(ctx, t); err != nil {
		return u, fmt.Errorf("read protection rules: %w", err)
	}
	if u.jobs, err = s.store.SelectingJobs(ctx, t); err != nil {
		return u, fmt.Errorf("read the bulk deletes still selecting: %w", err)
	}
	return u, nil
}

// check is checkPropertyUses over the users u read.
func (u propertyUsers) check(ctx context.Context, schema crm.Schema, name string, next *crm.Property, change string) error {
	s, t := u.srv, u.t
	proposed := crm.Schema{Type: schema.Type, Properties: maps.Clone(schema.Properties)}
	if next == nil {
		delete(proposed.Properties, name)
	} else {
		proposed.Properties[name] = *next
	}
	typeChanged := next != nil && next.Type != schema.Properties[name].Type
	reads := func(props []string, all bool) bool { return all || slices.Contains(props, name) }
	typed := func() string {
		return fmt.Sprintf("its triggers read %s, typed as %s", name, schema.Properties[name].Type)
	}
	uses := &crm.PropertyInUseError{ObjectType: schema.Type, Property: name, Change: change}

	live := liveSchemas{ctx: ctx, store: s.store, tenant: t}
	current := proposedSchemas{liveSchemas: live, schema: schema}
	for _, rev := range u.revs {
		wf, err := workflows.Parse(flowFile, []byte(rev.Source), current, s.cfg.Actions)
		if err != nil {
			continue // it does not validate as things are: not this change's doing
		}
		_, err = workflows.Parse(flowFile, []byte(rev.Source), proposedSchemas{liveSchemas: live, schema: proposed}, s.cfg.Actions)
		var wve *workflows.ValidationError
		switch {
		case errors.As(err, &wve) && len(wve.Problems) > 0:
			pr := wve.Problems[0]
			detail := pr.Message
			if pr.Path != "" {
				detail = pr.Path + ": " + detail
			}
			uses.Workflows = append(uses.Workflows, crm.PropertyUse{Name: rev.Flow, Detail: fmt.Sprintf("revision %d, %s", rev.Revision, detail)})
		case err != nil:
			return fmt.Errorf("validate workflow %s against the changed schema: %w", rev.Flow, err)
		case typeChanged && reads(wf.Reads()):
			uses.Workflows = append(uses.Workflows, crm.PropertyUse{Name: rev.Flow, Detail: fmt.Sprintf("revision %d, %s", rev.Revision, typed())})
		}
	}

	for _, rule := range u.rules {
		if rule.ObjectType != schema.Type {
			continue
		}
		prog, err := triggers.Compile(rule.When, schema)
		if err != nil {
			continue // it protects every record already (it fails closed): not this change's doing
		}
		switch _, err := triggers.Compile(rule.When, proposed); {
		case err != nil:
			uses.Rules = append(uses.Rules, crm.PropertyUse{Name: rule.Name, Detail: err.Error()})
		case typeChanged && reads(prog.Reads()):
			uses.Rules = append(uses.Rules, crm.PropertyUse{Name: rule.Name, Detail: strings.Replace(typed(), "its triggers read", "it reads", 1)})
		}
	}

	for _, j := range u.jobs {
		if j.ObjectType != schema.Type || j.Filter == "" {
			continue
		}
		prog, err := triggers.Compile(j.Filter, schema)
		if err != nil {
			continue // its worker refuses it already: not this change's doing
		}
		// The details name no part of the filter: it may name a contact's data (SPEC S9).
		switch _, err := triggers.Compile(j.Filter, proposed); {
		case err != nil:
			uses.Jobs = append(uses.Jobs, crm.PropertyUse{Name: j.ID, Detail: "its filter names " + name})
		case typeChanged && reads(prog.Reads()):
			uses.Jobs = append(uses.Jobs, crm.PropertyUse{Name: j.ID, Detail: strings.Replace(typed(), "its triggers read", "its filter reads", 1)})
		}
	}
	if len(uses.Workflows) > 0 || len(uses.Rules) > 0 || len(uses.Jobs) > 0 {
		return uses
	}
	return nil
}
