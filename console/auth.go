package console

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// signinPageData is the data of the sign-in page.
type signinPageData struct {
	view
	Login string
	Error string
	Ended bool
	Bye   bool
}

// signinPage serves GET /console/signin: the form, with a fresh double-submit token in a cookie
// and in the form.
func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	tr := translator{pickLanguage(r)}
	c.renderSignin(w, r, tr, http.StatusOK, "")
}

func (c *Console) renderSignin(w http.ResponseWriter, r *http.Request, tr translator, status int, msg string) {
	login := newSecret()
	c.setCookie(w, r, loginCookie, login, 3600, http.SameSiteStrictMode)
	v := view{translator: tr, Title: tr.T("signin.title"), Here: "/console/signin"}
	c.render(w, r, status, "signin", signinPageData{view: v, Login: login, Error: msg,
		Ended: r.URL.Query().Get("ended") == "1", Bye: r.URL.Query().Get("bye") == "1"})
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
	ck, err := c.cookie(r, loginCookie)
	form := r.PostForm.Get("login")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 {
		c.renderSignin(w, r, tr, http.StatusForbidden, tr.T("error.csrf"))
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		c.renderSignin(w, r, tr, http.StatusUnauthorized, tr.T("signin.empty"))
		return
	}
	p, err := c.auth.Authenticate(r.Context(), token)
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
	// cookie is replaced, and it must not outlive it in the store for whoever copied it.
	if ck, err := c.cookie(r, sessionCookie); err == nil {
		if tenant, secret, ok := parseSessionCookie(ck.Value); ok {
			if err := c.sessions.DeleteSession(r.Context(), tenant, sessionID(secret)); err != nil {
				c.fail(w, r, tr, err)
				return
			}
		}
	}
	if err := c.startSession(r.Context(), w, r, p, token); err != nil {
		c.fail(w, r, tr, err)
		return
	}
	c.clearCookie(w, r, loginCookie)
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

// setLanguage serves GET /console/lang?to=sv&back=/console/...: it keeps the choice in a cookie
// and goes back to the page, which must be one of the console's own.
func (c *Console) setLanguage(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	known := false
	for _, l := range languages {
		known = known || l == to
	}
	if known {
		c.setCookie(w, r, langCookie, to, int(365*24*time.Hour/time.Second), http.SameSiteLaxMode)
	}
	http.Redirect(w, r, consolePage(r.URL.Query().Get("back")), http.StatusSeeOther)
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
