package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/crmflow/crmflow/crm"
)

// apiSchemas is the workflows.SchemaLookup of a tenant's live schema, read over the API with the
// user's token: the properties of an object type (GET /crm/v3/properties/{objectType}, which needs
// the read permission) when a file first names it, and the tenant's custom object types (GET
// /crm/v3/schemas) only to suggest one for an unknown type. It is for one command: it keeps what it
// read, and is not safe for concurrent use.
type apiSchemas struct {
	ctx     context.Context
	c       *apiClient
	schemas map[crm.ObjectType]crm.Schema
}

func newAPISchemas(ctx context.Context, c *apiClient) *apiSchemas {
	return &apiSchemas{ctx: ctx, c: c, schemas: map[crm.ObjectType]crm.Schema{}}
}

// livePropertyView is a property as the API shows it.
type livePropertyView struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	Type    string `json:"type"`
	Options []struct {
		Label string `json:"label"`
		Value string `json:"value"`
	} `json:"options"`
	HubspotDefined bool `json:"hubspotDefined"`
}

// Schema returns the tenant's schema of o, or a *crm.NotFoundError when the tenant has no such
// object type. Any other failure (no answer, a token without the read permission) is returned
// wrapped, and stops validation.
func (s *apiSchemas) Schema(o crm.ObjectType) (crm.Schema, error) {
	if sch, ok := s.schemas[o]; ok {
		return sch, nil
	}
	var page struct {
		Results []livePropertyView `json:"results"`
	}
	err := s.c.do(s.ctx, http.MethodGet, "/crm/v3/properties/"+url.PathEscape(string(o)), nil, &page)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.status == http.StatusNotFound && !ae.foreign:
		return crm.Schema{}, &crm.NotFoundError{Kind: "object type", ID: string(o)}
	case err != nil:
		return crm.Schema{}, fmt.Errorf("read the tenant's properties of %s through the API, to validate against them "+
			"(or validate offline against a schema export with --schema FILE): %w", o, err)
	}
	sch := crm.Schema{Type: o, Properties: make(map[string]crm.Property, len(page.Results))}
	for _, v := range page.Results {
		p := crm.Property{Name: v.Name, Label: v.Label, Type: crm.PropertyType(v.Type), Standard: v.HubspotDefined}
		for _, opt := range v.Options {
			p.Options = append(p.Options, opt.Value)
			if opt.Label != "" && opt.Label != opt.Value {
				if p.OptionLabels == nil {
					p.OptionLabels = map[string]string{}
				}
				p.OptionLabels[opt.Value] = opt.Label
			}
		}
		sch.Properties[p.Name] = p
	}
	s.schemas[o] = sch
	return sch, nil
}

// ObjectTypes lists the tenant's object types, standard ones first, for the hint of an unknown one;
// only the standard ones when the custom ones cannot be read.
func (s *apiSchemas) ObjectTypes() []crm.ObjectType {
	out := slices.Clone(crm.StandardObjectTypes)
	var page struct {
		Results []struct {
			Name string `json:"name"`
		} `json:"results"`
	}
	if err := s.c.do(s.ctx, http.MethodGet, "/crm/v3/schemas", nil, &page); err != nil {
		return out
	}
	for _, r := range page.Results {
		out = append(out, crm.ObjectType(r.Name))
	}
	return out
}
