package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// nameInputs is the body of a property batch read or archive of names.
func nameInputs(names ...string) map[string]any {
	in := make([]any, len(names))
	for i, n := range names {
		in[i] = map[string]any{"name": n}
	}
	return map[string]any{"inputs": in}
}

func TestPropertyBatchRead(t *testing.T) {
	t.Parallel()

	t.Run("ReadsEachAsTheSingleRead", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		got := expect[batchOf[fullProperty]](t, b.call(t, "POST", "/crm/v3/properties/contacts/batch/read", tokRead,
			nameInputs("size", "email")), http.StatusOK)
		require.Equal(t, "COMPLETE", got.Status)
		require.NotEmpty(t, got.StartedAt)
		require.NotEmpty(t, got.CompletedAt)
		require.Len(t, got.Results, 2)
		for i, name := range []string{"size", "email"} {
			require.Equal(t, expect[fullProperty](t, b.call(t, "GET", "/crm/v3/properties/contacts/"+name, tokRead, nil), http.StatusOK), got.Results[i])
		}
	})

	t.Run("Archived", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		b.archiveProperty(t, "size")
		got := expect[batchOf[archivedProperty]](t, b.call(t, "POST", "/crm/v3/properties/contacts/batch/read", tokRead,
			map[string]any{"archived": true, "inputs": []any{map[string]any{"name": "size"}}}), http.StatusOK)
		require.Len(t, got.Results, 1)
		require.Equal(t, expect[archivedProperty](t, b.call(t, "GET", "/crm/v3/properties/contacts/size?archived=true", tokRead, nil), http.StatusOK), got.Results[0])
		// Without archived, an archived property is named as such.
		e := expectError(t, b.call(t, "POST", "/crm/v3/properties/contacts/batch/read", tokRead, nameInputs("email", "size")), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"inputs[1].name"}, e.in())
		require.Contains(t, e.Message, `"archived": true`)
	})

	t.Run("BadInputs", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		many := make([]string, 101)
		for i := range many {
			many[i] = fmt.Sprintf("p%d", i)
		}
		for _, tc := range []struct {
			name string
			body any
			in   []string
			code string
		}{
			{"Unknown", nameInputs("email", "nope", "firstname", "nada"), []string{"inputs[1].name", "inputs[3].name"}, "UNKNOWN_PROPERTY"},
			{"Duplicate", nameInputs("email", "firstname", "email"), []string{"inputs[2].name"}, "DUPLICATE_NAME"},
			{"EmptyName", nameInputs("email", ""), []string{"inputs[1].name"}, "MISSING_NAME"},
			{"NoInputs", map[string]any{"inputs": []any{}}, []string{"inputs"}, "EMPTY_BATCH"},
			{"TooMany", nameInputs(many...), []string{"inputs"}, "TOO_MANY_INPUTS"},
			{"NameNotString", `{"inputs":[{"name":5}]}`, []string{"inputs.name"}, ""},
			{"InputsNotArray", `{"inputs":"email"}`, []string{"inputs"}, ""},
			{"ArchivedNotBool", `{"inputs":[{"name":"email"}],"archived":"yes"}`, []string{"archived"}, ""},
			{"UnknownField", `{"inputs":[{"name":"email"}],"limit":3}`, []string{"limit"}, "UNKNOWN_FIELD"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				e := expectError(t, b.call(t, "POST", "/crm/v3/properties/contacts/batch/read", tokRead, tc.body), http.StatusBadRequest, "VALIDATION_ERROR")
				require.Equal(t, tc.in, e.in(), "body: %+v", e)
				if tc.code != "" {
					require.Equal(t, tc.code, e.Errors[0].Code)
				}
			})
		}
	})
}

func TestPropertyBatchCreate(t *testing.T) {
	t.Parallel()

	t.Run("CreatesEachAsTheSingleCreate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		start := b.auditAfter(t)
		got := expect[batchOf[fullProperty]](t, b.call(t, "POST", "/crm/v3/properties/contacts/batch/create", tokAll, map[string]any{"inputs": []any{
			map[string]any{"name": "shirt", "label": "Shirt", "type": "enumeration", "fieldType": "select", "groupName": "contactinformation",
				"options": []any{map[string]any{"label": "Small", "value": "s", "displayOrder": 0, "hidden": false}}},
			map[string]any{"name": "score", "label": "Score", "type": "number", "description": "How good"},
		}}), http.StatusCreated)
		require.Equal(t, "COMPLETE", got.Status)
		require.Zero(t, got.NumErrors)
		require.Equal(t, []string{"shirt", "score"}, []string{got.Results[0].Name, got.Results[1].Name})
		for _, p := range got.Results {
			require.Equal(t, expect[fullProperty](t, b.call(t, "GET", "/crm/v3/properties/contacts/"+p.Name, tokRead, nil), http.StatusOK), p)
		}
		var audited []string
		for _, e := range b.schemaAudit(t, start, "action=property_create") {
			require.Equal(t, "all@a.example", e.By)
			audited = append(audited, e.Property)
		}
		require.Equal(t, []string{"shirt", "score"}, audited)
	})

	t.Run("RefusedWholeChangesNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		b.call(t, "DELETE", "/crm/v3/properties/contacts/size", tokAll, nil)
		good := map[string]any{"name": "hat", "label": "Hat", "type": "number"}
		before, dump := b.snapshot(t, b.tenantA), b.dump(t, b.tenantA)
		t.Run("Cases", func(t *testing.T) {
			refuseBatch(t, b, "/crm/v3/properties/contacts/batch/create", []batchRefusal{
				{"BadType", map[string]any{"inputs": []any{good, map[string]any{"name": "bad", "label": "Bad", "type": "colour"}}},
					400, "VALIDATION_ERROR", []string{"inputs[1].type"}, "INVALID_PROPERTY_TYPE"},
				{"BadName", map[string]any{"inputs": []any{good, map[string]any{"name": "Bad Name", "type": "string"}}},
					400, "VALIDATION_ERROR", []string{"inputs[1].name"}, "INVALID_PROPERTY_NAME"},
				{"Duplicate", map[string]any{"inputs": []any{good, map[string]any{"name": "hat", "label": "Hat 2", "type": "string"}}},
					400, "VALIDATION_ERROR", []string{"inputs[1].name"}, "DUPLICATE_NAME"},
				{"Taken", map[string]any{"inputs": []any{good, map[string]any{"name": "email", "label": "E", "type": "string"}}},
					409, "CONFLICT", []string{""}, "CONFLICT"},
				{"Archived", map[string]any{"inputs": []any{good, map[string]any{"name": "size", "label": "S", "type": "string"}}},
					409, "CONFLICT", []string{""}, "PROPERTY_ARCHIVED"},
				{"Refused", map[string]any{"inputs": []any{good, map[string]any{"name": "calc", "label": "C", "type": "number", "calculationFormula": "1"}}},
					400, "VALIDATION_ERROR", []string{"calculationFormula"}, "UNKNOWN_FIELD"},
				{"NoInputs", map[string]any{"inputs": []any{}}, 400, "VALIDATION_ERROR", []string{"inputs"}, "EMPTY_BATCH"},
				{"TooMany", map[string]any{"inputs": make([]any, 101)}, 400, "VALIDATION_ERROR", []string{"inputs"}, "TOO_MANY_INPUTS"},
				{"InputNotObject", `{"inputs":["hat"]}`, 400, "VALIDATION_ERROR", []string{"inputs"}, ""},
			})
		})
		e := expectError(t, b.call(t, "POST", "/crm/v3/properties/contacts/batch/create", tokWrite, map[string]any{"inputs": []any{good}}), 403, "MISSING_SCOPES")
		require.Contains(t, e.Message, "schema")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
		require.Equal(t, dump, b.dump(t, b.tenantA))
	})

	t.Run("AllOrNone", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		// Two enumerations whose definitions fit the type's 512 KiB one at a time, not together:
		// the store refuses the batch whole.
		big := func(name string) map[string]any {
			opts := make([]string, 4000)
			for i := range opts {
				opts[i] = fmt.Sprintf("%s_%04d_%s", name, i, strings.Repeat("x", 60))
			}
			return map[string]any{"name": name, "label": name, "type": "enumeration", "options": opts}
		}
		before, dump := b.snapshot(t, b.tenantA), b.dump(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", "/crm/v3/properties/contacts/batch/create", tokAll, map[string]any{"inputs": []any{big("first"), big("second")}}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, "SCHEMA_TOO_LARGE", e.Errors[0].Code)
		require.Contains(t, e.Message, "nothing was created")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
		require.Equal(t, dump, b.dump(t, b.tenantA))
		// One of them alone fits.
		got := expect[batchOf[fullProperty]](t, b.call(t, "POST", "/crm/v3/properties/contacts/batch/create", tokAll,
			map[string]any{"inputs": []any{big("first")}}), http.StatusCreated)
		require.Len(t, got.Results, 1)
		require.Len(t, got.Results[0].Options, 4000)
	})
}

func TestPropertyBatchArchive(t *testing.T) {
	t.Parallel()

	t.Run("ArchivesEachAsTheSingleArchive", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{"name": "hat", "label": "Hat", "type": "number"}), http.StatusCreated)
		expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{"name": "old", "label": "Old", "type": "number"}), http.StatusCreated)
		b.archiveProperty(t, "old")
		ada := string(b.contact(t, map[string]string{"firstname": "Ada", "size": "m", "hat": "7"}))
		start := b.auditAfter(t)
		r := b.call(t, "POST", "/crm/v3/properties/contacts/batch/archive", tokAll, nameInputs("size", "hat", "old"))
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		require.Empty(t, r.body)
		listed := expect[page[archivedProperty]](t, b.call(t, "GET", "/crm/v3/properties/contacts?archived=true", tokRead, nil), http.StatusOK).Results
		var names []string
		for _, p := range listed {
			require.True(t, p.Archived)
			require.Equal(t, "all@a.example", p.ArchivedBy)
			names = append(names, p.Name)
		}
		require.ElementsMatch(t, []string{"size", "hat", "old"}, names)
		var audited []string
		for _, e := range b.schemaAudit(t, start, "action=property_archive") {
			audited = append(audited, e.Property)
		}
		require.Equal(t, []string{"size", "hat"}, audited) // the one archived already writes no entry
		// The records keep their values, hidden until a restore.
		require.NotContains(t, expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+ada+"?properties=size,hat", tokRead, nil), http.StatusOK).Properties, "size")
		expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts/size/restore", tokAll, nil), http.StatusOK)
		require.Equal(t, "m", expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+ada+"?properties=size", tokRead, nil), http.StatusOK).Properties["size"])
	})

	t.Run("RefusedWholeChangesNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sizeProperty(t)
		expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{"name": "hat", "label": "Hat", "type": "number"}), http.StatusCreated)
		expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll,
			map[string]any{"name": "ref", "label": "Ref", "type": "string", "hasUniqueValue": true}), http.StatusCreated)
		b.protect(t, "larges", "contacts", `size == "l"`)
		before, dump := b.snapshot(t, b.tenantA), b.dump(t, b.tenantA)
		t.Run("Cases", func(t *testing.T) {
			refuseBatch(t, b, "/crm/v3/properties/contacts/batch/archive", []batchRefusal{
				{"InUse", nameInputs("hat", "size"), 409, "CONFLICT", nil, "PROPERTY_IN_USE"},
				{"Standard", nameInputs("hat", "email"), 409, "CONFLICT", nil, "PROPERTY_NOT_ARCHIVABLE"},
				{"Unique", nameInputs("hat", "ref"), 409, "CONFLICT", nil, "PROPERTY_NOT_ARCHIVABLE"},
				{"Unknown", nameInputs("hat", "nope", "nada"), 400, "VALIDATION_ERROR", []string{"inputs[1].name", "inputs[2].name"}, "UNKNOWN_PROPERTY"},
				{"Duplicate", nameInputs("hat", "hat"), 400, "VALIDATION_ERROR", []string{"inputs[1].name"}, "DUPLICATE_NAME"},
				{"EmptyName", nameInputs("hat", ""), 400, "VALIDATION_ERROR", []string{"inputs[1].name"}, "MISSING_NAME"},
				{"NoInputs", map[string]any{"inputs": []any{}}, 400, "VALIDATION_ERROR", []string{"inputs"}, "EMPTY_BATCH"},
				{"TooMany", nameInputs(strings.Split(strings.Repeat("x,", 100)+"x", ",")...), 400, "VALIDATION_ERROR", []string{"inputs"}, "TOO_MANY_INPUTS"},
				{"NameNotString", `{"inputs":[{"name":true}]}`, 400, "VALIDATION_ERROR", []string{"inputs.name"}, "INVALID_TYPE"},
			})
		})
		expectError(t, b.call(t, "POST", "/crm/v3/properties/contacts/batch/archive", tokWrite, nameInputs("hat")), 403, "MISSING_SCOPES")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
		require.Equal(t, dump, b.dump(t, b.tenantA))
	})
}

// batchRefusal is a batch request the API refuses: its answer's status, category, the fields it
// names (in; nil: not checked) and the first error's code ("": not checked).
type batchRefusal struct {
	name     string
	body     any
	status   int
	category string
	in       []string
	code     string
}

// refuseBatch posts each refusal's body to path as a user with every permission, as a parallel
// subtest, and checks the answer.
func refuseBatch(t *testing.T, b *testBundle, path string, cases []batchRefusal) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := expectError(t, b.call(t, "POST", path, tokAll, tc.body), tc.status, tc.category)
			if tc.in != nil {
				require.Equal(t, tc.in, e.in(), "body: %+v", e)
			}
			if tc.code != "" {
				require.Equal(t, tc.code, e.Errors[0].Code, "body: %+v", e)
			}
		})
	}
}
