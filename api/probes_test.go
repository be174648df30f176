package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

func TestProbes(t *testing.T) {
	t.Parallel()

	start := func(t *testing.T, ready func(context.Context) error) *testBundle {
		t.Helper()
		st, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
		require.NoError(t, err)
		srv, err := api.New(st, &api.Config{Ready: ready})
		require.NoError(t, err)
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		return &testBundle{url: ts.URL, client: ts.Client(), ctx: context.Background(), tokens: map[string]string{}}
	}

	t.Run("Healthz", func(t *testing.T) {
		t.Parallel()
		b := start(t, func(context.Context) error { return errors.New("redis down") })
		r := b.call(t, "GET", "/healthz", "", nil)
		require.Equal(t, http.StatusOK, r.status)
		require.JSONEq(t, `{"status":"ok"}`, string(r.body))
	})

	t.Run("ReadyWithoutProbe", func(t *testing.T) {
		t.Parallel()
		b := start(t, nil)
		require.Equal(t, http.StatusOK, b.call(t, "GET", "/readyz", "", nil).status)
	})

	t.Run("ReadyWithPassingProbe", func(t *testing.T) {
		t.Parallel()
		rdb := redistest.Client(t)
		// The connection is made before the probe runs: the probe's one-second deadline is for a
		// PING, and a first dial on a loaded machine (the suite under -race) can take longer.
		require.NoError(t, rdb.Ping(context.Background()).Err())
		b := start(t, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
		require.Equal(t, http.StatusOK, b.call(t, "GET", "/readyz", "", nil).status)
	})

	// The metrics are served on the admin address, not the API's: a scrape of the API's /metrics
	// is told where they are.
	t.Run("MetricsOnTheAdminAddress", func(t *testing.T) {
		t.Parallel()
		b := start(t, nil)
		e := expectError(t, b.call(t, "GET", "/metrics", "", nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Contains(t, e.Message, "--admin-addr")
		require.Contains(t, e.Message, "127.0.0.1:9090")
		e = expectError(t, b.call(t, "GET", "/metricz", "", nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.NotContains(t, e.Message, "--admin-addr")
	})

	t.Run("NotReady", func(t *testing.T) {
		t.Parallel()
		b := start(t, func(context.Context) error { return errors.New("redis: connection refused") })
		e := expectError(t, b.call(t, "GET", "/readyz", "", nil), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
		require.Contains(t, e.Message, "connection refused")
	})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 2 {
		expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
			map[string]any{"properties": map[string]any{"firstname": "A"}}), http.StatusCreated)
	}
	expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/12345", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/12346", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	expectError(t, b.call(t, "GET", "/no/such/path/1", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")

	families, err := b.reg.Gather()
	require.NoError(t, err)
	counts := map[string]float64{}
	histograms := map[string]uint64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			l := labels(m)
			switch f.GetName() {
			case "crmflow_http_requests_total":
				counts[l["method"]+" "+l["route"]+" "+l["status"]] = m.GetCounter().GetValue()
			case "crmflow_http_request_duration_seconds":
				histograms[l["route"]] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	require.Equal(t, map[string]float64{
		"POST /crm/v3/objects/{objectType} 201":     2,
		"GET /crm/v3/objects/{objectType}/{id} 404": 2,
		"GET unmatched 404":                         1,
	}, counts)
	require.Equal(t, map[string]uint64{
		"/crm/v3/objects/{objectType}":      2,
		"/crm/v3/objects/{objectType}/{id}": 2,
		"unmatched":                         1,
	}, histograms)
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, p := range m.GetLabel() {
		out[p.GetName()] = p.GetValue()
	}
	return out
}

func TestRequestLog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
		map[string]any{"properties": map[string]any{"email": "secret.person@example.com", "firstname": "Zebulon"}})
	require.Equal(t, http.StatusCreated, r.status)
	miss := b.call(t, "GET", "/crm/v3/objects/contacts/4242", tokRead, nil)
	require.Equal(t, http.StatusNotFound, miss.status)
	anon := b.call(t, "GET", "/crm/v3/objects/contacts", "", nil)
	require.Equal(t, http.StatusUnauthorized, anon.status)

	byID := map[string]map[string]any{}
	for _, l := range b.logs.lines(t) {
		if l["msg"] == "http request" {
			byID[l["correlation_id"].(string)] = l
		}
	}
	require.Len(t, byID, 3)

	line := byID[r.header.Get("X-Correlation-Id")]
	require.NotNil(t, line)
	require.Equal(t, "POST", line["method"])
	require.Equal(t, "/crm/v3/objects/{objectType}", line["route"])
	require.EqualValues(t, http.StatusCreated, line["status"])
	require.Equal(t, string(b.tenantA), line["tenant_id"])
	require.Contains(t, line, "duration_ms")

	line = byID[miss.header.Get("X-Correlation-Id")]
	require.EqualValues(t, http.StatusNotFound, line["status"])
	require.Equal(t, "OBJECT_NOT_FOUND", line["error_category"])

	line = byID[anon.header.Get("X-Correlation-Id")]
	require.EqualValues(t, http.StatusUnauthorized, line["status"])
	require.NotContains(t, line, "tenant_id")

	// Never a body, a property value or a token in the log.
	logs := b.logs.String()
	for _, secret := range []string{"secret.person", "Zebulon", b.tokens[tokAll], b.tokens[tokRead]} {
		require.False(t, strings.Contains(logs, secret), "log contains %q", secret)
	}
}

// Metrics need a Registerer that accepts them; a broken one is an error of New.
func TestMetricsRegistrationError(t *testing.T) {
	t.Parallel()
	st, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	// A collector of the same name but other labels makes the registration fail.
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmflow_http_requests_total", Help: "x"}, []string{"other"}))
	_, err = api.New(st, &api.Config{Registerer: reg})
	require.ErrorContains(t, err, "register metrics")
}

// Mounted behind another mux (as cmd/crmflow mounts it at "/"), the server labels its metrics with
// its own patterns, and "unmatched" for requests none of them serves.
func TestMetricsBehindAnotherMux(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := prometheus.NewRegistry()
	srv, err := api.New(b.store, &api.Config{Registerer: reg})
	require.NoError(t, err)
	outer := http.NewServeMux()
	outer.Handle("/", srv)
	ts := httptest.NewServer(outer)
	t.Cleanup(ts.Close)
	b.url, b.client = ts.URL, ts.Client()

	require.Equal(t, http.StatusOK, b.call(t, "GET", "/healthz", "", nil).status)
	expectError(t, b.call(t, "GET", "/nowhere", "", nil), http.StatusNotFound, "OBJECT_NOT_FOUND")

	families, err := reg.Gather()
	require.NoError(t, err)
	routes := map[string]float64{}
	for _, f := range families {
		if f.GetName() == "crmflow_http_requests_total" {
			for _, m := range f.GetMetric() {
				routes[labels(m)["route"]] += m.GetCounter().GetValue()
			}
		}
	}
	require.Equal(t, map[string]float64{"/healthz": 1, "unmatched": 1}, routes)
}
