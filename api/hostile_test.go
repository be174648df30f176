package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
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

	// Ten thousand ids that are not record ids: each is a problem, and the answer lists a hundred.
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = fmt.Sprintf("x%d", i)
	}
	r = b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll, map[string]any{"ids": ids, "confirmCount": 10000})
	e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
	require.Len(t, e.Errors, 101, "problems listed")
	for i, d := range e.Errors[:100] {
		require.Equal(t, "INVALID_ID", d.Code)
		require.Equal(t, fmt.Sprintf("ids[%d]", i), d.In)
	}
	require.Equal(t, "TOO_MANY_ERRORS", e.Errors[100].Code)
	require.Equal(t, "9900 more problems were left out: fix these and send the request again", e.Errors[100].Message)
	require.Less(t, len(r.body), 64<<10, "the answer is bounded, whatever the number of problems")
}

// A CONTAINS_TOKEN pattern with many '*'s is matched at a cost that grows with the lengths of the
// value and the pattern, not with the number of ways to place its parts in the value: a read-only
// user's search of 30 '*'s over a value of 40 letters, which held Redis (and so every tenant) past
// any request's deadline, answers at once, and another tenant's request right after it is served.
// As the cost still grows with the pattern's parts, a pattern has at most 5 wildcards (a run of
// them is one): one of more is refused, naming the value. Every other pattern matches as before.
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
			if len(regexp.MustCompile(`\*+`).FindAllString(pat, -1)) > 5 {
				e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
				require.Equal(t, []string{"filterGroups[0].filters[0].value"}, e.in())
				require.Equal(t, "TOO_MANY_WILDCARDS", e.Errors[0].Code)
				return
			}
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

// widestCommand remembers the most arguments of a command a Redis client sent, alone or in a
// pipeline: add redistest.EachCommand(note) to the client.
type widestCommand struct{ args atomic.Int64 }

func (h *widestCommand) note(cmd redis.Cmder) {
	for n := int64(len(cmd.Args())); ; {
		old := h.args.Load()
		if n <= old || h.args.CompareAndSwap(old, n) {
			return
		}
	}
}

// A read that names thousands of properties (a search's properties, a list's or a batch read's)
// answers with the named properties the records have, and asks Redis for no more than 100 of them
// by name: 100,000 names over a page of 200 records made 20 million lookups in Redis, which held it
// for seconds (a 503 for that client, and for every tenant meanwhile).
func TestReadOfManyPropertiesIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var created []string
	for i := range 3 {
		rec := expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{"properties": map[string]string{
			"email": fmt.Sprintf("m%d@a.example", i), "firstname": fmt.Sprintf("M%d", i), "lastname": "Many"}}), http.StatusCreated)
		created = append(created, rec.ID)
	}
	names := []string{"firstname", "email"}
	for i := range 20000 {
		names = append(names, fmt.Sprintf("nope%d", i))
	}
	widest := &widestCommand{}
	b.rdb.AddHook(redistest.EachCommand(widest.note))

	check := func(t *testing.T, recs []record) {
		t.Helper()
		require.Len(t, recs, 3)
		for i, r := range recs {
			require.Equal(t, created[i], r.ID)
			require.Equal(t, map[string]string{"email": fmt.Sprintf("m%d@a.example", i), "firstname": fmt.Sprintf("M%d", i)}, r.Properties)
		}
	}
	check(t, expect[page[record]](t, b.call(t, "POST", "/crm/v3/objects/contacts/search", tokRead,
		map[string]any{"properties": names, "limit": 200}), http.StatusOK).Results)
	check(t, expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts?limit=100&properties="+strings.Join(names, ","), tokRead, nil),
		http.StatusOK).Results)
	var inputs []map[string]string
	for _, id := range created {
		inputs = append(inputs, map[string]string{"id": id})
	}
	res := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/read", tokRead,
		map[string]any{"inputs": inputs, "properties": names}), http.StatusOK)
	slices.SortFunc(res.Results, func(x, y record) int { return strings.Compare(x.ID, y.ID) })
	check(t, res.Results)
	require.LessOrEqual(t, widest.args.Load(), int64(200), "the most arguments of one command sent to Redis")

	// A few names are still read by name, and a record without them has none of them.
	few := expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts?properties=lastname,nope", tokRead, nil), http.StatusOK)
	require.Len(t, few.Results, 3)
	require.Equal(t, map[string]string{"lastname": "Many"}, few.Results[0].Properties)
}

// A body that does not arrive within the server's read timeout (a client trickling it, or one that
// stalls half way) is a 408 saying so, on every kind of body (JSON, YAML, an optional JSON body),
// and nothing changes: not a 400 that calls well-formed JSON malformed, nor a bare 500 logged as
// the server's own error.
func TestSlowBodyIsA408(t *testing.T) {
	t.Parallel()
	b := setup(t)
	logs := &syncBuffer{}
	srv, err := api.New(b.store, &api.Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	require.NoError(t, err)
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.ReadTimeout = 300 * time.Millisecond
	ts.Start()
	t.Cleanup(ts.Close)
	require.Equal(t, http.StatusCreated, b.call(t, "PUT", "/automation/v4/flows/kept", tokAll, yamlBody(bouncedFlow("kept"))).status)

	for _, tc := range []struct{ name, method, path, ctype, body string }{
		{"JSON", "POST", "/crm/v3/objects/contacts", "application/json", `{"properties":{"email":"slow@a.example"}}`},
		{"YAML", "PUT", "/automation/v4/flows/slow", "application/yaml", bouncedFlow("slow")},
		{"OptionalJSON", "POST", "/automation/v4/flows/kept/activate", "application/json", `{"enrollExisting":true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ts.Listener.Addr().String())
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close() })
			require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second))) // a hang fails the test
			// Half the body, then nothing more: the server's read timeout passes.
			_, err = fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
				tc.method, tc.path, b.tokens[tokAll], tc.ctype, len(tc.body), tc.body[:len(tc.body)/2])
			require.NoError(t, err)
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			defer res.Body.Close()
			raw, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			e := expectError(t, response{status: res.StatusCode, header: res.Header, body: raw}, http.StatusRequestTimeout, "TIMEOUT")
			require.Equal(t, "BODY_TIMEOUT", e.Errors[0].Code)
			require.Equal(t, "request body did not arrive within the server's read timeout: send the whole body without pausing, or a smaller one", e.Message)
		})
	}
	require.NotContains(t, logs.String(), `"level":"ERROR"`)

	// Nothing changed: no contact, no workflow "slow", and "kept" was not activated.
	got := expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts", tokAll, nil), http.StatusOK)
	require.Empty(t, got.Results)
	require.Equal(t, http.StatusNotFound, b.call(t, "GET", "/automation/v4/flows/slow", tokAll, nil).status)
	var kept map[string]any
	require.NoError(t, json.Unmarshal(b.call(t, "GET", "/automation/v4/flows/kept", tokAll, nil).body, &kept))
	require.Equal(t, "DRAFT", kept["state"], "flow: %v", kept)
}

// A body that is not UTF-8 text is a 400 naming the first byte that is not, and nothing changes:
// encoding/json would have stored U+FFFD in place of each such byte, another text than the one sent.
func TestBodyNotUTF8(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, http.StatusCreated, b.call(t, "PUT", "/automation/v4/flows/kept", tokAll, yamlBody(bouncedFlow("kept"))).status)
	for _, tc := range []struct{ name, method, path, body string }{
		{"Create", "POST", "/crm/v3/objects/contacts", "{\"properties\":{\"email\":\"u@a.example\",\"firstname\":\"Ad\xffa\"}}"},
		{"PropertyName", "POST", "/crm/v3/objects/contacts", "{\"properties\":{\"email\":\"u@a.example\",\"\xc3\":\"x\"}}"},
		{"Search", "POST", "/crm/v3/objects/contacts/search", "{\"query\":\"Ad\xe2\x82a\"}"},
		{"Activate", "POST", "/automation/v4/flows/kept/activate", "{\"enrollExisting\":true,\"x\":\"\xf0\x9f\"}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.call(t, tc.method, tc.path, tokAll, []byte(tc.body))
			e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, "INVALID_UTF8", e.Errors[0].Code)
			at := strings.IndexFunc(tc.body, func(c rune) bool { return c == 0xFFFD })
			require.Equal(t, fmt.Sprintf("request body is not valid UTF-8 at byte %d: send text encoded as UTF-8", at), e.Message)
		})
	}
	got := expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts", tokAll, nil), http.StatusOK)
	require.Empty(t, got.Results)
	var kept map[string]any
	require.NoError(t, json.Unmarshal(b.call(t, "GET", "/automation/v4/flows/kept", tokAll, nil).body, &kept))
	require.Equal(t, "DRAFT", kept["state"], "flow: %v", kept)

	// Half of a surrogate pair escaped alone is refused as well, naming the escape.
	for _, tc := range []struct{ name, value, escape string }{
		{"High", `Ada\ud83d`, `\ud83d`},
		{"Low", `\ude00Ada`, `\ude00`},
		{"HighThenOther", `\ud83d\u0041`, `\ud83d`},
		{"LowAfterPair", `\ud83d\ude00\ude00`, `\ude00`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"properties":{"email":"s@a.example","firstname":"` + tc.value + `"}}`
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, []byte(body)), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, "INVALID_UNICODE", e.Errors[0].Code)
			at := strings.LastIndex(body, tc.escape)
			require.Equal(t, fmt.Sprintf(`request body escapes half of a UTF-16 surrogate pair alone (%s) at byte %d: `+
				`escape a character outside the Basic Multilingual Plane as both halves (\ud83d\ude00), or send it as UTF-8`, tc.escape, at), e.Message)
		})
	}
	got = expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts", tokAll, nil), http.StatusOK)
	require.Empty(t, got.Results)

	// Text outside ASCII, well encoded or escaped, is kept as sent; so is an escaped backslash
	// before a u.
	for i, tc := range []struct{ sent, kept string }{
		{"Zoë 😀 \u202e", "Zoë 😀 \u202e"},
		{`Zo\u00eb \ud83d\ude00`, "Zoë 😀"},
		{`back\\ud83d`, `back\ud83d`},
	} {
		rec := expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
			[]byte(fmt.Sprintf(`{"properties":{"email":"k%d@a.example","firstname":"%s"}}`, i, tc.sent))), http.StatusCreated)
		require.Equal(t, tc.kept, rec.Properties["firstname"])
	}
}

// A record has at most MaxAssociations associations (3 here, 10,000 by default), however they are
// made: one more, by PUT or inline on a create, is a 400 TOO_MANY_ASSOCIATIONS naming the record,
// and nothing changes. Without the limit a client could link a record to millions of others, and
// reading, deleting or restoring it would then hold Redis, in one step, for every tenant.
func TestAssociationLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, MaxAssociations: 3})
	require.NoError(t, err)
	b.store = st
	b.serve(t, &api.Config{Clock: b.clock})

	co := string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Acme"}))
	var cs []string
	for i := range 5 {
		cs = append(cs, string(b.contact(t, map[string]string{"email": fmt.Sprintf("c%d@a.example", i)})))
	}
	link := func(contact, company string) response {
		return b.call(t, "PUT", "/crm/v4/objects/contacts/"+contact+"/associations/default/companies/"+company, tokAll, nil)
	}
	for _, c := range cs[:3] {
		require.Equal(t, http.StatusOK, link(c, co).status)
	}
	require.Equal(t, http.StatusOK, link(cs[0], co).status, "linking again what is linked is not one more")
	linked := func(from, id, to string) []string {
		t.Helper()
		out := expect[page[struct {
			ToObjectID string `json:"toObjectId"`
		}]](t, b.call(t, "GET", "/crm/v4/objects/"+from+"/"+id+"/associations/"+to, tokRead, nil), http.StatusOK)
		var ids []string
		for _, r := range out.Results {
			ids = append(ids, r.ToObjectID)
		}
		return ids
	}

	full := func(t *testing.T, r response, in, msg string) {
		t.Helper()
		e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, "TOO_MANY_ASSOCIATIONS", e.Errors[0].Code, "body: %s", r.body)
		require.Equal(t, in, e.Errors[0].In)
		require.Equal(t, msg, e.Message)
	}
	// The company is full: to it, by PUT and inline.
	full(t, link(cs[3], co), "toObjectId",
		"companies "+co+" has 3 associations, the most a record may have: remove some before adding another (nothing was associated)")
	assoc := func(id string) map[string]any {
		return map[string]any{"to": map[string]any{"id": id},
			"types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}}}
	}
	full(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{
		"properties": map[string]string{"email": "new@a.example"}, "associations": []any{assoc(co)}}), "associations",
		"associations[0]: companies "+co+" has 3 associations, and this request would add more, over the 3 a record may have: associate fewer records; nothing was created")
	// A contact that is full: from it.
	var others []string
	for i := range 3 {
		others = append(others, string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": fmt.Sprintf("O%d", i)})))
	}
	for _, o := range others[:2] {
		require.Equal(t, http.StatusOK, link(cs[0], o).status)
	}
	full(t, link(cs[0], others[2]), "fromObjectId",
		"contacts "+cs[0]+" has 3 associations, the most a record may have: remove some before adding another (nothing was associated)")
	// A new record of more associations than a record may have.
	more := []any{}
	for _, o := range append(others, cs[4]) {
		more = append(more, assoc(o))
	}
	r := b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{
		"properties": map[string]string{"email": "many@a.example"}, "associations": more})
	e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, "TOO_MANY_ASSOCIATIONS", e.Errors[0].Code, "body: %s", r.body)

	// Nothing changed.
	require.ElementsMatch(t, cs[:3], linked("companies", co, "contacts"))
	require.ElementsMatch(t, append([]string{co}, others[:2]...), linked("contacts", cs[0], "companies"))
	require.Empty(t, linked("contacts", cs[3], "companies"))
	require.Empty(t, linked("companies", others[2], "contacts"))
	got := expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts", tokAll, nil), http.StatusOK)
	require.Len(t, got.Results, 5)

	// Removing one makes room for one.
	require.Equal(t, http.StatusNoContent, b.call(t, "DELETE", "/crm/v4/objects/contacts/"+cs[2]+"/associations/companies/"+co, tokAll, nil).status)
	require.Equal(t, http.StatusOK, link(cs[3], co).status)
}

// The custom properties of an object type take at most crm.MaxSchemaBytes to define: a property
// (or a new custom type) past it is a 400 SCHEMA_TOO_LARGE saying so, and nothing is created. Every
// request on the type reads the whole schema from Redis, so megabytes of enumeration options made
// each request of the tenant hold Redis for milliseconds, for every tenant.
func TestSchemaSizeLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	enum := func(name string, options int) map[string]any {
		var opts []any
		for i := range options {
			opts = append(opts, map[string]any{"label": fmt.Sprintf("Option number %06d here", i), "value": fmt.Sprintf("option_%06d", i)})
		}
		return map[string]any{"name": name, "label": name, "type": "enumeration", "fieldType": "select", "options": opts}
	}
	// About 300 KiB each: the first fits, the second does not.
	require.Equal(t, http.StatusCreated, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, enum("big_one", crm.MaxOptions)).status)
	r := b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, enum("big_two", crm.MaxOptions))
	e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, "SCHEMA_TOO_LARGE", e.Errors[0].Code)
	require.Regexp(t, `^the properties of contacts would take \d+ bytes to define, over the 524288 an object type may have: define fewer or shorter options and labels \(nothing was created\)$`, e.Message)
	require.Equal(t, http.StatusNotFound, b.call(t, "GET", "/crm/v3/properties/contacts/big_two", tokAll, nil).status)
	// A small one still fits, and another type has its own room.
	require.Equal(t, http.StatusCreated, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll,
		map[string]any{"name": "small", "label": "Small", "type": "string"}).status)
	require.Equal(t, http.StatusCreated, b.call(t, "POST", "/crm/v3/properties/companies", tokAll, enum("big_two", crm.MaxOptions)).status)
	// A change past it is refused too, and says that nothing changed.
	require.Equal(t, http.StatusCreated, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, enum("grows", 1)).status)
	before := b.dump(t, b.tenantA)
	r = b.call(t, "PATCH", "/crm/v3/properties/contacts/grows", tokAll, map[string]any{"options": enum("grows", crm.MaxOptions)["options"]})
	e = expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, "SCHEMA_TOO_LARGE", e.Errors[0].Code)
	require.Regexp(t, `^the properties of contacts would take \d+ bytes to define, over the 524288 an object type may have: define fewer or shorter options and labels \(nothing was changed\)$`, e.Message)
	require.Equal(t, before, b.dump(t, b.tenantA))

	// A custom type whose properties take more than the limit at once.
	r = b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{"name": "gadgets", "labels": map[string]any{"singular": "Gadget"},
		"properties": []any{enum("a_big", crm.MaxOptions), enum("b_big", crm.MaxOptions)}})
	e = expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, "SCHEMA_TOO_LARGE", e.Errors[0].Code)
	require.Contains(t, e.Message, "the properties of gadgets would take ")
	require.Equal(t, http.StatusNotFound, b.call(t, "GET", "/crm/v3/schemas/gadgets", tokAll, nil).status)
}

// An enumeration property has at most crm.MaxOptions options: a create, a custom type or a PATCH
// with more is a 400 TOO_MANY_OPTIONS naming the property and the limit, and nothing changes.
// Without it, one PATCH by a user with schema (120,000 new options against 60,000 held, inside the
// body and schema limits) compared every old option with every new one, twice: eight seconds of
// the API's CPU for a request that was then refused, past its deadline, with up to 64 such
// requests of the tenant at once (SPEC S27).
func TestOptionLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	options := func(n int, prefix string) []any {
		opts := make([]any, n)
		for i := range opts {
			opts[i] = fmt.Sprintf("%s%x", prefix, i)
		}
		return opts
	}
	tooMany := func(t *testing.T, r response, name string) {
		t.Helper()
		e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, "TOO_MANY_OPTIONS", e.Errors[0].Code)
		require.Equal(t, "options", e.Errors[0].In)
		require.Equal(t, fmt.Sprintf("enumeration property %q has %d options, more than the %d a property may have: "+
			"keep the ones records are given, or use a string property", name, crm.MaxOptions+1, crm.MaxOptions), e.Errors[0].Message)
	}

	tooMany(t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll,
		map[string]any{"name": "many", "label": "Many", "type": "enumeration", "options": options(crm.MaxOptions+1, "o")}), "many")
	require.Equal(t, http.StatusNotFound, b.call(t, "GET", "/crm/v3/properties/contacts/many", tokAll, nil).status)
	tooMany(t, b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{"name": "gizmos", "labels": map[string]any{"singular": "Gizmo"},
		"properties": []any{map[string]any{"name": "kind", "label": "Kind", "type": "enumeration", "options": options(crm.MaxOptions+1, "o")}}}), "kind")
	require.Equal(t, http.StatusNotFound, b.call(t, "GET", "/crm/v3/schemas/gizmos", tokAll, nil).status)

	// The limit itself is fine; a PATCH past it changes nothing, a type change included.
	held := options(crm.MaxOptions, "o")
	require.Len(t, expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll,
		map[string]any{"name": "many", "label": "Many", "type": "enumeration", "options": held}), http.StatusCreated).Options, crm.MaxOptions)
	before := b.dump(t, b.tenantA)
	tooMany(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/many", tokAll, map[string]any{"options": options(crm.MaxOptions+1, "n")}), "many")
	tooMany(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/many", tokAll, map[string]any{"options": append(held, "one_more")}), "many")
	require.Equal(t, before, b.dump(t, b.tenantA))
	// Every option replaced at once, within the limit.
	got := expect[fullProperty](t, b.call(t, "PATCH", "/crm/v3/properties/contacts/many", tokAll,
		map[string]any{"options": options(crm.MaxOptions, "n")}), http.StatusOK)
	require.Equal(t, "n0", got.values()[0])
	require.Len(t, got.values(), crm.MaxOptions)
}

// A read of a workflow (GET /automation/v4/flows/{name}, which a user with read alone may send)
// asks Redis for the source of its latest revision only. It answered that one source, yet read
// every revision whole: a workflow stored as N revisions of up to a megabyte each (the body limit)
// made each read hold N megabytes in the API's memory, 64 reads of the tenant at once 64 times
// that (SPEC S27).
func TestReadOfAWorkflowReadsOneSource(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const name, revisions = "padded", 12
	src := func(i int) string { // about 64 KiB, each revision its own
		return bouncedFlow(name) + "# " + strings.Repeat(fmt.Sprintf("revision %d ", i), 64<<10/12) + "\n"
	}
	for i := range revisions {
		expect[flow](t, b.call(t, "PUT", "/automation/v4/flows/"+name, tokAll, yamlBody(src(i+1))), http.StatusCreated)
	}
	var mu sync.Mutex
	var sourcesRead []string // the revision keys whose source a command asked for
	b.rdb.AddHook(redistest.EachCommand(func(cmd redis.Cmder) {
		args := cmd.Args()
		if len(args) < 2 {
			return
		}
		key, _ := args[1].(string)
		if !strings.HasPrefix(key, redisstore.FlowKey(b.tenantA, name)+":rev:") {
			return
		}
		asks := strings.EqualFold(cmd.Name(), "hgetall")
		for _, f := range args[2:] {
			asks = asks || f == "source"
		}
		if asks {
			mu.Lock()
			sourcesRead = append(sourcesRead, key)
			mu.Unlock()
		}
	}))

	got := expect[flow](t, b.call(t, "GET", "/automation/v4/flows/"+name, tokRead, nil), http.StatusOK)
	require.Equal(t, src(revisions), got.Source, "the latest revision's source")
	require.Len(t, got.Revisions, revisions)
	for i, rev := range got.Revisions {
		require.Equal(t, int64(i+1), rev.Revision)
		require.Equal(t, "all@a.example", rev.By)
		require.NotEmpty(t, rev.CreatedAt)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{redisstore.FlowRevisionKey(b.tenantA, name, revisions)}, sourcesRead)
}

// A tenant has at most crm.MaxCustomObjectTypes custom object types: one more is a 400
// TOO_MANY_OBJECT_TYPES that says what to do, and nothing changes. Types cannot be removed and
// every listing of them reads each one's properties, so without the bound a user allowed to
// define types could make each such read cost any amount of memory (SPEC S27).
func TestObjectTypeLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range crm.MaxCustomObjectTypes {
		r := b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{"name": fmt.Sprintf("kind_%02d", i), "labels": map[string]any{"singular": "Kind"}})
		require.Equal(t, http.StatusCreated, r.status, r.body)
	}
	before := b.dump(t, b.tenantA)
	r := b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{"name": "one_more", "labels": map[string]any{"singular": "One more"}})
	e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, "TOO_MANY_OBJECT_TYPES", e.Errors[0].Code)
	require.Equal(t, fmt.Sprintf(`object type "one_more" was not created: the tenant has %d custom object types, the most it may have; `+
		"add properties to a type it has instead (POST /crm/v3/properties/{objectType})", crm.MaxCustomObjectTypes), e.Errors[0].Message)
	require.Equal(t, before, b.dump(t, b.tenantA))
	require.Equal(t, http.StatusNotFound, b.call(t, "GET", "/crm/v3/schemas/one_more", tokAll, nil).status)
	// Another tenant has its own room; a type the tenant has reads alone, with its labels.
	require.Equal(t, http.StatusCreated, b.call(t, "POST", "/crm/v3/schemas", tokBAll, map[string]any{"name": "one_more", "labels": map[string]any{"singular": "One more"}}).status)
	r = b.call(t, "GET", "/crm/v3/schemas/kind_07", tokAll, nil)
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Contains(t, string(r.body), `"name":"kind_07"`)
}
