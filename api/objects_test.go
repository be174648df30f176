package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
)

func TestObjectsCRUD(t *testing.T) {
	t.Parallel()
	b := setup(t)

	created := expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{
		"properties": map[string]any{"email": "Ada@Example.com", "firstname": "Ada", "num_notes": 3, "email_opt_out": true},
	}), http.StatusCreated)
	require.NotEmpty(t, created.ID)
	require.Equal(t, map[string]string{"email": "ada@example.com", "firstname": "Ada", "num_notes": "3", "email_opt_out": "true"},
		created.Properties)
	require.False(t, created.Archived)
	require.Equal(t, "2026-03-01T12:00:00.000Z", created.CreatedAt)
	require.Equal(t, created.CreatedAt, created.UpdatedAt)

	got := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+created.ID, tokRead, nil), http.StatusOK)
	require.Equal(t, created, got)

	only := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+created.ID+"?properties=email,num_notes", tokRead, nil), http.StatusOK)
	require.Equal(t, map[string]string{"email": "ada@example.com", "num_notes": "3"}, only.Properties)

	// The HubSpot id of contacts reaches the same records.
	byTypeID := expect[record](t, b.call(t, "GET", "/crm/v3/objects/0-1/"+created.ID, tokRead, nil), http.StatusOK)
	require.Equal(t, created.ID, byTypeID.ID)

	b.clock.Advance(time.Minute)
	updated := expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+created.ID, tokWrite, map[string]any{
		"properties": map[string]any{"lastname": "Lovelace", "firstname": nil, "num_notes": 4.5},
	}), http.StatusOK)
	require.Equal(t, map[string]string{"email": "ada@example.com", "lastname": "Lovelace", "num_notes": "4.5", "email_opt_out": "true"},
		updated.Properties)
	require.Equal(t, created.CreatedAt, updated.CreatedAt)
	require.Equal(t, "2026-03-01T12:01:00.000Z", updated.UpdatedAt)

	rec, err := b.store.Record(b.ctx, b.tenantA, crm.Contacts, crm.RecordID(created.ID), nil)
	require.NoError(t, err)
	require.Equal(t, "Lovelace", rec.Properties["lastname"])

	t.Run("MissingRecord", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/999999", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Contains(t, e.Message, "999999")
		expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/not-a-number", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		expectError(t, b.call(t, "PATCH", "/crm/v3/objects/contacts/999999", tokAll,
			map[string]any{"properties": map[string]any{"firstname": "X"}}), http.StatusNotFound, "OBJECT_NOT_FOUND")
	})

	t.Run("UnknownObjectType", func(t *testing.T) {
		t.Parallel()
		for _, req := range []struct{ method, path string }{
			{"GET", "/crm/v3/objects/unicorns"},
			{"GET", "/crm/v3/objects/unicorns/1"},
			{"POST", "/crm/v3/objects/unicorns"},
			{"GET", "/crm/v3/properties/unicorns"},
		} {
			e := expectError(t, b.call(t, req.method, req.path, tokAll, map[string]any{"properties": map[string]any{}}),
				http.StatusNotFound, "OBJECT_NOT_FOUND")
			require.Contains(t, e.Message, "unicorns", "%s %s", req.method, req.path)
		}
	})
}

func TestObjectsValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	company := b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Acme"})

	for _, tc := range []struct {
		name  string
		props map[string]any
		in    []string
		code  string
	}{
		{"UnknownProperty", map[string]any{"favourite_colour": "blue"}, []string{"favourite_colour"}, "PROPERTY_DOESNT_EXIST"},
		{"WrongNumber", map[string]any{"num_notes": "many"}, []string{"num_notes"}, "INVALID_NUMBER"},
		// Not finite: no search filter, sort or trigger can compare it with a number.
		{"NaNNumber", map[string]any{"num_notes": "NaN"}, []string{"num_notes"}, "INVALID_NUMBER"},
		{"InfiniteNumber", map[string]any{"num_notes": "-Inf"}, []string{"num_notes"}, "INVALID_NUMBER"},
		{"InfinityNumber", map[string]any{"num_notes": "infinity"}, []string{"num_notes"}, "INVALID_NUMBER"},
		// Go's literal forms are not numbers as a person types them: 1_000 is not stored as 1000.
		{"NumberWithSeparators", map[string]any{"num_notes": "1_000"}, []string{"num_notes"}, "INVALID_NUMBER"},
		{"HexadecimalNumber", map[string]any{"num_notes": "0x1p4"}, []string{"num_notes"}, "INVALID_NUMBER"},
		{"FractionWithSeparator", map[string]any{"num_notes": "1_0.5"}, []string{"num_notes"}, "INVALID_NUMBER"},
		{"WrongBool", map[string]any{"email_opt_out": "maybe"}, []string{"email_opt_out"}, "INVALID_BOOL"},
		// A NUL would end the value early in the search indexes: EQ "ann" would find "ann\x00x".
		{"NulInValue", map[string]any{"firstname": "ann\x00x"}, []string{"firstname"}, "INVALID_CHARACTER"},
		// Past the year 9999: not written back in the form a datetime is read in.
		{"DatetimePastYear9999", map[string]any{"last_activity_date": "99999999999999999"}, []string{"last_activity_date"}, "INVALID_DATETIME"},
		{"WrongOption", map[string]any{"lifecyclestage": "friend"}, []string{"lifecyclestage"}, "INVALID_OPTION"},
		{"WrongEmail", map[string]any{"email": "not an email"}, []string{"email"}, "INVALID_EMAIL"},
		{"ObjectValue", map[string]any{"firstname": map[string]any{"a": 1}}, []string{"firstname"}, "INVALID_PROPERTY_VALUE"},
		{"ArrayValue", map[string]any{"firstname": []string{"a"}}, []string{"firstname"}, "INVALID_PROPERTY_VALUE"},
		{"TwoProblems", map[string]any{"num_notes": "x", "nope": "y"}, []string{"nope", "num_notes"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := b.snapshot(t, b.tenantA)
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{"properties": tc.props}),
				http.StatusBadRequest, "VALIDATION_ERROR")
			require.ElementsMatch(t, tc.in, e.in())
			if tc.code != "" {
				require.Equal(t, tc.code, e.Errors[0].Code)
			}
			for _, name := range tc.in {
				require.Contains(t, e.Message, name)
			}
			require.Equal(t, before, b.snapshot(t, b.tenantA))
		})
	}

	t.Run("CreateWithID", func(t *testing.T) {
		t.Parallel()
		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
			map[string]any{"id": "42", "properties": map[string]any{"firstname": "Ada"}}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"id"}, e.in())
		require.Equal(t, "ID_NOT_ALLOWED", e.Errors[0].Code)
		require.Contains(t, e.Message, "cannot choose the new record's id")
		e = expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/create", tokAll, map[string]any{"inputs": []any{
			map[string]any{"properties": map[string]any{"firstname": "Ada"}},
			map[string]any{"id": 7, "properties": map[string]any{"firstname": "Bob"}}}}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"inputs[1].id"}, e.in())
		require.Contains(t, e.Message, "inputs[1].id is given")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	t.Run("PatchNamesProperty", func(t *testing.T) {
		t.Parallel()
		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "PATCH", "/crm/v3/objects/companies/"+string(company), tokAll,
			map[string]any{"properties": map[string]any{"numberofemployees": "lots"}}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"numberofemployees"}, e.in())
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})
}

func TestObjectsDuplicateEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	existing := b.contact(t, map[string]string{"email": "grace@example.com"})
	other := b.contact(t, map[string]string{"email": "linus@example.com"})

	for _, tc := range []struct {
		name string
		do   func() response
	}{
		{"Create", func() response {
			return b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
				map[string]any{"properties": map[string]any{"email": "GRACE@example.com"}})
		}},
		{"BatchCreate", func() response {
			return b.call(t, "POST", "/crm/v3/objects/contacts/batch/create", tokAll,
				map[string]any{"inputs": []any{
					map[string]any{"properties": map[string]any{"email": "new@example.com"}},
					map[string]any{"properties": map[string]any{"email": "grace@example.com"}},
				}})
		}},
		{"AdditionalEmail", func() response {
			return b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
				map[string]any{"properties": map[string]any{"email": "other@example.com", "additional_emails": "grace@example.com"}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := b.snapshot(t, b.tenantA)
			e := expectError(t, tc.do(), http.StatusConflict, "CONFLICT")
			require.Contains(t, e.Message, string(existing))
			require.Equal(t, []string{string(existing)}, e.Context["existingId"])
			require.Equal(t, "email", e.Errors[0].In)
			require.Equal(t, before, b.snapshot(t, b.tenantA))
		})
	}

	t.Run("UpdateToTakenEmail", func(t *testing.T) {
		t.Parallel()
		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+string(other), tokAll,
			map[string]any{"properties": map[string]any{"email": "grace@example.com"}}), http.StatusConflict, "CONFLICT")
		require.Equal(t, []string{string(existing)}, e.Context["existingId"])
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})
}

// TestBatchInputsShareAValue sends batches in which two inputs give the same email, or the same
// value of a unique property: only one record can hold it, so the batch is a 400 that names both
// inputs and the value, not a conflict with a record that the refused batch never created, and
// nothing changes.
func TestBatchInputsShareAValue(t *testing.T) {
	t.Parallel()
	b, s1, s2 := uniqueSetup(t)
	c1 := b.contact(t, map[string]string{"email": "ada@example.com"})
	c2 := b.contact(t, map[string]string{"email": "bob@example.com"})

	for _, tc := range []struct {
		name, path string
		inputs     []any
		code, want string
	}{
		{"CreateEmail", "/crm/v3/objects/contacts/batch/create", []any{
			map[string]any{"properties": map[string]any{"email": "new@example.com"}},
			map[string]any{"properties": map[string]any{"email": "NEW@example.com"}},
		}, "DUPLICATE_EMAIL", "new@example.com"},
		{"CreateAdditionalEmail", "/crm/v3/objects/contacts/batch/create", []any{
			map[string]any{"properties": map[string]any{"email": "one@example.com", "additional_emails": "new@example.com"}},
			map[string]any{"properties": map[string]any{"email": "new@example.com"}},
		}, "DUPLICATE_EMAIL", "new@example.com"},
		{"UpdateEmail", "/crm/v3/objects/contacts/batch/update", []any{
			map[string]any{"id": string(c1), "properties": map[string]any{"email": "new@example.com"}},
			map[string]any{"id": string(c2), "properties": map[string]any{"email": "new@example.com"}},
		}, "DUPLICATE_EMAIL", "new@example.com"},
		{"CreateUnique", "/crm/v3/objects/subscriptions/batch/create", []any{
			map[string]any{"properties": map[string]any{"sub_ref": "S-9"}},
			map[string]any{"properties": map[string]any{"sub_ref": "S-9"}},
		}, "DUPLICATE_VALUE", "S-9"},
		{"UpdateUniqueNumber", "/crm/v3/objects/subscriptions/batch/update", []any{
			map[string]any{"id": string(s1), "properties": map[string]any{"seat": "7"}},
			map[string]any{"id": string(s2), "properties": map[string]any{"seat": "7.0"}},
		}, "DUPLICATE_VALUE", "7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := b.snapshot(t, b.tenantA)
			e := expectError(t, b.call(t, "POST", tc.path, tokAll, map[string]any{"inputs": tc.inputs}),
				http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, tc.code, e.Errors[0].Code, "body: %s", e.Message)
			require.Contains(t, e.Message, "inputs[0]")
			require.Contains(t, e.Message, "inputs[1]")
			require.Contains(t, e.Message, tc.want)
			require.Equal(t, before, b.snapshot(t, b.tenantA))
		})
	}
}

// TestBatchUpdateSwapsValues swaps emails, and values of a unique property, between records in
// one batch update: the values end where the batch puts them, as if the updates ran one after
// another in the right order, and the indexes follow. A value kept by its record is still taken.
func TestBatchUpdateSwapsValues(t *testing.T) {
	t.Parallel()

	t.Run("Emails", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ada := string(b.contact(t, map[string]string{"email": "ada@example.com"}))
		bob := string(b.contact(t, map[string]string{"email": "bob@example.com", "additional_emails": "bob@home.example"}))
		cy := string(b.contact(t, map[string]string{"email": "cy@example.com"}))
		res := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/update", tokWrite, map[string]any{"inputs": []any{
			map[string]any{"id": ada, "properties": map[string]any{"email": "bob@example.com"}},
			map[string]any{"id": bob, "properties": map[string]any{"email": "cy@example.com", "additional_emails": "ada@example.com"}},
			map[string]any{"id": cy, "properties": map[string]any{"email": "bob@home.example"}},
		}}), http.StatusOK)
		require.Len(t, res.Results, 3)
		for email, id := range map[string]string{"bob@example.com": ada, "cy@example.com": bob, "ada@example.com": bob, "bob@home.example": cy} {
			got := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+email+"?idProperty=email", tokRead, nil), http.StatusOK)
			require.Equal(t, id, got.ID, email)
		}
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokWrite,
			map[string]any{"properties": map[string]any{"email": "ada@example.com"}}), http.StatusConflict, "CONFLICT")
		require.Equal(t, []string{bob}, e.Context["existingId"])

		// Taking the email of a record that keeps it is still a conflict, and changes nothing.
		before := b.snapshot(t, b.tenantA)
		e = expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/update", tokWrite, map[string]any{"inputs": []any{
			map[string]any{"id": ada, "properties": map[string]any{"email": "cy@example.com"}},
			map[string]any{"id": bob, "properties": map[string]any{"firstname": "Bob"}},
		}}), http.StatusConflict, "CONFLICT")
		require.Equal(t, []string{bob}, e.Context["existingId"])
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	t.Run("UniqueProperty", func(t *testing.T) {
		t.Parallel()
		b, s1, s2 := uniqueSetup(t)
		expect[batch](t, b.call(t, "POST", "/crm/v3/objects/subscriptions/batch/update", tokWrite, map[string]any{"inputs": []any{
			map[string]any{"id": string(s1), "properties": map[string]any{"sub_ref": "S-2", "seat": "2"}},
			map[string]any{"id": string(s2), "properties": map[string]any{"sub_ref": "S-1", "seat": nil}},
		}}), http.StatusOK)
		for ref, id := range map[string]crm.RecordID{"S-1": s2, "S-2": s1} {
			got := expect[record](t, b.call(t, "GET", "/crm/v3/objects/subscriptions/"+ref+"?idProperty=sub_ref", tokRead, nil), http.StatusOK)
			require.Equal(t, string(id), got.ID, ref)
		}
		got := expect[record](t, b.call(t, "GET", "/crm/v3/objects/subscriptions/2?idProperty=seat", tokRead, nil), http.StatusOK)
		require.Equal(t, string(s1), got.ID)
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/subscriptions", tokWrite,
			map[string]any{"properties": map[string]any{"sub_ref": "S-1"}}), http.StatusConflict, "CONFLICT")
		require.Equal(t, []string{string(s2)}, e.Context["existingId"])
	})
}

// TestUpdateWithoutChange sends updates that give every property the value it has, or clear one
// that is empty: the record is left as it is, updatedAt included, and no key of the tenant changes.
func TestUpdateWithoutChange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := string(b.contact(t, map[string]string{"email": "ada@example.com", "firstname": "Ada"}))
	b.clock.Advance(time.Minute)
	created := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+c, tokRead, nil), http.StatusOK)
	raw := b.dump(t, b.tenantA)
	for _, tc := range []struct {
		name, method, path string
		body               any
	}{
		{"SameValues", "PATCH", "/crm/v3/objects/contacts/" + c, map[string]any{"properties": map[string]any{"firstname": "Ada", "email": "ADA@example.com"}}},
		{"ClearEmpty", "PATCH", "/crm/v3/objects/contacts/" + c, map[string]any{"properties": map[string]any{"lastname": nil, "phone": ""}}},
		{"NoProperties", "PATCH", "/crm/v3/objects/contacts/" + c, map[string]any{"properties": map[string]any{}}},
		{"ByEmail", "PATCH", "/crm/v3/objects/contacts/ada@example.com?idProperty=email", map[string]any{"properties": map[string]any{"firstname": "Ada"}}},
		{"Batch", "POST", "/crm/v3/objects/contacts/batch/update", map[string]any{"inputs": []any{
			map[string]any{"id": c, "properties": map[string]any{"firstname": "Ada"}}}}},
	} {
		r := b.call(t, tc.method, tc.path, tokWrite, tc.body)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", tc.name, r.body)
		got := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+c, tokRead, nil), http.StatusOK)
		require.Equal(t, created, got, tc.name)
		require.Equal(t, raw, b.dump(t, b.tenantA), tc.name)
	}

	// A change still moves updatedAt.
	got := expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+c, tokWrite,
		map[string]any{"properties": map[string]any{"firstname": "Ada", "lastname": "Lovelace"}}), http.StatusOK)
	require.Equal(t, crm.FormatDatetime(b.clock.Now()), got.UpdatedAt)
	require.NotEqual(t, created.UpdatedAt, got.UpdatedAt)
}

func TestObjectsPaging(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var want []string
	for i := range 25 {
		want = append(want, string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": fmt.Sprintf("Co %d", i)})))
	}

	t.Run("AllPages", func(t *testing.T) {
		t.Parallel()
		var got []string
		var sizes []int
		path := "/crm/v3/objects/companies?limit=10&properties=name"
		for {
			pg := expect[page[record]](t, b.call(t, "GET", path, tokRead, nil), http.StatusOK)
			sizes = append(sizes, len(pg.Results))
			for _, r := range pg.Results {
				got = append(got, r.ID)
				require.Equal(t, []string{"name"}, keys(r.Properties))
			}
			if pg.Paging == nil {
				break
			}
			require.NotEmpty(t, pg.Paging.Next.After)
			require.Contains(t, pg.Paging.Next.Link, "after="+pg.Paging.Next.After)
			path = "/crm/v3/objects/companies?limit=10&properties=name&after=" + url.QueryEscape(pg.Paging.Next.After)
		}
		require.Equal(t, []int{10, 10, 5}, sizes)
		require.Equal(t, want, got)
	})

	t.Run("DefaultLimitIsTen", func(t *testing.T) {
		t.Parallel()
		pg := expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/companies", tokRead, nil), http.StatusOK)
		require.Len(t, pg.Results, 10)
		require.NotNil(t, pg.Paging)
	})

	t.Run("LastPageHasNoPaging", func(t *testing.T) {
		t.Parallel()
		r := b.call(t, "GET", "/crm/v3/objects/companies?limit=100", tokRead, nil)
		pg := expect[page[record]](t, r, http.StatusOK)
		require.Len(t, pg.Results, 25)
		require.NotContains(t, string(r.body), "paging")
	})

	t.Run("EmptyType", func(t *testing.T) {
		t.Parallel()
		r := b.call(t, "GET", "/crm/v3/objects/tickets", tokRead, nil)
		require.JSONEq(t, `{"results":[]}`, string(r.body))
	})

	for _, bad := range []string{"0", "101", "-1", "ten", "1.5"} {
		t.Run("BadLimit"+bad, func(t *testing.T) {
			t.Parallel()
			e := expectError(t, b.call(t, "GET", "/crm/v3/objects/companies?limit="+bad, tokRead, nil),
				http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{"limit"}, e.in())
		})
	}

	t.Run("BadCursor", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "GET", "/crm/v3/objects/companies?after=xyz", tokRead, nil),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"after"}, e.in())
	})

	t.Run("BadArchived", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "GET", "/crm/v3/objects/companies?archived=yes", tokRead, nil),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"archived"}, e.in())
	})
}

// TestObjectsPagingWhileChanging pins what docs/search.md says of GET's paging by id: records
// deleted between two pages are neither skipped nor repeated, and records created meanwhile come
// on the last page; the bin pages the same way.
func TestObjectsPagingWhileChanging(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []string
	for i := range 9 {
		ids = append(ids, string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": fmt.Sprintf("Co %d", i)})))
	}
	pageOf := func(query string) page[record] {
		return expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/companies?properties=name&"+query, tokRead, nil), http.StatusOK)
	}
	idsOf := func(pg page[record]) []string {
		var out []string
		for _, r := range pg.Results {
			out = append(out, r.ID)
		}
		return out
	}
	first := pageOf("limit=3")
	require.Equal(t, ids[0:3], idsOf(first))
	// The last record of the page (the cursor) and the first of the next are deleted.
	_, err := b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Companies, []crm.RecordID{crm.RecordID(ids[2]), crm.RecordID(ids[3])}, crm.Actor{User: userEmail})
	require.NoError(t, err)
	created := string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Co new"}))
	second := pageOf("limit=3&after=" + first.Paging.Next.After)
	require.Equal(t, ids[4:7], idsOf(second))
	third := pageOf("limit=3&after=" + second.Paging.Next.After)
	require.Equal(t, []string{ids[7], ids[8], created}, idsOf(third))
	require.Nil(t, third.Paging, "the last page has no paging.next")

	bin := pageOf("archived=true&limit=1")
	require.Equal(t, []string{ids[2]}, idsOf(bin))
	bin = pageOf("archived=true&limit=1&after=" + bin.Paging.Next.After)
	require.Equal(t, []string{ids[3]}, idsOf(bin))
	require.Nil(t, bin.Paging)
}

func TestObjectsArchivedReads(t *testing.T) {
	t.Parallel()
	b := setup(t)
	live := b.contact(t, map[string]string{"firstname": "Live"})
	gone := b.contact(t, map[string]string{"firstname": "Gone"})
	b.clock.Advance(time.Hour)
	res, err := b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Contacts, []crm.RecordID{gone},
		crm.Actor{User: userEmail, Via: crm.ViaWorkflow, Ref: "cleanup"})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{gone}, res.Archived)

	expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(gone), tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")

	rec := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(gone)+"?archived=true", tokRead, nil), http.StatusOK)
	require.True(t, rec.Archived)
	require.Equal(t, "Gone", rec.Properties["firstname"])
	require.Equal(t, "2026-03-01T13:00:00.000Z", rec.ArchivedAt)
	require.Equal(t, userEmail, rec.ArchivedBy)
	require.Equal(t, "workflow", rec.ArchivedVia)
	require.Equal(t, "cleanup", rec.ArchivedRef)

	expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(live)+"?archived=true", tokRead, nil),
		http.StatusNotFound, "OBJECT_NOT_FOUND")

	livePage := expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts", tokRead, nil), http.StatusOK)
	require.Equal(t, []string{string(live)}, ids(livePage.Results))
	for _, r := range livePage.Results {
		require.False(t, r.Archived)
		require.Empty(t, r.ArchivedAt)
	}
	binPage := expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts?archived=true", tokRead, nil), http.StatusOK)
	require.Equal(t, []string{string(gone)}, ids(binPage.Results))
	require.True(t, binPage.Results[0].Archived)

	// A live read does not carry the archived* fields at all.
	r := b.call(t, "GET", "/crm/v3/objects/contacts/"+string(live), tokRead, nil)
	require.NotContains(t, string(r.body), "archivedAt")
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func ids(recs []record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// bigName is a property value of n bytes.
func bigName(n int) string { return strings.Repeat("a", n) }

// TestNullClearsAProperty pins what docs/workflows.md says: in a create or update, a property
// given as JSON null is cleared, as "" clears it; a cleared property is no longer shown, reads as
// unset in triggers (isSet is false), and its email frees the address for another contact.
func TestNullClearsAProperty(t *testing.T) {
	t.Parallel()
	b := setup(t)
	created := expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokWrite, map[string]any{"properties": map[string]any{
		"email": "null@example.com", "firstname": "Ada", "lifecyclestage": "lead", "num_notes": 3, "jobtitle": "CTO"}}), http.StatusCreated)
	updated := expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+created.ID, tokWrite, map[string]any{"properties": map[string]any{
		"email": nil, "firstname": nil, "lifecyclestage": nil, "num_notes": nil, "jobtitle": ""}}), http.StatusOK)
	got := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+created.ID+
		"?properties=email,firstname,lifecyclestage,num_notes,jobtitle", tokRead, nil), http.StatusOK)
	for _, r := range []record{updated, got} {
		for _, name := range []string{"email", "firstname", "lifecyclestage", "num_notes", "jobtitle"} {
			require.Empty(t, r.Properties[name], "%s is cleared", name)
		}
	}
	recs, err := b.store.Records(b.ctx, b.tenantA, crm.Contacts, []crm.RecordID{crm.RecordID(created.ID)}, nil)
	require.NoError(t, err)
	schema, _ := crm.StandardSchema(crm.Contacts)
	prog, err := triggers.Compile(`!isSet("firstname") && !isSet("email") && lifecyclestage == "" && num_notes == 0`, schema)
	require.NoError(t, err)
	ok, err := prog.Match(recs[0], b.clock.Now())
	require.NoError(t, err)
	require.True(t, ok, "a cleared property reads as unset: %v", recs[0].Properties)
	// The address is free again.
	expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokWrite,
		map[string]any{"properties": map[string]any{"email": "null@example.com"}}), http.StatusCreated)
}
