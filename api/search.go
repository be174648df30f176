package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// scalar is a filter value given as a JSON string, number or bool; set says whether it was given.
type scalar struct {
	text string
	set  bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *scalar) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		if err := json.Unmarshal(b, &s.text); err != nil {
			return err
		}
	case string(b) == "null":
		*s = scalar{}
		return nil
	case string(b) == "true", string(b) == "false", len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		s.text = string(b)
	default:
		return &crm.ValidationError{Field: "value", Code: "INVALID_FILTER_VALUE",
			Message: "a filter value must be a string, number or boolean, not an object or array"}
	}
	s.set = true
	return nil
}

// searchFilterJSON is one filter of a search request.
type searchFilterJSON struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        scalar   `json:"value"`
	HighValue    scalar   `json:"highValue"`
	Values       []scalar `json:"values"`
}

// searchSortJSON is a sort given as {"propertyName": ..., "direction": "ASCENDING"|"DESCENDING"},
// or, as HubSpot's clients also send it, as a string: "name", "-name" (descending) or that object
// encoded as JSON.
type searchSortJSON struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *searchSortJSON) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		str = strings.TrimSpace(str)
		if strings.HasPrefix(str, "{") {
			b = []byte(str)
		} else {
			s.PropertyName, s.Direction = strings.TrimPrefix(str, "-"), "ASCENDING"
			if strings.HasPrefix(str, "-") {
				s.Direction = "DESCENDING"
			}
			return nil
		}
	}
	type plain searchSortJSON
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("sort: %w", err)
	}
	*s = searchSortJSON(p)
	return nil
}

// searchRequest is the body of POST /crm/v3/objects/{objectType}/search.
type searchRequest struct {
	FilterGroups []struct {
		Filters []searchFilterJSON `json:"filters"`
	} `json:"filterGroups"`
	Sorts      []searchSortJSON `json:"sorts"`
	Query      string           `json:"query"`
	Properties []string         `json:"properties"`
	Limit      *int             `json:"limit"`
	After      scalar           `json:"after"`
}

// searchResponse is a page of search results, as HubSpot shapes it.
type searchResponse struct {
	Total   int          `json:"total"`
	Results []recordJSON `json:"results"`
	Paging  *struct {
		Next struct {
			After string `json:"after"`
		} `json:"next"`
	} `json:"paging,omitempty"`
}

// searchObjects serves POST /crm/v3/objects/{objectType}/search: 200 with a page of the live
// records that match, or a 400 naming each problem of the request (see crm.Store.Search). A search
// never reads the bin: ?archived=true is a 400 that says where the bin is read, rather than a page
// of live records the caller would take for deleted ones.
func (s *Server) searchObjects(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	archived, err := queryArchived(r)
	if err != nil {
		return err
	}
	if archived {
		return errInvalid("archived", "ARCHIVED_NOT_SEARCHABLE",
			"search reads live records only, so archived=true cannot be searched: read the recycle bin with GET /crm/v3/objects/%s?archived=true "+
				"(filtered by archivedBy, archivedVia, archivedAfter, archivedBefore or archivedOperation)", o)
	}
	var in searchRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	params := crm.SearchParams{Query: in.Query, Properties: in.Properties}
	if in.Limit != nil {
		if *in.Limit <= 0 {
			return errInvalid("limit", "INVALID_LIMIT", "limit %d is out of range: use 1 to %d", *in.Limit, crm.MaxSearchLimit)
		}
		params.Limit = *in.Limit
	}
	if in.After.set && in.After.text != "" {
		n, err := strconv.Atoi(strings.TrimSpace(in.After.text))
		if err != nil || n < 0 {
			return errInvalid("after", "INVALID_AFTER", "after %q is not a result offset: use the paging.next.after of the previous page", in.After.text)
		}
		params.After = n
	}
	for gi, g := range in.FilterGroups {
		group := make([]crm.SearchFilter, 0, len(g.Filters))
		for fi, f := range g.Filters {
			sf := crm.SearchFilter{PropertyName: f.PropertyName, Operator: crm.SearchOperator(strings.ToUpper(f.Operator)),
				Value: f.Value.text, HasValue: f.Value.set, HighValue: f.HighValue.text, HasHighValue: f.HighValue.set}
			for vi, v := range f.Values {
				if !v.set {
					return errInvalid(fmt.Sprintf("filterGroups[%d].filters[%d].values[%d]", gi, fi, vi), "INVALID_FILTER_VALUE",
						"filter group %d, filter %d: value %d is null: give a string, number or boolean", gi, fi, vi)
				}
				sf.Values = append(sf.Values, v.text)
			}
			group = append(group, sf)
		}
		params.FilterGroups = append(params.FilterGroups, group)
	}
	for i, so := range in.Sorts {
		var desc bool
		switch strings.ToUpper(so.Direction) {
		case "", "ASCENDING", "ASC":
		case "DESCENDING", "DESC":
			desc = true
		default:
			return errInvalid(fmt.Sprintf("sorts[%d].direction", i), "INVALID_SORT_DIRECTION",
				"sort direction %q is not one: use ASCENDING or DESCENDING", so.Direction)
		}
		params.Sorts = append(params.Sorts, crm.SearchSort{PropertyName: so.PropertyName, Descending: desc})
	}
	res, err := s.store.Search(r.Context(), p.Tenant, o, params)
	if err != nil {
		return fmt.Errorf("search %s: %w", o, err)
	}
	for i, rec := range res.Records {
		res.Records[i] = withRecordProperties(rec, in.Properties)
	}
	out := searchResponse{Total: res.Total, Results: toRecordsJSON(res.Records)}
	if res.After != "" {
		out.Paging = &struct {
			Next struct {
				After string `json:"after"`
			} `json:"next"`
		}{}
		out.Paging.Next.After = res.After
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
