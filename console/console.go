package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/httpsec"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// DefaultSessionTTL is the default of Config.SessionTTL.
const DefaultSessionTTL = 8 * time.Hour

// DefaultIdleTimeout is the default of Config.IdleTimeout.
const DefaultIdleTimeout = 30 * time.Minute

// Defaults of the sign-in limit: Config.SignInLimit failed sign-ins from one client address in
// Config.SignInWindow.
const (
	DefaultSignInLimit  = 10
	DefaultSignInWindow = 15 * time.Minute
)

// maxFormBytes bounds the body of a console form.
const maxFormBytes = 256 << 10

// Authenticator resolves an API token to its tenant and user; crm.Store implements it. The
// console asks it on every request, so that a revoked token, an expired one or a disabled user
// ends the session at once.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (crm.Principal, error)
}

// Config configures a Console. The zero value works.
type Config struct {
	// Clock tells the time of sessions. Defaults to clock.Real{}.
	Clock clock.Clock
	// IdleTimeout ends a session that has not been used for that long: each page the user opens
	// and each form they send renew it (a job page following its job's progress does not), up to
	// SessionTTL from sign-in. Defaults to DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Logger receives the console's errors (never a token, a form value or a record's content).
	// Defaults to slog.Default().
	Logger *slog.Logger
	// Retention is how long a deleted record stays restorable, to show "restorable until" in the
	// bin; give the deployment's, the one its Redis holds. Defaults to crm.DefaultRetention.
	Retention time.Duration
	// SessionTTL is how long a session lasts from sign-in. Defaults to DefaultSessionTTL.
	SessionTTL time.Duration
	// SignInLimit is the most failed sign-ins one client address may make in SignInWindow, from
	// its first: past it, the address's sign-ins are refused (429, with when to try again) until
	// the window ends, whatever their token, so that tokens cannot be guessed at speed. The count
	// is kept in the store, shared by every process; a successful sign-in is not counted and clears
	// nothing. An IPv6 address counts by its /64. Defaults to DefaultSignInLimit.
	SignInLimit int
	// SignInWindow is the window of SignInLimit. Defaults to DefaultSignInWindow.
	SignInWindow time.Duration
	// TrustedProxies are the addresses of the proxies in front of the console whose
	// X-Forwarded-For and X-Forwarded-Proto it believes: the client of a request from one of them
	// is the last address of X-Forwarded-For that is not a trusted proxy (the sign-in limit counts
	// it), and "X-Forwarded-Proto: https" marks its cookies as over HTTPS (see SecureCookies). From
	// any other address those headers are ignored, as a client can send them. Defaults to none.
	TrustedProxies []netip.Prefix
	// SecureCookies marks every cookie Secure and names it with the "__Host-" prefix, so that a
	// browser sends it over HTTPS only and no other host can set it. Set it when a proxy in front
	// terminates TLS: the console then sees plain HTTP and cannot tell. Without it, cookies are
	// so on requests that arrive over TLS, and plain (for the zero-setup mode on plain HTTP) on
	// the others.
	SecureCookies bool
}

// Console serves the operator console under /console/. It implements http.Handler and is safe
// for concurrent use. Build one with New.
type Console struct {
	api      http.Handler
	auth     Authenticator
	sessions crm.SessionStore
	cfg      Config
	mux      *http.ServeMux
	pages    map[string]*template.Template
}

// New returns a Console that reads and writes through api (the API's handler, called in process
// with the signed-in user's token), resolves tokens with auth and keeps sessions in sessions. A
// nil cfg means the defaults. It returns an error for a missing dependency or a bad field of cfg.
func New(api http.Handler, auth Authenticator, sessions crm.SessionStore, cfg *Config) (*Console, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Retention == 0 {
		c.Retention = crm.DefaultRetention
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.SignInLimit == 0 {
		c.SignInLimit = DefaultSignInLimit
	}
	if c.SignInWindow == 0 {
		c.SignInWindow = DefaultSignInWindow
	}
	switch {
	case api == nil || auth == nil || sessions == nil:
		return nil, errors.New("console: New needs the api handler, an authenticator and a session store")
	case c.Retention < 0:
		return nil, fmt.Errorf("console: Config.Retention must be positive, got %s", c.Retention)
	case c.SessionTTL < 0:
		return nil, fmt.Errorf("console: Config.SessionTTL must be positive, got %s", c.SessionTTL)
	case c.IdleTimeout < 0:
		return nil, fmt.Errorf("console: Config.IdleTimeout must be positive, got %s", c.IdleTimeout)
	case c.SignInLimit < 0:
		return nil, fmt.Errorf("console: Config.SignInLimit must be positive, got %d", c.SignInLimit)
	case c.SignInWindow < 0:
		return nil, fmt.Errorf("console: Config.SignInWindow must be positive, got %s", c.SignInWindow)
	}
	con := &Console{api: api, auth: auth, sessions: sessions, cfg: c, mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	if err := con.parseTemplates(); err != nil {
		return nil, err
	}
	con.routes()
	return con, nil
}

// routes registers every screen. Pages behind a session go through page, which also checks the
// CSRF token of every POST.
func (c *Console) routes() {
	c.mux.HandleFunc("GET /console/static/", c.staticFile)
	c.mux.HandleFunc("GET /console/signin", c.signinPage)
	c.mux.HandleFunc("POST /console/signin", c.signin)
	c.mux.HandleFunc("POST /console/lang", c.setLanguage)
	c.page("POST /console/signout", c.signout)
	c.page("GET /console/{$}", c.home)
	c.page("GET /console/objects/{type}", c.index)
	c.page("POST /console/objects/{type}/delete", c.confirmBulk)
	// The address of the typed-count confirmation, opened by itself, is no record's ("delete").
	c.mux.HandleFunc("GET /console/objects/{type}/delete", func(w http.ResponseWriter, r *http.Request) {
		c.wrongMethod(w, r, http.MethodPost)
	})
	c.page("POST /console/objects/{type}/delete/run", c.runBulk)
	c.page("GET /console/objects/{type}/{id}", c.record)
	c.page("GET /console/objects/{type}/{id}/delete", c.recordDeletePage)
	c.page("POST /console/objects/{type}/{id}/delete", c.recordDelete)
	c.page("GET /console/bin/{type}", c.bin)
	c.page("POST /console/bin/{type}/restore", c.restore)
	c.page("POST /console/operations/{id}/undo", c.undoOperation)
	c.page("GET /console/lists", c.lists)
	c.page("GET /console/lists/{id}/delete", c.listDeletePage)
	c.page("POST /console/lists/{id}/delete", c.listDelete)
	c.page("GET /console/workflows", c.workflows)
	c.page("GET /console/workflows/-/new", c.newWorkflow)
	c.editor("POST /console/workflows/save", c.saveWorkflow)
	c.page("GET "+draftPage, c.workflowDraft)
	c.page("GET /console/workflows/{name}", c.workflow)
	c.page("POST /console/workflows/{name}/activate", c.activateWorkflow)
	c.page("POST /console/workflows/{name}/pause", c.pauseWorkflow)
	c.page("GET /console/workflows/{name}/history", c.workflowHistory)
	c.page("GET /console/audit", c.audit)
	c.page("GET /console/outbox", c.outbox)
	c.page("GET /console/jobs", c.jobs)
	c.page("GET /console/jobs/{id}", c.job)
	c.page("GET /console/settings", c.settings)
	c.page("POST /console/settings/protection", c.putRule)
	c.page("POST /console/settings/protection/{name}/delete", c.deleteRule)
	// The job page asks for its job's progress by itself: that is not the user's activity, so it
	// does not keep the session from ending when idle.
	c.poll("GET /console/jobs/{id}/status", c.jobStatus)
}

// staticFiles are the console's style sheet and script, by their names under /console/static/.
var staticFiles, _ = fs.Sub(staticFS, "static") // "static" is a valid path: Sub cannot fail

// staticFile serves GET /console/static/NAME: the file NAME of staticFiles. Anything else, the
// directory itself above all, is no page (404): the console lists no files.
func (c *Console) staticFile(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/console/static/")
	if fi, err := fs.Stat(staticFiles, name); err != nil || fi.IsDir() {
		tr := translator{pickLanguage(r)}
		c.renderError(w, r, tr, http.StatusNotFound, tr.T("error.notfound"))
		return
	}
	http.ServeFileFS(w, r, staticFiles, name)
}

// ServeHTTP serves one request of the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	// The style sheet and the script may be cached (a handler in front may have said no-store
	// for every answer); a page, a user's, never is.
	if strings.HasPrefix(r.URL.Path, "/console/static/") {
		h.Del("Cache-Control")
	} else {
		h.Set("Cache-Control", "no-store")
	}
	if _, pattern := c.mux.Handler(r); pattern == "" {
		tr := translator{pickLanguage(r)}
		// An address of the console asked with the wrong method (a confirmation's address, which
		// a form posts to, opened in a new tab, say) is a 405 that says so, not "no such page".
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			other := r.Clone(r.Context())
			other.Method = m
			if _, p := c.mux.Handler(other); p != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			c.wrongMethod(w, r, allow...)
			return
		}
		c.renderError(w, r, tr, http.StatusNotFound, tr.T("error.notfound"))
		return
	}
	c.mux.ServeHTTP(w, r)
}

// wrongMethod answers a request of an address that takes only the methods allow with a 405 that
// says what the address is for.
func (c *Console) wrongMethod(w http.ResponseWriter, r *http.Request, allow ...string) {
	tr := translator{pickLanguage(r)}
	key := "error.postonly"
	if allow[0] == http.MethodGet {
		key = "error.getonly"
		allow = slices.Insert(allow, 1, http.MethodHead)
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	c.renderError(w, r, tr, http.StatusMethodNotAllowed, tr.T(key))
}

// request is one request of a signed-in user.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	sess *session
	p    crm.Principal
	tr   translator
	// retention is the deployment's (Config.Retention).
	retention time.Duration
	// con is the console serving the request, which sets its cookies.
	con *Console
}

// can reports whether the user has every permission of perms.
func (q *request) can(perms ...crm.Permission) bool {
	for _, p := range perms {
		if !q.p.User.Permissions.Has(p) {
			return false
		}
	}
	return true
}

// need returns nil when the user has every permission of perms, else the refusal the API gives a
// request that lacks them (403 MISSING_SCOPES, with the command that grants them): a page that
// leads only to an action the user may not take refuses before it offers that action.
func (q *request) need(perms ...crm.Permission) error {
	missing := q.p.User.Permissions.Missing(perms)
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, len(missing))
	quoted := make([]string, len(missing))
	for i, m := range missing {
		names[i], quoted[i] = string(m), strconv.Quote(string(m))
	}
	lead := fmt.Sprintf("this request needs the %s permission, which your user does not have", quoted[0])
	them := "it"
	if len(missing) > 1 {
		lead = fmt.Sprintf("this request needs the %s and %s permissions, which your user does not have",
			strings.Join(quoted[:len(quoted)-1], ", "), quoted[len(quoted)-1])
		them = "them"
	}
	grant, _ := crm.ParsePermissions(q.p.User.Permissions.String() + "," + strings.Join(names, ",")) // known names: cannot fail
	msg := fmt.Sprintf("%s: ask an admin to grant %s (crmflow admin user set-perms %s %s --perms %s)",
		lead, them, q.p.Tenant, q.p.User.Email, grant)
	ctx := map[string][]string{"requiredScopes": names}
	return &APIError{Status: http.StatusForbidden, Category: "MISSING_SCOPES", Message: msg, Context: ctx,
		Errors: []APIErrorDetail{{Message: msg, Code: "MISSING_SCOPES", Context: ctx}}}
}

// page registers h at pattern behind a session: a request without one goes to the sign-in page
// (a POST is refused with 403), and a POST without the session's CSRF token is refused with 403
// before h runs, so it changes nothing. A request that h serves renews the session's idle end.
func (c *Console) page(pattern string, h func(q *request) error) { c.handle(pattern, h, true, false) }

// poll registers h at pattern like page, for what a page asks by itself: it does not renew the
// session's idle end.
func (c *Console) poll(pattern string, h func(q *request) error) { c.handle(pattern, h, false, false) }

// editor registers h at pattern like page, for the form of the workflow editor: sent after its
// session ended, with that session's cookie and CSRF token, its text is kept as a draft for its
// user to find after signing in again (see draft.go), and nothing else is done.
func (c *Console) editor(pattern string, h func(q *request) error) { c.handle(pattern, h, true, true) }

func (c *Console) handle(pattern string, h func(q *request) error, renew, keepsDraft bool) {
	c.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		tr := translator{pickLanguage(r)}
		sess, err := c.openSession(r.Context(), r)
		if err != nil {
			c.fail(w, r, tr, err)
			return
		}
		if sess == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
				return
			}
			if keepsDraft && c.keepDraft(w, r) {
				return
			}
			c.renderError(w, r, tr, http.StatusForbidden, tr.T("error.signedout"))
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				c.renderError(w, r, tr, http.StatusBadRequest, tr.T("error.form"))
				return
			}
			if !validCSRF(r, sess.csrf) {
				c.renderError(w, r, tr, http.StatusForbidden, tr.T("error.csrf"))
				return
			}
		}
		p, err := c.auth.Authenticate(r.Context(), sess.token)
		if errors.Is(err, crm.ErrUnauthenticated) {
			_ = c.sessions.DeleteSession(r.Context(), sess.tenant, sess.id)
			c.clearCookie(w, r, sessionCookie)
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/signin?ended=1", http.StatusSeeOther)
				return
			}
			c.renderError(w, r, tr, http.StatusForbidden, tr.T("error.signedout"))
			return
		}
		if err != nil {
			c.fail(w, r, tr, err)
			return
		}
		if renew {
			if err := c.sessions.TouchSession(r.Context(), sess.tenant, sess.id, c.cfg.Clock.Now().Add(c.cfg.IdleTimeout)); err != nil {
				c.fail(w, r, tr, err)
				return
			}
		}
		q := &request{w: w, r: r, sess: sess, p: p, tr: tr, retention: c.cfg.Retention, con: c}
		if err := h(q); err != nil {
			var apiErr *APIError
			if errors.As(err, &apiErr) {
				q.renderError(apiErr.Status, tr.apiError(apiErr))
				return
			}
			c.fail(w, r, tr, err)
		}
	})
}

// fail answers an unexpected error with a 500 page and logs it.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, tr translator, err error) {
	c.cfg.Logger.ErrorContext(r.Context(), "console request failed", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	c.renderError(w, r, tr, http.StatusInternalServerError, tr.T("error.internal"))
}

// view is what every page shows around its content.
type view struct {
	translator
	Title string
	// CSRF is the session's CSRF token, on the pages of a signed-in user.
	CSRF string
	// Login is the double-submit token of a signed-out page's forms (see Console.loginToken).
	Login  string
	User   string
	Tenant string
	// Here is the page's path and query, where the language switch comes back to.
	Here  string
	Flash string
	// Retention is how long a deleted record stays restorable, in words.
	Retention string
	perms     crm.Permissions
}

// langLink is one language of the switch.
type langLink struct {
	Code, Label string
	Current     bool
}

// LangLinks lists the languages of the switch, each labelled in its own language.
func (v view) LangLinks() []langLink {
	out := make([]langLink, len(languages))
	for i, l := range languages {
		out[i] = langLink{Code: l, Label: catalog[l]["lang."+l], Current: l == v.lang}
	}
	return out
}

// Can reports whether the user has the permission named perm: the pages show only what the user
// may do (the API checks it again).
func (v view) Can(perm string) bool { return v.perms.Has(crm.Permission(perm)) }

// Lang is the page's language.
func (v view) Lang() string { return v.lang }

// view returns the frame of a page titled by the message key title.
func (q *request) view(title string) view {
	v := view{translator: q.tr, Title: q.tr.T(title), CSRF: q.sess.csrf, User: q.sess.user, Tenant: string(q.p.Tenant),
		Here: q.r.URL.RequestURI(), perms: q.p.User.Permissions}
	v.Retention = q.tr.T("retention.days", int(q.retention/(24*time.Hour)))
	if q.r.Method != http.MethodGet {
		v.Here = "/console/" // a page answering a POST: the language switch cannot come back to it with a GET
	}
	if key, n, ok := takeFlash(q); ok {
		if msg, ok := catalog["en"]["flash."+key]; ok {
			v.Flash = q.tr.T("flash." + key)
			if strings.Contains(msg, "%d") {
				v.Flash = q.tr.T("flash."+key, n)
			}
		}
	}
	return v
}

// render writes page name with data and status.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t, ok := c.pages[name]
	if !ok {
		panic("console: no page " + name) // programmer error: every page is parsed at New
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		c.cfg.Logger.ErrorContext(r.Context(), "render console page", slog.String("page", name), slog.String("error", err.Error()))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

// errorPage is the data of the error page.
type errorPage struct {
	view
	Status  int
	Message string
}

// renderError writes the error page with status and message (escaped like everything else).
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, tr translator, status int, message string) {
	// An error page is this request's, and carries the sign-in form's token, even at an address
	// (a missing static file) whose answers a cache may otherwise keep.
	w.Header().Set("Cache-Control", "no-store")
	v := view{translator: tr, Title: tr.T(errorTitle(status)), Here: r.URL.RequestURI(), Login: c.loginToken(w, r)}
	if r.Method != http.MethodGet {
		v.Here = "/console/" // the language switch cannot come back to it with a GET
	}
	c.render(w, r, status, "error", errorPage{view: v, Status: status, Message: message})
}

// renderError writes the error page of a signed-in user's request, with status and message. Its
// header is every page's (the menu, who is signed in, sign out): the user is still signed in,
// and goes on from there.
func (q *request) renderError(status int, message string) {
	q.w.Header().Set("Cache-Control", "no-store")
	q.con.render(q.w, q.r, status, "error", errorPage{view: q.view(errorTitle(status)), Status: status, Message: message})
}

// errorTitle is the message key of the title of an error page of status: a refusal (4xx) is
// titled by what happened (not allowed, not found, refused, too many requests), since its message
// says what to do; a failure of the server (5xx), or anything else, is "Something went wrong".
func errorTitle(status int) string {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "error.title.forbidden"
	case status == http.StatusNotFound || status == http.StatusGone:
		return "error.title.notfound"
	case status == http.StatusTooManyRequests:
		return "error.title.busy"
	case status >= 400 && status < 500:
		return "error.title.refused"
	}
	return "error.title"
}

// flashCookie carries the message of a change to the page the browser is sent to after it: the
// message key and its count, "deleted:3". It is set by redirect and read once by the next page's
// view, which clears it. A cookie rather than the URL: a link cannot make a page say that records
// were deleted or restored, and a reload or the language switch does not say it again.
const flashCookie = "crmflow_flash"

// flashMaxAge bounds how long a flash waits for the page after the redirect.
const flashMaxAge = 60

// redirect sends the browser to path after a change (303: the next request is a GET), with the
// flash message key flash and its count n.
func redirect(q *request, path, flash string, n int) {
	if flash != "" {
		q.con.setCookie(q.w, q.r, flashCookie, flash+":"+strconv.Itoa(n), flashMaxAge, http.SameSiteStrictMode)
	}
	http.Redirect(q.w, q.r, path, http.StatusSeeOther)
}

// fetchHeader marks a request of the console's script (console.js), whose answer the browser
// does not show as the page: the script reads it, and on a redirect opens the page it leads to.
const fetchHeader = "X-Console-Fetch"

// takeFlash returns the flash that a redirect left for this page, and clears it, on a GET; a
// page that answers a POST leaves it for the page after the redirect, and so does a page the
// console's script fetched (following a redirect), for the page it then opens.
func takeFlash(q *request) (key string, n int, ok bool) {
	if q.r.Method != http.MethodGet || q.r.Header.Get(fetchHeader) != "" {
		return "", 0, false
	}
	ck, err := q.con.cookie(q.r, flashCookie)
	if err != nil {
		return "", 0, false
	}
	q.con.clearCookie(q.w, q.r, flashCookie)
	key, count, found := strings.Cut(ck.Value, ":")
	if !found {
		return "", 0, false
	}
	n, err = strconv.Atoi(count)
	return key, n, err == nil
}

// funcs are the template functions.
var funcs = template.FuncMap{
	"add":        func(a, b int) int { return a + b },
	"pathEscape": url.PathEscape,
	"shortTime":  shortTime,
}

// parseTemplates parses every page with the layout.
func (c *Console) parseTemplates() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return fmt.Errorf("console: list templates: %w", err)
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("console: parse %s: %w", n, err)
		}
		c.pages[base] = t
	}
	return nil
}

// origin is what the console knows of the way its requests reach it: SecureCookies (a proxy in
// front terminates TLS) and TrustedProxies.
func (c *Console) origin() httpsec.Origin {
	return httpsec.Origin{HTTPS: c.cfg.SecureCookies, TrustedProxies: c.cfg.TrustedProxies}
}

// client returns the address the sign-in limit counts r against (httpsec.Origin.Client): its
// peer's or, from a trusted proxy, the client X-Forwarded-For names; an IPv6 address by its /64.
func (c *Console) client(r *http.Request) string {
	return c.origin().Client(r)
}

// writeJSONTo writes v as JSON to w.
func writeJSONTo(w http.ResponseWriter, v any) error {
	return json.NewEncoder(w).Encode(v)
}
