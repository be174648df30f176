package api_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// exposition returns the text exposition of the bundle's metrics registry, as /metrics serves it.
func (b *testBundle) exposition(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	return rec.Body.String()
}

// A flood of made-up methods, without a token, adds one series (method="OTHER") and no more: the
// method label comes from a fixed set, and so does the log line's method.
func TestMetricsMethodFloodIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, http.StatusOK, b.call(t, "GET", "/healthz", "", nil).status)
	before := b.exposition(t)

	const requests = 2000
	letters := "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			for range requests / 8 {
				m := make([]byte, 4+rng.IntN(12))
				for i := range m {
					m[i] = letters[rng.IntN(len(letters))]
				}
				req, err := http.NewRequest(string(m), b.url+"/healthz", nil)
				if err == nil {
					var res *http.Response
					if res, err = b.client.Do(req); err == nil {
						_ = res.Body.Close()
					}
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	// One long made-up method: answered, and neither logged nor echoed whole.
	long := strings.Repeat("X", 64<<10)
	r := b.raw(t, long, "/healthz", "", nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	require.Less(t, len(r.body), 1024, "the answer echoes the method whole")
	require.NotContains(t, b.logs.String(), strings.Repeat("X", 100))

	after := b.exposition(t)
	series := regexp.MustCompile(`(?m)^crmflow_http_requests_total\{.*$`)
	added := len(series.FindAllString(after, -1)) - len(series.FindAllString(before, -1))
	require.Equal(t, 1, added, "series of crmflow_http_requests_total added by the flood:\n%s", after)
	require.Contains(t, after, fmt.Sprintf(`crmflow_http_requests_total{method="OTHER",route="unmatched",status="405"} %d`, requests+1))
	require.Less(t, len(after), 64<<10, "exposition size")

	// The log lines name the method OTHER.
	require.Equal(t, requests+1, bytes.Count([]byte(b.logs.String()), []byte(`"method":"OTHER"`)))
}

// A request runs within its deadline (Config.RequestTimeout): a preview whose trigger would take
// seconds per batch of records answers 503 with Retry-After at the deadline, in the error shape.
func TestRequestDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.serve(t, &api.Config{Logger: slog.New(slog.NewJSONHandler(b.logs, nil)), RequestTimeout: 300 * time.Millisecond})
	in := make([]crm.RecordInput, 500)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"firstname": fmt.Sprint("C", i)}}
	}
	_, err := b.store.CreateRecords(b.ctx, b.tenantA, crm.Contacts, in, crm.Actor{User: userEmail})
	require.NoError(t, err)

	heavy := "name: heavy\nobject_type: contacts\ntrigger: 'any(1..1000, {any(1..1000, {# == -1})})'\nactions:\n  - type: delete_contact\n"
	r := b.raw(t, "POST", "/automation/v4/flows/preview", "Bearer "+b.tokens[tokRead], yamlBody(heavy))
	e := expectError(t, r, http.StatusServiceUnavailable, "TIMEOUT")
	require.Contains(t, e.Message, "deadline")
	require.Equal(t, "5", r.header.Get("Retry-After"))
}

// A request whose token is bad is refused before its body is read: the answer comes although the
// body never arrives (net/http would otherwise wait for it), and the connection is closed.
func TestBadTokenRefusedBeforeBody(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct{ name, auth string }{
		{"BadToken", "Authorization: Bearer not-a-token\r\n"},
		{"NoToken", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", strings.TrimPrefix(b.url, "http://"))
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close() })
			// The deadline of the feature: an answer at once, not at a read timeout (the test server has none).
			require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
			_, err = fmt.Fprintf(conn, "POST /crm/v3/objects/contacts HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", tc.auth)
			require.NoError(t, err)
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			defer res.Body.Close()
			require.Equal(t, http.StatusUnauthorized, res.StatusCode)
			require.True(t, res.Close, "the connection is closed after the refusal")
		})
	}
}

// troubleBundle is a server over a store on a redis-server of the test's own, which the test
// kills, stops (SIGSTOP) or fills. Its client has the options crmflow's commands give theirs:
// context deadlines honoured, short timeouts, one retry.
func setupTrouble(t *testing.T) (*testBundle, *redistest.Server) {
	t.Helper()
	srv, err := redistest.StartAOF(t.TempDir()) // killed and started again, it keeps every write
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	t.Cleanup(func() { _ = srv.Resume() }) // before Stop: a stopped server answers no SHUTDOWN
	b := bundleOn(t, srv, func(opt *redis.Options) {
		opt.ContextTimeoutEnabled = true
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout, opt.MaxRetries = time.Second, time.Second, time.Second, 2*time.Second, 1
	})
	b.tokens[tokAll] = b.user(t, b.tenantA, "all@a.example", "all")
	rdb := b.rdb
	b.serve(t, &api.Config{
		Logger:         slog.New(slog.NewJSONHandler(b.logs, nil)),
		Ready:          func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		RequestTimeout: 3 * time.Second,
	})
	b.client.Timeout = 20 * time.Second // far beyond the request deadline: a hang fails the test
	return b, srv
}

// bundleOn is a bundle whose store is on srv, a redis-server of the test's own, through a client
// with the options configure sets; its tenant A exists, with no user yet, and nothing serves it.
func bundleOn(t *testing.T, srv *redistest.Server, configure func(*redis.Options)) *testBundle {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL)
	require.NoError(t, err)
	if configure != nil {
		configure(opt)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	b := &testBundle{store: st, rdb: rdb, ctx: context.Background(), tenantA: crm.TenantID(redistest.Tenant(t)),
		tokens: map[string]string{}, logs: &syncBuffer{}}
	_, err = st.CreateTenant(b.ctx, b.tenantA, crm.PlanProfessional)
	require.NoError(t, err)
	return b
}

// expectUnavailable checks the answer to a request while the store is in trouble: 503 in the
// error shape, with Retry-After and the message, and nothing of the internals.
func expectUnavailable(t *testing.T, r response, retryAfter, message string) {
	t.Helper()
	e := expectError(t, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	require.Contains(t, e.Message, message)
	require.Equal(t, retryAfter, r.header.Get("Retry-After"))
	for _, internal := range []string{"127.0.0.1", "dial", "refused", "timeout", "OOM", "redis"} {
		require.NotContains(t, string(r.body), internal)
	}
}

// Whatever the Redis does (down, hung, full), the API answers 503 with Retry-After within the
// request deadline, never a bare 500 and never a hang, and works again by itself when the Redis
// is back (SPEC S27).
func TestStoreTrouble(t *testing.T) {
	t.Parallel()
	contact := map[string]any{"properties": map[string]any{"firstname": "Ada"}}
	recovered := func(t *testing.T, b *testBundle) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for r := b.call(t, "GET", "/crm/v3/objects/contacts", tokAll, nil); r.status != http.StatusOK; r = b.call(t, "GET", "/crm/v3/objects/contacts", tokAll, nil) {
			require.True(t, time.Now().Before(deadline), "the API did not recover within 30s: %d %s", r.status, r.body)
			time.Sleep(50 * time.Millisecond) // poll interval
		}
		expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, contact), http.StatusCreated)
		// Ready again too: polled, since one probe may miss its 1 s on a loaded machine.
		for r := b.call(t, "GET", "/readyz", "", nil); r.status != http.StatusOK; r = b.call(t, "GET", "/readyz", "", nil) {
			require.True(t, time.Now().Before(deadline), "not ready again within 30s: %d %s\n%s", r.status, r.body, b.logs.String())
			time.Sleep(50 * time.Millisecond) // poll interval
		}
	}

	t.Run("Down", func(t *testing.T) {
		t.Parallel()
		b, srv := setupTrouble(t)
		require.NoError(t, srv.Kill())
		expectUnavailable(t, b.call(t, "GET", "/crm/v3/objects/contacts", tokAll, nil), "5", "the store is unavailable, retry later")
		expectUnavailable(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, contact), "5", "the store is unavailable, retry later")
		e := expectError(t, b.call(t, "GET", "/readyz", "", nil), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
		require.Equal(t, "not ready: redis unavailable", e.Message)
		require.NotContains(t, b.logs.String(), `"status":500`)

		require.NoError(t, srv.Restart())
		recovered(t, b)
	})

	t.Run("Hung", func(t *testing.T) {
		t.Parallel()
		b, srv := setupTrouble(t)
		require.NoError(t, srv.Pause())
		expectUnavailable(t, b.call(t, "GET", "/crm/v3/objects/contacts", tokAll, nil), "5", "the store is unavailable, retry later")
		expectUnavailable(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, contact), "5", "the store is unavailable, retry later")
		// /readyz answers within 2 s (the deadline is the feature), naming only what is unavailable.
		ready := &http.Client{Timeout: 2 * time.Second}
		res, err := ready.Get(b.url + "/readyz")
		require.NoError(t, err)
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		_ = res.Body.Close()
		e := expectError(t, response{status: res.StatusCode, header: res.Header, body: raw}, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
		require.Equal(t, "not ready: redis unavailable", e.Message)
		require.NotContains(t, b.logs.String(), `"status":500`)

		require.NoError(t, srv.Resume())
		recovered(t, b)
	})

	t.Run("BusyWithAScript", func(t *testing.T) {
		t.Parallel()
		b, srv := setupTrouble(t)
		// Past its busy-reply-threshold (lua-time-limit), a Redis running a script answers every
		// other command BUSY until the script ends or is killed.
		require.NoError(t, b.rdb.ConfigSet(b.ctx, "lua-time-limit", "10").Err())
		opt, err := redis.ParseURL(srv.URL)
		require.NoError(t, err)
		looper := redis.NewClient(opt)
		t.Cleanup(func() { _ = looper.Close() })
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = looper.Eval(context.Background(), "while true do end", nil).Err() // ends at SCRIPT KILL
		}()
		deadline := time.Now().Add(30 * time.Second)
		for err := b.rdb.Ping(b.ctx).Err(); err == nil || !strings.Contains(err.Error(), "BUSY"); err = b.rdb.Ping(b.ctx).Err() {
			require.True(t, time.Now().Before(deadline), "Redis never answered BUSY: %v", err)
			time.Sleep(10 * time.Millisecond) // poll interval
		}
		expectUnavailable(t, b.call(t, "GET", "/crm/v3/objects/contacts", tokAll, nil), "5", "the store is unavailable, retry later")
		expectUnavailable(t, b.call(t, "POST", "/crm/v3/objects/contacts/search", tokAll, map[string]any{}), "5", "the store is unavailable, retry later")
		require.NotContains(t, b.logs.String(), `"status":500`)

		killer := redis.NewClient(opt)
		t.Cleanup(func() { _ = killer.Close() })
		require.NoError(t, killer.ScriptKill(b.ctx).Err())
		<-done
		recovered(t, b)
	})

	t.Run("Full", func(t *testing.T) {
		t.Parallel()
		b, _ := setupTrouble(t)
		id := b.create(t, b.tenantA, crm.Contacts, map[string]string{"firstname": "Before"})
		// Used memory is over a maxmemory of 1 byte at once: with noeviction every write is refused.
		require.NoError(t, b.rdb.ConfigSet(b.ctx, "maxmemory", "1").Err())
		expectUnavailable(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, contact), "30", "the store is full")
		expectUnavailable(t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+string(id), tokAll, contact), "30", "the store is full")
		// Reads still work, and the store is ready for them.
		expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(id), tokAll, nil), http.StatusOK)
		require.NotContains(t, b.logs.String(), `"status":500`)

		require.NoError(t, b.rdb.ConfigSet(b.ctx, "maxmemory", "0").Err())
		recovered(t, b)
	})
}
