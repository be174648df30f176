package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/crmflow/crmflow/crm"
)

// schemaJSON is an object type as HubSpot's schemas API shows it. ObjectTypeID is the name used in
// the paths of the other endpoints.
// ID and FullyQualifiedName are the name too; the lists of properties (required, searchable,
// secondary display) and Associations are always empty, since crmflow has none of those settings.
type schemaJSON struct {
	ID                         string         `json:"id"`
	Name                       string         `json:"name"`
	ObjectTypeID               string         `json:"objectTypeId"`
	FullyQualifiedName         string         `json:"fullyQualifiedName"`
	Labels                     labelsJSON     `json:"labels"`
	Properties                 []propertyJSON `json:"properties"`
	RequiredProperties         []string       `json:"requiredProperties"`
	SearchableProperties       []string       `json:"searchableProperties"`
	SecondaryDisplayProperties []string       `json:"secondaryDisplayProperties"`
	Associations               []struct{}     `json:"associations"`
	Archived                   bool           `json:"archived"`
	Custom                     bool           `json:"custom"`
	CreatedAt                  string         `json:"createdAt,omitempty"`
	UpdatedAt                  string         `json:"updatedAt,omitempty"`
}

type labelsJSON struct {
	Singular string `json:"singular"`
	Plural   string `json:"plural"`
}

func toSchemaJSON(def crm.ObjectTypeDef, custom bool) schemaJSON {
	plural := def.PluralLabel
	if plural == "" {
		plural = def.Label
	}
	out := schemaJSON{ID: def.Name, Name: def.Name, ObjectTypeID: def.Name, FullyQualifiedName: def.Name,
		Labels: labelsJSON{Singular: def.Label, Plural: plural}, Properties: make([]propertyJSON, 0, len(def.Properties)),
		RequiredProperties: []string{}, SearchableProperties: []string{}, SecondaryDisplayProperties: []string{},
		Associations: []struct{}{}, Custom: custom}
	for _, p := range def.Properties {
		out.Properties = append(out.Properties, toPropertyJSON(p))
	}
	if !def.CreatedAt.IsZero() {
		out.CreatedAt = crm.FormatDatetime(def.CreatedAt)
		out.UpdatedAt = out.CreatedAt
	}
	return out
}

// schemaInput is the body of POST /crm/v3/schemas and of POST /crm-object-schemas/v3/schemas
// (HubSpot's ObjectSchemaEgg). The singular label is Label, or else Labels.Singular, or else the
// name; the plural label is Labels.Plural, or else the singular one. HubSpot's display settings
// (primaryDisplayProperty, secondaryDisplayProperties, searchableProperties, description) and
// associatedObjects are accepted and not kept: crmflow has no such settings, and links a custom
// object's records with records of any type. RequiredProperties must be empty, since crmflow
// requires no property of a record: naming one is a 400 rather than a requirement left unenforced.
type schemaInput struct {
	Name                       string          `json:"name"`
	Label                      string          `json:"label"`
	Labels                     *labelsJSON     `json:"labels"`
	Properties                 []propertyInput `json:"properties"`
	RequiredProperties         []string        `json:"requiredProperties"`
	PrimaryDisplayProperty     string          `json:"primaryDisplayProperty"`
	SecondaryDisplayProperties []string        `json:"secondaryDisplayProperties"`
	SearchableProperties       []string        `json:"searchableProperties"`
	AssociatedObjects          []string        `json:"associatedObjects"`
	Description                string          `json:"description"`
}

func (in schemaInput) def() crm.ObjectTypeDef {
	def := crm.ObjectTypeDef{Name: in.Name, Label: in.Label}
	if def.Label == "" && in.Labels != nil {
		def.Label = in.Labels.Singular
	}
	if def.Label == "" {
		def.Label = in.Name
	}
	if in.Labels != nil {
		def.PluralLabel = in.Labels.Plural
	}
	if def.PluralLabel == "" {
		def.PluralLabel = def.Label
	}
	for _, p := range in.Properties {
		def.Properties = append(def.Properties, p.property())
	}
	return def
}

// listSchemas serves GET /crm/v3/schemas and GET /crm-object-schemas/v3/schemas: the tenant's
// custom object types.
func (s *Server) listSchemas(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	defs, err := s.store.ObjectTypes(r.Context(), p.Tenant)
	if err != nil {
		return fmt.Errorf("list object types: %w", err)
	}
	out := make([]schemaJSON, len(defs))
	for i, d := range defs {
		out[i] = toSchemaJSON(d, true)
	}
	writeJSON(w, http.StatusOK, pageJSON[schemaJSON]{Results: out})
	return nil
}

// createSchema serves POST /crm/v3/schemas and POST /crm-object-schemas/v3/schemas: 201 with the
// new custom object type.
func (s *Server) createSchema(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	var in schemaInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	if len(in.RequiredProperties) > 0 {
		return errInvalid("requiredProperties", "REQUIRED_PROPERTIES_UNSUPPORTED",
			"requiredProperties %q cannot be kept: crmflow requires no property of a record; send an empty list and check the values in your integration",
			in.RequiredProperties)
	}
	def := in.def()
	if err := def.Validate(); err != nil {
		return fmt.Errorf("create object type: %w", err)
	}
	created, err := s.store.CreateObjectType(r.Context(), p.Tenant, def, p.User.Email)
	if err != nil {
		return fmt.Errorf("create object type %s: %w", def.Name, err)
	}
	writeJSON(w, http.StatusCreated, toSchemaJSON(created, true))
	return nil
}

// getSchema serves GET /crm/v3/schemas/{objectType} (and the same path under
// /crm-object-schemas/v3/schemas): a custom object type, or a standard one with
// its standard properties. Properties added after the type was created are included.
func (s *Server) getSchema(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	schema, err := s.store.Schema(r.Context(), p.Tenant, o)
	if err != nil {
		return fmt.Errorf("read schema of %s: %w", o, err)
	}
	def := crm.ObjectTypeDef{Name: string(o), Label: standardLabels[o][0], PluralLabel: standardLabels[o][1]}
	if !o.IsStandard() {
		if def, err = s.customType(r, p.Tenant, o); err != nil {
			return err
		}
	}
	def.Properties = def.Properties[:0:0]
	for _, name := range schema.Names() {
		def.Properties = append(def.Properties, schema.Properties[name])
	}
	writeJSON(w, http.StatusOK, toSchemaJSON(def, !o.IsStandard()))
	return nil
}

// standardLabels are the singular and plural labels of the standard object types, as HubSpot gives them.
var standardLabels = map[crm.ObjectType][2]string{
	crm.Contacts: {"Contact", "Contacts"}, crm.Companies: {"Company", "Companies"}, crm.Deals: {"Deal", "Deals"},
	crm.Tickets: {"Ticket", "Tickets"}, crm.Calls: {"Call", "Calls"},
}

// customType returns the definition of a tenant's custom object type, or a 404 naming it.
func (s *Server) customType(r *http.Request, t crm.TenantID, o crm.ObjectType) (crm.ObjectTypeDef, error) {
	d, err := s.store.ObjectType(r.Context(), t, o)
	var nf *crm.NotFoundError
	if errors.As(err, &nf) {
		return crm.ObjectTypeDef{}, errNotFound("object type", string(o))
	}
	if err != nil {
		return crm.ObjectTypeDef{}, fmt.Errorf("read object type %s: %w", o, err)
	}
	return d, nil
}
