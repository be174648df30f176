package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// searchFilterJSON is one filter of a search request. Its values are read as they were sent, and
// parsed with the filter's position known (see parseScalar), so an error names the exact field.
type searchFilterJSON struct {
	PropertyName string            `json:"propertyName"`
	Operator     string            `json:"operator"`
	Value        json.RawMessage   `json:"value"`
	HighValue    json.RawMessage   `json:"highValue"`
	Values       []json.RawMessage `json:"values"`
}

// searchGroupJSON is one filter group of a search request.
type searchGroupJSON struct {
	Filters []json.RawMessage `json:"filters"`
}

// searchSortJSON is a sort given as {"propertyName": ..., "direction": "ASCENDING"|"DESCENDING"},
// or, as HubSpot's clients also send it, as a string: "name", "-name" (descending) or that object
// encoded as JSON.
type searchSortJSON struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

// parseScalar reads the filter value raw, at field in of the request: a JSON string, number or
// bool as text; set is false when it was not given or null. An object or array is a 400 naming in.
func parseScalar(raw json.RawMessage, in string) (text string, set bool, err error) {
	b := bytes.TrimSpace(raw)
	switch {
	case len(b) == 0 || string(b) == "null":
		return "", false, nil
	case b[0] == '"':
		if err := json.Unmarshal(b, &text); err != nil {
			return "", false, errInvalid(in, "INVALID_FILTER_VALUE", "%s is not a JSON string: %v", in, err)
		}
		return text, true, nil
	case b[0] == '{' || b[0] == '[':
		return "", false, errInvalid(in, "INVALID_FILTER_VALUE",
			"%s is a JSON object or array: a filter value must be a string, number or boolean (IN and NOT_IN take their list in values)", in)
	}
	return string(b), true, nil
}

// decodePart decodes raw, the part of a search request at field in (a filter group, a filter or
// a sort), into dst; a problem is a 400 naming the field inside it (filterGroups[0].filters[1].foo)
// and, for an unknown field, the fields the part takes.
func decodePart(raw json.RawMessage, in, takes string, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := in
		if te.Field != "" {
			field = in + "." + te.Field
		}
		return errInvalid(field, "INVALID_TYPE", "%s %s", field, typeMismatch(te))
	}
	if name, ok := unknownJSONField(err); ok {
		return errInvalid(in+"."+name, "UNKNOWN_FIELD", "unknown field %q in %s: %s", name, in, takes)
	}
	return errInvalid(in, "INVALID_JSON", "%s could not be read: %v", in, err)
}

// parseSort reads the sort raw at field in: an object, or a string ("name", "-name" or the object
// encoded as JSON).
func parseSort(raw json.RawMessage, in string) (searchSortJSON, error) {
	const takes = "a sort takes propertyName and direction (ASCENDING or DESCENDING)"
	b := bytes.TrimSpace(raw)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return searchSortJSON{}, errInvalid(in, "INVALID_SORT", "%s is not a JSON string: %v", in, err)
		}
		str = strings.TrimSpace(str)
		if !strings.HasPrefix(str, "{") {
			so := searchSortJSON{PropertyName: strings.TrimPrefix(str, "-"), Direction: "ASCENDING"}
			if strings.HasPrefix(str, "-") {
				so.Direction = "DESCENDING"
			}
			return so, nil
		}
		b = []byte(str)
	}
	var so searchSortJSON
	if err := decodePart(b, in, takes, &so); err != nil {
		return searchSortJSON{}, err
	}
	return so, nil
}

// searchRequest is the body of POST /crm/v3/objects/{objectType}/search.
type searchRequest struct {
	FilterGroups []json.RawMessage `json:"filterGroups"`
	Sorts        []json.RawMessage `json:"sorts"`
	Query        string            `json:"query"`
	Properties   []string          `json:"properties"`
	Limit        *int              `json:"limit"`
	After        json.RawMessage   `json:"after"`
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
	params := crm.SearchParams{Query: in.Query, Properties: splitNames(in.Properties)}
	if in.Limit != nil {
		if *in.Limit <= 0 {
			return errInvalid("limit", "INVALID_LIMIT", "limit %d is out of range: use 1 to %d", *in.Limit, crm.MaxSearchLimit)
		}
		params.Limit = *in.Limit
	}
	after, afterSet, err := parseScalar(in.After, "after")
	if err != nil {
		return errInvalid("after", "INVALID_AFTER", "after is not a result offset: use the paging.next.after of the previous page")
	}
	if afterSet && after != "" {
		n, err := strconv.Atoi(strings.TrimSpace(after))
		if err != nil || n < 0 {
			return errInvalid("after", "INVALID_AFTER", "after %q is not a result offset: use the paging.next.after of the previous page", after)
		}
		params.After = n
	}
	const filterTakes = "a filter takes propertyName, operator, value, highValue (BETWEEN) and values (IN, NOT_IN)"
	for gi, raw := range in.FilterGroups {
		gin := fmt.Sprintf("filterGroups[%d]", gi)
		var g searchGroupJSON
		if err := decodePart(raw, gin, "a filter group takes filters", &g); err != nil {
			return err
		}
		group := make([]crm.SearchFilter, 0, len(g.Filters))
		for fi, raw := range g.Filters {
			fin := fmt.Sprintf("%s.filters[%d]", gin, fi)
			var f searchFilterJSON
			if err := decodePart(raw, fin, filterTakes, &f); err != nil {
				return err
			}
			sf := crm.SearchFilter{PropertyName: f.PropertyName, Operator: crm.SearchOperator(strings.ToUpper(f.Operator))}
			if sf.Value, sf.HasValue, err = parseScalar(f.Value, fin+".value"); err != nil {
				return err
			}
			if sf.HighValue, sf.HasHighValue, err = parseScalar(f.HighValue, fin+".highValue"); err != nil {
				return err
			}
			for vi, raw := range f.Values {
				vin := fmt.Sprintf("%s.values[%d]", fin, vi)
				v, set, err := parseScalar(raw, vin)
				if err != nil {
					return err
				}
				if !set {
					return errInvalid(vin, "INVALID_FILTER_VALUE",
						"filter group %d, filter %d: value %d is null: give a string, number or boolean", gi, fi, vi)
				}
				sf.Values = append(sf.Values, v)
			}
			group = append(group, sf)
		}
		params.FilterGroups = append(params.FilterGroups, group)
	}
	for i, raw := range in.Sorts {
		so, err := parseSort(raw, fmt.Sprintf("sorts[%d]", i))
		if err != nil {
			return err
		}
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
		res.Records[i] = withRecordProperties(rec, params.Properties)
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
