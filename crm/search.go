package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// SearchOperator is the operator of a search filter, as HubSpot names it.
type SearchOperator string

// The search operators.
const (
	OpEQ             SearchOperator = "EQ"
	OpNEQ            SearchOperator = "NEQ"
	OpLT             SearchOperator = "LT"
	OpLTE            SearchOperator = "LTE"
	OpGT             SearchOperator = "GT"
	OpGTE            SearchOperator = "GTE"
	OpBetween        SearchOperator = "BETWEEN"
	OpIn             SearchOperator = "IN"
	OpNotIn          SearchOperator = "NOT_IN"
	OpHasProperty    SearchOperator = "HAS_PROPERTY"
	OpNotHasProperty SearchOperator = "NOT_HAS_PROPERTY"
	OpContainsToken  SearchOperator = "CONTAINS_TOKEN"
)

// SearchOperators lists the operators in the order error messages name them.
var SearchOperators = []SearchOperator{OpEQ, OpNEQ, OpLT, OpLTE, OpGT, OpGTE, OpBetween, OpIn, OpNotIn,
	OpHasProperty, OpNotHasProperty, OpContainsToken}

// The limits of a search, HubSpot's.
const (
	// MaxSearchGroups is the most filter groups a search may have.
	MaxSearchGroups = 5
	// MaxSearchGroupFilters is the most filters one group may have.
	MaxSearchGroupFilters = 10
	// MaxSearchFilters is the most filters a search may have in all.
	MaxSearchFilters = 25
	// MaxSearchLimit is the largest page.
	MaxSearchLimit = 200
	// DefaultSearchLimit is the page size when none is given.
	DefaultSearchLimit = 10
	// MaxSearchResults is how far paging reaches: the results past the first 10,000 cannot be read.
	MaxSearchResults = 10000
	// MaxSearchValues is the most values an IN or NOT_IN filter may list.
	MaxSearchValues = 100
	// DefaultSearchWorkBudget is the default of Config.SearchWorkBudget: the most records a search reads from its indexes before checking the rest
	// of their filters (S27): a filter group is narrowed by its most selective indexed filter, and
	// when even that matches more records, the search is refused with a *ValidationError saying to
	// narrow it. A search that only filters and sorts on one indexed property reads no more than its page.
	DefaultSearchWorkBudget = 50000
)

// SearchFilter is one condition of a search: a property, an operator and its value(s), as text.
type SearchFilter struct {
	PropertyName string
	Operator     SearchOperator
	// Value is the value of EQ, NEQ, LT, LTE, GT, GTE, CONTAINS_TOKEN and the low end of BETWEEN.
	Value string
	// HasValue is true when the request gave Value (an empty value differs from none).
	HasValue bool
	// HighValue is the high end of BETWEEN.
	HighValue string
	// HasHighValue is true when the request gave HighValue.
	HasHighValue bool
	// Values are the values of IN and NOT_IN.
	Values []string
}

// SearchSort orders the results by one property.
type SearchSort struct {
	PropertyName string
	Descending   bool
}

// SearchParams is a search: the OR of its filter groups, each the AND of its filters, and the text
// query (AND with the groups); results sorted by Sorts (by id ascending when empty), paged by
// After (an offset) and Limit.
type SearchParams struct {
	FilterGroups [][]SearchFilter
	// Query finds the records whose text-indexed properties (TextIndexed) start with it, ignoring case.
	Query string
	// Sorts holds at most one sort.
	Sorts []SearchSort
	// Properties are the properties returned; empty means all.
	Properties []string
	// Limit is the page size: 1 to MaxSearchLimit, DefaultSearchLimit when 0.
	Limit int
	// After is the offset to start from (the After of the previous page).
	After int
}

// SearchResult is one page of a search.
type SearchResult struct {
	// Total is the number of records that match.
	Total int
	// Records are the page's records.
	Records []Record
	// After is the offset of the next page, or "" when there is none (the end, or MaxSearchResults).
	After string
}

// searchPlan is what searchScript runs (see its contract).
type searchPlan struct {
	Rec    string        `json:"rec"`
	Live   string        `json:"live"`
	Groups []searchGroup `json:"groups"`
	Sort   searchSort    `json:"sort"`
	Off    int           `json:"off"`
	Lim    int           `json:"lim"`
	Budget int           `json:"budget"`
}

type searchGroup struct {
	Drivers []searchDriver `json:"drivers"`
	Checks  []searchCheck  `json:"checks"`
}

// searchDriver finds the records of one filter through its index: the union of its parts.
type searchDriver struct {
	Fi    int          `json:"fi"`
	Parts []searchPart `json:"parts"`
}

// searchPart is one index range: c "z" a ZSET by score, "l" a text index by lex, "s" a SET.
type searchPart struct {
	C   string `json:"c"`
	Key string `json:"key"`
	Min string `json:"min,omitempty"`
	Max string `json:"max,omitempty"`
}

// searchCheck is one filter as tested on a record's value: k the value's kind ("n" number, "d"
// stored datetime, "m" unix ms, "s" text, "v" exact, "id" the record id), a and b the operands
// (numbers for n, d, m and id), vs the values of IN and NOT_IN, fs the fields of a query.
//
// A check on an indexed number, datetime, enumeration or bool reads the index instead of the
// record: ix "z" tests the scores of the ZSET key (ZMSCORE), ix "s" membership in any of the SETs
// keys (SMISMEMBER), negated when neg; one call per check for a batch of records.
type searchCheck struct {
	IX   string   `json:"ix,omitempty"`
	Key  string   `json:"key,omitempty"`
	Keys []string `json:"keys,omitempty"`
	Neg  bool     `json:"neg,omitempty"`

	Fi int            `json:"fi"`
	F  string         `json:"f"`
	K  string         `json:"k"`
	Op SearchOperator `json:"op"`
	A  any            `json:"a,omitempty"`
	B  any            `json:"b,omitempty"`
	Vs []any          `json:"vs,omitempty"`
	Fs []string       `json:"fs,omitempty"`
}

// searchSort is the order: f the field, k its kind (as searchCheck's), c and key the index that
// holds it in order ("z" or "l"; "" when none).
type searchSort struct {
	F    string `json:"f"`
	K    string `json:"k"`
	Desc bool   `json:"desc"`
	C    string `json:"c"`
	Key  string `json:"key"`
}

// searchProp is a property as a search sees it.
type searchProp struct {
	name  string
	typ   PropertyType
	field string
	kind  string // the check kind
	ix    *IndexedProperty
	prop  Property
}

func resolveSearchProp(sch Schema, idx map[string]IndexedProperty, name string) (searchProp, bool) {
	if name == PropHSLastModified {
		name = PropLastModifiedDate
	}
	sp := searchProp{name: name, field: name}
	if ip, ok := idx[name]; ok {
		sp.ix = &ip
		sp.typ, sp.field = ip.Type, ip.Field
	}
	switch {
	case name == PropObjectID:
		sp.kind, sp.field = "id", ""
		return sp, true
	case sp.field == "_created" || sp.field == "_updated":
		sp.kind = "m"
		return sp, true
	}
	p, ok := sch.Properties[name]
	if !ok {
		return sp, false
	}
	sp.prop, sp.typ = p, p.Type
	switch p.Type {
	case TypeNumber:
		sp.kind = "n"
	case TypeDatetime:
		sp.kind = "d"
	case TypeString:
		sp.kind = "s"
	default:
		sp.kind = "v"
	}
	return sp, true
}

// asciiLower lowercases ASCII letters only, as the search scripts do.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// searchValue parses one filter value as the property's kind: a number for n, d, m and id, a
// lowercased string for s, the exact value for v.
func searchValue(sp searchProp, v string) (any, error) {
	switch sp.kind {
	case "n":
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%q is not a number: use a decimal number such as 42 or 3.5", v)
		}
		return f, nil
	case "d", "m":
		t, err := ParseDatetime(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not a datetime: use RFC 3339 (2026-01-31T09:00:00Z), a date (2026-01-31) or unix milliseconds", v)
		}
		return float64(t.UnixMilli()), nil
	case "id":
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 53)
		if err != nil {
			return nil, fmt.Errorf("%q is not a record id: use a whole number", v)
		}
		return float64(n), nil
	case "s":
		return asciiLower(v), nil
	}
	if sp.typ == TypeBool {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return "true", nil
		case "false":
			return "false", nil
		}
		return nil, fmt.Errorf("%q is not a bool: use true or false", v)
	}
	if !slices.Contains(sp.prop.Options, v) {
		return nil, fmt.Errorf("%q is not an option of %s: use one of %s", v, sp.name, strings.Join(sp.prop.Options, ", "))
	}
	return v, nil
}

func scoreText(x any, open bool) string {
	s := strconv.FormatFloat(x.(float64), 'g', 17, 64)
	if open {
		return "(" + s
	}
	return s
}

// driverFor returns the index parts that find the records of filter f exactly, or nil when f
// cannot be found through an index (a property without one, a negation, CONTAINS_TOKEN).
func driverFor(t TenantID, o ObjectType, sp searchProp, op SearchOperator, a, b any, vs []any) []searchPart {
	if sp.ix == nil {
		return nil
	}
	switch sp.ix.Kind {
	case IndexScore, IndexID:
		key := SearchIndexKey(t, o, sp.ix.Name)
		if sp.ix.Kind == IndexID {
			key = LiveKey(t, o)
		}
		z := func(min, max string) searchPart { return searchPart{C: "z", Key: key, Min: min, Max: max} }
		switch op {
		case OpEQ:
			return []searchPart{z(scoreText(a, false), scoreText(a, false))}
		case OpLT:
			return []searchPart{z("-inf", scoreText(a, true))}
		case OpLTE:
			return []searchPart{z("-inf", scoreText(a, false))}
		case OpGT:
			return []searchPart{z(scoreText(a, true), "+inf")}
		case OpGTE:
			return []searchPart{z(scoreText(a, false), "+inf")}
		case OpBetween:
			return []searchPart{z(scoreText(a, false), scoreText(b, false))}
		case OpHasProperty:
			return []searchPart{z("-inf", "+inf")}
		case OpIn:
			var out []searchPart
			for _, v := range vs {
				out = append(out, z(scoreText(v, false), scoreText(v, false)))
			}
			return out
		}
	case IndexValues:
		set := func(v string) searchPart { return searchPart{C: "s", Key: SearchValueKey(t, o, sp.ix.Name, v)} }
		switch op {
		case OpEQ:
			return []searchPart{set(a.(string))}
		case OpIn:
			var out []searchPart
			for _, v := range vs {
				out = append(out, set(v.(string)))
			}
			return out
		case OpHasProperty:
			var out []searchPart
			for _, v := range sp.ix.Options {
				out = append(out, set(v))
			}
			return out
		}
	case IndexText:
		key := SearchIndexKey(t, o, sp.ix.Name)
		l := func(min, max string) searchPart { return searchPart{C: "l", Key: key, Min: min, Max: max} }
		eq := func(v string) searchPart { return l("["+v+"\x00", "("+v+"\x01") }
		switch op {
		case OpEQ:
			return []searchPart{eq(a.(string))}
		case OpLT:
			return []searchPart{l("-", "("+a.(string))}
		case OpLTE:
			return []searchPart{l("-", "("+a.(string)+"\x01")}
		case OpGT:
			return []searchPart{l("["+a.(string)+"\x01", "+")}
		case OpGTE:
			return []searchPart{l("["+a.(string), "+")}
		case OpBetween:
			return []searchPart{l("["+a.(string), "("+b.(string)+"\x01")}
		case OpHasProperty:
			return []searchPart{l("-", "+")}
		case OpIn:
			var out []searchPart
			for _, v := range vs {
				out = append(out, eq(v.(string)))
			}
			return out
		}
	}
	return nil
}

// indexCheck makes c read the index of its property, when it has one that answers it.
func indexCheck(t TenantID, o ObjectType, sp searchProp, c *searchCheck) {
	if sp.ix == nil {
		return
	}
	switch sp.ix.Kind {
	case IndexScore:
		c.IX, c.Key = "z", SearchIndexKey(t, o, sp.ix.Name)
	case IndexValues:
		var vals []string
		switch c.Op {
		case OpEQ, OpNEQ:
			vals = []string{c.A.(string)}
		case OpIn, OpNotIn:
			for _, v := range c.Vs {
				vals = append(vals, v.(string))
			}
		case OpHasProperty, OpNotHasProperty:
			vals = sp.ix.Options
		default:
			return
		}
		c.IX, c.Neg = "s", c.Op == OpNEQ || c.Op == OpNotIn || c.Op == OpNotHasProperty
		for _, v := range vals {
			c.Keys = append(c.Keys, SearchValueKey(t, o, sp.ix.Name, v))
		}
	}
}

// searchables names the indexed properties of a schema, for error messages.
func searchables(idx []IndexedProperty) string {
	names := make([]string, len(idx))
	for i, ip := range idx {
		names[i] = ip.Name
	}
	return strings.Join(names, ", ")
}

// planSearch validates a search against the schema and turns it into the script's plan. Every
// problem is reported at once as ValidationErrors, each naming the field of the request.
func planSearch(t TenantID, sch Schema, p SearchParams, budget int) (searchPlan, error) {
	o := sch.Type
	indexes := SearchIndexes(sch)
	idx := make(map[string]IndexedProperty, len(indexes))
	for _, ip := range indexes {
		idx[ip.Name] = ip
	}
	var errs ValidationErrors
	bad := func(field, code, format string, args ...any) {
		errs = append(errs, &ValidationError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
	}
	plan := searchPlan{Rec: recordKeyPrefix(t) + string(o) + ":", Live: LiveKey(t, o), Budget: budget}
	switch {
	case p.Limit == 0:
		plan.Lim = DefaultSearchLimit
	case p.Limit < 0 || p.Limit > MaxSearchLimit:
		bad("limit", "INVALID_LIMIT", "limit %d is out of range: use 1 to %d", p.Limit, MaxSearchLimit)
	default:
		plan.Lim = p.Limit
	}
	switch {
	case p.After < 0:
		bad("after", "INVALID_AFTER", "after %d is negative: use the paging.next.after of the previous page", p.After)
	case p.After >= MaxSearchResults:
		bad("after", "RESULT_WINDOW_EXCEEDED", "after %d is past the %d results a search can page through: narrow the filters (for example by createdate ranges) and search again", p.After, MaxSearchResults)
	}
	plan.Off = p.After
	if len(p.FilterGroups) > MaxSearchGroups {
		bad("filterGroups", "TOO_MANY_FILTER_GROUPS", "%d filter groups: a search takes at most %d", len(p.FilterGroups), MaxSearchGroups)
	}
	total := 0
	for _, g := range p.FilterGroups {
		total += len(g)
	}
	if total > MaxSearchFilters {
		bad("filterGroups", "TOO_MANY_FILTERS", "%d filters: a search takes at most %d in all", total, MaxSearchFilters)
	}
	var query *searchCheck
	var queryParts []searchPart
	if q := strings.TrimSpace(p.Query); q != "" {
		text := TextIndexed(o)
		if len(text) == 0 {
			bad("query", "QUERY_NOT_SUPPORTED", "%s has no text-indexed properties, so query cannot search it: use filterGroups instead (indexed: %s)", o, searchables(indexes))
		}
		lq := asciiLower(q)
		query = &searchCheck{Fi: -1, K: "s", Op: "QUERY", A: lq, Fs: slices.Clone(text)}
		for _, name := range text {
			queryParts = append(queryParts, searchPart{C: "l", Key: SearchIndexKey(t, o, name), Min: "[" + lq, Max: "[" + lq + "\xff"})
		}
	}
	groups := p.FilterGroups
	if len(groups) == 0 {
		groups = [][]SearchFilter{nil}
	}
	for gi, g := range groups {
		if len(g) > MaxSearchGroupFilters {
			bad(fmt.Sprintf("filterGroups[%d].filters", gi), "TOO_MANY_FILTERS", "filter group %d has %d filters: a group takes at most %d", gi, len(g), MaxSearchGroupFilters)
		}
		if len(g) == 0 && len(p.FilterGroups) > 0 {
			bad(fmt.Sprintf("filterGroups[%d].filters", gi), "EMPTY_FILTER_GROUP", "filter group %d has no filters: give it at least one, or leave filterGroups out to match every record", gi)
		}
		grp := searchGroup{Drivers: []searchDriver{}, Checks: []searchCheck{}}
		for fi, f := range g {
			field := fmt.Sprintf("filterGroups[%d].filters[%d]", gi, fi)
			sp, ok := resolveSearchProp(sch, idx, f.PropertyName)
			if !ok {
				bad(field+".propertyName", "PROPERTY_DOESNT_EXIST", "property %q does not exist on %s: check the name (GET /crm/v3/properties/%s lists them)", f.PropertyName, o, o)
				continue
			}
			if !slices.Contains(SearchOperators, f.Operator) {
				bad(field+".operator", "INVALID_OPERATOR", "operator %q is not supported: use one of %s", f.Operator, joinOps())
				continue
			}
			c := searchCheck{Fi: fi, F: sp.field, K: sp.kind, Op: f.Operator}
			one := func(name, v string, has bool) any {
				if !has {
					bad(field+"."+name, "MISSING_VALUE", "operator %s on %s needs a %s", f.Operator, sp.name, name)
					return nil
				}
				x, err := searchValue(sp, v)
				if err != nil {
					bad(field+"."+name, "INVALID_FILTER_VALUE", "property %s: %v", sp.name, err)
					return nil
				}
				return x
			}
			switch f.Operator {
			case OpHasProperty, OpNotHasProperty:
			case OpIn, OpNotIn:
				if len(f.Values) == 0 || len(f.Values) > MaxSearchValues {
					bad(field+".values", "INVALID_VALUES", "operator %s on %s needs 1 to %d values, got %d", f.Operator, sp.name, MaxSearchValues, len(f.Values))
					continue
				}
				for _, v := range f.Values {
					if x := one("values", v, true); x != nil {
						c.Vs = append(c.Vs, x)
					}
				}
			case OpContainsToken:
				if sp.kind != "s" {
					bad(field+".operator", "INVALID_OPERATOR", "operator CONTAINS_TOKEN works on string properties, and %s is a %s: use EQ or IN", sp.name, sp.typ)
					continue
				}
				c.A = one("value", f.Value, f.HasValue)
			case OpBetween:
				c.A = one("value", f.Value, f.HasValue)
				c.B = one("highValue", f.HighValue, f.HasHighValue)
			default:
				if sp.kind == "v" && f.Operator != OpEQ && f.Operator != OpNEQ {
					bad(field+".operator", "INVALID_OPERATOR", "operator %s does not apply to %s, a %s: use EQ, NEQ, IN, NOT_IN, HAS_PROPERTY or NOT_HAS_PROPERTY", f.Operator, sp.name, sp.typ)
					continue
				}
				c.A = one("value", f.Value, f.HasValue)
			}
			if f.Operator == OpBetween && sp.kind == "v" {
				bad(field+".operator", "INVALID_OPERATOR", "operator BETWEEN does not apply to %s, a %s: use IN", sp.name, sp.typ)
			}
			if len(errs) == 0 {
				indexCheck(t, o, sp, &c)
			}
			grp.Checks = append(grp.Checks, c)
			if len(errs) == 0 {
				if parts := driverFor(t, o, sp, f.Operator, c.A, c.B, c.Vs); parts != nil {
					grp.Drivers = append(grp.Drivers, searchDriver{Fi: fi, Parts: parts})
				}
			}
		}
		if query != nil {
			grp.Checks = append(grp.Checks, *query)
			grp.Drivers = append(grp.Drivers, searchDriver{Fi: -1, Parts: queryParts})
		}
		plan.Groups = append(plan.Groups, grp)
	}
	plan.Sort = searchSort{K: "id"}
	switch {
	case len(p.Sorts) > 1:
		bad("sorts", "TOO_MANY_SORTS", "%d sorts: a search takes at most one", len(p.Sorts))
	case len(p.Sorts) == 1:
		s := p.Sorts[0]
		sp, ok := resolveSearchProp(sch, idx, s.PropertyName)
		if !ok {
			bad("sorts[0].propertyName", "PROPERTY_DOESNT_EXIST", "sort property %q does not exist on %s: check the name", s.PropertyName, o)
			break
		}
		plan.Sort = searchSort{F: sp.field, K: sp.kind, Desc: s.Descending}
		if sp.ix != nil {
			switch sp.ix.Kind {
			case IndexScore:
				plan.Sort.C, plan.Sort.Key = "z", SearchIndexKey(t, o, sp.ix.Name)
			case IndexText:
				plan.Sort.C, plan.Sort.Key = "l", SearchIndexKey(t, o, sp.ix.Name)
			}
		}
	}
	if len(errs) > 0 {
		return searchPlan{}, errs
	}
	return plan, nil
}

func joinOps() string {
	out := make([]string, len(SearchOperators))
	for i, op := range SearchOperators {
		out[i] = string(op)
	}
	return strings.Join(out, ", ")
}

// Search implements Store.
func (s *RedisStore) Search(ctx context.Context, t TenantID, o ObjectType, p SearchParams) (SearchResult, error) {
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return SearchResult{}, err
	}
	plan, err := planSearch(t, sch, p, s.cfg.SearchWorkBudget)
	if err != nil {
		return SearchResult{}, err
	}
	raw, err := json.Marshal(plan)
	if err != nil {
		return SearchResult{}, fmt.Errorf("encode search: %w", err)
	}
	res, err := searchScript.Run(ctx, s.rdb, []string{LiveKey(t, o)}, string(raw)).Slice()
	if err != nil {
		return SearchResult{}, fmt.Errorf("search %s: %w", o, err)
	}
	if len(res) == 2 && res[0] == "budget" {
		return SearchResult{}, &ValidationError{Field: "filterGroups", Code: "SEARCH_TOO_BROAD",
			Message: fmt.Sprintf("the search would read %v %s before checking its filters, more than the %d a search may read: add a filter on an indexed property that narrows it (indexed: %s)",
				res[1], o, plan.Budget, searchables(SearchIndexes(sch)))}
	}
	if len(res) == 0 {
		return SearchResult{}, fmt.Errorf("search %s: empty reply", o)
	}
	total, _ := res[0].(int64)
	out := SearchResult{Total: int(total)}
	ids := make([]RecordID, 0, len(res)-1)
	for _, v := range res[1:] {
		id, _ := v.(string)
		ids = append(ids, RecordID(id))
	}
	// The page's records are read after the script, as a client reads them: one that left the
	// live records in between is left out of the page.
	if len(ids) > 0 {
		if out.Records, err = s.Records(ctx, t, o, ids, &ReadOpts{Properties: p.Properties}); err != nil {
			return SearchResult{}, err
		}
	}
	if next := plan.Off + plan.Lim; next < out.Total && next < MaxSearchResults {
		out.After = strconv.Itoa(next)
	}
	return out, nil
}
