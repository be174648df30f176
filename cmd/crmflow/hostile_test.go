package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/redistest"
)

// The hostile-load tests run `crmflow serve` as a deployment does and treat it as an attacker or a
// careless client would (SPEC S27): made-up methods by the thousand, bodies that trickle or never
// come, connections that stay idle, and a Redis that goes down, hangs or fills up. Each figure
// they measure is logged.

// rawConn dials addr and sets a deadline on everything the test does with the connection.
func rawConn(t *testing.T, addr string, deadline time.Duration) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(deadline)))
	return conn
}

// closedByServer reads conn until the server closes it (or answers and then closes it), and fails
// the test when the test's own deadline on conn comes first.
func closedByServer(t *testing.T, conn net.Conn, what string) {
	t.Helper()
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server did not close the connection", what)
	}
}

// rssMB is the resident set size of process pid, in MB.
func rssMB(t *testing.T, pid int) float64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`).FindSubmatch(raw)
	require.NotNil(t, m)
	kb, err := strconv.Atoi(string(m[1]))
	require.NoError(t, err)
	return float64(kb) / 1024
}

func TestServeHostileClients(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	_, token := b.opsTenant(t)
	addr, admin := freeAddr(t), freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL, "--log-format", "json", "--admin-addr", admin,
		"--read-header-timeout", "1s", "--read-timeout", "2s", "--request-timeout", "2s", "--write-timeout", "5s")
	waitReady(t, api, base)
	t.Cleanup(func() { require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr) })

	t.Run("MadeUpMethods", func(t *testing.T) {
		t.Parallel()
		const requests = 3000
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		t.Cleanup(client.CloseIdleConnections)
		var wg sync.WaitGroup
		errs := make(chan error, requests)
		began := time.Now()
		for g := range 4 {
			wg.Go(func() {
				for i := g; i < requests; i += 4 {
					req, err := http.NewRequest("M"+strings.Repeat("X", i%50)+strconv.Itoa(i), base+"/healthz", nil)
					if err == nil {
						var res *http.Response
						if res, err = client.Do(req); err == nil {
							_, _ = io.Copy(io.Discard, res.Body)
							_ = res.Body.Close()
						}
					}
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		code, body := get(t, "http://"+admin+"/metrics")
		require.Equal(t, http.StatusOK, code)
		series := regexp.MustCompile(`(?m)^crmflow_http_requests_total\{.*method="(.*?)".*$`).FindAllStringSubmatch(body, -1)
		methods := map[string]bool{}
		for _, s := range series {
			methods[s[1]] = true
		}
		rss := rssMB(t, api.cmd.Process.Pid)
		t.Logf("%d made-up methods in %s: /metrics is %d bytes with %d request series (methods %v); API RSS %.1f MB",
			requests, time.Since(began).Round(time.Millisecond), len(body), len(series), methods, rss)
		require.Less(t, len(body), 64<<10)
		for m := range methods {
			require.Contains(t, []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}, m)
		}
		require.Regexp(t, fmt.Sprintf(`(?m)^crmflow_http_requests_total\{method="OTHER",route="unmatched",status="405"\} %d$`, requests), body)
		if !raceEnabled { // the race detector multiplies the memory of a process
			require.Less(t, rss, 100.0)
		}
		require.NotContains(t, api.stderr.String(), `"method":"MXX`)
	})

	t.Run("TrickledBodyIsCut", func(t *testing.T) {
		t.Parallel()
		conn := rawConn(t, addr, 30*time.Second)
		began := time.Now()
		_, err := fmt.Fprintf(conn, "POST /crm/v3/objects/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", token)
		require.NoError(t, err)
		done := make(chan struct{})
		go func() { // one byte every 100 ms: the body would take 100 s
			defer close(done)
			for range 999 {
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		closedByServer(t, conn, "a trickled body (--read-timeout 2s)")
		_ = conn.Close()
		<-done
		t.Logf("a body trickled at 10 bytes/s was cut after %s (--read-timeout 2s)", time.Since(began).Round(time.Millisecond))
	})

	t.Run("BadTokenBodyNeverSent", func(t *testing.T) {
		t.Parallel()
		conn := rawConn(t, addr, 10*time.Second)
		_, err := fmt.Fprintf(conn, "POST /crm/v3/objects/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"+
			"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
		require.NoError(t, err)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		_ = res.Body.Close()
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
		require.True(t, res.Close)
	})

}

// Idle connections are cut at --read-header-timeout, and connections over --max-connections are
// closed at once; the API serves again once they are gone.
func TestServeConnectionLimits(t *testing.T) {
	t.Parallel()
	addr, admin := freeAddr(t), freeAddr(t)
	base := "http://" + addr
	const maxConns = 16
	api := start(t, nil, "serve", "--addr", addr, "--redis", redistest.URL(t), "--read-header-timeout", "1s",
		"--max-connections", strconv.Itoa(maxConns), "--admin-addr", admin)
	waitReady(t, api, base)
	t.Cleanup(func() { require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr) })

	// Idle connections, more than the cap: each is closed by the server, at once when over the
	// cap, else at its header deadline.
	began := time.Now()
	var wg sync.WaitGroup
	for range 50 {
		conn := rawConn(t, addr, 30*time.Second)
		wg.Go(func() { closedByServer(t, conn, "an idle connection (--read-header-timeout 1s)") })
	}
	wg.Wait()
	t.Logf("50 idle connections were all closed by the server after %s", time.Since(began).Round(time.Millisecond))

	// Connections that made a request and stay open (keep-alive): those within the cap are
	// answered, the others closed at once. The test's other clients may hold a few slots.
	answered, refused := 0, 0
	for range maxConns + 5 {
		conn := rawConn(t, addr, 20*time.Second)
		_, err := fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if err == nil {
			var res *http.Response
			if res, err = http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
				_ = res.Body.Close()
				require.Equal(t, http.StatusOK, res.StatusCode)
				answered++
				continue
			}
		}
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "a connection over the cap hangs: %v", err)
		refused++
	}
	t.Logf("%d keep-alive connections: %d answered, %d closed at once (--max-connections %d)", maxConns+5, answered, refused, maxConns)
	require.LessOrEqual(t, answered, maxConns)
	require.GreaterOrEqual(t, refused, 5)

	// Once those connections are cut (at their header deadline), the API serves again.
	eventually(t, 20*time.Second, "the API to serve again", func() bool {
		code, _ := get(t, base+"/healthz")
		return code == http.StatusOK
	})
	v, ok := metric(t, "http://"+admin, "crmflow_http_connections_refused_total")
	require.True(t, ok)
	require.GreaterOrEqual(t, v, 5.0)
}

// callFull makes one API request with a client timeout far beyond the request deadline, and
// returns the status, the Retry-After header and the body.
func callFull(t *testing.T, method, url, token, body string) (int, string, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	require.NoError(t, err, "the API hangs")
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header.Get("Retry-After"), string(raw)
}

// Whatever its Redis does, `crmflow serve` answers within the request deadline: 503 with
// Retry-After for a Redis that is hung (SIGSTOP), down, or full (for writes), /readyz within 2 s
// without internals, and it works again by itself when the Redis is back.
func TestServeRedisTrouble(t *testing.T) {
	t.Parallel()
	srv, err := redistest.StartAOF(t.TempDir()) // killed and started again, it keeps every write
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	t.Cleanup(func() { _ = srv.Resume() }) // before Stop: a stopped server answers no SHUTDOWN
	b := bundleOn(t, srv.URL)
	_, token := b.opsTenant(t)
	addr := freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", srv.URL, "--log-format", "json") // --request-timeout 15s
	waitReady(t, api, base)
	t.Cleanup(func() { require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr) })

	contacts := base + "/crm/v3/objects/contacts"
	contact := `{"properties":{"firstname":"Ada"}}`
	unavailable := func(t *testing.T, what, retryAfter, message string) {
		t.Helper()
		for _, m := range []string{"GET", "POST"} {
			if m == "GET" && retryAfter == "30" {
				continue // a full store still reads
			}
			began := time.Now()
			code, ra, body := callFull(t, m, contacts, token, map[string]string{"GET": "", "POST": contact}[m])
			t.Logf("%s: %s answered %d in %s", what, m, code, time.Since(began).Round(time.Millisecond))
			require.Equal(t, http.StatusServiceUnavailable, code, "body: %s", body)
			require.Equal(t, retryAfter, ra)
			require.Contains(t, body, message)
			require.NotContains(t, body, "127.0.0.1")
		}
	}
	notReady := func(t *testing.T, what string) {
		t.Helper()
		began := time.Now()
		res, err := (&http.Client{Timeout: 2 * time.Second}).Get(base + "/readyz") // the deadline of the feature
		require.NoError(t, err, "/readyz did not answer within 2s")
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		_ = res.Body.Close()
		t.Logf("%s: /readyz answered %d in %s: %s", what, res.StatusCode, time.Since(began).Round(time.Millisecond), raw)
		require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		require.Contains(t, string(raw), `"message":"not ready: redis unavailable"`)
		require.NotContains(t, string(raw), "127.0.0.1")
	}
	recovered := func(t *testing.T, what string) {
		t.Helper()
		began := time.Now()
		eventually(t, 30*time.Second, what+": the API to work again", func() bool {
			code, _, _ := callFull(t, "GET", contacts, token, "")
			return code == http.StatusOK
		})
		code, _, body := callFull(t, "POST", contacts, token, contact)
		require.Equal(t, http.StatusCreated, code, "body: %s", body)
		t.Logf("%s: working again %s after the Redis came back", what, time.Since(began).Round(time.Millisecond))
	}

	// Hung: SIGSTOP, then SIGCONT.
	require.NoError(t, srv.Pause())
	unavailable(t, "hung", "5", "the store is unavailable, retry later")
	notReady(t, "hung")
	require.NoError(t, srv.Resume())
	recovered(t, "hung")

	// Down: SIGKILL, then started again from its AOF.
	require.NoError(t, srv.Kill())
	unavailable(t, "down", "5", "the store is unavailable, retry later")
	notReady(t, "down")
	require.NoError(t, srv.Restart())
	recovered(t, "down")

	// Full: a maxmemory below what it uses, with noeviction: writes are refused, reads work.
	require.NoError(t, b.rdb.ConfigSet(b.ctx, "maxmemory", "1").Err())
	unavailable(t, "full", "30", "the store is full")
	code, _, _ := callFull(t, "GET", contacts, token, "")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, b.rdb.ConfigSet(b.ctx, "maxmemory", "0").Err())
	recovered(t, "full")

	// Never a bare 500, and go-redis's own lines come through slog as JSON.
	for _, line := range strings.Split(strings.TrimSpace(api.stderr.String()), "\n") {
		require.True(t, strings.HasPrefix(line, "{"), "a log line that is not JSON: %s", line)
		require.NotContains(t, line, `"status":500`)
	}
}

// TestServeWriteOutcomeUnknown hangs Redis (SIGSTOP) again and again while clients create
// contacts in batches, until one batch answered 503 was made all the same (Redis ran it once it
// went on). Every such 503 says the change may have been made (OUTCOME_UNKNOWN), so that its
// client reads before retrying instead of creating the batch twice; every 503 saying "retry later"
// (STORE_UNAVAILABLE) made nothing.
func TestServeWriteOutcomeUnknown(t *testing.T) {
	t.Parallel()
	srv, err := redistest.StartServer("")
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	t.Cleanup(func() { _ = srv.Resume() }) // before Stop: a stopped server answers no SHUTDOWN
	b := bundleOn(t, srv.URL)
	_, token := b.opsTenant(t)
	addr := freeAddr(t)
	base := "http://" + addr
	// Short Redis timeouts and no retry: a call to the hung Redis fails in half a second.
	api := start(t, nil, "serve", "--addr", addr, "--redis", srv.URL+"?read_timeout=500ms&write_timeout=500ms&max_retries=-1")
	waitReady(t, api, base)
	t.Cleanup(func() { require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr) })

	type answer struct {
		code  int
		body  string
		email string // the batch's first contact's
	}
	var (
		mu      sync.Mutex
		answers []answer
		wg      sync.WaitGroup
	)
	stop := make(chan struct{})
	client := &http.Client{Timeout: 20 * time.Second}
	for c := range 8 {
		wg.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				first := fmt.Sprintf("c%d-%d@example.com", c, k)
				req, _ := http.NewRequest(http.MethodPost, base+"/crm/v3/objects/contacts/batch/create",
					strings.NewReader(fmt.Sprintf(`{"inputs":[{"properties":{"email":%q}},{"properties":{"firstname":"B"}}]}`, first)))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				code, body := 0, "no answer"
				if res, err := client.Do(req); err == nil {
					raw, _ := io.ReadAll(res.Body)
					_ = res.Body.Close()
					code, body = res.StatusCode, string(raw)
				}
				mu.Lock()
				answers = append(answers, answer{code, body, first})
				mu.Unlock()
			}
		})
	}
	made := func(email string) bool {
		_, err := b.store.ContactByEmail(b.ctx, crm.TenantID(b.tenant), email)
		if errors.Is(err, crm.ErrNotFound) {
			return false
		}
		require.NoError(t, err)
		return true
	}
	unknownMade := 0
	for pauses := 0; unknownMade == 0; pauses++ {
		require.Less(t, pauses, 30, "no batch answered 503 was made while Redis hung")
		require.NoError(t, srv.Pause())
		time.Sleep(time.Second) // hung: the calls in flight fail after their 500ms
		require.NoError(t, srv.Resume())
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		seen := slices.Clone(answers)
		mu.Unlock()
		unknownMade = 0
		for _, a := range seen {
			if a.code == http.StatusServiceUnavailable && made(a.email) {
				require.Contains(t, a.body, `"code":"OUTCOME_UNKNOWN"`, "a 503 whose batch was made")
				require.Contains(t, a.body, "it may have been made or not. Read the records before you retry")
				unknownMade++
			}
		}
	}
	close(stop)
	wg.Wait()
	counts := map[string]int{}
	for _, a := range answers {
		switch {
		case a.code == http.StatusCreated:
			counts["created"]++
		case strings.Contains(a.body, `"code":"STORE_UNAVAILABLE"`):
			require.False(t, made(a.email), "a batch answered STORE_UNAVAILABLE was made: %s", a.body)
			counts["unavailable, not made"]++
		case strings.Contains(a.body, `"code":"OUTCOME_UNKNOWN"`):
			counts[fmt.Sprintf("outcome unknown, made %v", made(a.email))]++
		default:
			t.Fatalf("answer %d: %s", a.code, a.body)
		}
	}
	t.Logf("batches: %v", counts)
}

// The limits must make sense together: a usage error names the flag (or its variable's value).
func TestServeLimitFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"WriteNotAboveRequest", nil, []string{"--request-timeout", "30s"}, "--write-timeout (30s) must exceed --request-timeout (30s)"},
		{"ZeroReadTimeout", nil, []string{"--read-timeout", "0s"}, "--read-timeout must be positive"},
		{"NoConnections", []string{"CRMFLOW_MAX_CONNECTIONS=0"}, nil, "--max-connections must be at least 1"},
		{"TinyHeaders", nil, []string{"--max-header-bytes", "100"}, "--max-header-bytes must be at least 4096"},
		{"NoTenantRequests", nil, []string{"--max-tenant-requests", "0"}, "--max-tenant-requests must be at least 1, got 0"},
		{"TenantRequestsNotANumber", []string{"CRMFLOW_MAX_TENANT_REQUESTS=many"}, nil,
			"environment variable CRMFLOW_MAX_TENANT_REQUESTS (for --max-tenant-requests) is invalid"},
		{"TenantRequestsNotBelowConnections", []string{"CRMFLOW_MAX_CONNECTIONS=100"}, []string{"--max-tenant-requests", "100"},
			"--max-tenant-requests (100) must be below --max-connections (100): each request in flight holds a connection, " +
				"so a cap at or above the connection cap lets one tenant take every connection"},
		{"TenantRequestsFromEnvNotBelowConnections", []string{"CRMFLOW_MAX_TENANT_REQUESTS=16"}, []string{"--max-connections", "16"},
			"--max-tenant-requests (16) must be below --max-connections (16)"},
		{"BadVariable", []string{"CRMFLOW_REQUEST_TIMEOUT=soon"}, nil, "CRMFLOW_REQUEST_TIMEOUT"},
		{"BadTrustedProxy", nil, []string{"--trusted-proxies", "10.0.0.1,proxy.internal"},
			`"proxy.internal" is not an IP address or a CIDR range: give addresses such as 10.0.0.5 or ranges such as 10.0.0.0/8`},
		{"ZeroConsoleIdleTimeout", []string{"CRMFLOW_CONSOLE_IDLE_TIMEOUT=0s"}, nil, "--console-idle-timeout must be positive, got 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"serve", "--redis", "redis://127.0.0.1:1/0"}, tc.args...)
			_, stderr, code := crmflow(t, tc.env, args...)
			require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
			require.Contains(t, stderr, tc.want)
		})
	}
}

// headersOf sends method url with the headers hdr (name, value, ...) and returns the answer's
// status and header; redirects are not followed.
func headersOf(t *testing.T, method, url string, hdr ...string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	res, err := client.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode, res.Header
}

// apiSecurityHeaders are the headers of every answer of the API and of the admin listener.
var apiSecurityHeaders = map[string]string{
	"X-Content-Type-Options":  "nosniff",
	"Cache-Control":           "no-store",
	"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
}

// Every answer of --addr and of --admin-addr carries the API's security headers: the redirects of
// / and /console, the 404s and 405s of either listener, the metrics. Strict-Transport-Security
// goes only to requests that reached the deployment over HTTPS: from a trusted proxy saying so,
// or every request with --secure-cookies; never on the admin listener, which serves plain HTTP.
// A flood of bad tokens from one client behind the proxy is refused with 429 past 30 failures,
// a valid token not in use yet too, while another client behind the same proxy goes on; once
// that token is in use, it goes on from the flooding client's address as well.
func TestServeSecurityHeadersAndBearerFlood(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	_, token := b.opsTenant(t)
	addr, admin := freeAddr(t), freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL, "--admin-addr", admin, "--trusted-proxies", "127.0.0.1")
	waitReady(t, api, base)
	t.Cleanup(func() { require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr) })

	t.Run("Headers", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			method, url string
			status      int
		}{
			{"GET", base + "/", http.StatusSeeOther},
			{"GET", base + "/console", http.StatusTemporaryRedirect},
			{"GET", base + "/crm/../healthz", http.StatusTemporaryRedirect},
			{"GET", base + "/no-such-thing", http.StatusNotFound},
			{"DELETE", base + "/healthz", http.StatusMethodNotAllowed},
			{"GET", base + "/crm/v3/tenant", http.StatusUnauthorized},
			{"GET", "http://" + admin + "/metrics", http.StatusOK},
			{"GET", "http://" + admin + "/healthz", http.StatusOK},
			{"GET", "http://" + admin + "/no-such-thing", http.StatusNotFound},
			{"POST", "http://" + admin + "/metrics", http.StatusMethodNotAllowed},
		} {
			for _, proto := range []string{"", "https"} {
				status, h := headersOf(t, tc.method, tc.url, "X-Forwarded-Proto", proto)
				require.Equal(t, tc.status, status, "%s %s", tc.method, tc.url)
				for name, want := range apiSecurityHeaders {
					require.Equal(t, want, h.Get(name), "%s %s: %s", tc.method, tc.url, name)
				}
				hsts := ""
				if proto == "https" && strings.HasPrefix(tc.url, base) {
					hsts = "max-age=31536000"
				}
				require.Equal(t, hsts, h.Get("Strict-Transport-Security"), "%s %s, X-Forwarded-Proto %q", tc.method, tc.url, proto)
			}
		}
		// The console keeps its own policy, and its style sheet may be cached; HSTS covers it too.
		status, h := headersOf(t, "GET", base+"/console/static/console.css", "X-Forwarded-Proto", "https")
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, h.Get("Content-Security-Policy"), "style-src 'self'")
		require.Empty(t, h.Get("Cache-Control"))
		require.Equal(t, "max-age=31536000", h.Get("Strict-Transport-Security"))
	})

	t.Run("SecureCookiesMeansHTTPS", func(t *testing.T) {
		t.Parallel()
		addr := freeAddr(t)
		secure := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL, "--admin-addr", freeAddr(t), "--secure-cookies")
		waitReady(t, secure, "http://"+addr)
		t.Cleanup(func() { require.Equal(t, 0, secure.stop(t), "stderr:\n%s", secure.stderr) })
		for _, path := range []string{"/", "/no-such-thing", "/console/signin"} {
			_, h := headersOf(t, "GET", "http://"+addr+path)
			require.Equal(t, "max-age=31536000", h.Get("Strict-Transport-Security"), path)
		}
	})

	t.Run("BearerFlood", func(t *testing.T) {
		t.Parallel()
		client, other := "198.51.100.23", "198.51.100.24"
		bad := "cft_" + b.tenant + "_" + strings.Repeat("0", 64)
		for i := range 30 {
			status, _ := headersOf(t, "GET", base+"/crm/v3/tenant", "Authorization", "Bearer "+bad, "X-Forwarded-For", client)
			require.Equal(t, http.StatusUnauthorized, status, "failure %d", i+1)
		}
		for _, tok := range []string{bad, token} {
			status, h := headersOf(t, "GET", base+"/crm/v3/tenant", "Authorization", "Bearer "+tok, "X-Forwarded-For", client)
			require.Equal(t, http.StatusTooManyRequests, status)
			wait, err := strconv.Atoi(h.Get("Retry-After"))
			require.NoError(t, err)
			require.True(t, wait >= 1 && wait <= 60, "Retry-After %d", wait)
		}
		status, _ := headersOf(t, "GET", base+"/crm/v3/tenant", "Authorization", "Bearer "+token, "X-Forwarded-For", other)
		require.Equal(t, http.StatusOK, status)
		status, _ = headersOf(t, "GET", base+"/crm/v3/tenant", "Authorization", "Bearer "+token, "X-Forwarded-For", client)
		require.Equal(t, http.StatusOK, status)

		code, body := get(t, "http://"+admin+"/metrics")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, `crmflow_http_auth_refusals_total{reason="rate_limited"} 2`)
		require.Contains(t, body, `crmflow_http_auth_refusals_total{reason="invalid_token"} 30`+"\n")
	})
}
