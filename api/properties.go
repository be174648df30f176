package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/crmflow/crmflow/crm"
)

// propertyJSON is a property as HubSpot shows it. HubspotDefined marks a standard property.
// FieldType is HubSpot's form field of the type (see fieldTypes). crmflow has no property groups
// nor descriptions: GroupName is always "information" and Description empty.
type propertyJSON struct {
	Name           string       `json:"name"`
	Label          string       `json:"label"`
	Type           string       `json:"type"`
	FieldType      string       `json:"fieldType"`
	GroupName      string       `json:"groupName"`
	Description    string       `json:"description"`
	Options        []optionJSON `json:"options"`
	HubspotDefined bool         `json:"hubspotDefined"`
	HasUniqueValue bool         `json:"hasUniqueValue"`
}

// fieldTypes are the form fields HubSpot gives each property type by default.
var fieldTypes = map[crm.PropertyType]string{
	crm.TypeString: "text", crm.TypeNumber: "number", crm.TypeEnumeration: "select", crm.TypeBool: "booleancheckbox",
	crm.TypeDatetime: "date",
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
		GroupName: "information", Options: []optionJSON{}, HubspotDefined: p.Standard,
		HasUniqueValue: p.Unique}
	for i, o := range p.Options {
		out.Options = append(out.Options, optionJSON{Label: p.OptionLabel(o), Value: o, DisplayOrder: i})
	}
	return out
}

func toPropertiesJSON(s crm.Schema) []propertyJSON {
	out := make([]propertyJSON, 0, len(s.Properties))
	for _, name := range s.Names() {
		out = append(out, toPropertyJSON(s.Properties[name]))
	}
	return out
}

// propertyInput is the body of a property definition: {"name", "label", "type", "options",
// "hasUniqueValue"}. HasUniqueValue makes a string or number property unique (crm.Property.Unique):
// it can be set only here, at creation. HubSpot's clients also send "fieldType", "groupName",
// "description", "displayOrder", "hidden" and "formField": they are accepted and not kept, since
// crmflow derives the form field from the type and has no property groups, descriptions or forms
// (reads show fieldTypes, "information" and an empty description). What would change what the
// property holds (calculationFormula, externalOptions, referencedObjectType) stays refused.
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
	p := crm.Property{Name: in.Name, Label: in.Label, Type: crm.PropertyType(in.Type), Unique: in.HasUniqueValue}
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
// ?archived=true none, since properties are never archived.
func (s *Server) listProperties(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	archived, err := queryArchived(r)
	if err != nil {
		return err
	}
	schema, err := s.store.Schema(r.Context(), p.Tenant, o)
	if err != nil {
		return fmt.Errorf("read schema of %s: %w", o, err)
	}
	if archived { // properties are never archived: HubSpot's archived=true lists only those
		writeJSON(w, http.StatusOK, pageJSON[propertyJSON]{Results: []propertyJSON{}})
		return nil
	}
	writeJSON(w, http.StatusOK, pageJSON[propertyJSON]{Results: toPropertiesJSON(schema)})
	return nil
}

// getProperty serves GET /crm/v3/properties/{objectType}/{name}.
func (s *Server) getProperty(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	schema, err := s.store.Schema(r.Context(), p.Tenant, o)
	if err != nil {
		return fmt.Errorf("read schema of %s: %w", o, err)
	}
	name := r.PathValue("name")
	prop, ok := schema.Properties[name]
	if !ok {
		return errNotFound("property", name)
	}
	writeJSON(w, http.StatusOK, toPropertyJSON(prop))
	return nil
}

// createProperty serves POST /crm/v3/properties/{objectType}: 201 with the new property.
func (s *Server) createProperty(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	var in propertyInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	prop := in.property()
	if err := prop.Validate(); err != nil {
		return fmt.Errorf("create property of %s: %w", o, err)
	}
	created, err := s.store.CreateProperty(r.Context(), p.Tenant, o, prop)
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
