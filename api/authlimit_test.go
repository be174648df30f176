package api_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
)

// lookupCounter is the bundle's store, counting the token lookups the server asks of it.
type lookupCounter struct {
	crm.Store
	n atomic.Int64
}

func (s *lookupCounter) Authenticate(ctx context.Context, token string) (crm.Principal, error) {
	s.n.Add(1)
	return s.Store.Authenticate(ctx, token)
}

// limitBundle is a server with a limit of three failed authentications a minute per client, and
// clients on two loopback addresses: 127.0.0.1 (the trusted proxy, when the server trusts one) and
// 127.0.0.2.
type limitBundle struct {
	*testBundle
	url     string
	store   *lookupCounter
	reg     *prometheus.Registry
	proxy   *http.Client // from 127.0.0.1
	other   *http.Client // from 127.0.0.2
	bad     string       // a well-formed token of tenant A that the store does not know
	missing int          // the lookups expected so far
}

func setupLimit(t *testing.T, trusted ...netip.Prefix) *limitBundle {
	t.Helper()
	b := setup(t)
	lb := &limitBundle{testBundle: b, store: &lookupCounter{Store: b.store}, reg: prometheus.NewRegistry(),
		bad: "cft_" + string(b.tenantA) + "_" + strings.Repeat("0", 64)}
	srv, err := api.New(lb.store, &api.Config{
		AuthFailureLimit:  3,
		AuthFailureWindow: time.Minute,
		Clock:             b.clock,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer:        lb.reg,
		TrustedProxies:    trusted,
	})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	lb.url = ts.URL
	lb.proxy, lb.other = clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2")
	return lb
}

// clientFrom returns a client whose connections come from the loopback address ip.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// get sends GET /crm/v3/tenant from client with token and, if not empty, X-Forwarded-For xff.
func (lb *limitBundle) get(t *testing.T, client *http.Client, token, xff string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(lb.ctx, http.MethodGet, lb.url+"/crm/v3/tenant", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

// ok and failed and refused send one request and check its answer: 200, 401 (the token looked up
// and refused) or 429 (refused without a lookup) with the Retry-After retry.
func (lb *limitBundle) ok(t *testing.T, client *http.Client, xff string) {
	t.Helper()
	lb.okWith(t, client, lb.tokens[tokRead], xff)
}

// okWith sends token, which must be looked up and accepted.
func (lb *limitBundle) okWith(t *testing.T, client *http.Client, token, xff string) {
	t.Helper()
	lb.missing++
	r := lb.get(t, client, token, xff)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.EqualValues(t, lb.missing, lb.store.n.Load())
}

func (lb *limitBundle) failed(t *testing.T, client *http.Client, xff string) {
	t.Helper()
	lb.missing++
	expectError(t, lb.get(t, client, lb.bad, xff), http.StatusUnauthorized, "INVALID_AUTHENTICATION")
	require.EqualValues(t, lb.missing, lb.store.n.Load())
}

func (lb *limitBundle) refused(t *testing.T, client *http.Client, token, xff, retry string) {
	t.Helper()
	r := lb.get(t, client, token, xff)
	e := expectError(t, r, http.StatusTooManyRequests, "RATE_LIMITS")
	require.Equal(t, retry, r.header.Get("Retry-After"))
	require.Equal(t, "TOO_MANY_AUTH_FAILURES", e.Errors[0].Code)
	require.Equal(t, "Authorization", e.Errors[0].In)
	// The window and the wait are whole seconds, as Retry-After is: no Go duration ("1m0s").
	require.Equal(t, map[string][]string{"maxFailures": {"3"}, "windowSeconds": {"60"}, "retryAfterSeconds": {retry}}, e.Context)
	require.Contains(t, e.Message, "too many failed authentications from your network address (3 within 1 minute): "+
		"the tokens already in use from it keep working, but any other token it sends is refused until")
	require.Contains(t, e.Message, "neither revoked nor expired")
	require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	require.EqualValues(t, lb.missing, lb.store.n.Load(), "a refused token is not looked up")
}

// refusals returns crmflow_http_auth_refusals_total by reason.
func (lb *limitBundle) refusals(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := lb.reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "crmflow_http_auth_refusals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			require.Len(t, m.GetLabel(), 1)
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return got
}

func TestAuthFailureLimit(t *testing.T) {
	t.Parallel()

	// Valid tokens never count; past three failures every token of the address is refused, a
	// valid one not in use yet too, without a lookup, until the minute from its first failure is
	// over. (The token in use goes on: TokenInUseKeepsWorkingDuringFlood.)
	t.Run("RefusedUntilTheWindowEnds", func(t *testing.T) {
		t.Parallel()
		lb := setupLimit(t)
		for range 5 {
			lb.ok(t, lb.proxy, "")
		}
		lb.failed(t, lb.proxy, "")
		lb.ok(t, lb.proxy, "")
		lb.clock.Advance(10 * time.Second)
		lb.failed(t, lb.proxy, "")
		lb.ok(t, lb.proxy, "")
		lb.failed(t, lb.proxy, "")
		lb.refused(t, lb.proxy, lb.bad, "", "50")
		lb.refused(t, lb.proxy, lb.tokens[tokWrite], "", "50")
		lb.clock.Advance(49*time.Second + 500*time.Millisecond)
		lb.refused(t, lb.proxy, lb.tokens[tokWrite], "", "1")
		lb.clock.Advance(500 * time.Millisecond)
		lb.ok(t, lb.proxy, "")
		lb.failed(t, lb.proxy, "") // a new window
		lb.ok(t, lb.proxy, "")
		require.Equal(t, map[string]float64{"invalid_token": 4, "rate_limited": 3}, lb.refusals(t))
	})

	// Without trusted proxies, X-Forwarded-For is the client's to write: a new one on each attempt
	// dodges nothing, and naming another address locks that one out of nothing.
	t.Run("SpoofedForwardedFor", func(t *testing.T) {
		t.Parallel()
		lb := setupLimit(t)
		lb.failed(t, lb.proxy, "198.51.100.1")
		lb.failed(t, lb.proxy, "198.51.100.2")
		lb.failed(t, lb.proxy, "127.0.0.2")
		lb.refused(t, lb.proxy, lb.bad, "198.51.100.3", "60")
		lb.refused(t, lb.proxy, lb.tokens[tokRead], "127.0.0.2", "60")
		lb.ok(t, lb.other, "")
		lb.failed(t, lb.other, "127.0.0.1")
		lb.ok(t, lb.other, "127.0.0.1")
	})

	// Behind a trusted proxy each client counts by the address the proxy appends last: another
	// client behind it is not locked out, a hop the client writes itself dodges nothing, and a
	// peer that is no trusted proxy counts as itself, whatever it says.
	t.Run("BehindTrustedProxy", func(t *testing.T) {
		t.Parallel()
		lb := setupLimit(t, netip.MustParsePrefix("127.0.0.1/32"))
		for range 3 {
			lb.failed(t, lb.proxy, "198.51.100.7")
		}
		lb.refused(t, lb.proxy, lb.tokens[tokRead], "198.51.100.7", "60")
		lb.refused(t, lb.proxy, lb.bad, "203.0.113.99, 198.51.100.7", "60")
		lb.refused(t, lb.proxy, lb.bad, "198.51.100.7, 127.0.0.1", "60") // the proxy's own hop is skipped
		lb.ok(t, lb.proxy, "198.51.100.8")
		lb.ok(t, lb.proxy, "") // the proxy itself

		for range 3 {
			lb.failed(t, lb.other, "198.51.100.8")
		}
		lb.refused(t, lb.other, lb.tokens[tokWrite], "198.51.100.9", "60")
		lb.ok(t, lb.proxy, "198.51.100.8")
	})

	// Two integrations behind one address: the one whose token was revoked retries without end,
	// and the other's token, accepted before, is served (and looked up) all along, window after
	// window, while every other token of the address waits.
	t.Run("TokenInUseKeepsWorkingDuringFlood", func(t *testing.T) {
		t.Parallel()
		lb := setupLimit(t)
		lb.ok(t, lb.proxy, "")
		for minute := range 3 {
			for range 3 {
				lb.failed(t, lb.proxy, "")
			}
			lb.refused(t, lb.proxy, lb.bad, "", "60")
			lb.ok(t, lb.proxy, "")
			lb.clock.Advance(30 * time.Second)
			lb.refused(t, lb.proxy, lb.bad, "", "30")
			lb.ok(t, lb.proxy, "")
			lb.clock.Advance(30 * time.Second)
			require.Equal(t, map[string]float64{"invalid_token": float64(3 * (minute + 1)), "rate_limited": float64(2 * (minute + 1))},
				lb.refusals(t))
		}
	})

	// A valid token the server has not accepted yet is one more token the address could be
	// guessing: it waits for the window like any other, and from then on it is in use.
	t.Run("NewTokenWaitsForTheWindow", func(t *testing.T) {
		t.Parallel()
		lb := setupLimit(t)
		lb.ok(t, lb.proxy, "")
		for range 3 {
			lb.failed(t, lb.proxy, "")
		}
		lb.refused(t, lb.proxy, lb.tokens[tokWrite], "", "60")
		lb.ok(t, lb.proxy, "")
		lb.clock.Advance(time.Minute)
		lb.okWith(t, lb.proxy, lb.tokens[tokWrite], "")
		for range 3 {
			lb.failed(t, lb.proxy, "")
		}
		lb.okWith(t, lb.proxy, lb.tokens[tokWrite], "")
		lb.refused(t, lb.proxy, lb.tokens[tokAll], "", "60")
	})

	// A token accepted and then revoked is still looked up: refused with 401, counted, and
	// forgotten, so that its next attempt from the address over its limit costs no lookup.
	t.Run("RevokedTokenInUseIsRefused", func(t *testing.T) {
		t.Parallel()
		lb := setupLimit(t)
		revoked := lb.tokens[tokWrite]
		lb.okWith(t, lb.proxy, revoked, "")
		lb.ok(t, lb.proxy, "")
		for range 3 {
			lb.failed(t, lb.proxy, "")
		}
		require.NoError(t, lb.store.RevokeToken(lb.ctx, lb.tenantA, crm.TokenID(revoked), "admin"))
		lb.missing++
		expectError(t, lb.get(t, lb.proxy, revoked, ""), http.StatusUnauthorized, "INVALID_AUTHENTICATION")
		require.EqualValues(t, lb.missing, lb.store.n.Load())
		require.Equal(t, map[string]float64{"invalid_token": 4, "rate_limited": 0}, lb.refusals(t))
		lb.refused(t, lb.proxy, revoked, "", "60")
		lb.ok(t, lb.proxy, "")
		require.Equal(t, map[string]float64{"invalid_token": 4, "rate_limited": 1}, lb.refusals(t))
	})
}
