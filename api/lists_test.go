package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
)

type list struct {
	ListID         string `json:"listId"`
	Name           string `json:"name"`
	ObjectType     string `json:"objectType"`
	ObjectTypeID   string `json:"objectTypeId"`
	ProcessingType string `json:"processingType"`
	Size           int64  `json:"size"`
	CreatedAt      string `json:"createdAt"`
}

type listResponse struct {
	List list `json:"list"`
}

type listsResponse struct {
	Lists []list `json:"lists"`
}

// membershipsUpdate is HubSpot's MembershipsUpdateResponse (recordsIdsAdded is its spelling), with
// crmflow's counts.
type membershipsUpdate struct {
	RecordIDsAdded   []string `json:"recordsIdsAdded"`
	RecordIDsRemoved []string `json:"recordIdsRemoved"`
	RecordIDsMissing []string `json:"recordIdsMissing"`
	NumAdded         *int     `json:"numAdded"`
	NumRemoved       *int     `json:"numRemoved"`
}

type member struct {
	RecordID string `json:"recordId"`
}

func TestLists(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var contacts []string
	for range 12 {
		contacts = append(contacts, string(b.contact(t, map[string]string{"firstname": "M"})))
	}

	created := expect[listResponse](t, b.call(t, "POST", "/crm/v3/lists", tokWrite,
		map[string]any{"name": "Newsletter", "objectType": "contacts"}), http.StatusOK).List
	require.Equal(t, "Newsletter", created.Name)
	require.Equal(t, "contacts", created.ObjectType)
	require.Equal(t, "MANUAL", created.ProcessingType)
	require.Zero(t, created.Size)
	id := created.ListID

	added := expect[membershipsUpdate](t, b.call(t, "PUT", "/crm/v3/lists/"+id+"/memberships/add", tokWrite,
		append(contacts, "777777")), http.StatusOK)
	require.Equal(t, 12, *added.NumAdded)
	require.Equal(t, contacts, added.RecordIDsAdded)
	require.Equal(t, []string{"777777"}, added.RecordIDsMissing)

	got := expect[listResponse](t, b.call(t, "GET", "/crm/v3/lists/"+id, tokRead, nil), http.StatusOK).List
	require.EqualValues(t, 12, got.Size)

	var members []string
	path := "/crm/v3/lists/" + id + "/memberships?limit=5"
	for {
		pg := expect[page[member]](t, b.call(t, "GET", path, tokRead, nil), http.StatusOK)
		for _, m := range pg.Results {
			members = append(members, m.RecordID)
		}
		if pg.Paging == nil {
			break
		}
		path = "/crm/v3/lists/" + id + "/memberships?limit=5&after=" + pg.Paging.Next.After
	}
	require.Equal(t, contacts, members)

	removed := expect[membershipsUpdate](t, b.call(t, "PUT", "/crm/v3/lists/"+id+"/memberships/remove", tokWrite,
		`["`+contacts[0]+`", `+contacts[1]+`]`), http.StatusOK)
	require.Equal(t, 2, *removed.NumRemoved)
	require.Equal(t, contacts[:2], removed.RecordIDsRemoved)

	all := expect[listsResponse](t, b.call(t, "GET", "/crm/v3/lists", tokRead, nil), http.StatusOK)
	require.Len(t, all.Lists, 1)
	require.EqualValues(t, 10, all.Lists[0].Size)

	// Deleting the list never deletes its members (SPEC S15).
	r := b.call(t, "DELETE", "/crm/v3/lists/"+id, tokWrite, nil)
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", string(r.body))
	expectError(t, b.call(t, "GET", "/crm/v3/lists/"+id, tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	recs, err := b.store.Records(b.ctx, b.tenantA, crm.Contacts, toRecordIDs(contacts), nil)
	require.NoError(t, err)
	require.Len(t, recs, 12)

	t.Run("BadObjectType", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", "/crm/v3/lists", tokWrite, map[string]any{"name": "X", "objectType": "deals"}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"objectType"}, e.in())
	})

	t.Run("MissingName", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", "/crm/v3/lists", tokWrite, map[string]any{"objectType": "0-2"}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"name"}, e.in())
	})

	t.Run("MembersMustBeAnArray", func(t *testing.T) {
		t.Parallel()
		expectError(t, b.call(t, "PUT", "/crm/v3/lists/1/memberships/add", tokWrite, map[string]any{"ids": []string{"1"}}),
			http.StatusBadRequest, "VALIDATION_ERROR")
	})

	t.Run("MemberNotAnID", func(t *testing.T) {
		t.Parallel()
		// Each entry is named by its place, with what it is and what to send instead.
		for body, want := range map[string]string{
			`["1", true]`:       `[1] is true`,
			`[1, 2, null]`:      `[2] is null`,
			`[{"id": "1"}]`:     `[0] is an object`,
			`["1", ["2", "3"]]`: `[1] is an array`,
		} {
			e := expectError(t, b.call(t, "PUT", "/crm/v3/lists/1/memberships/remove", tokWrite, body),
				http.StatusBadRequest, "VALIDATION_ERROR")
			require.Contains(t, e.Message, want, body)
			require.Contains(t, e.Message, `such as "123"`, body)
		}
	})

	t.Run("MissingList", func(t *testing.T) {
		t.Parallel()
		for _, req := range []struct{ method, path string }{
			{"GET", "/crm/v3/lists/999"},
			{"GET", "/crm/v3/lists/abc"},
			{"DELETE", "/crm/v3/lists/999"},
			{"GET", "/crm/v3/lists/999/memberships"},
			{"PUT", "/crm/v3/lists/999/memberships/add"},
			{"PUT", "/crm/v3/lists/999/memberships/remove"},
		} {
			e := expectError(t, b.call(t, req.method, req.path, tokWrite, []string{contacts[0]}), http.StatusNotFound, "OBJECT_NOT_FOUND")
			require.Contains(t, e.Message, "list", "%s %s", req.method, req.path)
		}
	})
}

func toRecordIDs(ids []string) []crm.RecordID {
	out := make([]crm.RecordID, len(ids))
	for i, id := range ids {
		out[i] = crm.RecordID(id)
	}
	return out
}

// TestListsHubSpotShapes pins the requests and answers of HubSpot's lists v3 API as its official
// clients send and parse them: the create on /crm/v3/lists/ with objectTypeId and processingType
// answered 200 (a client throws on any other status), PublicObjectList's required fields, the
// listIds filter, and MembershipsUpdateResponse's three arrays.
func TestListsHubSpotShapes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c1 := string(b.contact(t, map[string]string{"firstname": "One"}))
	c2 := string(b.contact(t, map[string]string{"firstname": "Two"}))

	r := b.call(t, "POST", "/crm/v3/lists/", tokWrite, map[string]any{"name": "Clients", "objectTypeId": "0-1", "processingType": "MANUAL"})
	require.Equal(t, http.StatusOK, r.status, "body: %s", string(r.body))
	require.JSONEq(t, `{"list": {"listId": "`+decode[listResponse](t, r).List.ListID+`", "name": "Clients", "objectType": "contacts",
		"objectTypeId": "0-1", "processingType": "MANUAL", "processingStatus": "COMPLETE", "listVersion": 1, "size": 0,
		"createdAt": "`+decode[listResponse](t, r).List.CreatedAt+`"}}`, string(r.body))
	id := decode[listResponse](t, r).List.ListID
	other := expect[listResponse](t, b.call(t, "POST", "/crm/v3/lists", tokWrite, map[string]any{"name": "Firms", "objectTypeId": "0-2"}),
		http.StatusOK).List
	require.Equal(t, []any{"companies", "0-2"}, []any{other.ObjectType, other.ObjectTypeID})

	t.Run("ListIDs", func(t *testing.T) {
		t.Parallel()
		got := expect[listsResponse](t, b.call(t, "GET", "/crm/v3/lists/?listIds="+other.ListID+"&listIds=999999", tokRead, nil), http.StatusOK)
		require.Len(t, got.Lists, 1)
		require.Equal(t, other.ListID, got.Lists[0].ListID)
		all := expect[listsResponse](t, b.call(t, "GET", "/crm/v3/lists/", tokRead, nil), http.StatusOK)
		require.Len(t, all.Lists, 2)
	})

	t.Run("Memberships", func(t *testing.T) {
		t.Parallel()
		r := b.call(t, "PUT", "/crm/v3/lists/"+id+"/memberships/add", tokWrite, []string{c1, "888888"})
		require.Equal(t, http.StatusOK, r.status, "body: %s", string(r.body))
		require.JSONEq(t, `{"recordsIdsAdded": ["`+c1+`"], "recordIdsRemoved": [], "recordIdsMissing": ["888888"], "numAdded": 1}`, string(r.body))
		// c1 is a member already: only c2 is added, and an id given twice counts once.
		r = b.call(t, "PUT", "/crm/v3/lists/"+id+"/memberships/add", tokWrite, []string{c1, c2, c2})
		require.JSONEq(t, `{"recordsIdsAdded": ["`+c2+`"], "recordIdsRemoved": [], "recordIdsMissing": [], "numAdded": 1}`, string(r.body))
		r = b.call(t, "PUT", "/crm/v3/lists/"+id+"/memberships/remove", tokWrite, []string{c2, "888888"})
		require.Equal(t, http.StatusOK, r.status, "body: %s", string(r.body))
		require.JSONEq(t, `{"recordsIdsAdded": [], "recordIdsRemoved": ["`+c2+`"], "recordIdsMissing": [], "numRemoved": 1}`, string(r.body))
		r = b.call(t, "GET", "/crm/v3/lists/records/0-1/"+c1+"/memberships", tokRead, nil)
		require.Equal(t, http.StatusOK, r.status, "body: %s", string(r.body))
		require.JSONEq(t, `{"results": [{"listId": "`+id+`", "listVersion": 1, "name": "Clients"}]}`, string(r.body))
	})

	t.Run("BeforeRefused", func(t *testing.T) {
		t.Parallel()
		// Paging backward is not supported: a first page would be taken for the one before.
		e := expectError(t, b.call(t, "GET", "/crm/v3/lists/"+id+"/memberships?before=Mg&limit=1", tokRead, nil),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"before"}, e.in())
	})

	t.Run("DynamicListRefused", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", "/crm/v3/lists/", tokWrite, map[string]any{"name": "Dyn", "objectTypeId": "0-1", "processingType": "DYNAMIC"}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"processingType"}, e.in())
	})

	t.Run("TypeWithoutListsNamesObjectTypeID", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", "/crm/v3/lists/", tokWrite, map[string]any{"name": "Deals", "objectTypeId": "0-3", "processingType": "MANUAL"}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"objectTypeId"}, e.in())
	})

	t.Run("ConflictingTypes", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", "/crm/v3/lists/", tokWrite, map[string]any{"name": "Two", "objectTypeId": "0-1", "objectType": "companies"}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"objectTypeId"}, e.in())
	})
}

func TestAssociations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := string(b.contact(t, map[string]string{"firstname": "Ada"}))
	co1 := string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "One"}))
	co2 := string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Two"}))

	for _, co := range []string{co2, co1, co1} { // the repeat is idempotent
		r := b.call(t, "PUT", "/crm/v4/objects/contacts/"+c+"/associations/default/companies/"+co, tokWrite, nil)
		require.Equal(t, http.StatusOK, r.status, "body: %s", string(r.body))
	}
	type assoc struct {
		ToObjectID string `json:"toObjectId"`
	}
	toIDs := func(pg page[assoc]) []string {
		out := []string{}
		for _, a := range pg.Results {
			out = append(out, a.ToObjectID)
		}
		return out
	}
	got := expect[page[assoc]](t, b.call(t, "GET", "/crm/v4/objects/contacts/"+c+"/associations/companies", tokRead, nil), http.StatusOK)
	require.Equal(t, []string{co1, co2}, toIDs(got))
	back := expect[page[assoc]](t, b.call(t, "GET", "/crm/v4/objects/companies/"+co1+"/associations/contacts", tokRead, nil), http.StatusOK)
	require.Equal(t, []string{c}, toIDs(back))
	none := expect[page[assoc]](t, b.call(t, "GET", "/crm/v4/objects/contacts/"+c+"/associations/deals", tokRead, nil), http.StatusOK)
	require.Empty(t, none.Results)

	r := b.call(t, "DELETE", "/crm/v4/objects/companies/"+co1+"/associations/default/contacts/"+c, tokWrite, nil)
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", string(r.body))
	r = b.call(t, "DELETE", "/crm/v4/objects/contacts/"+c+"/associations/companies/"+co2, tokWrite, nil)
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", string(r.body))
	got = expect[page[assoc]](t, b.call(t, "GET", "/crm/v4/objects/contacts/"+c+"/associations/companies", tokRead, nil), http.StatusOK)
	require.Empty(t, got.Results)

	t.Run("MissingSide", func(t *testing.T) {
		t.Parallel()
		before := b.snapshot(t, b.tenantA)
		for _, path := range []string{
			"/crm/v4/objects/contacts/" + c + "/associations/default/companies/888888",
			"/crm/v4/objects/contacts/888888/associations/default/companies/" + co1,
			"/crm/v4/objects/contacts/" + c + "/associations/default/unicorns/" + co1,
		} {
			expectError(t, b.call(t, "PUT", path, tokWrite, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		}
		expectError(t, b.call(t, "GET", "/crm/v4/objects/contacts/888888/associations/companies", tokRead, nil),
			http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	// A record in the bin keeps its links for its restore: removing one, from either side, is a
	// 404 like any other write to it, and the link comes back with the record.
	t.Run("RecordInTheBin", func(t *testing.T) {
		t.Parallel()
		rb := setup(t)
		binned := string(rb.contact(t, map[string]string{"firstname": "Binned"}))
		co := string(rb.create(t, rb.tenantA, crm.Companies, map[string]string{"name": "Stays"}))
		r := rb.call(t, "PUT", "/crm/v4/objects/contacts/"+binned+"/associations/default/companies/"+co, tokWrite, nil)
		require.Equal(t, http.StatusOK, r.status, "body: %s", string(r.body))
		r = rb.call(t, "DELETE", "/crm/v3/objects/contacts/"+binned, tokAll, nil)
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", string(r.body))

		before, raw := rb.snapshot(t, rb.tenantA), rb.dump(t, rb.tenantA)
		for _, path := range []string{
			"/crm/v4/objects/contacts/" + binned + "/associations/default/companies/" + co,
			"/crm/v4/objects/companies/" + co + "/associations/default/contacts/" + binned,
			"/crm/v4/objects/contacts/" + binned + "/associations/companies/" + co,
		} {
			e := expectError(t, rb.call(t, "DELETE", path, tokWrite, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
			require.Contains(t, e.Message, "contacts/"+binned, path)
		}
		require.Equal(t, before, rb.snapshot(t, rb.tenantA))
		require.Equal(t, raw, rb.dump(t, rb.tenantA))

		r = rb.call(t, "POST", "/crm/v3/objects/contacts/batch/restore", tokAll, map[string]any{"inputs": idInputs(binned)})
		require.Equal(t, http.StatusOK, r.status, "body: %s", string(r.body))
		got := expect[page[assoc]](t, rb.call(t, "GET", "/crm/v4/objects/contacts/"+binned+"/associations/companies", tokRead, nil), http.StatusOK)
		require.Equal(t, []string{co}, toIDs(got))
	})
}

// racingStore is a store on which another client changes a list's members just before each
// AddListMembers and RemoveListMembers: before an add it removes drop, before a remove it adds
// put. It keeps the ids its last add added and its last remove removed.
type racingStore struct {
	crm.Store
	tenant         crm.TenantID
	drop, put      crm.RecordID
	added, removed []crm.RecordID
}

func (s *racingStore) AddListMembers(ctx context.Context, t crm.TenantID, id crm.ListID, ids []crm.RecordID) ([]crm.RecordID, []crm.RecordID, error) {
	if _, err := s.Store.RemoveListMembers(ctx, s.tenant, id, []crm.RecordID{s.drop}); err != nil {
		return nil, nil, err
	}
	added, missing, err := s.Store.AddListMembers(ctx, t, id, ids)
	s.added = added
	return added, missing, err
}

func (s *racingStore) RemoveListMembers(ctx context.Context, t crm.TenantID, id crm.ListID, ids []crm.RecordID) ([]crm.RecordID, error) {
	if _, _, err := s.Store.AddListMembers(ctx, s.tenant, id, []crm.RecordID{s.put}); err != nil {
		return nil, err
	}
	removed, err := s.Store.RemoveListMembers(ctx, t, id, ids)
	s.removed = removed
	return removed, err
}

// TestMembershipsAnswerWhatTheStoreChanged: a member removed by another client just before an add
// is added by it and named in recordsIdsAdded; a record added by another client just before a
// remove is removed by it and named in recordIdsRemoved. The arrays are what the store answered,
// and the counts are their lengths.
func TestMembershipsAnswerWhatTheStoreChanged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, c, d := string(b.contact(t, nil)), string(b.contact(t, nil)), string(b.contact(t, nil))
	l, err := b.store.CreateList(b.ctx, b.tenantA, "Race", crm.Contacts)
	require.NoError(t, err)
	_, _, err = b.store.AddListMembers(b.ctx, b.tenantA, l.ID, []crm.RecordID{crm.RecordID(c)})
	require.NoError(t, err)
	st := &racingStore{Store: b.store, tenant: b.tenantA, drop: crm.RecordID(c), put: crm.RecordID(d)}
	srv, err := api.New(st, &api.Config{Clock: b.clock, Tasks: b.tasks})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	b.url, b.client = ts.URL, ts.Client()

	added := expect[membershipsUpdate](t, b.call(t, "PUT", "/crm/v3/lists/"+string(l.ID)+"/memberships/add", tokWrite,
		[]string{a, c, "888888"}), http.StatusOK)
	require.Equal(t, []crm.RecordID{crm.RecordID(a), crm.RecordID(c)}, st.added)
	require.Equal(t, []string{a, c}, added.RecordIDsAdded)
	require.Equal(t, []string{"888888"}, added.RecordIDsMissing)
	require.Equal(t, 2, *added.NumAdded)

	removed := expect[membershipsUpdate](t, b.call(t, "PUT", "/crm/v3/lists/"+string(l.ID)+"/memberships/remove", tokWrite,
		[]string{a, d}), http.StatusOK)
	require.Equal(t, []crm.RecordID{crm.RecordID(a), crm.RecordID(d)}, st.removed)
	require.Equal(t, []string{a, d}, removed.RecordIDsRemoved)
	require.Equal(t, 2, *removed.NumRemoved)
}

func TestListByName(t *testing.T) {
	t.Parallel()

	t.Run("FoundByEscapedNameIgnoringCase", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		name := "Spring leads / 2026 & 50% off?"
		made := expect[listResponse](t, b.call(t, "POST", "/crm/v3/lists/", tokWrite,
			map[string]any{"name": name, "objectTypeId": "0-1", "processingType": "MANUAL"}), http.StatusOK).List
		expect[listResponse](t, b.call(t, "POST", "/crm/v3/lists/", tokWrite,
			map[string]any{"name": name, "objectTypeId": "0-2", "processingType": "MANUAL"}), http.StatusOK)
		byID := b.call(t, "GET", "/crm/v3/lists/"+made.ListID, tokRead, nil)
		require.Equal(t, http.StatusOK, byID.status)
		for _, path := range []string{
			"/crm/v3/lists/object-type-id/0-1/name/" + url.PathEscape(name),
			"/crm/v3/lists/object-type-id/contacts/name/" + url.PathEscape(strings.ToUpper(name)) + "?includeFilters=true",
		} {
			r := b.call(t, "GET", path, tokRead, nil)
			require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
			require.JSONEq(t, string(byID.body), string(r.body), path)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		expect[listResponse](t, b.call(t, "POST", "/crm/v3/lists/", tokWrite,
			map[string]any{"name": "VIP customers", "objectTypeId": "0-1", "processingType": "MANUAL"}), http.StatusOK)
		for _, path := range []string{
			"/crm/v3/lists/object-type-id/0-2/name/VIP%20customers",    // another type
			"/crm/v3/lists/object-type-id/0-1/name/VIP",                // a part of the name
			"/crm/v3/lists/object-type-id/0-1/name/VIP%20customers%20", // a space more
			"/crm/v3/lists/object-type-id/boats/name/VIP%20customers",
		} {
			e := expectError(t, b.call(t, "GET", path, tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
			require.Contains(t, e.Message, "POST /crm/v3/lists/search", path)
		}
		// Another tenant's list is answered as a missing one.
		expectError(t, b.call(t, "GET", "/crm/v3/lists/object-type-id/0-1/name/VIP%20customers", tokBAll, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	})

	t.Run("SharedNameIsAConflict", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var ids []string
		for _, name := range []string{"Newsletter", "newsletter"} {
			ids = append(ids, expect[listResponse](t, b.call(t, "POST", "/crm/v3/lists/", tokWrite,
				map[string]any{"name": name, "objectTypeId": "0-1", "processingType": "MANUAL"}), http.StatusOK).List.ListID)
		}
		e := expectError(t, b.call(t, "GET", "/crm/v3/lists/object-type-id/0-1/name/NEWSLETTER", tokRead, nil), http.StatusConflict, "CONFLICT")
		require.Equal(t, "DUPLICATE_LIST_NAME", e.Errors[0].Code)
		require.Equal(t, map[string][]string{"listIds": ids}, e.Context)
		require.Contains(t, e.Message, "GET /crm/v3/lists/{listId}")
		r := b.call(t, "DELETE", "/crm/v3/lists/"+ids[0], tokWrite, nil)
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		got := expect[listResponse](t, b.call(t, "GET", "/crm/v3/lists/object-type-id/0-1/name/NEWSLETTER", tokRead, nil), http.StatusOK)
		require.Equal(t, ids[1], got.List.ListID)
	})
}
