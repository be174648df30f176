package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// archivedProperty is a property as the API shows it, with its archive.
type archivedProperty struct {
	fullProperty
	Archived   bool   `json:"archived"`
	ArchivedAt string `json:"archivedAt"`
	ArchivedBy string `json:"archivedBy"`
}

// archiveProperty archives the contacts property name of tenant A through the API, as the user
// of tokAll.
func (b *testBundle) archiveProperty(t *testing.T, name string) {
	t.Helper()
	r := b.call(t, "DELETE", "/crm/v3/properties/contacts/"+name, tokAll, nil)
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	require.Empty(t, r.body)
}

// sizeSearch is a search of contacts by their size, showing firstname and size.
func sizeSearch(value string) map[string]any {
	return map[string]any{"filterGroups": []any{map[string]any{"filters": []any{
		map[string]any{"propertyName": "size", "operator": "EQ", "value": value}}}}, "properties": []string{"firstname", "size"}}
}

func TestArchiveProperty(t *testing.T) {
	t.Parallel()

	t.Run("ValuesHiddenKeptAndRestored", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		ada := string(b.contact(t, map[string]string{"firstname": "Ada", "size": "m"}))
		bob := string(b.contact(t, map[string]string{"firstname": "Bob", "size": "l"}))
		cy := string(b.contact(t, map[string]string{"firstname": "Cy", "size": "l"}))
		r := b.call(t, "DELETE", "/crm/v3/objects/contacts/"+cy, tokAll, nil)
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		at := crm.FormatDatetime(b.clock.Now())
		b.archiveProperty(t, "size")

		// The definition: out of the list, listed with archived=true, with when and by whom.
		for _, p := range expect[page[archivedProperty]](t, b.call(t, "GET", "/crm/v3/properties/contacts", tokRead, nil), http.StatusOK).Results {
			require.NotEqual(t, "size", p.Name)
			require.False(t, p.Archived)
		}
		listed := expect[page[archivedProperty]](t, b.call(t, "GET", "/crm/v3/properties/contacts?archived=true", tokRead, nil), http.StatusOK).Results
		require.Len(t, listed, 1)
		got := listed[0]
		require.Equal(t, []any{"size", "Size", true, at, "all@a.example"}, []any{got.Name, got.Label, got.Archived, got.ArchivedAt, got.ArchivedBy})
		require.Equal(t, []string{"s", "m", "l"}, got.values())
		require.Equal(t, got, expect[archivedProperty](t, b.call(t, "GET", "/crm/v3/properties/contacts/size?archived=true", tokRead, nil), http.StatusOK))
		e := expectError(t, b.call(t, "GET", "/crm/v3/properties/contacts/size", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Contains(t, e.Message, "archived")
		require.Contains(t, e.Message, "POST /crm/v3/properties/contacts/size/restore")

		// Reads leave its values out, whether they name it or not...
		reads := []response{
			b.call(t, "GET", "/crm/v3/objects/contacts/"+ada, tokRead, nil),
			b.call(t, "GET", "/crm/v3/objects/contacts/"+ada+"?properties=size,firstname&propertiesWithHistory=size", tokRead, nil),
		}
		for _, r := range reads {
			rec := expect[record](t, r, http.StatusOK)
			require.NotContains(t, rec.Properties, "size")
			require.Equal(t, "Ada", rec.Properties["firstname"])
			require.NotContains(t, string(r.body), `"m"`)
		}
		for _, rec := range expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts?properties=size,firstname", tokRead, nil), http.StatusOK).Results {
			require.NotContains(t, rec.Properties, "size")
		}
		br := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/read", tokRead,
			map[string]any{"properties": []string{"size"}, "inputs": []any{map[string]any{"id": ada}, map[string]any{"id": bob}}}), http.StatusOK)
		require.Len(t, br.Results, 2)
		for _, rec := range br.Results {
			require.NotContains(t, rec.Properties, "size")
		}
		found := b.search(t, tokRead, map[string]any{"filterGroups": []any{map[string]any{"filters": []any{
			map[string]any{"propertyName": "firstname", "operator": "EQ", "value": "Ada"}}}}, "properties": []string{"firstname", "size"}})
		require.Equal(t, []string{ada}, resultIDs(found))
		require.NotContains(t, found.Results[0].Properties, "size")

		// ... which stay stored, untouched.
		require.Equal(t, "m", b.rdb.HGet(b.ctx, redisstore.RecordKey(b.tenantA, crm.Contacts, crm.RecordID(ada)), "size").Val())

		// Writes, searches and a new property of that name are refused, saying how to restore it.
		before, dump := b.snapshot(t, b.tenantA), b.dump(t, b.tenantA)
		for _, r := range []response{
			b.call(t, "PATCH", "/crm/v3/objects/contacts/"+ada, tokAll, map[string]any{"properties": map[string]any{"size": "s"}}),
			b.call(t, "PATCH", "/crm/v3/objects/contacts/"+ada, tokAll, map[string]any{"properties": map[string]any{"size": ""}}),
			b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{"properties": map[string]any{"firstname": "Cy", "size": "s"}}),
			b.call(t, "POST", "/crm/v3/objects/contacts/batch/update", tokAll, map[string]any{"inputs": []any{
				map[string]any{"id": bob, "properties": map[string]any{"size": "m"}}}}),
		} {
			e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, "PROPERTY_ARCHIVED", e.Errors[0].Code, e.Message)
			require.Equal(t, "size", e.Errors[0].In)
			require.Contains(t, e.Message, `property "size" of contacts is archived`)
			require.Contains(t, e.Message, "POST /crm/v3/properties/contacts/size/restore")
		}
		for in, body := range map[string]map[string]any{
			"filterGroups[0].filters[0].propertyName": sizeSearch("m"),
			"sorts[0].propertyName":                   {"sorts": []any{map[string]any{"propertyName": "size", "direction": "ASCENDING"}}},
		} {
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/search", tokRead, body), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{in}, e.in())
			require.Equal(t, "PROPERTY_ARCHIVED", e.Errors[0].Code)
			require.Contains(t, e.Message, "POST /crm/v3/properties/contacts/size/restore")
		}
		e = expectError(t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{"name": "size", "label": "Size", "type": "string"}),
			http.StatusConflict, "CONFLICT")
		require.Equal(t, "PROPERTY_ARCHIVED", e.Errors[0].Code)
		require.Contains(t, e.Message, "POST /crm/v3/properties/contacts/size/restore")
		e = expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/size", tokAll, map[string]any{"label": "Shirt"}), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Contains(t, e.Message, "POST /crm/v3/properties/contacts/size/restore")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
		require.Equal(t, dump, b.dump(t, b.tenantA))

		// Archiving it again changes nothing.
		b.clock.Advance(time.Hour)
		b.archiveProperty(t, "size")
		require.Equal(t, dump, b.dump(t, b.tenantA))

		// Records move meanwhile: Ada and Bob to the bin, Bob and Cy (deleted before the archive)
		// back. The search indexes follow them.
		r = b.call(t, "POST", "/crm/v3/objects/contacts/batch/archive", tokAll, map[string]any{"inputs": []any{map[string]any{"id": ada}, map[string]any{"id": bob}}})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		require.NotContains(t, b.archived(t, crm.Contacts, ada).Properties, "size")
		expect[batch](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/restore", tokAll, map[string]any{"inputs": []any{map[string]any{"id": bob}, map[string]any{"id": cy}}}), http.StatusOK)
		for _, id := range []string{bob, cy} {
			require.NotContains(t, expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+id, tokRead, nil), http.StatusOK).Properties, "size")
		}

		// Restored: the property as it was, its values back unchanged, its search exact.
		back := expect[archivedProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts/size/restore", tokAll, nil), http.StatusOK)
		require.False(t, back.Archived)
		require.Empty(t, back.ArchivedAt)
		require.Equal(t, got.fullProperty, back.fullProperty)
		require.Equal(t, back, expect[archivedProperty](t, b.call(t, "GET", "/crm/v3/properties/contacts/size", tokRead, nil), http.StatusOK))
		require.Empty(t, expect[page[archivedProperty]](t, b.call(t, "GET", "/crm/v3/properties/contacts?archived=true", tokRead, nil), http.StatusOK).Results)
		require.Equal(t, "l", expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+bob, tokRead, nil), http.StatusOK).Properties["size"])
		require.Equal(t, "m", b.archived(t, crm.Contacts, ada).Properties["size"])
		require.Equal(t, "l", expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+cy, tokRead, nil), http.StatusOK).Properties["size"])
		require.Equal(t, []string{bob, cy}, resultIDs(b.search(t, tokRead, sizeSearch("l"))))
		require.Empty(t, b.search(t, tokRead, sizeSearch("m")).Results, "Ada is in the bin")
		expect[batch](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/restore", tokAll, map[string]any{"inputs": []any{map[string]any{"id": ada}}}), http.StatusOK)
		found = b.search(t, tokRead, sizeSearch("m"))
		require.Equal(t, []string{ada}, resultIDs(found))
		require.Equal(t, "m", found.Results[0].Properties["size"])
		expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+ada, tokAll, map[string]any{"properties": map[string]any{"size": "s"}}), http.StatusOK)

		// A restore of a property that is not archived answers it as it is.
		require.Equal(t, back, expect[archivedProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts/size/restore", tokAll, nil), http.StatusOK))
	})

	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{
			"name": "ref", "label": "Ref", "type": "string", "hasUniqueValue": true}), http.StatusCreated)
		b.contact(t, map[string]string{"size": "m", "ref": "R-1"})
		before, dump := b.snapshot(t, b.tenantA), b.dump(t, b.tenantA)
		for _, c := range []struct {
			name, method, path, who string
			status                  int
			category, code, says    string
		}{
			{"Standard", "DELETE", "email", tokAll, http.StatusConflict, "CONFLICT", "PROPERTY_NOT_ARCHIVABLE", "comes with crmflow"},
			{"StandardEnumeration", "DELETE", "lifecyclestage", tokAll, http.StatusConflict, "CONFLICT", "PROPERTY_NOT_ARCHIVABLE", "comes with crmflow"},
			{"Unique", "DELETE", "ref", tokAll, http.StatusConflict, "CONFLICT", "PROPERTY_NOT_ARCHIVABLE", "unique values"},
			{"Unknown", "DELETE", "no_such", tokAll, http.StatusNotFound, "OBJECT_NOT_FOUND", "OBJECT_NOT_FOUND", "GET /crm/v3/properties/contacts lists"},
			{"RestoreUnknown", "POST", "no_such/restore", tokAll, http.StatusNotFound, "OBJECT_NOT_FOUND", "OBJECT_NOT_FOUND", "GET /crm/v3/properties/contacts lists"},
			{"WithoutSchema", "DELETE", "size", tokWrite, http.StatusForbidden, "MISSING_SCOPES", "MISSING_SCOPES", "schema"},
			{"RestoreWithoutSchema", "POST", "size/restore", tokWrite, http.StatusForbidden, "MISSING_SCOPES", "MISSING_SCOPES", "schema"},
			{"OtherTenant", "DELETE", "size", tokBAll, http.StatusNotFound, "OBJECT_NOT_FOUND", "OBJECT_NOT_FOUND", "size"},
		} {
			e := expectError(t, b.call(t, c.method, "/crm/v3/properties/contacts/"+c.path, c.who, nil), c.status, c.category)
			require.Equal(t, c.code, e.Errors[0].Code, "%s: %s", c.name, e.Message)
			require.Contains(t, e.Message, c.says, c.name)
		}
		expectError(t, b.call(t, "DELETE", "/crm/v3/properties/boats/size", tokAll, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
		require.Equal(t, dump, b.dump(t, b.tenantA))
	})

	t.Run("InUse", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		b.contact(t, map[string]string{"firstname": "Sam", "size": "s"})
		auth := "Bearer " + b.tokens[tokAll]
		for name, src := range map[string]string{
			"medium": "name: medium\nobject_type: contacts\ntrigger: size == \"m\"\nactions:\n  - type: delete_contact\n",
			"sizer":  "name: sizer\nobject_type: contacts\ntrigger: firstname == \"Lou\"\nactions:\n  - type: set_property\n    property: size\n    value: l\n",
		} {
			expect[flow](t, b.put(t, auth, name, src), http.StatusCreated)
			expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/"+name+"/activate", auth, nil), http.StatusOK)
		}
		b.protect(t, "larges", "contacts", `size == "l"`)
		job := b.selecting(t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll,
			map[string]any{"filter": `size == "s"`, "confirmCount": 1}), 1)
		before, dump := b.snapshot(t, b.tenantA), b.dump(t, b.tenantA)

		e := expectError(t, b.call(t, "DELETE", "/crm/v3/properties/contacts/size", tokAll, nil), http.StatusConflict, "CONFLICT")
		require.Equal(t, "PROPERTY_IN_USE", e.Errors[0].Code)
		require.ElementsMatch(t, []string{"medium", "sizer"}, e.Context["workflows"])
		require.Equal(t, []string{"larges"}, e.Context["protectionRules"])
		require.Equal(t, []string{job.ID}, e.Context["jobs"])
		require.Contains(t, e.Message, `cannot archive contacts property "size"`)
		require.Contains(t, e.Message, `active workflow "medium"`)
		require.Contains(t, e.Message, "bulk delete job "+job.ID+", still selecting by filter")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
		require.Equal(t, dump, b.dump(t, b.tenantA))

		// Once none of them needs it, it is archived.
		for _, name := range []string{"medium", "sizer"} {
			expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/"+name+"/pause", auth, nil), http.StatusOK)
		}
		r := b.call(t, "DELETE", "/crm/v3/protection/larges", tokAll, nil)
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		e = expectError(t, b.call(t, "DELETE", "/crm/v3/properties/contacts/size", tokAll, nil), http.StatusConflict, "CONFLICT")
		require.Equal(t, map[string][]string{"property": {"size"}, "jobs": {job.ID}}, e.Context)
		require.Equal(t, "COMPLETE", b.work(t, job.ID).Status)
		b.archiveProperty(t, "size")

		// A paused workflow that needs it is validated again when activated.
		e = expectError(t, b.raw(t, "POST", "/automation/v4/flows/medium/activate", auth, nil), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "size")
	})

	t.Run("TenantIsolation", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokBAll, map[string]any{
			"name": "size", "label": "Size", "type": "enumeration", "options": []any{"s", "m", "l"}}), http.StatusCreated)
		b.contact(t, map[string]string{"size": "m"})
		theirs := string(b.create(t, b.tenantB, crm.Contacts, map[string]string{"size": "m"}))
		b.archiveProperty(t, "size")

		// Tenant B's property of the same name is as it was: listed, read, written and searched.
		props := expect[page[archivedProperty]](t, b.call(t, "GET", "/crm/v3/properties/contacts", tokBAll, nil), http.StatusOK).Results
		names := make([]string, len(props))
		for i, p := range props {
			names[i] = p.Name
		}
		require.Contains(t, names, "size")
		require.Empty(t, expect[page[archivedProperty]](t, b.call(t, "GET", "/crm/v3/properties/contacts?archived=true", tokBAll, nil), http.StatusOK).Results)
		require.Equal(t, "m", expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+theirs, tokBAll, nil), http.StatusOK).Properties["size"])
		expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+theirs, tokBAll, map[string]any{"properties": map[string]any{"size": "l"}}), http.StatusOK)
		require.Equal(t, []string{theirs}, resultIDs(expect[searchPage](t, b.call(t, "POST", "/crm/v3/objects/contacts/search", tokBAll, sizeSearch("l")), http.StatusOK)))

		// Tenant B cannot read or restore tenant A's archive: its restore answers its own property.
		expectError(t, b.call(t, "GET", "/crm/v3/properties/contacts/size?archived=true", tokBAll, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.False(t, expect[archivedProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts/size/restore", tokBAll, nil), http.StatusOK).Archived)
		require.Len(t, expect[page[archivedProperty]](t, b.call(t, "GET", "/crm/v3/properties/contacts?archived=true", tokRead, nil), http.StatusOK).Results, 1)
	})
}
