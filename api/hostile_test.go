package api_test

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// No property value may be longer than crm.MaxValueBytes, whoever writes it: a create, a PATCH, a
// batch or an upsert with a longer one is a 400 VALUE_TOO_LONG naming the property and the limit,
// and nothing changes. Without the limit, a client could fill records with values of a whole body
// each, and a page of them (100 records, 200 in a search) would be a response of that many
// megabytes, held in the API's memory beside every other tenant's requests (SPEC S27).
func TestPropertyValueLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	long := strings.Repeat("x", crm.MaxValueBytes+1)
	most := strings.Repeat("y", crm.MaxValueBytes)

	kept := expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
		map[string]any{"properties": map[string]string{"email": "kept@a.example", "firstname": most}}), http.StatusCreated)
	require.Equal(t, most, kept.Properties["firstname"])

	tooLong := func(t *testing.T, r response, in string) {
		t.Helper()
		e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
		require.Len(t, e.Errors, 1, "body: %s", r.body)
		require.Equal(t, "VALUE_TOO_LONG", e.Errors[0].Code)
		require.Equal(t, in, e.Errors[0].In)
		require.Contains(t, e.Message, fmt.Sprintf("property %q: the value is %d bytes long, over the limit of %d bytes", in, len(long), crm.MaxValueBytes))
		require.Less(t, len(r.body), 2048, "the answer does not echo the value")
	}
	tooLong(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
		map[string]any{"properties": map[string]string{"email": "new@a.example", "lastname": long}}), "lastname")
	tooLong(t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+kept.ID, tokAll,
		map[string]any{"properties": map[string]string{"firstname": "Ada", "lastname": long}}), "lastname")
	// A number or an email is refused for its length before it is parsed.
	tooLong(t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+kept.ID, tokAll,
		map[string]any{"properties": map[string]string{"email": long}}), "email")

	inputs := make([]map[string]any, 10)
	for i := range inputs {
		inputs[i] = map[string]any{"properties": map[string]string{"email": fmt.Sprintf("b%d@a.example", i), "firstname": "B"}}
	}
	inputs[7]["properties"].(map[string]string)["firstname"] = long
	r := b.call(t, "POST", "/crm/v3/objects/contacts/batch/create", tokAll, map[string]any{"inputs": inputs})
	require.Equal(t, http.StatusBadRequest, r.status, "body: %s", r.body)
	require.Contains(t, string(r.body), "VALUE_TOO_LONG")
	r = b.call(t, "POST", "/crm/v3/objects/contacts/batch/update", tokAll, map[string]any{"inputs": []map[string]any{
		{"id": kept.ID, "properties": map[string]string{"lastname": long}}}})
	require.Equal(t, http.StatusBadRequest, r.status, "body: %s", r.body)
	require.Contains(t, string(r.body), "VALUE_TOO_LONG")
	r = b.call(t, "POST", "/crm/v3/objects/contacts/batch/upsert", tokAll, map[string]any{"inputs": []map[string]any{
		{"idProperty": "email", "id": "kept@a.example", "properties": map[string]string{"lastname": long}}}})
	require.Equal(t, http.StatusBadRequest, r.status, "body: %s", r.body)
	require.Contains(t, string(r.body), "VALUE_TOO_LONG")

	// Nothing changed: the one record is as it was created.
	got := expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts?properties=email,firstname,lastname", tokAll, nil), http.StatusOK)
	require.Len(t, got.Results, 1)
	require.Equal(t, kept.ID, got.Results[0].ID)
	require.Equal(t, "kept@a.example", got.Results[0].Properties["email"])
	require.Equal(t, most, got.Results[0].Properties["firstname"])
	require.Empty(t, got.Results[0].Properties["lastname"])
}

// An error body lists at most 100 problems, then says how many it left out: a body of thousands of
// unknown properties (in one record, or spread over a batch) is not answered with an error many
// times its size.
func TestValidationErrorsAreBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	check := func(t *testing.T, r response, problems int) {
		t.Helper()
		e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, 101, len(e.Errors), "problems listed")
		for _, d := range e.Errors[:100] {
			require.Equal(t, "PROPERTY_DOESNT_EXIST", d.Code)
		}
		last := e.Errors[100]
		require.Equal(t, "TOO_MANY_ERRORS", last.Code)
		require.Equal(t, "body", last.In)
		want := fmt.Sprintf("%d more problems were left out: fix these and send the request again", problems-100)
		require.Equal(t, want, last.Message)
		require.True(t, strings.HasSuffix(e.Message, "; "+want), "message: %.300s", e.Message)
		require.Equal(t, 101, strings.Count(e.Message, "; ")+1)
	}

	props := map[string]string{"email": "many@a.example"}
	for i := range 5000 {
		props[fmt.Sprintf("p%d", i)] = ""
	}
	r := b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{"properties": props})
	check(t, r, 5000)
	require.Less(t, len(r.body), 64<<10, "the answer is bounded, whatever the number of problems")

	inputs := make([]map[string]any, 100)
	for i := range inputs {
		ps := map[string]string{"email": fmt.Sprintf("b%d@a.example", i)}
		for j := range 40 {
			ps[fmt.Sprintf("q%d", j)] = "x"
		}
		inputs[i] = map[string]any{"properties": ps}
	}
	check(t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/create", tokAll, map[string]any{"inputs": inputs}), 4000)

	got := expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts", tokAll, nil), http.StatusOK)
	require.Empty(t, got.Results, "nothing was created")
}

// A CONTAINS_TOKEN pattern with many '*'s is matched at a cost that grows with the lengths of the
// value and the pattern, not exponentially with its '*'s: a read-only user's search of 30 '*'s
// over a value of 40 letters, which held Redis (and so every tenant) for hours, answers at once,
// and another tenant's request right after it is served. Every pattern matches as before.
func TestSearchWildcardPatterns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	names := []string{strings.Repeat("a", 40), strings.Repeat("a", 39) + "c", "abcabc", "abc", "x-y.z%(q)", "ab", "b"}
	ids := map[string]string{}
	for i, n := range names {
		rec := expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
			map[string]any{"properties": map[string]string{"email": fmt.Sprintf("w%d@a.example", i), "firstname": n}}), http.StatusCreated)
		ids[n] = rec.ID
	}
	expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokBAll,
		map[string]any{"properties": map[string]string{"email": "w@b.example", "firstname": "B"}}), http.StatusCreated)

	for _, pat := range []string{
		strings.Repeat("*a", 30) + "*c", strings.Repeat("*a", 30) + "*", strings.Repeat("*a", 41) + "*",
		"*", "**", "a*", "*c", "a*c", "a*b*c*", "*b*c", "abc*abc", "abca*cabc", "ab*", "*ab", "a*b",
		"*(*", "*%*", "x-y.z%(*)", "*.*", "*z%(q)", "*c*", "b*", "*b", "ab**c",
	} {
		t.Run(pat, func(t *testing.T) {
			r := b.call(t, "POST", "/crm/v3/objects/contacts/search", tokRead,
				groups([]map[string]any{filter("firstname", "CONTAINS_TOKEN", pat)}))
			res := expect[page[record]](t, r, http.StatusOK)
			var got []string
			for _, rec := range res.Results {
				got = append(got, rec.ID)
			}
			re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(pat), `\*`, ".*") + "$")
			var want []string
			for _, n := range names {
				if re.MatchString(n) {
					want = append(want, ids[n])
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			require.Equal(t, want, got, "pattern %q", pat)
		})
	}
	other := expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts", tokBAll, nil), http.StatusOK)
	require.Len(t, other.Results, 1)
}
