package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

type searchPage struct {
	Total   int      `json:"total"`
	Results []record `json:"results"`
	Paging  *struct {
		Next struct {
			After string `json:"after"`
		} `json:"next"`
	} `json:"paging"`
}

// seedContacts creates n contacts of tenant tn whose properties follow i (1..n), and returns
// their properties by id.
func seedContacts(t *testing.T, b *testBundle, tn crm.TenantID, n int) map[string]map[string]string {
	t.Helper()
	firsts := []string{"Ada", "Grace", "Alan", "Linus", "Barbara"}
	stages := []string{"lead", "customer", "subscriber"}
	var in []crm.RecordInput
	for i := 1; i <= n; i++ {
		props := map[string]string{
			"email":              fmt.Sprintf("user%02d@%s", i, []string{"acme.example", "globex.example"}[i%2]),
			"firstname":          firsts[i%5],
			"lastname":           fmt.Sprintf("Name%02d", i),
			"lifecyclestage":     stages[i%3],
			"city":               []string{"Paris", "Oslo"}[i%2],
			"last_activity_date": fmt.Sprintf("2026-01-%02dT10:00:00Z", i%28+1),
			"email_opt_out":      strconv.FormatBool(i%4 == 0),
		}
		if i%10 != 0 {
			props["num_notes"] = strconv.Itoa(i % 7)
		}
		in = append(in, crm.RecordInput{Properties: props})
	}
	recs, err := b.store.CreateRecords(b.ctx, tn, crm.Contacts, in, crm.Actor{User: userEmail})
	require.NoError(t, err)
	out := map[string]map[string]string{}
	for _, r := range recs {
		out[string(r.ID)] = r.Properties
	}
	return out
}

// search posts a search of contacts as who and returns the page.
func (b *testBundle) search(t *testing.T, who string, body map[string]any) searchPage {
	t.Helper()
	return expect[searchPage](t, b.call(t, "POST", "/crm/v3/objects/contacts/search", who, body), http.StatusOK)
}

func resultIDs(p searchPage) []string {
	out := make([]string, len(p.Results))
	for i, r := range p.Results {
		out[i] = r.ID
	}
	return out
}

// matching returns the ids of recs for which keep is true, by ascending id.
func matching(recs map[string]map[string]string, keep func(p map[string]string) bool) []string {
	var out []string
	for id, p := range recs {
		if keep(p) {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
	return out
}

func filter(prop, op string, v any) map[string]any {
	return map[string]any{"propertyName": prop, "operator": op, "value": v}
}

func groups(gs ...[]map[string]any) map[string]any {
	var out []any
	for _, g := range gs {
		out = append(out, map[string]any{"filters": g})
	}
	return map[string]any{"filterGroups": out, "limit": 200}
}

func num(p map[string]string) (int, bool) {
	v, ok := p["num_notes"]
	if !ok {
		return 0, false
	}
	n, _ := strconv.Atoi(v)
	return n, true
}

func TestSearchOperators(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recs := seedContacts(t, b, b.tenantA, 40)
	seedContacts(t, b, b.tenantB, 45) // the same data and more (ids 41 to 45) in another tenant: never shown

	tests := []struct {
		name string
		body map[string]any
		keep func(p map[string]string) bool
	}{
		{"NoFilters", map[string]any{"limit": 200}, func(map[string]string) bool { return true }},
		{"EQNumber", groups([]map[string]any{filter("num_notes", "EQ", 3)}), func(p map[string]string) bool { n, ok := num(p); return ok && n == 3 }},
		{"EQNumberAsString", groups([]map[string]any{filter("num_notes", "EQ", "3")}), func(p map[string]string) bool { n, ok := num(p); return ok && n == 3 }},
		{"NEQNumber", groups([]map[string]any{filter("num_notes", "NEQ", 3)}), func(p map[string]string) bool { n, ok := num(p); return !ok || n != 3 }},
		{"LT", groups([]map[string]any{filter("num_notes", "LT", 2)}), func(p map[string]string) bool { n, ok := num(p); return ok && n < 2 }},
		{"LTE", groups([]map[string]any{filter("num_notes", "LTE", 2)}), func(p map[string]string) bool { n, ok := num(p); return ok && n <= 2 }},
		{"GT", groups([]map[string]any{filter("num_notes", "GT", 4)}), func(p map[string]string) bool { n, ok := num(p); return ok && n > 4 }},
		{"GTE", groups([]map[string]any{filter("num_notes", "GTE", 4)}), func(p map[string]string) bool { n, ok := num(p); return ok && n >= 4 }},
		{"Between", groups([]map[string]any{{"propertyName": "num_notes", "operator": "BETWEEN", "value": "2", "highValue": "4"}}),
			func(p map[string]string) bool { n, ok := num(p); return ok && n >= 2 && n <= 4 }},
		// Numbers compare as numbers ("5" is below "10"), and a range may be one value.
		{"BetweenNumericEnds", groups([]map[string]any{{"propertyName": "num_notes", "operator": "BETWEEN", "value": "5", "highValue": "10"}}),
			func(p map[string]string) bool { n, ok := num(p); return ok && n >= 5 }},
		{"BetweenOneValue", groups([]map[string]any{{"propertyName": "num_notes", "operator": "BETWEEN", "value": 3, "highValue": "3.0"}}),
			func(p map[string]string) bool { n, ok := num(p); return ok && n == 3 }},
		{"BetweenTextEndsIgnoreCase", groups([]map[string]any{{"propertyName": "lastname", "operator": "BETWEEN", "value": "NAME10", "highValue": "name12"}}),
			func(p map[string]string) bool {
				l := strings.ToLower(p["lastname"])
				return l >= "name10" && l <= "name12"
			}},
		{"InNumbers", groups([]map[string]any{{"propertyName": "num_notes", "operator": "IN", "values": []any{1, "5"}}}),
			func(p map[string]string) bool { n, ok := num(p); return ok && (n == 1 || n == 5) }},
		{"NotIn", groups([]map[string]any{{"propertyName": "lifecyclestage", "operator": "NOT_IN", "values": []string{"lead", "customer"}}}),
			func(p map[string]string) bool { return p["lifecyclestage"] == "subscriber" }},
		{"HasProperty", groups([]map[string]any{{"propertyName": "num_notes", "operator": "HAS_PROPERTY"}}),
			func(p map[string]string) bool { _, ok := num(p); return ok }},
		{"NotHasProperty", groups([]map[string]any{{"propertyName": "num_notes", "operator": "NOT_HAS_PROPERTY"}}),
			func(p map[string]string) bool { _, ok := num(p); return !ok }},
		{"EQEnumeration", groups([]map[string]any{filter("lifecyclestage", "EQ", "customer")}),
			func(p map[string]string) bool { return p["lifecyclestage"] == "customer" }},
		{"EQBool", groups([]map[string]any{filter("email_opt_out", "EQ", true)}),
			func(p map[string]string) bool { return p["email_opt_out"] == "true" }},
		{"EQTextIgnoresCase", groups([]map[string]any{filter("firstname", "EQ", "ada")}),
			func(p map[string]string) bool { return p["firstname"] == "Ada" }},
		{"EQEmail", groups([]map[string]any{filter("email", "EQ", "USER07@globex.example")}),
			func(p map[string]string) bool { return p["email"] == "user07@globex.example" }},
		{"LTText", groups([]map[string]any{filter("firstname", "LT", "B")}),
			func(p map[string]string) bool { return strings.ToLower(p["firstname"]) < "b" }},
		{"GTEText", groups([]map[string]any{filter("lastname", "GTE", "name35")}),
			func(p map[string]string) bool { return strings.ToLower(p["lastname"]) >= "name35" }},
		{"ContainsTokenWildcard", groups([]map[string]any{filter("email", "CONTAINS_TOKEN", "*@acme.example")}),
			func(p map[string]string) bool { return strings.HasSuffix(p["email"], "@acme.example") }},
		{"ContainsTokenFiveWildcards", groups([]map[string]any{filter("email", "CONTAINS_TOKEN", "*u*r*1*@**acme.example")}),
			func(p map[string]string) bool {
				local, domain, _ := strings.Cut(p["email"], "@")
				return strings.Contains(local, "1") && domain == "acme.example"
			}},
		{"ContainsTokenRunsOfWildcards", groups([]map[string]any{filter("email", "CONTAINS_TOKEN", strings.Repeat("*", 5000)+"@acme"+strings.Repeat("*", 5000))}),
			func(p map[string]string) bool { return strings.HasSuffix(p["email"], "@acme.example") }},
		{"ContainsToken", groups([]map[string]any{filter("email", "CONTAINS_TOKEN", "globex")}),
			func(p map[string]string) bool { return strings.Contains(p["email"], "globex") }},
		{"DatetimeRange", groups([]map[string]any{{"propertyName": "last_activity_date", "operator": "BETWEEN", "value": "2026-01-05", "highValue": "2026-01-10T23:00:00Z"}}),
			func(p map[string]string) bool {
				return p["last_activity_date"] >= "2026-01-05" && p["last_activity_date"] <= "2026-01-10T23"
			}},
		{"DatetimeMillis", groups([]map[string]any{filter("last_activity_date", "GTE", "1769335200000")}), // 2026-01-25T10:00Z
			func(p map[string]string) bool { return p["last_activity_date"] >= "2026-01-25" }},
		{"NonIndexedBesideIndexed", groups([]map[string]any{filter("lifecyclestage", "EQ", "lead"), filter("city", "EQ", "paris")}),
			func(p map[string]string) bool { return p["lifecyclestage"] == "lead" && p["city"] == "Paris" }},
		{"AndOfThree", groups([]map[string]any{filter("num_notes", "GTE", 2), filter("email_opt_out", "EQ", "false"), filter("firstname", "NEQ", "Grace")}),
			func(p map[string]string) bool {
				n, ok := num(p)
				return ok && n >= 2 && p["email_opt_out"] == "false" && p["firstname"] != "Grace"
			}},
		{"OrOfAnds", groups(
			[]map[string]any{filter("lifecyclestage", "EQ", "lead"), filter("num_notes", "LT", 3)},
			[]map[string]any{filter("firstname", "EQ", "Barbara")},
		), func(p map[string]string) bool {
			n, ok := num(p)
			return (p["lifecyclestage"] == "lead" && ok && n < 3) || p["firstname"] == "Barbara"
		}},
		{"ObjectID", groups([]map[string]any{filter("hs_object_id", "LTE", 5)}),
			func(p map[string]string) bool {
				n, _ := strconv.Atoi(strings.TrimPrefix(p["lastname"], "Name"))
				return n <= 5
			}},
		{"Query", map[string]any{"query": "gra", "limit": 200},
			func(p map[string]string) bool { return p["firstname"] == "Grace" }},
		{"EmptyValueBesideValues", groups([]map[string]any{{"propertyName": "num_notes", "operator": "IN", "value": "", "values": []any{1, "5"}}}),
			func(p map[string]string) bool { n, ok := num(p); return ok && (n == 1 || n == 5) }},
		{"EmptyValuesBesideValue", groups([]map[string]any{{"propertyName": "num_notes", "operator": "EQ", "value": 3, "values": []any{}, "highValue": nil}}),
			func(p map[string]string) bool { n, ok := num(p); return ok && n == 3 }},
		{"QueryAndFilter", map[string]any{"query": "user1", "limit": 200, "filterGroups": []any{map[string]any{"filters": []any{filter("lifecyclestage", "EQ", "lead")}}}},
			func(p map[string]string) bool {
				return strings.HasPrefix(p["email"], "user1") && p["lifecyclestage"] == "lead"
			}},
	}
	t.Run("OtherTenant", func(t *testing.T) {
		t.Parallel()
		got := b.search(t, tokBAll, map[string]any{"limit": 200, "filterGroups": []any{map[string]any{"filters": []any{filter("hs_object_id", "GT", 40)}}}})
		require.Equal(t, []string{"41", "42", "43", "44", "45"}, resultIDs(got))
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := matching(recs, tt.keep)
			require.NotEmpty(t, want, "the case must select something")
			require.Less(t, len(want), 40+1)
			got := b.search(t, tokRead, tt.body)
			require.Equal(t, want, resultIDs(got))
			require.Equal(t, len(want), got.Total)
			require.Nil(t, got.Paging)
		})
	}
}

func TestSearchSortsAndPaging(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recs := seedContacts(t, b, b.tenantA, 40)

	t.Run("SortByNumberDescendingMissingLast", func(t *testing.T) {
		t.Parallel()
		got := b.search(t, tokRead, map[string]any{"limit": 200, "sorts": []any{map[string]any{"propertyName": "num_notes", "direction": "DESCENDING"}},
			"filterGroups": []any{map[string]any{"filters": []any{filter("lifecyclestage", "EQ", "lead")}}}})
		require.NotEmpty(t, got.Results)
		prev, missing := 1<<30, false
		for _, r := range got.Results {
			n, ok := num(recs[r.ID])
			if !ok {
				missing = true
				continue
			}
			require.False(t, missing, "a record without num_notes sorts last")
			require.LessOrEqual(t, n, prev)
			prev = n
		}
	})

	t.Run("SortByIndexedRangeReadsPageOnly", func(t *testing.T) {
		t.Parallel()
		got := b.search(t, tokRead, map[string]any{"limit": 4, "sorts": []string{"-num_notes"},
			"filterGroups": []any{map[string]any{"filters": []any{filter("num_notes", "GTE", 1)}}}})
		require.Len(t, got.Results, 4) // the four with 6 notes
		for _, r := range got.Results {
			require.Equal(t, "6", recs[r.ID]["num_notes"])
		}
		require.Equal(t, len(matching(recs, func(p map[string]string) bool { n, ok := num(p); return ok && n >= 1 })), got.Total)
	})

	t.Run("SortByText", func(t *testing.T) {
		t.Parallel()
		got := b.search(t, tokRead, map[string]any{"limit": 200, "sorts": []any{map[string]any{"propertyName": "firstname"}}})
		var names []string
		for _, r := range got.Results {
			names = append(names, strings.ToLower(recs[r.ID]["firstname"]))
		}
		require.Len(t, names, 40)
		require.True(t, slices.IsSorted(names), "%v", names)
	})

	// A sort's ties come in one order whichever way the search runs: read from the sorted index
	// alone, or sorted after its records were checked (here beside a filter every record passes).
	// Every contact was created at the same instant, so createdate ties them all.
	t.Run("TiesInOneOrder", func(t *testing.T) {
		t.Parallel()
		always := filter("city", "CONTAINS_TOKEN", "*")
		for _, tc := range []struct {
			name  string
			sort  string
			alone []map[string]any
		}{
			{"Number", "num_notes", []map[string]any{filter("num_notes", "GTE", 0)}},
			{"NumberDescending", "-num_notes", []map[string]any{filter("num_notes", "GTE", 0)}},
			{"Text", "firstname", []map[string]any{{"propertyName": "firstname", "operator": "HAS_PROPERTY"}}},
			{"TextDescending", "-firstname", []map[string]any{{"propertyName": "firstname", "operator": "HAS_PROPERTY"}}},
			{"EveryRecordTied", "createdate", nil},
			{"EveryRecordTiedDescending", "-createdate", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				body := func(fs []map[string]any) map[string]any {
					out := map[string]any{"limit": 200, "sorts": []string{tc.sort}}
					if len(fs) > 0 {
						out["filterGroups"] = []any{map[string]any{"filters": fs}}
					}
					return out
				}
				fast := resultIDs(b.search(t, tokRead, body(tc.alone)))
				checked := resultIDs(b.search(t, tokRead, body(append(slices.Clone(tc.alone), always))))
				require.NotEmpty(t, fast)
				require.Equal(t, fast, checked)
			})
		}
	})

	t.Run("PagingToTheEnd", func(t *testing.T) {
		t.Parallel()
		for _, body := range []map[string]any{
			{"filterGroups": []any{map[string]any{"filters": []any{filter("num_notes", "GTE", 2)}}}},
			{"filterGroups": []any{map[string]any{"filters": []any{filter("lifecyclestage", "IN", nil)}}}},
			{},
		} {
			if fs, ok := body["filterGroups"]; ok && strings.Contains(fmt.Sprint(fs), "IN") {
				body["filterGroups"] = []any{map[string]any{"filters": []any{map[string]any{"propertyName": "lifecyclestage", "operator": "IN", "values": []string{"lead", "subscriber"}}}}}
			}
			all := b.search(t, tokRead, map[string]any{"limit": 200, "filterGroups": body["filterGroups"]})
			var seen []string
			after := ""
			for pages := 0; ; pages++ {
				require.Less(t, pages, 20)
				req := map[string]any{"limit": 7, "filterGroups": body["filterGroups"]}
				if after != "" {
					req["after"] = after
				}
				got := b.search(t, tokRead, req)
				require.Equal(t, all.Total, got.Total)
				seen = append(seen, resultIDs(got)...)
				if got.Paging == nil {
					break
				}
				after = got.Paging.Next.After
			}
			require.Equal(t, resultIDs(all), seen)
		}
	})
}

func TestSearchIndexFollowsWrites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := string(b.contact(t, map[string]string{"email": "ada@example.com", "firstname": "Ada", "lifecyclestage": "lead", "num_notes": "2"}))
	other := string(b.contact(t, map[string]string{"email": "bob@example.com", "firstname": "Bob", "lifecyclestage": "lead"}))
	find := func(f map[string]any) []string {
		return resultIDs(b.search(t, tokRead, groups([]map[string]any{f})))
	}
	require.Equal(t, []string{id, other}, find(filter("lifecyclestage", "EQ", "lead")))

	// An update moves the record from the old value's index entries to the new one's.
	expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+id, tokWrite, map[string]any{
		"properties": map[string]any{"lifecyclestage": "customer", "num_notes": 9, "firstname": "Augusta", "email": "augusta@example.com"}}), http.StatusOK)
	require.Equal(t, []string{other}, find(filter("lifecyclestage", "EQ", "lead")))
	require.Equal(t, []string{id}, find(filter("lifecyclestage", "EQ", "customer")))
	require.Empty(t, find(filter("num_notes", "EQ", 2)))
	require.Equal(t, []string{id}, find(filter("num_notes", "EQ", 9)))
	require.Empty(t, find(filter("firstname", "EQ", "ada")))
	require.Equal(t, []string{id}, find(filter("firstname", "EQ", "augusta")))
	require.Equal(t, []string{id}, find(filter("email", "EQ", "augusta@example.com")))
	require.Empty(t, find(filter("email", "EQ", "ada@example.com")))
	// lastmodifieddate follows the update; clearing a property takes it out of its index.
	require.Equal(t, []string{id, other}, find(filter("lastmodifieddate", "GTE", "2026-03-01T12:00:00Z")))
	expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+id, tokWrite, map[string]any{
		"properties": map[string]any{"num_notes": nil}}), http.StatusOK)
	require.Equal(t, []string{id, other}, find(map[string]any{"propertyName": "num_notes", "operator": "NOT_HAS_PROPERTY"}))

	// A record in the bin is not found; restored, it is found again.
	r := b.call(t, "DELETE", "/crm/v3/objects/contacts/"+id, tokAll, nil)
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	require.Empty(t, find(filter("lifecyclestage", "EQ", "customer")))
	require.Equal(t, []string{other}, find(map[string]any{"propertyName": "firstname", "operator": "HAS_PROPERTY"}))
	require.Equal(t, 1, b.search(t, tokRead, map[string]any{}).Total)
	res, err := b.store.RestoreRecords(b.ctx, b.tenantA, crm.Contacts, []crm.RecordID{crm.RecordID(id)}, crm.Actor{User: userEmail})
	require.NoError(t, err)
	require.Len(t, res.Restored, 1)
	require.Equal(t, []string{id}, find(filter("lifecyclestage", "EQ", "customer")))
	require.Equal(t, []string{id}, find(filter("firstname", "EQ", "Augusta")))

	// Batch archive takes records out of every index.
	_, err = b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Contacts, []crm.RecordID{crm.RecordID(id), crm.RecordID(other)}, crm.Actor{User: userEmail})
	require.NoError(t, err)
	require.Empty(t, find(map[string]any{"propertyName": "lifecyclestage", "operator": "HAS_PROPERTY"}))
	require.Empty(t, find(map[string]any{"propertyName": "createdate", "operator": "HAS_PROPERTY"}))
	require.Equal(t, 0, b.search(t, tokRead, map[string]any{}).Total)
	// Nothing of the indexes is left behind for them.
	keys, err := b.rdb.Keys(b.ctx, "crm:{"+string(b.tenantA)+"}:ix*").Result()
	require.NoError(t, err)
	require.Empty(t, keys)
}

func TestSearchCustomType(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{
		"name": "subscriptions", "labels": map[string]any{"singular": "Subscription", "plural": "Subscriptions"},
		"properties": []any{
			map[string]any{"name": "plan", "label": "Plan", "type": "enumeration", "options": []any{map[string]any{"label": "Gold", "value": "gold"}, map[string]any{"label": "Basic", "value": "basic"}}},
			map[string]any{"name": "seats", "label": "Seats", "type": "number"},
			map[string]any{"name": "title", "label": "Title", "type": "string"},
		},
	})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	var want []string
	for i := 1; i <= 6; i++ {
		plan := []string{"gold", "basic"}[i%2]
		id := b.create(t, b.tenantA, "subscriptions", map[string]string{"plan": plan, "seats": strconv.Itoa(i), "title": fmt.Sprintf("Sub %d", i)})
		if plan == "gold" && i > 2 {
			want = append(want, string(id))
		}
	}
	got := expect[searchPage](t, b.call(t, "POST", "/crm/v3/objects/subscriptions/search", tokRead,
		groups([]map[string]any{filter("plan", "EQ", "gold"), filter("seats", "GT", 2)})), http.StatusOK)
	require.Equal(t, want, resultIDs(got))
	// A string without an index is searchable while the tenant is small enough to check it all.
	got = expect[searchPage](t, b.call(t, "POST", "/crm/v3/objects/subscriptions/search", tokRead,
		groups([]map[string]any{filter("title", "EQ", "sub 3")})), http.StatusOK)
	require.Len(t, got.Results, 1)
	e := expectError(t, b.call(t, "POST", "/crm/v3/objects/subscriptions/search", tokRead, map[string]any{"query": "sub"}),
		http.StatusBadRequest, "VALIDATION_ERROR")
	require.Contains(t, e.Message, "query")
}

func TestSearchRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seedContacts(t, b, b.tenantA, 5)
	before := b.snapshot(t, b.tenantA)
	many := func(n int) []map[string]any {
		var out []map[string]any
		for range n {
			out = append(out, filter("num_notes", "GT", 1))
		}
		return out
	}
	tests := []struct {
		name string
		body any
		in   string
		says string
	}{
		{"UnknownProperty", groups([]map[string]any{filter("shoe_size", "EQ", 3)}), "filterGroups[0].filters[0].propertyName", "shoe_size"},
		{"BadOperator", groups([]map[string]any{filter("num_notes", "ABOUT", 3)}), "filterGroups[0].filters[0].operator", "EQ, NEQ"},
		{"NotANumber", groups([]map[string]any{filter("num_notes", "GT", "many")}), "filterGroups[0].filters[0].value", "not a number"},
		{"NumberWithSeparators", groups([]map[string]any{filter("num_notes", "EQ", "1_000")}), "filterGroups[0].filters[0].value", "plain decimal"},
		{"HexadecimalNumber", groups([]map[string]any{filter("num_notes", "GT", "0x1p4")}), "filterGroups[0].filters[0].value", "plain decimal"},
		{"HighValueWithSeparator", groups([]map[string]any{{"propertyName": "num_notes", "operator": "BETWEEN", "value": 1, "highValue": "1_0.5"}}), "filterGroups[0].filters[0].highValue", "plain decimal"},
		{"InValueWithSeparator", groups([]map[string]any{{"propertyName": "num_notes", "operator": "IN", "values": []any{1, "2_0"}}}), "filterGroups[0].filters[0].values", "plain decimal"},
		{"NotADatetime", groups([]map[string]any{filter("createdate", "GT", "yesterday")}), "filterGroups[0].filters[0].value", "not a datetime"},
		{"NotAnOption", groups([]map[string]any{filter("lifecyclestage", "EQ", "alien")}), "filterGroups[0].filters[0].value", "subscriber"},
		{"NotABool", groups([]map[string]any{filter("email_opt_out", "EQ", "maybe")}), "filterGroups[0].filters[0].value", "true or false"},
		{"RangeOnEnumeration", groups([]map[string]any{filter("lifecyclestage", "LT", "lead")}), "filterGroups[0].filters[0].operator", "IN"},
		{"TokenOnNumber", groups([]map[string]any{filter("num_notes", "CONTAINS_TOKEN", "1")}), "filterGroups[0].filters[0].operator", "string"},
		{"MissingValue", groups([]map[string]any{{"propertyName": "num_notes", "operator": "EQ"}}), "filterGroups[0].filters[0].value", "needs a value"},
		{"MissingHighValue", groups([]map[string]any{filter("num_notes", "BETWEEN", 1)}), "filterGroups[0].filters[0].highValue", "highValue"},
		{"EmptyIn", groups([]map[string]any{{"propertyName": "num_notes", "operator": "IN", "values": []any{}}}), "filterGroups[0].filters[0].values", "1 to 100"},
		{"TooManyGroups", groups(many(1), many(1), many(1), many(1), many(1), many(1)), "filterGroups", "at most 5"},
		{"TooManyInGroup", groups(many(11)), "filterGroups[0].filters", "at most 10"},
		{"TooManyInAll", groups(many(9), many(9), many(9)), "filterGroups", "at most 25"},
		{"EmptyGroup", groups(many(0)), "filterGroups[0].filters", "no filters"},
		{"LimitTooLarge", map[string]any{"limit": 201}, "limit", "1 to 200"},
		{"LimitZero", map[string]any{"limit": 0}, "limit", "1 to 200"},
		{"PastTheWindow", map[string]any{"after": "10000"}, "after", "10000"},
		{"AfterNotANumber", map[string]any{"after": "abc"}, "after", "offset"},
		{"TwoSorts", map[string]any{"sorts": []string{"num_notes", "email"}}, "sorts", "at most one"},
		{"UnknownSort", map[string]any{"sorts": []string{"shoe_size"}}, "sorts[0].propertyName", "shoe_size"},
		{"BadDirection", map[string]any{"sorts": []any{map[string]any{"propertyName": "email", "direction": "UP"}}}, "sorts[0].direction", "ASCENDING"},
		{"MissingOperator", groups([]map[string]any{{"propertyName": "num_notes", "value": 3}}), "filterGroups[0].filters[0].operator", "has no operator"},
		{"MissingPropertyName", groups([]map[string]any{{"operator": "EQ", "value": 3}}), "filterGroups[0].filters[0].propertyName", "has no propertyName"},
		{"NullFilter", map[string]any{"filterGroups": []any{map[string]any{"filters": []any{nil}}}}, "filterGroups[0].filters[0].propertyName", "has no propertyName"},
		{"PropertyNameNotAString", groups([]map[string]any{{"propertyName": 5, "operator": "EQ", "value": 3}}), "filterGroups[0].filters[0].propertyName", "must be a string, not a number"},
		{"UnknownFilterField", groups([]map[string]any{{"propertyName": "num_notes", "operator": "EQ", "valeu": 3}}), "filterGroups[0].filters[0].valeu", "a filter takes"},
		{"UnknownGroupField", map[string]any{"filterGroups": []any{map[string]any{"filter": []any{}}}}, "filterGroups[0].filter", "filters"},
		{"ValueAnObject", groups([]map[string]any{filter("num_notes", "EQ", 3), filter("num_notes", "EQ", map[string]any{"value": 3})}), "filterGroups[0].filters[1].value", "string, number or boolean"},
		{"ValueAnArray", groups([]map[string]any{filter("num_notes", "EQ", []int{3, 4})}), "filterGroups[0].filters[0].value", "values"},
		{"ValuesWithEQ", groups([]map[string]any{{"propertyName": "num_notes", "operator": "EQ", "value": 3, "values": []int{3, 4}}}), "filterGroups[0].filters[0].values", "use IN"},
		{"ValuesAloneWithEQ", groups([]map[string]any{{"propertyName": "num_notes", "operator": "EQ", "values": []int{3}}}), "filterGroups[0].filters[0].values", "reads value, not values"},
		{"ValueWithIn", groups([]map[string]any{{"propertyName": "num_notes", "operator": "IN", "value": 3, "values": []int{4}}}), "filterGroups[0].filters[0].value", "use EQ"},
		{"ValueAloneWithNotIn", groups([]map[string]any{{"propertyName": "num_notes", "operator": "NOT_IN", "value": 3}}), "filterGroups[0].filters[0].value", "reads values"},
		{"HighValueWithGTE", groups([]map[string]any{{"propertyName": "num_notes", "operator": "GTE", "value": 1, "highValue": 4}}), "filterGroups[0].filters[0].highValue", "BETWEEN"},
		{"ValuesWithBetween", groups([]map[string]any{{"propertyName": "num_notes", "operator": "BETWEEN", "values": []int{1, 4}}}), "filterGroups[0].filters[0].values", "highValue"},
		{"SortWithoutPropertyName", map[string]any{"sorts": []any{map[string]any{"direction": "DESCENDING"}}}, "sorts[0].propertyName", "has no propertyName"},
		{"SortOfADash", map[string]any{"sorts": []string{"-"}}, "sorts[0].propertyName", "has no propertyName"},
		{"SortUnknownField", map[string]any{"sorts": []any{map[string]any{"propertyName": "email", "order": "DESC"}}}, "sorts[0].order", "propertyName and direction"},
		{"SortNotAnObject", map[string]any{"sorts": []any{5}}, "sorts[0]", "must be an object, not a number"},
		{"AfterAnObject", map[string]any{"after": map[string]any{"offset": 10}}, "after", "paging.next.after"},
		// A pattern's cost in the script grows with its wildcards: a few are plenty.
		{"TooManyWildcards", groups([]map[string]any{filter("email", "CONTAINS_TOKEN", "*u*s*e*r*@*acme.example")}), "filterGroups[0].filters[0].value", "more than the 5"},
		{"ManyWildcardsBesideAFilter", groups([]map[string]any{filter("num_notes", "GT", 1), filter("city", "CONTAINS_TOKEN", strings.Repeat("*o", 40)+"*")}), "filterGroups[0].filters[1].value", "41 wildcards"},
		// No record holds "" (a write of it clears the property): EQ "" would match nothing, NEQ "" everything.
		{"EmptyStringEQ", groups([]map[string]any{filter("firstname", "EQ", "")}), "filterGroups[0].filters[0].value", "NOT_HAS_PROPERTY"},
		{"EmptyStringNEQ", groups([]map[string]any{filter("num_notes", "GT", 1), filter("city", "NEQ", "")}), "filterGroups[0].filters[1].value", "HAS_PROPERTY"},
		{"EmptyStringToken", groups([]map[string]any{filter("email", "CONTAINS_TOKEN", "")}), "filterGroups[0].filters[0].value", "empty"},
		{"EmptyNumber", groups([]map[string]any{filter("num_notes", "EQ", "")}), "filterGroups[0].filters[0].value", "NOT_HAS_PROPERTY"},
		{"EmptyDatetime", groups([]map[string]any{filter("num_notes", "GT", 1), filter("last_activity_date", "NEQ", "")}), "filterGroups[0].filters[1].value", "HAS_PROPERTY"},
		{"EmptyOption", groups([]map[string]any{{"propertyName": "lifecyclestage", "operator": "IN", "values": []string{"lead", ""}}}), "filterGroups[0].filters[0].values", "NOT_HAS_PROPERTY"},
		{"EmptyStringInValues", groups([]map[string]any{{"propertyName": "lastname", "operator": "IN", "values": []string{"name01", ""}}}), "filterGroups[0].filters[0].values", "empty"},
		// A range whose ends are swapped matches nothing: refused rather than an empty page.
		{"BetweenSwappedNumbers", groups([]map[string]any{{"propertyName": "num_notes", "operator": "BETWEEN", "value": 10, "highValue": "9"}}), "filterGroups[0].filters[0]", "swap them"},
		{"BetweenSwappedDatetimes", groups([]map[string]any{{"propertyName": "createdate", "operator": "BETWEEN", "value": "2027-01-01", "highValue": "1767225600000"}}), "filterGroups[0].filters[0]", "swap them"},
		{"BetweenSwappedText", groups([]map[string]any{{"propertyName": "lastname", "operator": "BETWEEN", "value": "name20", "highValue": "NAME10"}}), "filterGroups[0].filters[0]", "swap them"},
		{"BetweenSwappedInSecondGroup", groups(many(1), []map[string]any{filter("num_notes", "GT", 1), {"propertyName": "hs_object_id", "operator": "BETWEEN", "value": 9, "highValue": 2}}), "filterGroups[1].filters[1]", "swap them"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/search", tokRead, tt.body), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Contains(t, e.in(), tt.in, "body: %+v", e)
			require.Contains(t, e.Message, tt.says)
		})
	}
	t.Run("EveryProblemAtOnce", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/search", tokRead,
			groups([]map[string]any{filter("shoe_size", "EQ", 3), filter("num_notes", "GT", "x")})), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"filterGroups[0].filters[0].propertyName", "filterGroups[0].filters[1].value"}, e.in())
	})
	t.Run("Archived", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/search?archived=true", tokRead, map[string]any{}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"archived"}, e.in())
		require.Contains(t, e.Message, "GET /crm/v3/objects/contacts?archived=true")
		e = expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/search?archived=yes", tokRead, map[string]any{}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"archived"}, e.in())
		res := expect[searchPage](t, b.call(t, "POST", "/crm/v3/objects/contacts/search?archived=false", tokRead, map[string]any{}), http.StatusOK)
		require.Equal(t, 5, res.Total)
	})
	t.Run("UnknownType", func(t *testing.T) {
		t.Parallel()
		expectError(t, b.call(t, "POST", "/crm/v3/objects/unicorns/search", tokRead, map[string]any{}), http.StatusNotFound, "OBJECT_NOT_FOUND")
	})
	t.Run("NeedsReadScope", func(t *testing.T) {
		t.Parallel()
		expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/search", "", map[string]any{}), http.StatusUnauthorized, "INVALID_AUTHENTICATION")
	})
	t.Run("ChangesNothing", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})
}

func TestSearchWorkBudget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seedContacts(t, b, b.tenantA, 30)
	st, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, SearchWorkBudget: 12})
	require.NoError(t, err)
	search := func(p crm.SearchParams) (crm.SearchResult, error) {
		return st.Search(b.ctx, b.tenantA, crm.Contacts, p)
	}
	// The whole type in id order, or one indexed range in its own order, reads only its page.
	res, err := search(crm.SearchParams{Limit: 5})
	require.NoError(t, err)
	require.Equal(t, 30, res.Total)
	res, err = search(crm.SearchParams{Limit: 5, Sorts: []crm.SearchSort{{PropertyName: "num_notes"}},
		FilterGroups: [][]crm.SearchFilter{{{PropertyName: "num_notes", Operator: crm.OpHasProperty}}}})
	require.NoError(t, err)
	require.Equal(t, 27, res.Total)
	// A filter without an index over the whole type is refused, saying what to do.
	_, err = search(crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{{PropertyName: "city", Operator: crm.OpEQ, Value: "Oslo", HasValue: true}}}})
	var ve *crm.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "SEARCH_TOO_BROAD", ve.Code)
	require.Contains(t, ve.Message, "lifecyclestage")
	// Beside an indexed filter that narrows it within the budget, it runs.
	res, err = search(crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{
		{PropertyName: "city", Operator: crm.OpEQ, Value: "Oslo", HasValue: true},
		{PropertyName: "lifecyclestage", Operator: crm.OpEQ, Value: "lead", HasValue: true},
	}}})
	require.NoError(t, err)
	require.Equal(t, 5, res.Total)
}

// TestSearchTooBroadNamesItsCause: a search refused for reading too much names what made it read
// that much, the sort or the filters, and what to change.
func TestSearchTooBroadNamesItsCause(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seedContacts(t, b, b.tenantA, 30)
	st, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, SearchWorkBudget: 12})
	require.NoError(t, err)
	numNotesGT0 := [][]crm.SearchFilter{{{PropertyName: "num_notes", Operator: crm.OpGT, Value: "0", HasValue: true}}}
	tests := []struct {
		name    string
		p       crm.SearchParams
		field   string
		says    []string
		notSays []string
	}{
		// Without the sort, each of these reads only its page.
		{"SortByUnindexedProperty", crm.SearchParams{Sorts: []crm.SearchSort{{PropertyName: "city"}}},
			"sorts[0]", []string{"sort", "city", "createdate", "leave sorts out"}, []string{"add a filter"}},
		{"SortByPropertyNotEveryRecordHas", crm.SearchParams{Sorts: []crm.SearchSort{{PropertyName: "num_notes", Descending: true}}},
			"sorts[0]", []string{"sort", "num_notes", "createdate"}, nil},
		{"FilterSortedByAnotherProperty", crm.SearchParams{FilterGroups: numNotesGT0, Sorts: []crm.SearchSort{{PropertyName: "city"}}},
			"sorts[0]", []string{"sort", "city", "sort by num_notes"}, nil},
		// The filter reads every record whatever the order: the filters are the cause.
		{"UnindexedFilter", crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{{PropertyName: "city", Operator: crm.OpEQ, Value: "Oslo", HasValue: true}}},
			Sorts: []crm.SearchSort{{PropertyName: "city"}}},
			"filterGroups", []string{"add a filter on an indexed property"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := st.Search(b.ctx, b.tenantA, crm.Contacts, tt.p)
			var ve *crm.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, "SEARCH_TOO_BROAD", ve.Code)
			require.Equal(t, tt.field, ve.Field, ve.Message)
			for _, s := range tt.says {
				require.Contains(t, ve.Message, s)
			}
			for _, s := range tt.notSays {
				require.NotContains(t, ve.Message, s)
			}
			// What the message says to do works: the same search by id, or sorted by the filtered property.
			p := tt.p
			p.Sorts = nil
			if len(p.FilterGroups) > 0 && p.FilterGroups[0][0].PropertyName == "num_notes" {
				p.Sorts = []crm.SearchSort{{PropertyName: "num_notes"}}
			}
			if tt.field == "sorts[0]" {
				_, err = st.Search(b.ctx, b.tenantA, crm.Contacts, p)
				require.NoError(t, err)
			}
		})
	}
}

// Over HTTP, with a budget of 12 records: no search reads more, whichever way the script finds
// its records.
func TestSearchWorkBudgetHolds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recs := seedContacts(t, b, b.tenantA, 40) // 13 or 14 of each lifecyclestage, 10 opted out
	st, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, SearchWorkBudget: 12})
	require.NoError(t, err)
	b.store = st
	b.serve(t, &api.Config{Clock: b.clock})
	in := func(prop string, vs ...any) map[string]any {
		return groups([]map[string]any{{"propertyName": prop, "operator": "IN", "values": vs}})
	}

	// One value's records within the budget are paged by id from its set.
	got := b.search(t, tokRead, groups([]map[string]any{filter("email_opt_out", "EQ", true)}))
	require.Equal(t, 10, got.Total)
	require.Len(t, got.Results, 10)

	// A value held by more records than the budget is not sorted (that reads its whole set): its
	// pages are found by reading the contacts in id order, at most 12, each tested against the
	// value's set. The first pages answer, with the value's total; a page past the value's records
	// among those 12 contacts is refused.
	byID := matching(recs, func(map[string]string) bool { return true })
	valuePage := func(prop string, v any, desc bool, limit, after int) response {
		body := map[string]any{"limit": limit, "filterGroups": []any{map[string]any{"filters": []any{filter(prop, "EQ", v)}}}}
		if desc {
			body["sorts"] = []string{"-hs_object_id"}
		}
		if after > 0 {
			body["after"] = strconv.Itoa(after)
		}
		return b.call(t, "POST", "/crm/v3/objects/contacts/search", tokRead, body)
	}
	tooBroad := func(r response, total int) {
		t.Helper()
		e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, "SEARCH_TOO_BROAD", e.Errors[0].Code, "body: %+v", e)
		require.Contains(t, e.Message, fmt.Sprintf("%d contacts", total))
		require.True(t, strings.HasSuffix(e.Message, ", or ask for a page less deep (a smaller after)"), e.Message)
	}
	leads := matching(recs, func(p map[string]string) bool { return p["lifecyclestage"] == "lead" })
	require.Len(t, leads, 13)
	lastLeads := slices.Clone(leads)
	slices.Reverse(lastLeads)
	for _, tc := range []struct {
		name string
		desc bool
		want []string
	}{{"Ascending", false, leads}, {"Descending", true, lastLeads}} {
		got := expect[searchPage](t, valuePage("lifecyclestage", "lead", tc.desc, 1, 0), http.StatusOK)
		require.Equal(t, 13, got.Total, tc.name)
		require.Equal(t, tc.want[:1], resultIDs(got), tc.name)
		// Every third contact is a lead: the first 12 contacts hold 4.
		got = expect[searchPage](t, valuePage("lifecyclestage", "lead", tc.desc, 4, 0), http.StatusOK)
		require.Equal(t, 13, got.Total, tc.name)
		require.Equal(t, tc.want[:4], resultIDs(got), tc.name)
		require.NotNil(t, got.Paging, tc.name)
		tooBroad(valuePage("lifecyclestage", "lead", tc.desc, 1, 4), 13)
		// A page past the value's total reads nothing.
		got = expect[searchPage](t, valuePage("lifecyclestage", "lead", tc.desc, 5, 13), http.StatusOK)
		require.Equal(t, 13, got.Total, tc.name)
		require.Empty(t, got.Results, tc.name)
	}

	// Paged with after, in both directions, the 30 contacts not opted out come each once and in
	// order, until the page that needs more than the 12 contacts read hold.
	optedIn := matching(recs, func(p map[string]string) bool { return p["email_opt_out"] == "false" })
	require.Len(t, optedIn, 30)
	for _, desc := range []bool{false, true} {
		want, order := slices.Clone(optedIn), slices.Clone(byID)
		if desc {
			slices.Reverse(want)
			slices.Reverse(order)
		}
		reachable := 0 // the contacts not opted out among the first 12 read
		for _, id := range order[:12] {
			if recs[id]["email_opt_out"] == "false" {
				reachable++
			}
		}
		require.Equal(t, 9, reachable)
		var seen []string
		after := 0
		for {
			r := valuePage("email_opt_out", false, desc, 2, after)
			if r.status != http.StatusOK {
				tooBroad(r, 30)
				break
			}
			got := expect[searchPage](t, r, http.StatusOK)
			require.Equal(t, 30, got.Total)
			require.Len(t, got.Results, 2)
			seen = append(seen, resultIDs(got)...)
			require.NotNil(t, got.Paging)
			after, err = strconv.Atoi(got.Paging.Next.After)
			require.NoError(t, err)
		}
		require.Equal(t, want[:reachable-reachable%2], seen, "descending: %v", desc)
	}

	// A value an IN gives several times is read once.
	got = b.search(t, tokRead, in("email_opt_out", true, "true", "TRUE"))
	require.Equal(t, 10, got.Total)
	got = b.search(t, tokRead, in("num_notes", 3, "3", "3.0", 4))
	require.Equal(t, 11, got.Total)
}

// One value's records by id come in one order whichever way the search runs: read by walking the
// contacts in id order (a value held by more records than the budget), sorted from the value's
// set (within the budget), or checked beside another filter. The ids run from one digit to three,
// so the order of the ids as numbers (9, 10, 100) and as text (10, 100, 9) differ.
func TestSearchValueByIDInOneOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var in []crm.RecordInput
	for i := 1; i <= 110; i++ {
		stage := "lead"
		if i == 5 || i == 50 {
			stage = "customer"
		}
		in = append(in, crm.RecordInput{Properties: map[string]string{"email": fmt.Sprintf("user%03d@acme.example", i), "lifecyclestage": stage}})
	}
	created, err := b.store.CreateRecords(b.ctx, b.tenantA, crm.Contacts, in, crm.Actor{User: userEmail})
	require.NoError(t, err)
	recs := map[string]map[string]string{}
	for _, r := range created {
		recs[string(r.ID)] = r.Properties
	}
	leads := matching(recs, func(p map[string]string) bool { return p["lifecyclestage"] == "lead" })
	require.Len(t, leads, 108)
	for _, id := range []string{"9", "10", "100"} {
		require.Contains(t, leads, id)
	}
	// A budget below the 108 leads and above the 102 contacts a page of 100 of them reads.
	walk := *b
	st, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, SearchWorkBudget: 107})
	require.NoError(t, err)
	walk.store = st
	walk.serve(t, &api.Config{Clock: b.clock})

	lead := filter("lifecyclestage", "EQ", "lead")
	always := filter("hs_object_id", "GTE", 1)
	last := slices.Clone(leads)
	slices.Reverse(last)
	for _, tc := range []struct {
		name string
		sort any
		want []string
	}{
		{"Unsorted", nil, leads[:100]},
		{"Ascending", map[string]any{"propertyName": "hs_object_id", "direction": "ASCENDING"}, leads[:100]},
		{"Descending", map[string]any{"propertyName": "hs_object_id", "direction": "DESCENDING"}, last[:100]},
	} {
		body := func(fs ...map[string]any) map[string]any {
			out := map[string]any{"limit": 100, "filterGroups": []any{map[string]any{"filters": fs}}}
			if tc.sort != nil {
				out["sorts"] = []any{tc.sort}
			}
			return out
		}
		walked := walk.search(t, tokRead, body(lead))
		sorted := b.search(t, tokRead, body(lead))
		checked := b.search(t, tokRead, body(lead, always))
		for _, got := range []searchPage{walked, sorted, checked} {
			require.Equal(t, 108, got.Total, tc.name)
		}
		require.Equal(t, tc.want, resultIDs(sorted), tc.name)
		require.Equal(t, tc.want, resultIDs(checked), tc.name)
		require.Equal(t, tc.want, resultIDs(walked), tc.name)
	}
}

// A filter group's checks on enumerations and bools probe at most 16 value sets per 500 records,
// an SMISMEMBER each, however many values their IN and NOT_IN list: the ones past that test the
// records' values instead. Before, each of ten NOT_INs of 100 values probed its 100 sets, and
// one search of 50,000 records held Redis for seconds. Counted from INFO commandstats, on a
// redis-server of the test's own.
func TestSearchSetProbes(t *testing.T) {
	t.Parallel()
	srv, err := redistest.StartServer("")
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	b := bundleOn(t, srv, nil)
	rdb := b.rdb
	b.tokens[tokRead] = b.user(t, b.tenantA, "read@a.example", "read")
	b.serve(t, &api.Config{})
	recs := seedContacts(t, b, b.tenantA, 900) // two batches of 500 for the checks
	probes := func() int {
		info, err := rdb.Info(b.ctx, "commandstats").Result()
		require.NoError(t, err)
		for _, line := range strings.Split(info, "\n") {
			if rest, ok := strings.CutPrefix(line, "cmdstat_smismember:calls="); ok {
				n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
				require.NoError(t, err)
				return n
			}
		}
		return 0
	}

	// Nine NOT_INs of seven values each (and each value twice): 63 sets.
	others := []any{"marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist", "other", "subscriber"}
	filters := []map[string]any{filter("hs_object_id", "LTE", 900)}
	for range 9 {
		filters = append(filters, map[string]any{"propertyName": "lifecyclestage", "operator": "NOT_IN", "values": append(others, others...)})
	}
	before := probes()
	got := b.search(t, tokRead, groups(filters))
	require.LessOrEqual(t, probes()-before, 2*16, "set probes of two batches of records")
	leads := matching(recs, func(p map[string]string) bool { return p["lifecyclestage"] == "lead" })
	require.Equal(t, len(leads), got.Total)
	require.Equal(t, leads[:200], resultIDs(got))
}

func TestSearchResultWindow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var in []crm.RecordInput
	for i := range 100 {
		in = append(in, crm.RecordInput{Properties: map[string]string{"num_notes": strconv.Itoa(i % 3)}})
	}
	for range 101 {
		_, err := b.store.CreateRecords(b.ctx, b.tenantA, crm.Contacts, in, crm.Actor{User: userEmail})
		require.NoError(t, err)
	}
	body := func(after string) map[string]any {
		return map[string]any{"limit": 200, "after": after, "sorts": []string{"num_notes"},
			"filterGroups": []any{map[string]any{"filters": []any{filter("num_notes", "GTE", 0)}}}}
	}
	got := b.search(t, tokRead, body("9800"))
	require.Equal(t, 10100, got.Total)
	require.Len(t, got.Results, 200)
	// The last page the window reaches offers no next page, though more records match.
	require.Nil(t, got.Paging)
	// A page that would straddle the window stops at it: every page size reaches the same
	// first 10,000 results.
	got = b.search(t, tokRead, body("9900"))
	require.Equal(t, 10100, got.Total)
	require.Len(t, got.Results, 100)
	require.Nil(t, got.Paging)
	e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/search", tokRead, body("10000")), http.StatusBadRequest, "VALIDATION_ERROR")
	require.Contains(t, e.Message, "10000")
}

func TestSearchProperties(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seedContacts(t, b, b.tenantA, 3)
	tests := []struct {
		name  string
		props []string
		want  []string
	}{
		{"Named", []string{"email", "firstname"}, []string{"email", "firstname"}},
		// As GET's ?properties=: names separated by commas, blanks dropped.
		{"CommaSeparated", []string{"email,firstname"}, []string{"email", "firstname"}},
		{"BlanksDropped", []string{"", " email "}, []string{"email"}},
		{"OnlyBlanksMeansAll", []string{""}, []string{"city", "email", "email_opt_out", "firstname", "last_activity_date", "lastname", "lifecyclestage", "num_notes"}},
		{"UnknownIgnored", []string{"shoe_size", "email"}, []string{"email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := b.search(t, tokRead, map[string]any{"limit": 1, "properties": tt.props})
			require.Len(t, got.Results, 1)
			var names []string
			for n := range got.Results[0].Properties {
				names = append(names, n)
			}
			slices.Sort(names)
			require.Equal(t, tt.want, names)
		})
	}
}

// TestSearchMessagesSayWhatAndWhatToDo: each refusal names what was sent, once and cut short when
// long, in plain words, and what to send instead; nothing is changed.
func TestSearchMessagesSayWhatAndWhatToDo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seedContacts(t, b, b.tenantA, 5)
	var opts []map[string]any
	for i := range 300 {
		opts = append(opts, map[string]any{"label": fmt.Sprintf("Region %03d", i), "value": fmt.Sprintf("region_%03d", i)})
	}
	expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{
		"name": "sales_region", "label": "Sales region", "type": "enumeration", "fieldType": "select", "options": opts}), http.StatusCreated)
	before := b.snapshot(t, b.tenantA)
	long := "p" + strings.Repeat("x", 299)
	longValue := strings.Repeat("v", 5000)
	tests := []struct {
		name    string
		body    any
		in      string
		code    string
		says    []string
		notSays []string
	}{
		{"RangeOnEnumeration", groups([]map[string]any{filter("lifecyclestage", "GT", "lead")}), "filterGroups[0].filters[0].operator", "INVALID_OPERATOR",
			[]string{"lifecyclestage, an enumeration"}, []string{"a enumeration"}},
		{"TokenOnEnumeration", groups([]map[string]any{filter("lifecyclestage", "CONTAINS_TOKEN", "lead")}), "filterGroups[0].filters[0].operator", "INVALID_OPERATOR",
			[]string{"is an enumeration"}, []string{"a enumeration"}},
		{"LimitWithFraction", map[string]any{"limit": 10.5}, "limit", "INVALID_TYPE",
			[]string{"whole number", "not 10.5"}, []string{"JSON number", "not number"}},
		{"LimitAsString", map[string]any{"limit": "10"}, "limit", "INVALID_TYPE",
			[]string{"whole number", "not a string"}, []string{"JSON number"}},
		{"LimitTooLargeForAnInteger", `{"limit": 99999999999999999999}`, "limit", "INVALID_TYPE",
			[]string{"99999999999999999999", "too far from zero"}, []string{"not number"}},
		{"FilterPropertyNameAsNumber", groups([]map[string]any{{"propertyName": 5, "operator": "EQ", "value": 3}}), "filterGroups[0].filters[0].propertyName", "INVALID_TYPE",
			[]string{"must be a string, not a number"}, []string{"JSON string"}},
		// Record ids are scores of the live index, exact up to 2^53 - 1: a larger one is named as such.
		{"IDAboveTheLargest", groups([]map[string]any{filter("hs_object_id", "EQ", "9007199254740993")}), "filterGroups[0].filters[0].value", "INVALID_FILTER_VALUE",
			[]string{"9007199254740993", "9007199254740991"}, []string{"not a record id"}},
		{"IDAboveTheLargestInList", groups([]map[string]any{{"propertyName": "hs_object_id", "operator": "IN", "values": []any{1, "99999999999999999999"}}}), "filterGroups[0].filters[0].values", "INVALID_FILTER_VALUE",
			[]string{"99999999999999999999", "9007199254740991"}, []string{"not a record id"}},
		{"IDNotAWholeNumber", groups([]map[string]any{filter("hs_object_id", "EQ", "1.5")}), "filterGroups[0].filters[0].value", "INVALID_FILTER_VALUE",
			[]string{"\"1.5\" is not a record id", "whole number"}, nil},
		{"EmptyValueOfTheID", groups([]map[string]any{filter("hs_object_id", "EQ", "")}), "filterGroups[0].filters[0].value", "INVALID_FILTER_VALUE",
			[]string{"every record has a hs_object_id", "leave the filter out"}, []string{"NOT_HAS_PROPERTY"}},
		{"EmptyValueOfCreatedate", groups([]map[string]any{filter("createdate", "GT", "")}), "filterGroups[0].filters[0].value", "INVALID_FILTER_VALUE",
			[]string{"every record has a createdate"}, []string{"NOT_HAS_PROPERTY"}},
		{"OptionNamesThePropertyOnce", groups([]map[string]any{filter("lifecyclestage", "EQ", "alien")}), "filterGroups[0].filters[0].value", "INVALID_FILTER_VALUE",
			[]string{"\"alien\"", "customer"}, []string{"lifecyclestage: \"alien\" is not an option of lifecyclestage"}},
		{"OptionInAnotherCase", groups([]map[string]any{filter("lifecyclestage", "EQ", "Lead")}), "filterGroups[0].filters[0].value", "INVALID_FILTER_VALUE",
			[]string{`did you mean "lead" (label "Lead")?`}, nil},
		{"OptionMisspelt", groups([]map[string]any{{"propertyName": "lifecyclestage", "operator": "IN", "values": []string{"lead", "custmer"}}}), "filterGroups[0].filters[0].values", "INVALID_FILTER_VALUE",
			[]string{`"custmer" is not one of its options: did you mean "customer"`}, nil},
		{"LongUnknownProperty", groups([]map[string]any{filter(long, "EQ", 1)}), "filterGroups[0].filters[0].propertyName", "PROPERTY_DOESNT_EXIST",
			[]string{long[:40], "…"}, []string{long}},
		{"LongUnknownSort", map[string]any{"sorts": []string{long}}, "sorts[0].propertyName", "PROPERTY_DOESNT_EXIST",
			[]string{long[:40], "…"}, []string{long}},
		{"LongUnknownOperator", groups([]map[string]any{filter("num_notes", long, 1)}), "filterGroups[0].filters[0].operator", "INVALID_OPERATOR",
			[]string{"EQ, NEQ", "…"}, []string{strings.ToUpper(long)}},
		{"LongValue", groups([]map[string]any{filter("num_notes", "EQ", longValue)}), "filterGroups[0].filters[0].value", "INVALID_FILTER_VALUE",
			[]string{"vvvvvvvvvv", "…", "42"}, []string{longValue[:200]}},
		// HAS_PROPERTY tests whether a record has a value at all: a value given with it was meant for another operator.
		{"HasPropertyWithValue", groups([]map[string]any{{"propertyName": "num_notes", "operator": "HAS_PROPERTY", "value": 5}}), "filterGroups[0].filters[0].value", "UNUSED_VALUE",
			[]string{"HAS_PROPERTY takes no value", "remove"}, nil},
		{"NotHasPropertyWithValues", groups([]map[string]any{{"propertyName": "city", "operator": "not_has_property", "values": []string{"Oslo"}}}), "filterGroups[0].filters[0].values", "UNUSED_VALUE",
			[]string{"NOT_HAS_PROPERTY takes no values", "remove"}, nil},
		{"HasPropertyWithHighValue", groups([]map[string]any{{"propertyName": "num_notes", "operator": "HAS_PROPERTY", "highValue": 5}}), "filterGroups[0].filters[0].highValue", "UNUSED_VALUE",
			[]string{"HAS_PROPERTY takes no highValue"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/search", tokRead, tt.body), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{tt.in}, e.in(), "body: %+v", e)
			require.Equal(t, tt.code, e.Errors[0].Code, "body: %+v", e)
			for _, s := range tt.says {
				require.Contains(t, e.Message, s)
			}
			for _, s := range tt.notSays {
				require.NotContains(t, e.Message, s)
			}
			require.Less(t, len(e.Message), 1000, "message: %s", e.Message)
		})
	}
	t.Run("OptionOfMany", func(t *testing.T) {
		t.Parallel()
		// An enumeration may have 5,000 options: the message names the one meant, or a few.
		for value, says := range map[string]string{
			"Region_007": `did you mean "region_007" (label "Region 007")?`,
			"Region 042": `did you mean "region_042" (label "Region 042")?`,
			"antarctica": "region_000, region_001, region_002, region_003, region_004, region_005, region_006, region_007, region_008, region_009, region_010, region_011 (and 288 more)",
		} {
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/search", tokRead,
				groups([]map[string]any{filter("sales_region", "EQ", value)})), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Contains(t, e.Message, says)
			require.Less(t, len(e.Message), 500, e.Message)
		}
	})
	t.Run("ManyBadOptions", func(t *testing.T) {
		t.Parallel()
		// A search may give 2,500 values: only the first few bad ones look for the option meant
		// (an edit distance against every option each); the others say where the options are.
		values := make([]string, 100)
		for i := range values {
			values[i] = fmt.Sprintf("Region_%03d", i)
		}
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/search", tokRead,
			groups([]map[string]any{{"propertyName": "sales_region", "operator": "IN", "values": values}})), http.StatusBadRequest, "VALIDATION_ERROR")
		hinted, listed := 0, 0
		for _, er := range e.Errors {
			switch {
			case strings.Contains(er.Message, "did you mean"):
				hinted++
			case strings.Contains(er.Message, "GET /crm/v3/properties/contacts/sales_region lists them"):
				listed++
			}
		}
		require.Equal(t, 5, hinted, "%+v", e.Errors)
		require.Positive(t, listed, "%+v", e.Errors)
		require.Equal(t, len(e.Errors), hinted+listed, "%+v", e.Errors)
	})
	t.Run("HasPropertyWithEmptyValue", func(t *testing.T) {
		t.Parallel()
		// Clients that send every field of a filter send an empty or null value: that is no value.
		for _, f := range []map[string]any{
			{"propertyName": "num_notes", "operator": "HAS_PROPERTY", "value": nil},
			{"propertyName": "num_notes", "operator": "HAS_PROPERTY", "value": "", "highValue": "", "values": []string{}},
			{"propertyName": "num_notes", "operator": "NOT_HAS_PROPERTY", "value": ""},
		} {
			res := b.search(t, tokRead, groups([]map[string]any{f}))
			if f["operator"] == "HAS_PROPERTY" {
				require.Equal(t, 5, res.Total)
			} else {
				require.Equal(t, 0, res.Total)
			}
		}
	})
	t.Run("ChangesNothing", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})
}
