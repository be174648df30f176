package api_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

func TestRequestBodies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := string(b.contact(t, map[string]string{"firstname": "Ada"}))
	before := b.snapshot(t, b.tenantA)

	for _, tc := range []struct {
		name     string
		method   string
		path     string
		body     string
		status   int
		category string
		in       string
		msg      string
	}{
		{"UnknownField", "POST", "/crm/v3/objects/contacts", `{"properties":{"firstname":"A"},"association":[]}`,
			http.StatusBadRequest, "VALIDATION_ERROR", "association", "association"},
		{"UnknownNestedField", "POST", "/crm/v3/objects/contacts/batch/read", `{"inputs":[{"id":"1","idProperty":"email"}]}`,
			http.StatusBadRequest, "VALIDATION_ERROR", "idProperty", "idProperty"},
		{"UnknownOptionField", "POST", "/crm/v3/properties/contacts", `{"name":"x","type":"enumeration","options":[{"value":"a","colour":"red"}]}`,
			http.StatusBadRequest, "VALIDATION_ERROR", "options", "option"},
		{"MalformedJSON", "POST", "/crm/v3/objects/contacts", `{"properties":{"firstname":"A"`,
			http.StatusBadRequest, "VALIDATION_ERROR", "body", "malformed"},
		{"SyntaxError", "PATCH", "/crm/v3/objects/contacts/" + id, `{"properties": {firstname: "A"}}`,
			http.StatusBadRequest, "VALIDATION_ERROR", "body", "malformed"},
		{"TrailingData", "POST", "/crm/v3/objects/contacts", `{"properties":{"firstname":"A"}} {"properties":{}}`,
			http.StatusBadRequest, "VALIDATION_ERROR", "body", "after"},
		{"TrailingGarbage", "POST", "/crm/v3/objects/contacts", `{"properties":{"firstname":"A"}}x`,
			http.StatusBadRequest, "VALIDATION_ERROR", "body", "after"},
		{"EmptyBody", "POST", "/crm/v3/objects/contacts", ``,
			http.StatusBadRequest, "VALIDATION_ERROR", "body", "empty"},
		// null is no request: it would create a contact of no properties, or touch one for nothing.
		{"NullBody", "POST", "/crm/v3/objects/contacts", `null`,
			http.StatusBadRequest, "VALIDATION_ERROR", "body", "null"},
		{"NullBodyPatch", "PATCH", "/crm/v3/objects/contacts/" + id, ` null `,
			http.StatusBadRequest, "VALIDATION_ERROR", "body", "JSON object"},
		{"NullBodyArray", "PUT", "/crm/v3/lists/1/memberships/add", `null`,
			http.StatusBadRequest, "VALIDATION_ERROR", "body", "JSON array"},
		{"WrongType", "POST", "/crm/v3/objects/contacts", `{"properties":"firstname=A"}`,
			http.StatusBadRequest, "VALIDATION_ERROR", "properties", "properties"},
		{"WrongNestedType", "POST", "/crm/v3/objects/contacts/batch/read", `{"inputs":[{"id":"1"}],"properties":"email"}`,
			http.StatusBadRequest, "VALIDATION_ERROR", "properties", "array"},
		{"TooLarge", "POST", "/crm/v3/objects/contacts", `{"properties":{"firstname":"` + bigName(1<<20) + `"}}`,
			http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE", "body", "1048576"},
		{"TooLargeAfterValue", "POST", "/crm/v3/objects/contacts", `{"properties":{"firstname":"A"}}` + strings.Repeat(" ", 1<<20),
			http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE", "body", "1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := expectError(t, b.call(t, tc.method, tc.path, tokAll, tc.body), tc.status, tc.category)
			require.Equal(t, []string{tc.in}, e.in())
			require.Contains(t, e.Message, tc.msg)
			require.Equal(t, before, b.snapshot(t, b.tenantA))
		})
	}

	t.Run("JustUnderTheLimit", func(t *testing.T) {
		t.Parallel()
		// A body of exactly the limit is read whole; it fails on its content, not its size.
		body := `{"properties":{"nope":"` + bigName(1<<20-len(`{"properties":{"nope":""}}`)) + `"}}`
		require.Len(t, body, 1<<20)
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, body), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"nope"}, e.in())
	})
}

func TestErrorShape(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("CorrelationIDsDiffer", func(t *testing.T) {
		t.Parallel()
		e1 := expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/1", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		e2 := expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/1", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.NotEqual(t, e1.CorrelationID, e2.CorrelationID)
	})

	t.Run("SuccessCarriesCorrelationID", func(t *testing.T) {
		t.Parallel()
		r := b.call(t, "GET", "/crm/v3/objects/contacts", tokRead, nil)
		require.Equal(t, http.StatusOK, r.status)
		require.Len(t, r.header.Get("X-Correlation-Id"), 36)
	})

	t.Run("UnknownRoute", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "GET", "/crm/v3/nothing/here", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Contains(t, e.Message, "/crm/v3/nothing/here")
		expectError(t, b.call(t, "GET", "/", "", nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	})

	t.Run("MethodNotAllowed", func(t *testing.T) {
		t.Parallel()
		r := b.call(t, "DELETE", "/crm/v3/objects/contacts", tokAll, nil)
		e := expectError(t, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
		require.Contains(t, e.Message, "DELETE")
		require.Contains(t, r.header.Get("Allow"), "POST")
		require.Contains(t, r.header.Get("Allow"), "GET")
	})
}

// TestSecurityHeaders: every answer of the API, a success or a refusal, a route or none, says
// that its JSON is not to be sniffed as another type, cached, framed or given a Referer.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	answers := map[string]response{
		"list":          b.call(t, "GET", "/crm/v3/objects/contacts", tokRead, nil),
		"create":        b.call(t, "POST", "/crm/v3/objects/contacts", tokWrite, map[string]any{"properties": map[string]string{"email": "h@a.example"}}),
		"no token":      b.call(t, "GET", "/crm/v3/objects/contacts", "", nil),
		"no permission": b.call(t, "DELETE", "/crm/v3/objects/contacts/1", tokRead, nil),
		"no route":      b.call(t, "GET", "/crm/v3/nothing/here", tokRead, nil),
		"bad body":      b.call(t, "POST", "/crm/v3/objects/contacts", tokWrite, "{"),
		"health":        b.call(t, "GET", "/healthz", "", nil),
	}
	for name, r := range answers {
		require.NotZero(t, r.status, name)
		require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), name)
		require.Equal(t, "no-store", r.header.Get("Cache-Control"), name)
		require.Equal(t, "default-src 'none'; frame-ancestors 'none'", r.header.Get("Content-Security-Policy"), name)
		require.Equal(t, "DENY", r.header.Get("X-Frame-Options"), name)
		require.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"), name)
	}
	require.Equal(t, http.StatusCreated, answers["create"].status)
	require.Equal(t, http.StatusUnauthorized, answers["no token"].status)
	require.Equal(t, http.StatusForbidden, answers["no permission"].status)
}

// A store that fails (here: its Redis client is closed) is a 500 that reveals nothing of the cause.
func TestStoreFailureIsInternalError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rdb := redistest.Client(t)
	broken, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	require.NoError(t, rdb.Close())
	srv, err := api.New(broken, &api.Config{Logger: slog.New(slog.NewJSONHandler(b.logs, nil))})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	b.url, b.client = ts.URL, ts.Client()

	r := b.call(t, "GET", "/crm/v3/objects/contacts", tokAll, nil)
	e := expectError(t, r, http.StatusInternalServerError, "INTERNAL_ERROR")
	require.NotContains(t, e.Message, "closed")
	require.NotContains(t, e.Message, "redis")
	// The cause is in the log line of that request, found by its correlation id.
	var line map[string]any
	for _, l := range b.logs.lines(t) {
		if l["correlation_id"] == e.CorrelationID {
			line = l
		}
	}
	require.NotNil(t, line)
	require.Equal(t, "ERROR", line["level"])
	require.Contains(t, line["error"], "closed")
}
