package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/console"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/redistest"
)

// testBundle is a console and the API behind it on a real Redis, with one fresh tenant, an
// admin ("ops", every permission) and a reader (read only).
type testBundle struct {
	base string
	// transport reaches the server (it trusts the certificate of a TLS one).
	transport   http.RoundTripper
	store       *redisstore.Store
	tenant      crm.TenantID
	clock       *clock.Sim
	token       string
	readerToken string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupWith(t, api.Config{})
}

// setupWith is setup with the API's configuration apiCfg (its Clock is the bundle's).
func setupWith(t *testing.T, apiCfg api.Config) *testBundle {
	t.Helper()
	// Every test's browsers come from 127.0.0.1, one client to the sign-in limit: the limit's own
	// test sets it, the others stay clear of it.
	return setupConsole(t, apiCfg, console.Config{SessionTTL: time.Hour, SignInLimit: 1000}, false)
}

// setupConsole is setup with the API's configuration apiCfg and the console's conCfg (their
// Clock is the bundle's), served over HTTPS when overTLS.
func setupConsole(t *testing.T, apiCfg api.Config, conCfg console.Config, overTLS bool) *testBundle {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewSim(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: clk})
	require.NoError(t, err)
	tenant := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(ctx, tenant, crm.PlanProfessional)
	require.NoError(t, err)
	_, err = st.CreateUser(ctx, tenant, "ops@example.com", crm.Permissions{crm.PermRead, crm.PermWrite, crm.PermDelete,
		crm.PermBulkDelete, crm.PermRestore, crm.PermPermanentDelete}, "test")
	require.NoError(t, err)
	_, err = st.CreateUser(ctx, tenant, "reader@example.com", crm.Permissions{crm.PermRead}, "test")
	require.NoError(t, err)
	token, err := st.CreateToken(ctx, tenant, "ops@example.com", nil)
	require.NoError(t, err)
	readerToken, err := st.CreateToken(ctx, tenant, "reader@example.com", nil)
	require.NoError(t, err)

	apiCfg.Clock = clk
	apiSrv, err := api.New(st, &apiCfg)
	require.NoError(t, err)
	conCfg.Clock = clk
	con, err := console.New(apiSrv, st, st, &conCfg)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/console/", con)
	mux.Handle("/", apiSrv)
	srv := httptest.NewUnstartedServer(mux)
	if overTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return &testBundle{base: srv.URL, transport: srv.Client().Transport, store: st, tenant: tenant, clock: clk, token: token,
		readerToken: readerToken}
}

// browser is a client with its own cookies that does not follow redirects.
type browser struct {
	t      *testing.T
	b      *testBundle
	client *http.Client
	lang   string
	// header is sent with every request (an X-Forwarded-For, say).
	header http.Header
}

func (b *testBundle) browser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, b: b, client: &http.Client{Jar: jar, Transport: b.transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// do makes one request and returns the status, the Location header and the body.
func (br *browser) do(method, path string, form url.Values) (*http.Response, string) {
	br.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, br.b.base+path, body)
	require.NoError(br.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if br.lang != "" {
		req.Header.Set("Accept-Language", br.lang)
	}
	for k, v := range br.header {
		req.Header[k] = v
	}
	resp, err := br.client.Do(req)
	require.NoError(br.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(br.t, err)
	return resp, string(raw)
}

func (br *browser) get(path string) (*http.Response, string) { return br.do(http.MethodGet, path, nil) }

func (br *browser) post(path string, form url.Values) (*http.Response, string) {
	return br.do(http.MethodPost, path, form)
}

var (
	loginRE = regexp.MustCompile(`name="login" value="([^"]+)"`)
	csrfRE  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// signIn signs in with token through the form and returns the sign-in answer.
func (br *browser) signIn(token string) *http.Response {
	br.t.Helper()
	_, page := br.get("/console/signin")
	m := loginRE.FindStringSubmatch(page)
	require.NotNil(br.t, m, "the sign-in form carries its token: %s", page)
	resp, _ := br.post("/console/signin", url.Values{"login": {m[1]}, "token": {token}})
	return resp
}

// csrf reads the CSRF token of a signed-in page.
func (br *browser) csrf() string {
	br.t.Helper()
	_, page := br.get("/console/")
	m := csrfRE.FindStringSubmatch(page)
	require.NotNil(br.t, m, "a signed-in page carries the CSRF token: %s", page)
	return m[1]
}

// createContact creates a contact through the API and returns its id.
func (b *testBundle) createContact(t *testing.T, props map[string]string) string {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"properties": props})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, b.base+"/crm/v3/objects/contacts", bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.ID
}

// live reports whether contact id is live.
func (b *testBundle) live(t *testing.T, id string) bool {
	t.Helper()
	recs, err := b.store.Records(context.Background(), b.tenant, crm.Contacts, []crm.RecordID{crm.RecordID(id)}, nil)
	require.NoError(t, err)
	return len(recs) == 1
}

func TestSignInAndOut(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("SignedOutGoesToSignIn", func(t *testing.T) {
		t.Parallel()
		resp, _ := b.browser(t).get("/console/objects/contacts")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/console/signin", resp.Header.Get("Location"))
	})

	t.Run("BadToken", func(t *testing.T) {
		t.Parallel()
		br := b.browser(t)
		resp := br.signIn("crm_" + string(b.tenant) + "_" + strings.Repeat("0", 64))
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		resp, _ = br.get("/console/")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "no session was opened")
	})

	t.Run("SignInFormsShareTheirToken", func(t *testing.T) {
		t.Parallel()
		// Two sign-in pages of one browser (two tabs) carry the same token, and each page gives
		// its cookie an hour from then: the form of either still signs in.
		br := b.browser(t)
		resp, first := br.get("/console/signin")
		require.Len(t, resp.Cookies(), 1)
		resp, second := br.get("/console/signin")
		require.Len(t, resp.Cookies(), 1)
		require.Equal(t, 3600, resp.Cookies()[0].MaxAge, "the cookie lasts an hour from the latest page")
		token := loginRE.FindStringSubmatch(first)[1]
		require.Equal(t, token, loginRE.FindStringSubmatch(second)[1])
		require.Equal(t, token, resp.Cookies()[0].Value)
		resp, _ = br.post("/console/signin", url.Values{"login": {token}, "token": {b.token}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	})

	t.Run("SignInWithoutTheFormsToken", func(t *testing.T) {
		t.Parallel()
		br := b.browser(t)
		resp, page := br.post("/console/signin", url.Values{"token": {b.token}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.Contains(t, page, "security token")
	})

	t.Run("SessionCookieAndSignOut", func(t *testing.T) {
		t.Parallel()
		br := b.browser(t)
		resp := br.signIn(b.token)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/console/", resp.Header.Get("Location"))
		var session *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "crmflow_session" {
				session = c
			}
		}
		require.NotNil(t, session)
		require.True(t, session.HttpOnly)
		require.Equal(t, http.SameSiteStrictMode, session.SameSite)
		require.NotContains(t, session.Value, b.token, "the cookie holds the session's secret, never the token")
		require.NotContains(t, resp.Header.Get("Location"), b.token)

		// The store keeps the token sealed only.
		keys, err := redistest.Client(t).Keys(context.Background(), "crm:{"+string(b.tenant)+"}:session:*").Result()
		require.NoError(t, err)
		require.NotEmpty(t, keys)
		for _, k := range keys {
			h, err := redistest.Client(t).HGetAll(context.Background(), k).Result()
			require.NoError(t, err)
			for _, v := range h {
				require.NotContains(t, v, b.token)
			}
		}

		resp, page := br.get("/console/")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, page, "ops@example.com")
		require.Contains(t, page, `href="/console/objects/contacts"`)

		resp, _ = br.post("/console/signout", url.Values{"csrf": {br.csrf()}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		resp, _ = br.get("/console/")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)

		// The old cookie, replayed, opens nothing: the session is gone from the store.
		replay := b.browser(t)
		u, _ := url.Parse(b.base + "/console/")
		replay.client.Jar.SetCookies(u, []*http.Cookie{{Name: "crmflow_session", Value: session.Value, Path: "/console/"}})
		resp, _ = replay.get("/console/")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	})

}

// TestSignInEndsTheBrowsersSession: signing in again, as another user on a shared machine, ends
// the session the browser had; its cookie, copied before, opens nothing.
func TestSignInEndsTheBrowsersSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(t)
	resp := br.signIn(b.token)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	var first *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "crmflow_session" {
			first = c
		}
	}
	require.NotNil(t, first)

	require.Equal(t, http.StatusSeeOther, br.signIn(b.readerToken).StatusCode)
	_, page := br.get("/console/")
	require.Contains(t, page, "reader@example.com")

	copied := b.browser(t)
	u, err := url.Parse(b.base + "/console/")
	require.NoError(t, err)
	copied.client.Jar.SetCookies(u, []*http.Cookie{{Name: "crmflow_session", Value: first.Value, Path: "/console/"}})
	resp, _ = copied.get("/console/")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/console/signin", resp.Header.Get("Location"))
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	resp, _ := br.get("/console/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b.clock.Advance(time.Hour)
	resp, _ = br.get("/console/")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/console/signin", resp.Header.Get("Location"))
}

// TestSignInLimit: a client address that failed SignInLimit sign-ins in the window is refused
// (429, saying until when) whatever its token, on every console on the store, until the window
// ends; successful sign-ins neither count nor clear failures; other addresses are not held back.
// Behind a trusted proxy the client is the address the proxy forwards; from any other peer,
// X-Forwarded-For is the client's own words and is ignored.
func TestSignInLimit(t *testing.T) {
	t.Parallel()
	const limit = 3
	cfg := console.Config{SignInLimit: limit, SignInWindow: 15 * time.Minute,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	b := setupConsole(t, api.Config{}, cfg, false)
	// A second console process on the same store, behind the same proxy.
	apiSrv, err := api.New(b.store, &api.Config{Clock: b.clock})
	require.NoError(t, err)
	cfg.Clock = b.clock
	con, err := console.New(apiSrv, b.store, b.store, &cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(con)
	t.Cleanup(srv.Close)
	b2 := *b
	b2.base = srv.URL
	bad := "crm_" + string(b.tenant) + "_" + strings.Repeat("0", 64)
	from := func(b *testBundle, addr string) *browser {
		br := b.browser(t)
		br.header = http.Header{"X-Forwarded-For": {"198.51.100.1, " + addr}} // what the client wrote, then its address
		return br
	}
	// Each address is the test's own: the count lives in the shared Redis.
	addr := func(n int) string { return fmt.Sprintf("2001:db8:%x:%d::1", time.Now().UnixNano()&0xffff, n) }

	attacker := addr(1)
	for i := range limit {
		resp := from([]*testBundle{b, &b2}[i%2], attacker).signIn(bad) // the processes share the count
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "failure %d", i+1)
	}
	br := from(&b2, attacker)
	resp := br.signIn(b.token)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "refused even with a good token")
	require.Equal(t, "900", resp.Header.Get("Retry-After"))
	_, page := br.post("/console/signin", url.Values{"login": {loginRE.FindStringSubmatch(mustGet(br, "/console/signin"))[1]}, "token": {b.token}})
	require.Contains(t, page, "Too many failed sign-ins from your network address (3 within 15 minutes): "+
		"its sign-ins are refused until 12:15 UTC, in 15 minutes.")
	resp, _ = br.get("/console/")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "no session was opened")
	// Another address of the same /64 is the same client; another /64 is not.
	require.Equal(t, http.StatusTooManyRequests, from(b, strings.TrimSuffix(attacker, "::1")+"::2").signIn(b.token).StatusCode)
	require.Equal(t, http.StatusSeeOther, from(b, addr(2)).signIn(b.token).StatusCode)
	// A proxy that forwards the client's port too counts the client, not itself.
	require.Equal(t, http.StatusTooManyRequests, from(b, "["+attacker+"]:52114").signIn(b.token).StatusCode)
	require.Equal(t, http.StatusSeeOther, from(b, "["+addr(4)+"]:52114").signIn(b.token).StatusCode)

	// Successes are not counted, and clear no failure.
	user := addr(3)
	for range limit + 2 {
		require.Equal(t, http.StatusSeeOther, from(b, user).signIn(b.token).StatusCode)
	}
	for range limit - 1 {
		require.Equal(t, http.StatusUnauthorized, from(b, user).signIn(bad).StatusCode)
	}
	require.Equal(t, http.StatusSeeOther, from(b, user).signIn(b.token).StatusCode)
	require.Equal(t, http.StatusUnauthorized, from(b, user).signIn(bad).StatusCode)
	require.Equal(t, http.StatusTooManyRequests, from(b, user).signIn(b.token).StatusCode)

	// From a peer that is no trusted proxy, X-Forwarded-For is ignored: a client cannot make each
	// attempt come from a new address. (This console trusts no proxy: its clients are 127.0.0.1.)
	direct := setupConsole(t, api.Config{}, console.Config{SignInLimit: 1000}, false)
	spoofed := addr(10)
	require.Equal(t, http.StatusUnauthorized, from(direct, spoofed).signIn(bad).StatusCode)
	rdb := redistest.Client(t)
	prefix, err := netip.MustParseAddr(spoofed).Prefix(64)
	require.NoError(t, err)
	require.Zero(t, rdb.Exists(context.Background(), redisstore.SignInKey(prefix.String())).Val(), "the forwarded address is not counted")
	require.Equal(t, int64(1), rdb.Exists(context.Background(), redisstore.SignInKey("127.0.0.1")).Val(), "the peer's is")

	// At the window's end the attacker's address may sign in again.
	b.clock.Advance(15 * time.Minute)
	require.Equal(t, http.StatusSeeOther, from(b, attacker).signIn(b.token).StatusCode)
}

// mustGet returns the body of the page at path.
func mustGet(br *browser, path string) string {
	br.t.Helper()
	_, page := br.get(path)
	return page
}

// TestSessionIdleTimeout: a session not used for Config.IdleTimeout ends, however long it had
// left; each page the user opens renews it, and the job page's own polling does not.
func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	// Each case has its own bundle: it moves its clock.
	setupIdle := func(t *testing.T) *testBundle {
		t.Helper()
		return setupConsole(t, api.Config{}, console.Config{SessionTTL: time.Hour, IdleTimeout: 10 * time.Minute}, false)
	}

	t.Run("RenewedByUse", func(t *testing.T) {
		t.Parallel()
		b := setupIdle(t)
		br := b.browser(t)
		require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
		for range 3 {
			b.clock.Advance(9 * time.Minute)
			resp, _ := br.get("/console/")
			require.Equal(t, http.StatusOK, resp.StatusCode, "used within its idle timeout, it goes on")
		}
	})

	t.Run("EndsWhenIdle", func(t *testing.T) {
		t.Parallel()
		b := setupIdle(t)
		br := b.browser(t)
		require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
		b.clock.Advance(6 * time.Minute)
		resp, _ := br.get("/console/jobs/1/status") // a job page asking for its progress
		require.NotEqual(t, http.StatusSeeOther, resp.StatusCode, "still signed in")
		b.clock.Advance(6 * time.Minute)
		resp, _ = br.get("/console/")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "12 minutes without the user's activity end it")
		require.Equal(t, "/console/signin", resp.Header.Get("Location"))
	})
}

func TestRevokedTokenEndsTheSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.readerToken).StatusCode)
	require.NoError(t, b.store.RevokeToken(context.Background(), b.tenant, crm.TokenID(b.readerToken), "test"))
	resp, _ := br.get("/console/")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/console/signin?ended=1", resp.Header.Get("Location"))
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	id := b.createContact(t, map[string]string{"email": "csrf@example.com"})
	path := "/console/objects/contacts/" + id + "/delete"

	for name, form := range map[string]url.Values{
		"Missing": {"mode": {"bin"}},
		"Wrong":   {"mode": {"bin"}, "csrf": {strings.Repeat("a", 64)}},
	} {
		resp, page := br.post(path, form)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, name)
		require.Contains(t, page, "Nothing was changed", name)
		require.True(t, b.live(t, id), "%s: a refused POST changes nothing", name)
	}

	// Another session's token is no good either.
	other := b.browser(t)
	require.Equal(t, http.StatusSeeOther, other.signIn(b.token).StatusCode)
	resp, _ := br.post(path, url.Values{"mode": {"bin"}, "csrf": {other.csrf()}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.True(t, b.live(t, id))

	resp, _ = br.post(path, url.Values{"mode": {"bin"}, "csrf": {br.csrf()}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/console/objects/contacts", resp.Header.Get("Location"))
	require.False(t, b.live(t, id))
	// The page after the change says what was done, once: not on a reload, and never because a
	// link says so.
	_, page := br.get("/console/objects/contacts")
	require.Contains(t, page, "1 record moved to the recycle bin.")
	_, page = br.get("/console/objects/contacts")
	require.NotContains(t, page, "moved to the recycle bin")
	_, page = br.get("/console/objects/contacts?flash=deleted&n=5000")
	require.NotContains(t, page, "5000 records moved")

	// A POST with no session at all is refused too.
	resp, _ = b.browser(t).post(path, url.Values{"mode": {"bin"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestReadOnlyUser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.createContact(t, map[string]string{"email": "keep@example.com", "firstname": "Keep"})
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.readerToken).StatusCode)

	resp, page := br.get("/console/objects/contacts")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "keep@example.com")
	require.NotContains(t, page, `id="delete-selected"`)
	require.NotContains(t, page, `class="pick"`)
	// A reader filters with the trigger language too: the count and sample of a dry run need read alone.
	other := b.createContact(t, map[string]string{"email": "other@example.com", "firstname": "Other"})
	resp, page = br.get("/console/objects/contacts?filter=" + url.QueryEscape(`firstname == "Keep"`))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `href="/console/objects/contacts/`+id+`"`)
	require.NotContains(t, page, `href="/console/objects/contacts/`+other+`"`)
	require.NotContains(t, page, `class="pick"`)
	_, page = br.get("/console/objects/contacts/" + id)
	require.Contains(t, page, "keep@example.com")
	require.NotContains(t, page, `id="record-delete"`)

	// A forged POST, with the session's own CSRF token, still goes through the API's check.
	resp, page = br.post("/console/objects/contacts/"+id+"/delete", url.Values{"mode": {"bin"}, "csrf": {br.csrf()}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, page, `needs the &#34;delete&#34; permission`)
	require.True(t, b.live(t, id))
	// In Swedish the refusal is worded in Swedish, with the API's own words after it.
	br.lang = "sv"
	resp, page = br.post("/console/objects/contacts/"+id+"/delete", url.Values{"mode": {"bin"}, "csrf": {br.csrf()}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, page, "Din användare saknar behörigheten delete. (API:t svarade på engelska: this request needs the &#34;delete&#34; permission")
	require.True(t, b.live(t, id))
	br.lang = "en"
	resp, _ = br.post("/console/objects/contacts/delete/run", url.Values{"scope": {"selected"}, "id": {id}, "count": {"1"}, "csrf": {br.csrf()}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.True(t, b.live(t, id))
}

func TestBulkDeleteTypedCount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []string
	for i := range 3 {
		ids = append(ids, b.createContact(t, map[string]string{"email": fmt.Sprintf("bulk%d@example.com", i)}))
	}
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	csrf := br.csrf()

	resp, page := br.post("/console/objects/contacts/delete", url.Values{"csrf": {csrf}, "scope": {"selected"}, "id": ids})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "Type 3 to confirm")

	resp, page = br.post("/console/objects/contacts/delete/run", url.Values{"csrf": {csrf}, "scope": {"selected"}, "id": ids, "count": {"2"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, page, "You typed “2”, but 3 records are selected")
	resp, page = br.post("/console/objects/contacts/delete/run", url.Values{"csrf": {csrf}, "scope": {"selected"}, "id": ids[:1], "count": {"2"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, page, "You typed “2”, but 1 record is selected: type exactly 1 (digits only) to delete it.")
	require.Contains(t, page, "You are about to delete 1 record (Contacts). It goes to the recycle bin")
	// The count must be typed as shown: no leading zero, sign or space.
	for _, typed := range []string{"03", "+3", " 3", "3 ", "3.0", "0x3", "３"} {
		resp, page = br.post("/console/objects/contacts/delete/run", url.Values{"csrf": {csrf}, "scope": {"selected"}, "id": ids, "count": {typed}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%q", typed)
		shown := strings.ReplaceAll(typed, "+", "&#43;") // as html/template writes it
		require.Contains(t, page, "You typed “"+shown+"”, but 3 records are selected: type exactly 3 (digits only) to delete them.", "%q", typed)
		require.Contains(t, page, `value="`+shown+`"`, "the count as typed stays in the form")
	}
	for _, id := range ids {
		require.True(t, b.live(t, id), "a wrong count deletes nothing")
	}

	resp, _ = br.post("/console/objects/contacts/delete/run", url.Values{"csrf": {csrf}, "scope": {"selected"}, "id": ids, "count": {"3"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/console/jobs/"), loc)

	// The job page and its status (no worker runs here: the job waits).
	resp, page = br.get(loc)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `id="job-status"`)
	resp, raw := br.get(loc + "/status")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st struct {
		Status string `json:"status"`
		Total  int    `json:"total"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &st))
	require.Equal(t, 3, st.Total)
}

// TestJobPageShowsAStoppedJob: a job stopped because its creator lost bulk_delete is final on its
// page, with the reason naming the user and the permission.
func TestJobPageShowsAStoppedJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	ids := []crm.RecordID{crm.RecordID(b.createContact(t, map[string]string{"firstname": "A"})),
		crm.RecordID(b.createContact(t, map[string]string{"firstname": "B"}))}
	const who = "former@example.com"
	_, err := b.store.CreateUser(ctx, b.tenant, who, crm.Permissions{crm.PermDelete, crm.PermBulkDelete}, "admin@example.com")
	require.NoError(t, err)
	job, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids, ConfirmCount: 2, By: who})
	require.NoError(t, err)
	_, err = b.store.SetUserPermissions(ctx, b.tenant, who, crm.Permissions{crm.PermDelete}, "admin@example.com")
	require.NoError(t, err)
	j, err := b.store.RunDeleteJobBatch(ctx, b.tenant, job.ID, 500)
	require.NoError(t, err)
	require.Equal(t, crm.JobStopped, j.State)

	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	resp, page := br.get("/console/jobs/" + job.ID)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `data-status="STOPPED"`)
	require.Contains(t, page, "Stopped: its creator may no longer do this")
	require.Contains(t, page, "the job&#39;s creator "+who+" no longer holds the bulk_delete permission")
	resp, raw := br.get("/console/jobs/" + job.ID + "/status")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st struct {
		Status  string `json:"status"`
		Final   bool   `json:"final"`
		Refusal string `json:"refusal"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &st))
	require.Equal(t, "STOPPED", st.Status)
	require.True(t, st.Final, "the page stops polling")
	require.Contains(t, st.Refusal, who+" no longer holds the bulk_delete permission")

	// In Swedish the reason is worded in Swedish, with the user, the permission and the counts.
	br.lang = "sv"
	_, page = br.get("/console/jobs/" + job.ID)
	require.Contains(t, page, who+", som startade jobbet, har inte längre behörigheten bulk_delete, så jobbet stoppades innan det flyttade något till papperskorgen: dess 2 poster finns kvar.")
	require.NotContains(t, page, "no longer holds")
	_, raw = br.get("/console/jobs/" + job.ID + "/status")
	require.NoError(t, json.Unmarshal([]byte(raw), &st))
	require.Contains(t, st.Refusal, "har inte längre behörigheten bulk_delete")
}

// TestEraseAContactInTheBin: a contact in the recycle bin can still be deleted permanently from
// the console (SPEC S9): the bin links to its page, which offers the permanent delete alone, to a
// user who may; the erasure goes back to the bin, where the contact is no more.
func TestEraseAContactInTheBin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.createContact(t, map[string]string{"email": "gone@example.com", "firstname": "Gone"})
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	csrf := br.csrf()
	resp, _ := br.post("/console/objects/contacts/"+id+"/delete", url.Values{"mode": {"bin"}, "csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	_, page := br.get("/console/bin/contacts")
	require.Contains(t, page, `<a href="/console/objects/contacts/`+id+`">`+id+`</a>`)
	_, page = br.get("/console/objects/contacts/" + id)
	require.Contains(t, page, `id="record-inbin"`)
	require.Contains(t, page, `id="record-erase"`)
	require.NotContains(t, page, `id="record-delete"`)
	resp, page = br.get("/console/objects/contacts/" + id + "/delete")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `id="delete-inbin"`)
	require.Contains(t, page, `id="delete-permanent"`)
	require.NotContains(t, page, `id="delete-bin"`)

	// A reader sees the binned contact, with no way to erase it.
	rd := b.browser(t)
	require.Equal(t, http.StatusSeeOther, rd.signIn(b.readerToken).StatusCode)
	_, page = rd.get("/console/objects/contacts/" + id)
	require.NotContains(t, page, `id="record-erase"`)
	resp, page = rd.get("/console/objects/contacts/" + id + "/delete")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.NotContains(t, page, `id="delete-permanent"`)

	// The wrong confirmation erases nothing; the right one erases it and goes back to the bin.
	resp, page = br.post("/console/objects/contacts/"+id+"/delete", url.Values{"mode": {"permanent"}, "confirm": {"other@example.com"}, "csrf": {csrf}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, page, `id="delete-inbin"`)
	inBin, err := b.store.Record(context.Background(), b.tenant, crm.Contacts, crm.RecordID(id), &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	require.Equal(t, "gone@example.com", inBin.Properties["email"])
	resp, _ = br.post("/console/objects/contacts/"+id+"/delete", url.Values{"mode": {"permanent"}, "confirm": {"GONE@example.com"}, "csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/console/bin/contacts", resp.Header.Get("Location"))
	_, err = b.store.Record(context.Background(), b.tenant, crm.Contacts, crm.RecordID(id), &crm.ReadOpts{Archived: true})
	var nf *crm.NotFoundError
	require.ErrorAs(t, err, &nf)
	_, page = br.get("/console/bin/contacts")
	require.NotContains(t, page, "gone@example.com")
	require.NotContains(t, page, `<a href="/console/objects/contacts/`+id+`">`)
}

func TestRestoreConflictNamesTheBlockingRecord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	old := b.createContact(t, map[string]string{"email": "twin@example.com", "firstname": "Old"})
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	csrf := br.csrf()
	resp, _ := br.post("/console/objects/contacts/"+old+"/delete", url.Values{"mode": {"bin"}, "csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	blocker := b.createContact(t, map[string]string{"email": "twin@example.com", "firstname": "New"})

	resp, page := br.get("/console/bin/contacts")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "ops@example.com")
	require.Contains(t, page, "2026-05-30 12:00", "restorable until: deleted at plus 90 days")

	// Nothing came back: a refusal, on the answer itself, with the record still checked; it says
	// nothing was restored only by its reason, never "0 records restored".
	resp, page = br.post("/console/bin/contacts/restore", url.Values{"csrf": {csrf}, "id": {old}})
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, page, "twin@example.com")
	require.Contains(t, page, `href="/console/objects/contacts/`+blocker+`"`)
	require.Contains(t, page, `value="`+old+`" class="pick" aria-label="Select `+old+`" checked>`)
	require.NotContains(t, page, "records restored")
	require.NotContains(t, page, `class="flash"`)
	require.False(t, b.live(t, old))
}

// TestRestoreOfSomeGoesToTheBin: a restore that brings back some of the records checked sends the
// browser to the bin (303), which says how many came back and why the others did not, once: a
// reload shows the bin as it is and sends nothing again. The reasons travel sealed, so the
// browser's cookie names no email; those past what a cookie holds are counted, not listed.
func TestRestoreOfSomeGoesToTheBin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const twins = 20
	var ids []crm.RecordID
	for i := range twins {
		ids = append(ids, crm.RecordID(b.createContact(t, map[string]string{"email": fmt.Sprintf("twin%02d@example.com", i)})))
	}
	fine := crm.RecordID(b.createContact(t, map[string]string{"email": "fine@example.com"}))
	_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, append(slices.Clone(ids), fine), crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	blocker := b.createContact(t, map[string]string{"email": "twin00@example.com"})
	for i := 1; i < twins; i++ {
		b.createContact(t, map[string]string{"email": fmt.Sprintf("twin%02d@example.com", i)})
	}

	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	csrf := br.csrf()
	resp, page := br.post("/console/bin/contacts/restore", url.Values{"csrf": {csrf}, "id": {string(ids[0]), string(fine)}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, page)
	require.Equal(t, "/console/bin/contacts", resp.Header.Get("Location"))
	require.True(t, b.live(t, string(fine)))
	for _, ck := range resp.Header.Values("Set-Cookie") {
		require.NotContains(t, ck, "twin00", "the reason is sealed in the cookie")
	}
	resp, page = br.get("/console/bin/contacts")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "1 record restored.")
	require.Contains(t, page, `id="restore-failures"`)
	require.Contains(t, page, "twin00@example.com")
	require.Contains(t, page, `href="/console/objects/contacts/`+blocker+`"`)

	// Reloaded: the bin as it is, with no word of the restore.
	resp, page = br.get("/console/bin/contacts")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotContains(t, page, "restored")
	require.NotContains(t, page, `id="restore-failures"`)

	// Too many reasons for a cookie: the first are listed, the others counted.
	form := url.Values{"csrf": {csrf}, "id": {string(fine)}}
	for _, id := range ids {
		form.Add("id", string(id))
	}
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{fine}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	resp, _ = br.post("/console/bin/contacts/restore", form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, page = br.get("/console/bin/contacts")
	require.Contains(t, page, "1 record restored.")
	_, failures, found := strings.Cut(page, `id="restore-failures"`)
	require.True(t, found, page)
	failures, _, _ = strings.Cut(failures, "</section>")
	require.Contains(t, failures, "twin00@example.com")
	require.NotContains(t, failures, "twin19@example.com")
	m := regexp.MustCompile(`<li id="restore-failures-more">(\d+) more records were not restored`).FindStringSubmatch(failures)
	require.NotNil(t, m, failures)
	require.Equal(t, twins, strings.Count(failures, "could not restore contacts")+atoi(t, m[1]), "every record not restored is listed or counted")

	// The reasons are the bin's of this restore only: another type's bin does not show them.
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{fine}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	resp, _ = br.post("/console/bin/contacts/restore", url.Values{"csrf": {csrf}, "id": {string(ids[0]), string(fine)}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, page = br.get("/console/bin/companies")
	require.NotContains(t, page, `id="restore-failures"`)
}

// atoi is strconv.Atoi of a number a test read from a page.
func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	b := setup(t)

	br := b.browser(t)
	br.lang = "sv-SE,sv;q=0.9,en;q=0.5"
	_, page := br.get("/console/signin")
	require.Contains(t, page, `<html lang="sv">`)
	require.Contains(t, page, "Logga in med din API-token")

	br.lang = "de,en;q=0.8"
	_, page = br.get("/console/signin")
	require.Contains(t, page, `<html lang="en">`)

	// The switch is a form sent from a console page: on a signed-out page with the page's own
	// double-submit token. It wins over the header, and goes back only to the console's own pages.
	br.lang = "en"
	_, page = br.get("/console/signin")
	m := loginRE.FindStringSubmatch(page)
	require.NotNil(t, m)
	require.Contains(t, page, `<form method="post" action="/console/lang">`)
	require.Contains(t, page, `<button type="submit" class="link" name="to" value="sv" lang="sv">Svenska</button>`)
	login := m[1]
	switchTo := func(to, back string) *http.Response {
		t.Helper()
		resp, _ := br.post("/console/lang", url.Values{"login": {login}, "to": {to}, "back": {back}})
		return resp
	}
	resp := switchTo("sv", "/console/signin")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/console/signin", resp.Header.Get("Location"))
	_, page = br.get("/console/signin")
	require.Contains(t, page, `<html lang="sv">`)
	require.Equal(t, "/console/", switchTo("en", "https://evil.example/").Header.Get("Location"))
	require.Equal(t, "/console/", switchTo("en", "//evil.example/").Header.Get("Location"))
	// Nor past it by dot segments, plain or encoded (a browser resolves "%2e%2e" as ".."), nor with
	// a path it cannot parse, sent as it is.
	for _, back := range []string{"/console/..//evil.example", "/console/%2e%2e/%2e%2e//evil.example",
		"/console/%zz/../..//evil.example", "/console/\\evil.example", "/console/\r\nSet-Cookie: x=y"} {
		require.Equal(t, "/console/", switchTo("en", back).Header.Get("Location"), back)
	}
	require.Equal(t, "/console/objects/contacts?filter=city+%3D%3D+%22Malm%C3%B6%22",
		switchTo("en", "/console/objects/contacts?filter=city+%3D%3D+%22Malm%C3%B6%22").Header.Get("Location"))
	require.Equal(t, "/console/workflows/a%20b/history", switchTo("en", "/console/workflows/a%20b/history").Header.Get("Location"))

	// An unknown language is refused, saying which there are.
	resp, page = br.post("/console/lang", url.Values{"login": {login}, "to": {"de"}, "back": {"/console/signin"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, "There is no language &#34;de&#34; in the console: choose one of en, sv.")

	// A link or a forged form (another site's, or a GET) changes nothing.
	forged := b.browser(t)
	forged.lang = "en"
	_, _ = forged.get("/console/signin") // it has a token of its own, which the forged form cannot know
	resp, page = forged.get("/console/lang?to=sv&back=%2Fconsole%2Fsignin")
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Contains(t, page, "takes a form sent from a console page")
	for _, form := range []url.Values{{"to": {"sv"}}, {"to": {"sv"}, "login": {strings.Repeat("a", 64)}}, {"to": {"sv"}, "csrf": {login}}} {
		resp, page = forged.post("/console/lang", form)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "%v", form)
		require.Contains(t, page, "Nothing was changed")
	}
	_, page = forged.get("/console/signin")
	require.Contains(t, page, `<html lang="en">`, "the forged switches changed nothing")

	// Signed in, the switch carries the session's CSRF token, and comes back to the page.
	ops := b.browser(t)
	ops.lang = "en"
	require.Equal(t, http.StatusSeeOther, ops.signIn(b.token).StatusCode)
	_, page = ops.get("/console/objects/contacts?limit=25")
	csrf := csrfRE.FindStringSubmatch(page)[1]
	require.Contains(t, page, `<input type="hidden" name="back" value="/console/objects/contacts?limit=25">`)
	resp, _ = ops.post("/console/lang", url.Values{"csrf": {strings.Repeat("b", 64)}, "to": {"sv"}, "back": {"/console/"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = ops.post("/console/lang", url.Values{"csrf": {csrf}, "to": {"sv"}, "back": {"/console/objects/contacts?limit=25"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/console/objects/contacts?limit=25", resp.Header.Get("Location"))
	_, page = ops.get("/console/objects/contacts?limit=25")
	require.Contains(t, page, `<html lang="sv">`)
}

func TestEscaping(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const evil = `<script>alert("x")</script>`
	id := b.createContact(t, map[string]string{"email": "evil@example.com", "firstname": evil})
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	for _, path := range []string{"/console/objects/contacts", "/console/objects/contacts/" + id,
		"/console/objects/contacts?filter=" + url.QueryEscape(`firstname == "`+strings.ReplaceAll(evil, `"`, `\"`)+`"`)} {
		resp, page := br.get(path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.NotContains(t, page, evil, path)
		require.Contains(t, page, "&lt;script&gt;", path)
		require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	}
}

// TestBinFiltersReadTheWholeBin filters the recycle bin by who, how, date and operation: the
// records that match are found past the first page of the bin, and a bad filter is shown, not
// failed on.
func TestBinFiltersReadTheWholeBin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := make([]crm.RecordInput, 150)
	for i := range in {
		in[i].Properties = map[string]string{"firstname": fmt.Sprintf("Early%d", i)}
	}
	early, err := b.store.CreateRecords(context.Background(), b.tenant, crm.Contacts, in, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	ids := make([]crm.RecordID, len(early))
	for i, r := range early {
		ids[i] = r.ID
	}
	_, err = b.store.ArchiveRecords(context.Background(), b.tenant, crm.Contacts, ids, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	b.clock.Advance(3 * 24 * time.Hour)
	late := b.createContact(t, map[string]string{"firstname": "Late"})
	res, err := b.store.ArchiveRecords(context.Background(), b.tenant, crm.Contacts, []crm.RecordID{crm.RecordID(late)},
		crm.Actor{User: "zoe@example.com", Via: crm.ViaBulk, Ref: "9"})
	require.NoError(t, err)
	require.Len(t, res.Archived, 1)

	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	row := `<td><a href="/console/objects/contacts/` + late + `">` + late + `</a></td>`
	_, page := br.get("/console/bin/contacts")
	require.NotContains(t, page, row, "the first page holds the 100 deleted first")
	for _, query := range []string{"by=ZOE", "via=bulk", "from=2026-03-04", "to=2026-03-04&by=zoe", "from=2026-03-04&to=2026-03-04"} {
		resp, page := br.get("/console/bin/contacts?" + query)
		require.Equal(t, http.StatusOK, resp.StatusCode, query)
		require.Contains(t, page, row, query)
		require.NotContains(t, page, "Early", query)
	}
	_, page = br.get("/console/bin/contacts?to=2026-03-03&via=bulk")
	require.NotContains(t, page, row)
	require.Contains(t, page, "No record in the recycle bin matches these filters.")
	_, page = br.get("/console/bin/contacts?to=2026-03-01&by=ops")
	require.Equal(t, 100, strings.Count(page, `class="pick"`))
	require.Contains(t, page, `id="bin-next"`)
	require.Contains(t, page, "to=2026-03-01", "the next page keeps the filters")

	resp, page := br.get("/console/bin/contacts?to=yesterday")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `id="filter-error"`)
	require.Contains(t, page, "is not a date")
	resp, page = br.get("/console/bin/contacts?via=mail")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `archivedVia &#34;mail&#34; is not a way records are deleted`)
}

// TestSecureCookies: over HTTPS, and behind a proxy that terminates TLS (Config.SecureCookies,
// where the console sees plain HTTP), every cookie is Secure, HttpOnly and named "__Host-" for the
// path "/", so no other host nor plain HTTP page can set one the console reads; on plain HTTP
// without SecureCookies (the zero-setup mode) they are plain, and the console works there too.
func TestSecureCookies(t *testing.T) {
	t.Parallel()
	st, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	apiSrv, err := api.New(st, nil)
	require.NoError(t, err)
	for _, secure := range []bool{false, true} {
		con, err := console.New(apiSrv, st, st, &console.Config{SecureCookies: secure})
		require.NoError(t, err)
		srv := httptest.NewServer(con)
		resp, err := http.Get(srv.URL + "/console/signin")
		require.NoError(t, err)
		resp.Body.Close()
		srv.Close()
		require.NotEmpty(t, resp.Cookies())
		for _, c := range resp.Cookies() {
			require.Equal(t, secure, c.Secure, "cookie %s with SecureCookies %v", c.Name, secure)
			require.Equal(t, secure, strings.HasPrefix(c.Name, "__Host-"), "cookie %s with SecureCookies %v", c.Name, secure)
			require.True(t, c.HttpOnly, c.Name)
			require.Equal(t, http.SameSiteStrictMode, c.SameSite, c.Name)
			if secure {
				require.Equal(t, "/", c.Path, "a __Host- cookie must have the path /")
			} else {
				require.Equal(t, "/console/", c.Path)
			}
		}
	}

	t.Run("BehindATrustedProxy", func(t *testing.T) {
		t.Parallel()
		// A proxy that says the request came over HTTPS is believed only when the console trusts it.
		for _, trusted := range []bool{false, true} {
			cfg := &console.Config{}
			if trusted {
				cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			}
			con, err := console.New(apiSrv, st, st, cfg)
			require.NoError(t, err)
			srv := httptest.NewServer(con)
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/console/signin", nil)
			require.NoError(t, err)
			req.Header.Set("X-Forwarded-Proto", "https")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			srv.Close()
			require.NotEmpty(t, resp.Cookies())
			for _, c := range resp.Cookies() {
				require.Equal(t, trusted, c.Secure, "cookie %s, proxy trusted %v", c.Name, trusted)
				require.Equal(t, trusted, strings.HasPrefix(c.Name, "__Host-"), "cookie %s, proxy trusted %v", c.Name, trusted)
			}
		}
	})

	t.Run("OverTLS", func(t *testing.T) {
		t.Parallel()
		b := setupConsole(t, api.Config{}, console.Config{}, true)
		br := b.browser(t)
		resp := br.signIn(b.token)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		var session *http.Cookie
		for _, c := range resp.Cookies() {
			require.True(t, strings.HasPrefix(c.Name, "__Host-"), c.Name)
			require.True(t, c.Secure, c.Name)
			require.True(t, c.HttpOnly, c.Name)
			if c.Name == "__Host-crmflow_session" {
				session = c
			}
		}
		require.NotNil(t, session)
		require.Equal(t, http.SameSiteStrictMode, session.SameSite)
		resp, page := br.get("/console/")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, page, "ops@example.com")

		// The session's secret under the plain name, as a plain HTTP page or a sibling host could
		// set it, opens nothing.
		other := b.browser(t)
		u, err := url.Parse(b.base + "/console/")
		require.NoError(t, err)
		other.client.Jar.SetCookies(u, []*http.Cookie{{Name: "crmflow_session", Value: session.Value, Path: "/console/"}})
		resp, _ = other.get("/console/")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/console/signin", resp.Header.Get("Location"))
	})
}

// TestRestoreComesBackToTheBinItWasAskedFrom: a restore asked from a filtered page of the bin (by
// whom, how, which operation, which days, which page) comes back to that page, not to the whole
// bin, whether it restored, asked with nothing checked, or was refused; only the bin's own view
// parameters travel, so the form's address cannot be made to send the browser elsewhere.
func TestRestoreComesBackToTheBinItWasAskedFrom(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var ids []crm.RecordID
	for i := range 3 {
		ids = append(ids, crm.RecordID(b.createContact(t, map[string]string{"email": fmt.Sprintf("view%d@example.com", i)})))
	}
	_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids[:2], crm.Actor{User: "ann@example.com"})
	require.NoError(t, err)
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, ids[2:], crm.Actor{User: "bob@example.com"})
	require.NoError(t, err)

	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	csrf := br.csrf()
	view := "/console/bin/contacts?by=ann&via=api"
	resp, page := br.get(view + "&elsewhere=https%3A%2F%2Fevil.example")
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	m := regexp.MustCompile(`<form method="post" action="([^"]+)" id="bin">`).FindStringSubmatch(page)
	require.NotNil(t, m, page)
	action := html.UnescapeString(m[1])
	require.Equal(t, "/console/bin/contacts/restore?by=ann&via=api", action, "the form carries the view, and only it")

	resp, page = br.post(action, url.Values{"csrf": {csrf}, "id": {string(ids[0])}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, page)
	require.Equal(t, view, resp.Header.Get("Location"))
	require.True(t, b.live(t, string(ids[0])))
	resp, page = br.get(resp.Header.Get("Location"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "1 record restored.")
	require.Contains(t, page, `value="`+string(ids[1])+`"`, "ann's other record, still in the bin")
	require.NotContains(t, page, `value="`+string(ids[2])+`"`, "bob's is not in ann's view")

	// Nothing checked: back to the same view, which says so.
	resp, page = br.post(action, url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, page)
	require.Equal(t, view, resp.Header.Get("Location"))

	// Refused (the email taken meanwhile): the answer is the filtered view itself, record checked.
	b.createContact(t, map[string]string{"email": "view1@example.com"})
	resp, page = br.post(action, url.Values{"csrf": {csrf}, "id": {string(ids[1])}})
	require.Equal(t, http.StatusConflict, resp.StatusCode, page)
	require.Contains(t, page, `id="restore-failures"`)
	require.Contains(t, page, `action="/console/bin/contacts/restore?by=ann&amp;via=api"`)
	require.NotContains(t, page, `value="`+string(ids[2])+`"`, "still ann's view")
}
