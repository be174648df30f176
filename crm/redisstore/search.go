package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/suggest"
)

// searchPlan is what searchScript runs (see its contract).
type searchPlan struct {
	Rec    string        `json:"rec"`
	Live   string        `json:"live"`
	Groups []searchGroup `json:"groups"`
	Sort   searchSort    `json:"sort"`
	Off    int           `json:"off"`
	Lim    int           `json:"lim"`
	Budget int           `json:"budget"`
	Work   int           `json:"work"`
}

// indexKeys are the index keys p names, each once, in the order it names them first.
func (p searchPlan) indexKeys() []string {
	var out []string
	seen := map[string]bool{}
	add := func(k string) {
		if k != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, g := range p.Groups {
		for _, d := range g.Drivers {
			for _, part := range d.Parts {
				add(part.Key)
			}
		}
		for _, c := range g.Checks {
			add(c.Key)
			for _, k := range c.Keys {
				add(k)
			}
		}
	}
	add(p.Sort.Key)
	return out
}

type searchGroup struct {
	Drivers []searchDriver `json:"drivers"`
	Checks  []searchCheck  `json:"checks"`
	Cost    int            `json:"cost"` // the work of one record (searchCost)
}

// DefaultSearchCallWork is the default of Config.SearchCallWork: at most about 10 to 20 ms of one
// search script call on a loaded two-core machine (docs/benchmarks.md), where a search of ten
// filters over the budget's 50,000 records held Redis for one to four seconds in one call.
const DefaultSearchCallWork = 16000

// The work units of a search, per record (searchCost).
const (
	workIndexRead = 1 // an id read from an index, a score (ZMSCORE), a SET membership (SMISMEMBER)
	workTest      = 1 // a filter tested on a value, and a CONTAINS_TOKEN pattern per part
	workHashRead  = 4 // a read of the record's hash (HMGET, HGET)
)

// searchCost is the work the general path does for each record group g reads: the read, the
// index checks (a SET probe each value), the record's hash and its filters (a CONTAINS_TOKEN
// pattern a test per part), and its sort value. It counts every filter, even the one the driver
// answers, so it bounds a group's work whichever driver the script picks.
func searchCost(g searchGroup, sort searchSort) int {
	n := workIndexRead + workTest // the read, and the record's place in the sort
	hash := false
	for _, c := range g.Checks {
		switch {
		case c.IX == "z":
			n += workIndexRead
		case c.IX == "s":
			n += workIndexRead * len(c.Keys)
		default:
			hash = hash || c.K != "id"
			n += workTest
			switch c.Op {
			case "QUERY":
				n += workTest * len(c.Fs)
			case crm.OpContainsToken:
				if tok, ok := c.A.(string); ok {
					n += workTest * strings.Count(tok, "*")
				}
			}
		}
	}
	if hash {
		n += workHashRead
	}
	switch {
	case sort.K == "id":
	case sort.C == "z":
		n += workIndexRead
	default:
		n += workHashRead
	}
	return n
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
// stored datetime or date, "m" unix ms, "s" text, "v" exact, "id" the record id), a and b the
// operands (numbers for n, d, m and id), vs the values of IN and NOT_IN, fs the fields of a query.
//
// A check on an indexed number, datetime, date, enumeration or bool reads the index instead of the
// record: ix "z" tests the scores of the ZSET key (ZMSCORE), ix "s" membership in any of the SETs
// keys (SMISMEMBER), negated when neg; one call per check for a batch of records.
type searchCheck struct {
	IX   string   `json:"ix,omitempty"`
	Key  string   `json:"key,omitempty"`
	Keys []string `json:"keys,omitempty"`
	Neg  bool     `json:"neg,omitempty"`

	Fi int                `json:"fi"`
	F  string             `json:"f"`
	K  string             `json:"k"`
	Op crm.SearchOperator `json:"op"`
	A  any                `json:"a,omitempty"`
	B  any                `json:"b,omitempty"`
	Vs []any              `json:"vs,omitempty"`
	Fs []string           `json:"fs,omitempty"`
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
	obj   crm.ObjectType
	name  string
	typ   crm.PropertyType
	field string
	kind  string // the check kind
	ix    *crm.IndexedProperty
	prop  crm.Property
}

func resolveSearchProp(sch crm.Schema, idx map[string]crm.IndexedProperty, name string) (searchProp, bool) {
	if name == crm.PropHSLastModified {
		name = crm.PropLastModifiedDate
	}
	sp := searchProp{obj: sch.Type, name: name, field: name}
	if ip, ok := idx[name]; ok {
		sp.ix = &ip
		sp.typ, sp.field = ip.Type, ip.Field
	}
	switch {
	case name == crm.PropObjectID:
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
	case crm.TypeNumber:
		sp.kind = "n"
	case crm.TypeDatetime, crm.TypeDate:
		sp.kind = "d"
	case crm.TypeString:
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

// searchValue parses one filter value as the property's kind: a number for n, d, m and id (a
// date in the forms its writes take, crm.ParseDate), a lowercased string for s (its ASCII
// letters, as the search scripts lower the values they index, or every letter for an email
// property), the exact value for v.
func searchValue(sp searchProp, v string, hint bool) (any, error) {
	if v == "" {
		// No record holds "": a write of it clears the property. EQ "" would match nothing and
		// NEQ "" every record, those without a value too, whatever the client meant.
		if sp.kind == "id" || sp.kind == "m" {
			// The id and the record's times: every record has one, and none can be cleared.
			return nil, fmt.Errorf("the value is empty, and every record has a %s: give a value, or leave the filter out", sp.name)
		}
		return nil, fmt.Errorf("the value is empty, and no record holds an empty value (writing \"\" clears a property): use NOT_HAS_PROPERTY for the records without a value, HAS_PROPERTY for those with one")
	}
	switch sp.kind {
	case "n":
		f, err := crm.ParseNumber(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", err, crm.NumberForms)
		}
		return f, nil
	case "d", "m":
		if sp.typ == crm.TypeDate {
			// A date takes the values its writes take, and finds by its midnight UTC.
			t, err := crm.ParseDate(v)
			if err != nil {
				return nil, err
			}
			return float64(t.UnixMilli()), nil
		}
		t, err := crm.ParseDatetime(v)
		if err != nil {
			return nil, fmt.Errorf("%s is not a datetime: use RFC 3339 (2026-01-31T09:00:00Z), a date (2026-01-31) or unix milliseconds", crm.Echo(v))
		}
		return float64(t.UnixMilli()), nil
	case "id":
		// The live index scores each record by its id, a float64: exact up to maxRecordID, the
		// most ids a type can be given.
		s := strings.TrimSpace(v)
		n, err := strconv.ParseUint(s, 10, 53)
		if err != nil && s != "" && strings.Trim(s, "0123456789") == "" {
			return nil, fmt.Errorf("%s is above %d, the largest record id, so no record has it: give an id from 0 to %d", crm.Echo(v), maxRecordID, maxRecordID)
		}
		if err != nil {
			return nil, fmt.Errorf("%s is not a record id: record ids are whole numbers, such as 42", crm.Echo(v))
		}
		return float64(n), nil
	case "s":
		if crm.IsEmailProperty(sp.name) {
			// Stored as crm.NormalizeEmail lowered them, every letter: the address as typed
			// (ÅSA@Exempel.se) finds the contact that a read or a create by it finds.
			return strings.ToLower(v), nil
		}
		return asciiLower(v), nil
	}
	if sp.typ == crm.TypeBool {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return "true", nil
		case "false":
			return "false", nil
		}
		return nil, fmt.Errorf("%s is not a bool: use true or false", crm.Echo(v))
	}
	if !slices.Contains(sp.prop.Options, v) {
		if !hint {
			return nil, fmt.Errorf("%s is not one of its options (GET /crm/v3/properties/%s/%s lists them)", crm.Echo(v), sp.obj, sp.name)
		}
		return nil, fmt.Errorf("%s is not one of its options: %s", crm.Echo(v), optionHint(sp.prop, v))
	}
	return v, nil
}

// maxRecordID is the largest record id a search can name: 2^53 - 1, the largest whole number a
// float64 (a score of the live index) holds exactly. Ids are drawn from a counter from 1, so no
// type comes near it.
const maxRecordID = 1<<53 - 1

// maxOptionsSuggested bounds the options a likely typo is looked for among (by edit distance,
// for each bad value): a search may give 2,500 values, and an enumeration have 5,000 options.
const maxOptionsSuggested = 100

// maxValueHints bounds the bad values of one search whose message looks for the option meant
// (optionHint: an edit distance against each option): a search may give 2,500 values, and each
// search of the options costs up to 200 distances. The others say where the options are.
const maxValueHints = 5

// optionHint says which option of enumeration p was meant by v (crm.Property.OptionHint), and,
// among at most maxOptionsSuggested options, finds a likely typo too.
func optionHint(p crm.Property, v string) string {
	if len(p.Options) <= maxOptionsSuggested {
		if o := suggest.Option(v, p.Options, p.OptionLabel); o != "" {
			return p.SuggestOption(o)
		}
	}
	return p.OptionHint(v)
}

// searchAbove reports whether a is above b, two values of one property as searchValue gives them
// (numbers, or lowercased strings compared byte by byte as the text indexes and scripts order them).
func searchAbove(a, b any) bool {
	switch a := a.(type) {
	case float64:
		return a > b.(float64)
	case string:
		return a > b.(string)
	}
	return false
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
func driverFor(t crm.TenantID, o crm.ObjectType, sp searchProp, op crm.SearchOperator, a, b any, vs []any) []searchPart {
	if sp.ix == nil {
		return nil
	}
	switch sp.ix.Kind {
	case crm.IndexScore, crm.IndexID:
		key := SearchIndexKey(t, o, sp.ix.Name)
		if sp.ix.Kind == crm.IndexID {
			key = LiveKey(t, o)
		}
		z := func(min, max string) searchPart { return searchPart{C: "z", Key: key, Min: min, Max: max} }
		switch op {
		case crm.OpEQ:
			return []searchPart{z(scoreText(a, false), scoreText(a, false))}
		case crm.OpLT:
			return []searchPart{z("-inf", scoreText(a, true))}
		case crm.OpLTE:
			return []searchPart{z("-inf", scoreText(a, false))}
		case crm.OpGT:
			return []searchPart{z(scoreText(a, true), "+inf")}
		case crm.OpGTE:
			return []searchPart{z(scoreText(a, false), "+inf")}
		case crm.OpBetween:
			return []searchPart{z(scoreText(a, false), scoreText(b, false))}
		case crm.OpHasProperty:
			return []searchPart{z("-inf", "+inf")}
		case crm.OpIn:
			var out []searchPart
			for _, v := range vs {
				out = append(out, z(scoreText(v, false), scoreText(v, false)))
			}
			return out
		}
	case crm.IndexValues:
		set := func(v string) searchPart { return searchPart{C: "s", Key: SearchValueKey(t, o, sp.ix.Name, v)} }
		switch op {
		case crm.OpEQ:
			return []searchPart{set(a.(string))}
		case crm.OpIn:
			var out []searchPart
			for _, v := range vs {
				out = append(out, set(v.(string)))
			}
			return out
		case crm.OpHasProperty:
			var out []searchPart
			for _, v := range sp.ix.Options {
				out = append(out, set(v))
			}
			return out
		}
	case crm.IndexText:
		key := SearchIndexKey(t, o, sp.ix.Name)
		l := func(min, max string) searchPart { return searchPart{C: "l", Key: key, Min: min, Max: max} }
		eq := func(v string) searchPart { return l("["+v+"\x00", "("+v+"\x01") }
		switch op {
		case crm.OpEQ:
			return []searchPart{eq(a.(string))}
		case crm.OpLT:
			return []searchPart{l("-", "("+a.(string))}
		case crm.OpLTE:
			return []searchPart{l("-", "("+a.(string)+"\x01")}
		case crm.OpGT:
			return []searchPart{l("["+a.(string)+"\x01", "+")}
		case crm.OpGTE:
			return []searchPart{l("["+a.(string), "+")}
		case crm.OpBetween:
			return []searchPart{l("["+a.(string), "("+b.(string)+"\x01")}
		case crm.OpHasProperty:
			return []searchPart{l("-", "+")}
		case crm.OpIn:
			var out []searchPart
			for _, v := range vs {
				out = append(out, eq(v.(string)))
			}
			return out
		}
	}
	return nil
}

// maxSetProbes is the most value SETs (IndexValues) the checks of one filter group probe, each with
// an SMISMEMBER per 500 records. A check past it (an IN or NOT_IN of many options, HAS_PROPERTY of
// an enumeration of many) is tested on the records' values instead, one HMGET per record whatever
// the number of values: without the bound, a group of ten NOT_INs of 100 values each would probe
// 1,000 SETs per 500 records, and hold Redis for seconds within the budget's 50,000 records.
const maxSetProbes = 16

// maxTokenWildcards is the most wildcards (*) a CONTAINS_TOKEN pattern may have, a run of them
// counting as one. The scripts test a pattern on a record's value part by part, so its cost grows
// with its parts: one of 10,000 wildcards held Redis for more than 30 seconds over the budget's
// 50,000 records, and nine of a dozen each for more than a second.
const maxTokenWildcards = 5

// indexCheck makes c read the index of its property, when it has one that answers it.
func indexCheck(t crm.TenantID, o crm.ObjectType, sp searchProp, c *searchCheck) {
	if sp.ix == nil {
		return
	}
	switch sp.ix.Kind {
	case crm.IndexScore:
		c.IX, c.Key = "z", SearchIndexKey(t, o, sp.ix.Name)
	case crm.IndexValues:
		var vals []string
		switch c.Op {
		case crm.OpEQ, crm.OpNEQ:
			vals = []string{c.A.(string)}
		case crm.OpIn, crm.OpNotIn:
			for _, v := range c.Vs {
				vals = append(vals, v.(string))
			}
		case crm.OpHasProperty, crm.OpNotHasProperty:
			vals = sp.ix.Options
		default:
			return
		}
		c.IX, c.Neg = "s", c.Op == crm.OpNEQ || c.Op == crm.OpNotIn || c.Op == crm.OpNotHasProperty
		for _, v := range vals {
			c.Keys = append(c.Keys, SearchValueKey(t, o, sp.ix.Name, v))
		}
	}
}

// searchables names the indexed properties of a schema, for error messages.
func searchables(idx []crm.IndexedProperty) string {
	names := make([]string, len(idx))
	for i, ip := range idx {
		names[i] = ip.Name
	}
	return strings.Join(names, ", ")
}

// archivedSearch is the refusal of field, which names archived property name of type o: a
// search takes it again once it is restored (its indexes are kept meanwhile: maintainedIndexes).
func archivedSearch(field string, o crm.ObjectType, name, what string) *crm.ValidationError {
	e := crm.ArchivedPropertyError(o, name, what)
	e.Field = field
	return e
}

// planSearch validates a search against the schema and turns it into the script's plan. Every
// problem is reported at once as ValidationErrors, each naming the field of the request.
func planSearch(t crm.TenantID, sch crm.Schema, p crm.SearchParams, budget int) (searchPlan, error) {
	o := sch.Type
	indexes := crm.SearchIndexes(sch)
	idx := make(map[string]crm.IndexedProperty, len(indexes))
	for _, ip := range indexes {
		idx[ip.Name] = ip
	}
	var errs crm.ValidationErrors
	hinted := 0 // the bad values whose message looked for the option meant (see maxValueHints)
	bad := func(field, code, format string, args ...any) {
		errs = append(errs, &crm.ValidationError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
	}
	plan := searchPlan{Rec: recordKeyPrefix(t) + string(o) + ":", Live: LiveKey(t, o), Budget: budget}
	switch {
	case p.Limit == 0:
		plan.Lim = crm.DefaultSearchLimit
	case p.Limit < 0 || p.Limit > crm.MaxSearchLimit:
		bad("limit", "INVALID_LIMIT", "limit %d is out of range: use 1 to %d", p.Limit, crm.MaxSearchLimit)
	default:
		plan.Lim = p.Limit
	}
	switch {
	case p.After < 0:
		bad("after", "INVALID_AFTER", "after %d is negative: use the paging.next.after of the previous page", p.After)
	case p.After >= crm.MaxSearchResults:
		bad("after", "RESULT_WINDOW_EXCEEDED", "after %d is past the %d results a search can page through: narrow the filters (for example by createdate ranges) and search again", p.After, crm.MaxSearchResults)
	}
	plan.Off = p.After
	if plan.Off >= 0 && plan.Off < crm.MaxSearchResults && plan.Off+plan.Lim > crm.MaxSearchResults {
		// The page stops at the window: no page, whatever its size, reads past the first
		// MaxSearchResults results, as paging to them is refused.
		plan.Lim = crm.MaxSearchResults - plan.Off
	}
	if len(p.FilterGroups) > crm.MaxSearchGroups {
		bad("filterGroups", "TOO_MANY_FILTER_GROUPS", "%d filter groups: a search takes at most %d", len(p.FilterGroups), crm.MaxSearchGroups)
	}
	total := 0
	for _, g := range p.FilterGroups {
		total += len(g)
	}
	if total > crm.MaxSearchFilters {
		bad("filterGroups", "TOO_MANY_FILTERS", "%d filters: a search takes at most %d in all", total, crm.MaxSearchFilters)
	}
	var query *searchCheck
	var queryParts []searchPart
	if q := strings.TrimSpace(p.Query); q != "" {
		text := crm.TextIndexed(o)
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
		groups = [][]crm.SearchFilter{nil}
	}
	for gi, g := range groups {
		if len(g) > crm.MaxSearchGroupFilters {
			bad(fmt.Sprintf("filterGroups[%d].filters", gi), "TOO_MANY_FILTERS", "filter group %d has %d filters: a group takes at most %d", gi, len(g), crm.MaxSearchGroupFilters)
		}
		if len(g) == 0 && len(p.FilterGroups) > 0 {
			bad(fmt.Sprintf("filterGroups[%d].filters", gi), "EMPTY_FILTER_GROUP", "filter group %d has no filters: give it at least one, or leave filterGroups out to match every record", gi)
		}
		grp := searchGroup{Drivers: []searchDriver{}, Checks: []searchCheck{}}
		probes := 0 // the value SETs the group's checks probe (maxSetProbes)
		for fi, f := range g {
			field := fmt.Sprintf("filterGroups[%d].filters[%d]", gi, fi)
			if f.Operator == "" {
				bad(field+".operator", "MISSING_OPERATOR", "filter group %d, filter %d has no operator: give one of %s", gi, fi, joinOps())
			}
			if f.PropertyName == "" {
				bad(field+".propertyName", "MISSING_PROPERTY_NAME", "filter group %d, filter %d has no propertyName: name the property to filter on (GET /crm/v3/properties/%s lists them)", gi, fi, o)
				continue
			}
			sp, ok := resolveSearchProp(sch, idx, f.PropertyName)
			if _, archived := sch.Archived[f.PropertyName]; !ok && archived {
				errs = append(errs, archivedSearch(field+".propertyName", o, f.PropertyName, "cannot be filtered on"))
				continue
			}
			if !ok {
				bad(field+".propertyName", "PROPERTY_DOESNT_EXIST", "property %s does not exist on %s: check the name (GET /crm/v3/properties/%s lists them)", crm.Echo(f.PropertyName), o, o)
				continue
			}
			if f.Operator == "" {
				continue
			}
			if !slices.Contains(crm.SearchOperators, f.Operator) {
				bad(field+".operator", "INVALID_OPERATOR", "operator %s is not supported: use one of %s", crm.Echo(string(f.Operator)), joinOps())
				continue
			}
			if code, in, msg := unusedOperand(f); code != "" {
				bad(field+"."+in, code, "%s", msg)
			}
			c := searchCheck{Fi: fi, F: sp.field, K: sp.kind, Op: f.Operator}
			one := func(name, v string, has bool) any {
				if !has {
					bad(field+"."+name, "MISSING_VALUE", "operator %s on %s needs a %s", f.Operator, sp.name, name)
					return nil
				}
				x, err := searchValue(sp, v, hinted < maxValueHints)
				if err != nil {
					hinted++
					bad(field+"."+name, "INVALID_FILTER_VALUE", "property %s: %v", sp.name, err)
					return nil
				}
				return x
			}
			switch f.Operator {
			case crm.OpHasProperty, crm.OpNotHasProperty:
			case crm.OpIn, crm.OpNotIn:
				if len(f.Values) == 0 || len(f.Values) > crm.MaxSearchValues {
					bad(field+".values", "INVALID_VALUES", "operator %s on %s needs 1 to %d values, got %d", f.Operator, sp.name, crm.MaxSearchValues, len(f.Values))
					continue
				}
				for _, v := range f.Values {
					// A value given twice ("7" and "7.0" too) is tested once.
					if x := one("values", v, true); x != nil && !slices.Contains(c.Vs, x) {
						c.Vs = append(c.Vs, x)
					}
				}
			case crm.OpContainsToken:
				if sp.kind != "s" {
					bad(field+".operator", "INVALID_OPERATOR", "operator CONTAINS_TOKEN works on string properties, and %s is %s: use EQ or IN", sp.name, sp.typ.WithArticle())
					continue
				}
				c.A = one("value", f.Value, f.HasValue)
				if tok, ok := c.A.(string); ok {
					for strings.Contains(tok, "**") { // a run of wildcards is one
						tok = strings.ReplaceAll(tok, "**", "*")
					}
					c.A = tok
					if n := strings.Count(tok, "*"); n > maxTokenWildcards {
						bad(field+".value", "TOO_MANY_WILDCARDS", "operator CONTAINS_TOKEN on %s: the pattern has %d wildcards (*), more than the %d a pattern may have: use fewer (*@acme.example, acme*, *acme*)",
							sp.name, n, maxTokenWildcards)
					}
				}
			case crm.OpBetween:
				c.A = one("value", f.Value, f.HasValue)
				c.B = one("highValue", f.HighValue, f.HasHighValue)
				if c.A != nil && c.B != nil && searchAbove(c.A, c.B) {
					bad(field, "INVALID_RANGE", "filter group %d, filter %d: BETWEEN's value %s is above its highValue %s, so no %s matches: swap them (value is the low end, highValue the high end; both are included)",
						gi, fi, crm.Echo(f.Value), crm.Echo(f.HighValue), sp.name)
				}
			default:
				if sp.kind == "v" && f.Operator != crm.OpEQ && f.Operator != crm.OpNEQ {
					bad(field+".operator", "INVALID_OPERATOR", "operator %s does not apply to %s, %s: use EQ, NEQ, IN, NOT_IN, HAS_PROPERTY or NOT_HAS_PROPERTY", f.Operator, sp.name, sp.typ.WithArticle())
					continue
				}
				c.A = one("value", f.Value, f.HasValue)
			}
			if f.Operator == crm.OpBetween && sp.kind == "v" {
				bad(field+".operator", "INVALID_OPERATOR", "operator BETWEEN does not apply to %s, %s: use IN", sp.name, sp.typ.WithArticle())
			}
			if len(errs) == 0 {
				indexCheck(t, o, sp, &c)
				if c.IX == "s" {
					if probes+len(c.Keys) > maxSetProbes {
						c.IX, c.Keys, c.Neg = "", nil, false // tested on the record's value instead
					} else {
						probes += len(c.Keys)
					}
				}
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
		if s.PropertyName == "" {
			bad("sorts[0].propertyName", "MISSING_PROPERTY_NAME", "the sort has no propertyName: name the property to sort by, as {\"propertyName\": \"createdate\", \"direction\": \"DESCENDING\"} or \"-createdate\"")
			break
		}
		if _, archived := sch.Archived[s.PropertyName]; !ok && archived {
			errs = append(errs, archivedSearch("sorts[0].propertyName", o, s.PropertyName, "cannot be sorted by"))
			break
		}
		if !ok {
			bad("sorts[0].propertyName", "PROPERTY_DOESNT_EXIST", "sort property %s does not exist on %s: check the name (GET /crm/v3/properties/%s lists them)", crm.Echo(s.PropertyName), o, o)
			break
		}
		plan.Sort = searchSort{F: sp.field, K: sp.kind, Desc: s.Descending}
		if sp.ix != nil {
			switch sp.ix.Kind {
			case crm.IndexScore:
				plan.Sort.C, plan.Sort.Key = "z", SearchIndexKey(t, o, sp.ix.Name)
			case crm.IndexText:
				plan.Sort.C, plan.Sort.Key = "l", SearchIndexKey(t, o, sp.ix.Name)
			}
		}
	}
	if len(errs) > 0 {
		return searchPlan{}, errs
	}
	for i := range plan.Groups {
		plan.Groups[i].Cost = searchCost(plan.Groups[i], plan.Sort)
	}
	return plan, nil
}

// unusedOperand returns the problem of a filter that gives an operand its operator does not read
// (the code, the field and the message), or "" when it gives none. Such a filter would otherwise
// run as another one than the client meant: EQ with a highValue (a range was meant: BETWEEN), EQ
// with values (any of several: IN), IN with a value (one value: EQ). An empty value or an empty
// values list counts as not given, as some clients send every field of a filter.
func unusedOperand(f crm.SearchFilter) (code, in, msg string) {
	hasValue, hasHigh, hasValues := f.HasValue && f.Value != "", f.HasHighValue && f.HighValue != "", len(f.Values) > 0
	switch f.Operator {
	case crm.OpHasProperty, crm.OpNotHasProperty:
		what := "have a value"
		if f.Operator == crm.OpNotHasProperty {
			what = "have no value"
		}
		for _, x := range []struct {
			name string
			has  bool
		}{{"value", hasValue}, {"highValue", hasHigh}, {"values", hasValues}} {
			if x.has {
				return "UNUSED_VALUE", x.name, fmt.Sprintf("operator %s takes no %s: it finds the records that %s for %s, whatever it is; remove %s, or use EQ or IN to match given values",
					f.Operator, x.name, what, f.PropertyName, x.name)
			}
		}
	case crm.OpIn, crm.OpNotIn:
		switch {
		case hasValue:
			return "UNUSED_VALUE", "value", fmt.Sprintf("operator %s reads values (a list), not value: give \"values\": [...] instead, or use EQ to match one value", f.Operator)
		case hasHigh:
			return "UNUSED_VALUE", "highValue", fmt.Sprintf("operator %s reads values (a list), not highValue: give \"values\": [...], or use BETWEEN with value and highValue for a range", f.Operator)
		}
	case crm.OpBetween:
		if hasValues {
			return "UNUSED_VALUE", "values", "operator BETWEEN reads value (the low end) and highValue (the high end), not values: give \"value\" and \"highValue\" instead"
		}
	default:
		switch {
		case hasValues:
			return "UNUSED_VALUE", "values", fmt.Sprintf("operator %s reads value, not values: give \"value\" instead, or use IN to match any of several values", f.Operator)
		case hasHigh:
			return "UNUSED_VALUE", "highValue", fmt.Sprintf("operator %s takes no highValue: use BETWEEN with value and highValue for a range, or leave highValue out", f.Operator)
		}
	}
	return "", "", ""
}

func joinOps() string {
	out := make([]string, len(crm.SearchOperators))
	for i, op := range crm.SearchOperators {
		out[i] = string(op)
	}
	return strings.Join(out, ", ")
}

// Search implements Store.
func (s *Store) Search(ctx context.Context, t crm.TenantID, o crm.ObjectType, p crm.SearchParams) (crm.SearchResult, error) {
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return crm.SearchResult{}, err
	}
	plan, err := planSearch(t, sch, p, s.cfg.SearchWorkBudget)
	if err != nil {
		return crm.SearchResult{}, err
	}
	plan.Work = s.cfg.SearchCallWork
	raw, err := json.Marshal(plan)
	if err != nil {
		return crm.SearchResult{}, fmt.Errorf("encode search: %w", err)
	}
	call := searchCall{Live: LiveKey(t, o), Indexes: plan.indexKeys(), Plan: string(raw)}
	res, err := searchScript.run(ctx, s, call).Slice()
	if err != nil {
		return crm.SearchResult{}, fmt.Errorf("search %s: %w", o, err)
	}
	// A walk of a large value by id goes on in calls of at most plan.Work each (lua/search.lua).
	var walked []any // the page's ids the walk found in its calls before
	for len(res) >= 3 && res[0] == "walk" {
		read, _ := res[1].(int64)
		found, _ := res[2].(int64)
		walked = append(walked, res[3:]...)
		raw, err := json.Marshal(searchWalk{W: int(read), F: int(found)})
		if err != nil {
			return crm.SearchResult{}, fmt.Errorf("encode search walk: %w", err)
		}
		call.Step = string(raw)
		if res, err = searchScript.run(ctx, s, call).Slice(); err != nil {
			return crm.SearchResult{}, fmt.Errorf("search %s: %w", o, err)
		}
		call.Step = ""
	}
	if len(res) >= 2 && res[0] == "budget" {
		return crm.SearchResult{}, tooBroad(sch, p, plan, res[1], len(res) == 3)
	}
	if len(walked) > 0 && len(res) >= 1 {
		res = append(append([]any{res[0]}, walked...), res[1:]...)
	}
	if len(res) >= 1 && res[0] == "slices" {
		if res, err = s.searchSlices(ctx, call, plan, res[1:]); err != nil {
			return crm.SearchResult{}, fmt.Errorf("search %s: %w", o, err)
		}
	}
	if len(res) == 0 {
		return crm.SearchResult{}, fmt.Errorf("search %s: empty reply", o)
	}
	total, _ := res[0].(int64)
	out := crm.SearchResult{Total: int(total)}
	ids := make([]crm.RecordID, 0, len(res)-1)
	for _, v := range res[1:] {
		id, _ := v.(string)
		ids = append(ids, crm.RecordID(id))
	}
	// The page's records are read after the script, as a client reads them: one that left the
	// live records in between is left out of the page.
	if len(ids) > 0 {
		if out.Records, err = s.Records(ctx, t, o, ids, &crm.ReadOpts{Properties: p.Properties}); err != nil {
			return crm.SearchResult{}, err
		}
	}
	if next := plan.Off + plan.Lim; next < out.Total && next < crm.MaxSearchResults {
		out.After = strconv.Itoa(next)
	}
	return out, nil
}

// tooBroad is the refusal of a search that would read more than plan.Budget records (reads), or,
// when deep, whose first pages fit but this one does not. It names the cause: the sort when,
// without it, the search would read only its page (one group of at most one filter, found through
// one index range, which keeps its records in order), else the filters.
func tooBroad(sch crm.Schema, p crm.SearchParams, plan searchPlan, reads any, deep bool) *crm.ValidationError {
	o := sch.Type
	hint := ""
	if deep { // its first pages fit: this one is too deep
		hint = ", or ask for a page less deep (a smaller after)"
	}
	if len(plan.Groups) == 1 && len(p.Sorts) == 1 && plan.Sort.K != "id" {
		g := plan.Groups[0]
		var todo string
		switch {
		case len(g.Checks) == 0:
			todo = "leave sorts out (records come in id order), or sort by a property every record has (createdate, lastmodifieddate)"
		case len(g.Checks) == 1 && g.Checks[0].Fi >= 0 && len(g.Drivers) == 1 && len(g.Drivers[0].Parts) == 1:
			f := p.FilterGroups[0][g.Checks[0].Fi]
			if g.Drivers[0].Parts[0].C == "s" {
				todo = "leave sorts out (records come in id order)"
			} else {
				todo = fmt.Sprintf("sort by %s, the property filtered on, whose index keeps its records in order", f.PropertyName)
			}
		}
		if todo != "" {
			how := "which has no index"
			if plan.Sort.C != "" {
				how = "whose index does not hold every record the search finds in order"
			}
			return &crm.ValidationError{Field: "sorts[0]", Code: "SEARCH_TOO_BROAD",
				Message: fmt.Sprintf("the sort makes the search read %v %s to order them by %s (%s) before its first page, more than the %d a search may read: %s; or narrow the filters to at most %d records%s",
					reads, o, p.Sorts[0].PropertyName, how, plan.Budget, todo, plan.Budget, hint)}
		}
	}
	return &crm.ValidationError{Field: "filterGroups", Code: "SEARCH_TOO_BROAD",
		Message: fmt.Sprintf("the search would read %v %s before checking its filters, more than the %d a search may read: add a filter on an indexed property that narrows it (indexed: %s)%s",
			reads, o, plan.Budget, searchables(crm.SearchIndexes(sch)), hint)}
}

// searchStep is one slice of a search (lua/search.lua, ARGV[2]): at most N records of group G's
// driver D (0: the live set), from its part P at cursor C.
type searchStep struct {
	G int    `json:"g"`
	D int    `json:"d"`
	P int    `json:"p"`
	C string `json:"c"`
	N int    `json:"n"`
}

// searchBatch is the records the script's index checks probe in one call (ZMSCORE, SMISMEMBER).
const searchBatch = 500

// searchWalk is the rest of a walk of a large value by id (lua/search.lua, ARGV[2]): W the live
// ids it read, F the records of the value it found.
type searchWalk struct {
	W int `json:"w"`
	F int `json:"f"`
}

// searchHit is a record a slice found, with its sort value (num for a number, str for a text).
type searchHit struct {
	id    string
	idNum float64
	has   bool
	num   float64
	str   string
}

// searchSlices runs the general path of a search whose work passes one call's (plan.Work) in
// slices: each group's driver (chosen, as the first call picked them) a call per plan.Work/cost
// records, in turn. It unites the records they find, sorts them as the script does (searchOrder)
// and returns the reply the script would have: {total, id, id, ...}. The slices are not one
// moment's view: a record that changes meanwhile may be found or missed, as by a client that
// pages; a store that does not change gives the one-call result exactly.
func (s *Store) searchSlices(ctx context.Context, call searchCall, plan searchPlan, chosen []any) ([]any, error) {
	if len(chosen) != len(plan.Groups) {
		return nil, fmt.Errorf("the first call chose %d drivers for %d groups", len(chosen), len(plan.Groups))
	}
	byNum := plan.Sort.K == "n" || plan.Sort.K == "m" || plan.Sort.K == "id" || plan.Sort.K == "d" || plan.Sort.C == "z"
	var hits []searchHit
	found := map[string]bool{}
	for gi, g := range plan.Groups {
		d, _ := chosen[gi].(int64)
		n := max(1, plan.Work/g.Cost)
		if n > searchBatch {
			n -= n % searchBatch // whole batches: the index checks probe 500 records a call
		}
		st := searchStep{G: gi + 1, D: int(d), P: 1, C: "0", N: n}
		for st.P > 0 {
			raw, err := json.Marshal(st)
			if err != nil {
				return nil, fmt.Errorf("encode search slice: %w", err)
			}
			call.Step = string(raw)
			res, err := searchScript.run(ctx, s, call).Slice()
			if err != nil {
				return nil, err
			}
			if len(res) < 2 || len(res)%2 != 0 {
				return nil, fmt.Errorf("search slice: a reply of %d values", len(res))
			}
			next, _ := res[0].(int64)
			st.P = int(next)
			st.C, _ = res[1].(string)
			for i := 2; i < len(res); i += 2 {
				id, _ := res[i].(string)
				if found[id] {
					continue
				}
				found[id] = true
				h := searchHit{id: id}
				h.idNum, _ = strconv.ParseFloat(id, 64)
				if v, ok := res[i+1].(string); ok {
					h.has = true
					if byNum {
						if h.num, err = strconv.ParseFloat(v, 64); err != nil {
							h.num = math.NaN()
						}
					} else {
						h.str = v
					}
				}
				hits = append(hits, h)
			}
		}
	}
	slices.SortFunc(hits, func(a, b searchHit) int { return searchOrder(a, b, plan.Sort, byNum) })
	out := make([]any, 0, 1+plan.Lim)
	out = append(out, int64(len(hits)))
	for i := plan.Off; i < min(plan.Off+plan.Lim, len(hits)); i++ {
		out = append(out, hits[i].id)
	}
	return out, nil
}

// searchOrder orders two records as the search script's sort does: by id, or by the sort's value
// with the records without one last; ties by id as text in the sort's direction (the order the
// indexes hold them), the records without a value by id.
func searchOrder(a, b searchHit, sort searchSort, byNum bool) int {
	less := func(x, y searchHit) bool {
		if sort.K == "id" {
			if sort.Desc {
				return x.idNum > y.idNum
			}
			return x.idNum < y.idNum
		}
		switch {
		case !x.has && y.has:
			return false
		case x.has && !y.has:
			return true
		case !x.has:
			return x.idNum < y.idNum
		}
		if byNum && x.num != y.num {
			if sort.Desc {
				return x.num > y.num
			}
			return x.num < y.num
		}
		if !byNum && x.str != y.str {
			if sort.Desc {
				return x.str > y.str
			}
			return x.str < y.str
		}
		if sort.Desc {
			return x.id > y.id
		}
		return x.id < y.id
	}
	switch {
	case less(a, b):
		return -1
	case less(b, a):
		return 1
	}
	return 0
}
