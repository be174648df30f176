package console

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// signinPageData is the data of the sign-in page.
type signinPageData struct {
	view
	Error string
	Ended bool
	Bye   bool
	// Draft says that the browser's ended session has a draft kept for its user (see draft.go).
	Draft bool
}

// signinPage serves GET /console/signin: the form, with a fresh double-submit token in a cookie
// and in the form.
func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	tr := translator{pickLanguage(r)}
	c.renderSignin(w, r, tr, http.StatusOK, "")
}

func (c *Console) renderSignin(w http.ResponseWriter, r *http.Request, tr translator, status int, msg string) {
	v := view{translator: tr, Title: tr.T("signin.title"), Here: "/console/signin", Login: c.loginToken(w, r)}
	c.render(w, r, status, "signin", signinPageData{view: v, Error: msg,
		Ended: r.URL.Query().Get("ended") == "1", Bye: r.URL.Query().Get("bye") == "1", Draft: c.draftWaiting(r)})
}

// signin serves POST /console/signin: a valid API token opens a session; anything else shows the
// form again with the reason. The token is never logged nor put in a URL.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	tr := translator{pickLanguage(r)}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, tr, http.StatusBadRequest, tr.T("error.form"))
		return
	}
	if !c.validLogin(r) {
		c.renderSignin(w, r, tr, http.StatusForbidden, tr.T("error.csrf"))
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		c.renderSignin(w, r, tr, http.StatusUnauthorized, tr.T("signin.empty"))
		return
	}
	// Every attempt is counted before its token is checked, so that attempts sent at once cannot
	// pass the limit; one that does not fail is taken back.
	client := c.client(r)
	count, err := c.sessions.CountSignIn(r.Context(), client, c.cfg.SignInLimit, c.cfg.SignInWindow)
	if err != nil {
		c.fail(w, r, tr, err)
		return
	}
	if !count.Allowed {
		wait := max(count.RetryAt.Sub(c.cfg.Clock.Now()), time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		c.renderSignin(w, r, tr, http.StatusTooManyRequests, tr.T("signin.limited", c.cfg.SignInLimit,
			int(c.cfg.SignInWindow/time.Minute), count.RetryAt.UTC().Format("15:04"), int((wait+time.Minute-1)/time.Minute)))
		return
	}
	p, err := c.auth.Authenticate(r.Context(), token)
	if err == nil || !errors.Is(err, crm.ErrUnauthenticated) {
		if err := c.sessions.UncountSignIn(r.Context(), client, count); err != nil {
			c.cfg.Logger.WarnContext(r.Context(), "console: taking back a sign-in attempt that did not fail", slog.String("error", err.Error()))
		}
	}
	if err != nil {
		var ue *crm.UnauthenticatedError
		switch {
		case errors.As(err, &ue):
			c.renderSignin(w, r, tr, http.StatusUnauthorized, tr.T("signin.refused")+" "+ue.Reason)
		case errors.Is(err, crm.ErrUnauthenticated):
			c.renderSignin(w, r, tr, http.StatusUnauthorized, tr.T("signin.refused"))
		default:
			c.fail(w, r, tr, err)
		}
		return
	}
	// The session this browser had (another user's, say, on a shared machine) ends here: its
	// cookie is replaced, and it must not outlive it in the store for whoever copied it. A draft
	// kept on it goes to the new session when this is its user, and with it otherwise.
	var carried *draft
	if ck, err := c.cookie(r, sessionCookie); err == nil {
		if tenant, secret, ok := parseSessionCookie(ck.Value); ok {
			if carried, err = c.draftFor(r.Context(), tenant, secret, p); err != nil {
				c.fail(w, r, tr, err)
				return
			}
			if err := c.sessions.DeleteSession(r.Context(), tenant, sessionID(secret)); err != nil {
				c.fail(w, r, tr, err)
				return
			}
		}
	}
	id, secret, err := c.startSession(r.Context(), w, r, p, token)
	if err != nil {
		c.fail(w, r, tr, err)
		return
	}
	c.clearCookie(w, r, loginCookie)
	if carried != nil {
		if err := c.sessions.SetSessionDraft(r.Context(), p.Tenant, id, sealDraft(secret, *carried)); err != nil {
			c.fail(w, r, tr, err)
			return
		}
		http.Redirect(w, r, draftPage, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

// signout serves POST /console/signout: the session ends in the store, and its cookie goes.
func (c *Console) signout(q *request) error {
	if err := c.sessions.DeleteSession(q.r.Context(), q.sess.tenant, q.sess.id); err != nil {
		return err
	}
	c.clearCookie(q.w, q.r, sessionCookie)
	http.Redirect(q.w, q.r, "/console/signin?bye=1", http.StatusSeeOther)
	return nil
}

// loginToken returns the double-submit token of the forms a signed-out browser sends (the sign-in
// form, the language switch): the one its cookie holds already, so that every open page of the
// browser carries the same, else a new one. Either way the cookie is set again, for an hour from
// this page.
func (c *Console) loginToken(w http.ResponseWriter, r *http.Request) string {
	login := ""
	if ck, err := c.cookie(r, loginCookie); err == nil && len(ck.Value) == 64 {
		if _, err := hex.DecodeString(ck.Value); err == nil {
			login = ck.Value
		}
	}
	if login == "" {
		login = newSecret()
	}
	c.setCookie(w, r, loginCookie, login, 3600, http.SameSiteStrictMode)
	return login
}

// validLogin reports whether the parsed form of r carries the double-submit token of its cookie.
func (c *Console) validLogin(r *http.Request) bool {
	ck, err := c.cookie(r, loginCookie)
	form := r.PostForm.Get("login")
	return err == nil && form != "" && subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) == 1
}

// setLanguage serves POST /console/lang (to, back): it keeps the choice in a cookie and goes back
// to the page, which must be one of the console's own. Like every form that changes something, it
// must come from a console page: it carries the session's CSRF token, or a signed-out page's
// double-submit token; without either it is refused (403) and changes nothing. An unknown language
// is refused (400).
func (c *Console) setLanguage(w http.ResponseWriter, r *http.Request) {
	tr := translator{pickLanguage(r)}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, tr, http.StatusBadRequest, tr.T("error.form"))
		return
	}
	sess, err := c.openSession(r.Context(), r)
	if err != nil {
		c.fail(w, r, tr, err)
		return
	}
	if !(sess != nil && validCSRF(r, sess.csrf)) && !c.validLogin(r) {
		c.renderError(w, r, tr, http.StatusForbidden, tr.T("error.csrf"))
		return
	}
	to := r.PostForm.Get("to")
	if !slices.Contains(languages, to) {
		c.renderError(w, r, tr, http.StatusBadRequest, tr.T("error.lang", to, strings.Join(languages, ", ")))
		return
	}
	c.setCookie(w, r, langCookie, to, int(365*24*time.Hour/time.Second), http.SameSiteLaxMode)
	http.Redirect(w, r, consolePage(r.PostForm.Get("back")), http.StatusSeeOther)
}

// consolePage returns back, a path and query, when it names a page of the console once its dot
// segments are resolved (a browser resolves "%2e%2e" as ".."), cleaned; else the home page.
func consolePage(back string) string {
	const home = "/console/"
	if !strings.HasPrefix(back, home) || strings.ContainsAny(back, "\\") {
		return home
	}
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return home
	}
	clean := path.Clean(u.Path)
	if strings.HasSuffix(u.Path, "/") && !strings.HasSuffix(clean, "/") {
		clean += "/"
	}
	if !strings.HasPrefix(clean, home) {
		return home
	}
	return (&url.URL{Path: clean, RawQuery: u.RawQuery}).String()
}
