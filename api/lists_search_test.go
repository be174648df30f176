package api_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// searchedList is one list of a search answer: HubSpot's PublicObjectListSearchResult, with
// crmflow's objectType and size as in its other list answers.
type searchedList struct {
	ListID               string            `json:"listId"`
	Name                 string            `json:"name"`
	ObjectTypeID         string            `json:"objectTypeId"`
	ProcessingType       string            `json:"processingType"`
	AdditionalProperties map[string]string `json:"additionalProperties"`
}

// listSearch is HubSpot's ListSearchResponse.
type listSearch struct {
	Offset  int            `json:"offset"`
	HasMore bool           `json:"hasMore"`
	Total   int            `json:"total"`
	Lists   []searchedList `json:"lists"`
}

func (s listSearch) ids() []string {
	out := []string{}
	for _, l := range s.Lists {
		out = append(out, l.ListID)
	}
	return out
}

// TestListSearch drives POST /crm/v3/lists/search as HubSpot's lists v3 API answers it: pages of
// count lists (20 by default) from offset, by ascending listId, the next page's offset, hasMore
// and total; query matches names ignoring case; listIds, processingTypes and objectTypeId filter.
func TestListSearch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	names := []string{"Newsletter", "Partners", "NEWS flash", "Good news", "Churned"}
	var ids []string
	for i := range 45 {
		name, o := names[i%len(names)]+" "+strconv.Itoa(i), crm.Contacts
		if i%9 == 8 {
			o = crm.Companies
		}
		l, err := b.store.CreateList(b.ctx, b.tenantA, name, o)
		require.NoError(t, err)
		ids = append(ids, string(l.ID))
	}
	c := string(b.contact(t, nil))
	_, _, err := b.store.AddListMembers(b.ctx, b.tenantA, crm.ListID(ids[3]), []crm.RecordID{crm.RecordID(c)})
	require.NoError(t, err)
	// Lists of another tenant are never found.
	_, err = b.store.CreateList(b.ctx, b.tenantB, "Newsletter B", crm.Contacts)
	require.NoError(t, err)

	search := func(t *testing.T, body any) listSearch {
		t.Helper()
		return expect[listSearch](t, b.call(t, "POST", "/crm/v3/lists/search", tokRead, body), http.StatusOK)
	}

	t.Run("PagesThroughAll", func(t *testing.T) {
		t.Parallel()
		var got []string
		offset, pages := 0, 0
		for {
			pg := search(t, map[string]any{"offset": offset, "count": 20})
			pages++
			require.Equal(t, 45, pg.Total)
			got = append(got, pg.ids()...)
			require.Equal(t, len(got), pg.Offset, "offset is where the next page starts")
			require.Equal(t, pg.Offset < 45, pg.HasMore)
			if !pg.HasMore {
				break
			}
			offset = pg.Offset
		}
		require.Equal(t, 3, pages)
		require.Equal(t, ids, got)
	})

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		pg := search(t, `{}`)
		require.Equal(t, ids[:20], pg.ids(), "offset 0 and count 20 by default")
		require.Equal(t, listSearch{Offset: 20, HasMore: true, Total: 45}, listSearch{Offset: pg.Offset, HasMore: pg.HasMore, Total: pg.Total})
		nulls := search(t, `{"query": null, "offset": null, "count": null, "listIds": null, "processingTypes": null, "sort": null}`)
		require.Equal(t, pg, nulls, "null is the default")
	})

	t.Run("LastPageEndsAtTotal", func(t *testing.T) {
		t.Parallel()
		pg := search(t, map[string]any{"offset": 40, "count": 20})
		require.Equal(t, ids[40:], pg.ids())
		require.Equal(t, 45, pg.Offset)
		require.False(t, pg.HasMore)
		end := search(t, map[string]any{"offset": 45})
		require.Empty(t, end.Lists)
		require.Equal(t, 45, end.Offset)
		require.False(t, end.HasMore)
		// Past the end (lists deleted while a client pages): no lists, the total, no more.
		past := search(t, map[string]any{"offset": 60, "query": "news"})
		require.Empty(t, past.Lists)
		require.Equal(t, 60, past.Offset)
		require.False(t, past.HasMore)
		require.Positive(t, past.Total)
	})

	t.Run("QueryIgnoresCase", func(t *testing.T) {
		t.Parallel()
		pg := search(t, map[string]any{"query": "  news ", "count": 500})
		var want []string
		for i, id := range ids {
			if n := names[i%len(names)]; n == "Newsletter" || n == "NEWS flash" || n == "Good news" {
				want = append(want, id)
			}
		}
		require.Equal(t, want, pg.ids())
		require.Equal(t, len(want), pg.Total)
		for _, l := range pg.Lists {
			require.Contains(t, strings.ToLower(l.Name), "news")
		}
		none := search(t, map[string]any{"query": "nobody"})
		require.Empty(t, none.Lists)
		require.Zero(t, none.Total)
		require.False(t, none.HasMore)
		require.Zero(t, none.Offset)
		// Paging through a query: the second page starts where the first ended.
		first := search(t, map[string]any{"query": "NEWS", "count": 10})
		second := search(t, map[string]any{"query": "NEWS", "count": 10, "offset": first.Offset})
		require.Equal(t, want[:10], first.ids())
		require.Equal(t, want[10:20], second.ids())
	})

	t.Run("ListIDs", func(t *testing.T) {
		t.Parallel()
		pg := search(t, `{"listIds": ["`+ids[7]+`", `+ids[2]+`, "999999", "x"], "count": 5}`)
		require.Equal(t, []string{ids[2], ids[7]}, pg.ids(), "ascending listId, whatever the order given")
		require.Equal(t, 2, pg.Total)
		both := search(t, map[string]any{"listIds": []string{ids[0], ids[1]}, "query": "partners"})
		require.Equal(t, []string{ids[1]}, both.ids())
		empty := search(t, map[string]any{"listIds": []string{}, "count": 1})
		require.Equal(t, 45, empty.Total, "an empty listIds filters nothing")
	})

	t.Run("ProcessingTypes", func(t *testing.T) {
		t.Parallel()
		manual := search(t, map[string]any{"processingTypes": []string{"MANUAL", "DYNAMIC"}})
		require.Equal(t, 45, manual.Total)
		for _, l := range manual.Lists {
			require.Equal(t, "MANUAL", l.ProcessingType)
		}
		dynamic := search(t, map[string]any{"processingTypes": []string{"DYNAMIC", "SNAPSHOT"}})
		require.Empty(t, dynamic.Lists, "crmflow's lists are all static (MANUAL)")
		require.Zero(t, dynamic.Total)
	})

	t.Run("ObjectTypeID", func(t *testing.T) {
		t.Parallel()
		var want []string
		for i, id := range ids {
			if i%9 == 8 {
				want = append(want, id)
			}
		}
		require.Equal(t, want, search(t, map[string]any{"objectTypeId": "0-2"}).ids())
		require.Equal(t, want, search(t, map[string]any{"objectTypeId": "companies"}).ids())
		require.Empty(t, search(t, map[string]any{"objectTypeId": "0-3"}).Lists)
	})

	t.Run("ListSize", func(t *testing.T) {
		t.Parallel()
		pg := search(t, map[string]any{"listIds": []string{ids[3], ids[4]}, "additionalProperties": []string{"hs_list_size", "hs_folder_name"}})
		require.Equal(t, map[string]string{"hs_list_size": "1"}, pg.Lists[0].AdditionalProperties)
		require.Equal(t, map[string]string{"hs_list_size": "0"}, pg.Lists[1].AdditionalProperties)
	})

	// The bodies HubSpot's official clients send: the Node client's ListSearchRequest as a
	// caller fills it, and the Python client's, which always sends offset and
	// additionalProperties. The answer is the shape ListSearchResponse reads.
	t.Run("HubSpotClientShapes", func(t *testing.T) {
		t.Parallel()
		r := b.call(t, "POST", "/crm/v3/lists/search", tokRead,
			`{"listIds":["`+ids[3]+`"],"offset":0,"query":"good","count":2,"processingTypes":["MANUAL"],"additionalProperties":["hs_list_size"]}`)
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		l, err := b.store.List(b.ctx, b.tenantA, crm.ListID(ids[3]))
		require.NoError(t, err)
		require.JSONEq(t, fmt.Sprintf(`{"offset": 1, "hasMore": false, "total": 1, "lists": [{"listId": %q, "name": "Good news 3",
			"objectType": "contacts", "objectTypeId": "0-1", "processingType": "MANUAL", "processingStatus": "COMPLETE",
			"listVersion": 1, "size": 1, "createdAt": %q, "additionalProperties": {"hs_list_size": "1"}}]}`,
			ids[3], crm.FormatDatetime(l.CreatedAt)), string(r.body))
		py := search(t, `{"offset": 20, "query": "", "count": 20, "additionalProperties": []}`)
		require.Equal(t, ids[20:40], py.ids())
	})
}

// TestListSearchFullTenant pages through a tenant holding the most lists it may have, 500 (the
// largest count) at a time.
func TestListSearchFullTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []string
	for i := range crm.MaxLists {
		l, err := b.store.CreateList(b.ctx, b.tenantA, "List "+strconv.Itoa(i), crm.Contacts)
		require.NoError(t, err)
		ids = append(ids, string(l.ID))
	}
	var got []string
	for offset := 0; ; {
		pg := expect[listSearch](t, b.call(t, "POST", "/crm/v3/lists/search", tokRead, map[string]any{"offset": offset, "count": 500}), http.StatusOK)
		require.Equal(t, crm.MaxLists, pg.Total)
		require.LessOrEqual(t, len(pg.Lists), 500)
		got = append(got, pg.ids()...)
		if !pg.HasMore {
			break
		}
		offset = pg.Offset
	}
	require.Equal(t, ids, got)
}

// TestListSearchBadInput: each bad field is a 400 naming it and saying what to send.
func TestListSearchBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, name := range []string{"One", "Two", "Three"} {
		_, err := b.store.CreateList(b.ctx, b.tenantA, name, crm.Contacts)
		require.NoError(t, err)
	}
	for _, tc := range []struct {
		name, body, in, says string
	}{
		{"CountZero", `{"count": 0}`, "count", "1 to 500"},
		{"CountNegative", `{"count": -5}`, "count", "1 to 500"},
		{"CountAboveMax", `{"count": 501}`, "count", "1 to 500"},
		{"CountHuge", `{"count": 99999999999999999999}`, "count", "too far from zero"},
		{"CountHugeAndLong", `{"count": ` + strings.Repeat("9", 5000) + `}`, "count", "99999999…"},
		{"CountString", `{"count": "20"}`, "count", "not a string: write it without quotes"},
		{"CountFraction", `{"count": 2.5}`, "count", "whole number, not 2.5"},
		{"CountBool", `{"count": true}`, "count", "not true or false"},
		{"OffsetNegative", `{"offset": -1}`, "offset", "0 for the first page"},
		{"OffsetText", `{"offset": "abc"}`, "offset", "not a string"},
		{"SortLong", `{"sort": "` + strings.Repeat("s", 5000) + `"}`, "sort", `ssss"…`},
		{"UnknownProcessingType", `{"processingTypes": ["MANUAL", "STATIC"]}`, "processingTypes[1]", "MANUAL, DYNAMIC or SNAPSHOT"},
		{"ProcessingTypesNotArray", `{"processingTypes": "MANUAL"}`, "processingTypes", "array"},
		{"QueryNotString", `{"query": 5}`, "query", "string"},
		{"ListIDsNotArray", `{"listIds": {"id": "1"}}`, "listIds", "array"},
		{"Sort", `{"sort": "name"}`, "sort", "leave sort out"},
		{"UnknownField", `{"limit": 10}`, "limit", "remove it"},
		{"NotAnObject", `[]`, "body", "object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := expectError(t, b.call(t, "POST", "/crm/v3/lists/search", tokRead, tc.body), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{tc.in}, e.in(), "body: %s", tc.body)
			require.Contains(t, e.Message, tc.says)
		})
	}

	t.Run("NeedsRead", func(t *testing.T) {
		t.Parallel()
		expectError(t, b.call(t, "POST", "/crm/v3/lists/search", tokNone, `{}`), http.StatusForbidden, "MISSING_SCOPES")
	})
}
