// Package console is crmflow's operator console: server-rendered screens over the HTTP API, for
// people who look after a tenant's records (find records, delete one or many with a typed count,
// follow a bulk job, restore from the recycle bin, delete a list's members).
//
// # How it works
//
// The console adds no rights of its own. A user signs in with an API token; the console keeps the
// token sealed in a session in the store (see [crm.SessionStore]) and the browser keeps only an
// HttpOnly, SameSite=Strict cookie with the session's secret: over HTTPS (or with
// [Config.SecureCookies] behind a proxy that terminates TLS) a Secure one named
// __Host-crmflow_session, which no other host nor plain HTTP page can set. A session ends
// [Config.IdleTimeout] after the user last opened a page or sent a form, and [Config.SessionTTL]
// after sign-in at the latest. The workflow editor's text, sent after its session ended, is not
// lost: it is kept sealed on the ended session's trace, and the editor opens with it once the
// same user signs in again in that browser (see draft.go). Every screen reads and every action
// writes through the API's own http.Handler, in process, with the user's token: the API checks
// the permissions, the counts and the protection rules exactly as it does for any client, and the
// console shows its refusals. The console only hides what the user may not do. A form that
// changed something answers with a redirect (303) to the page that says what it did (with a
// one-time flash), so that reloading that page never sends the form again; a refusal is shown at
// once, with the form as sent, titled by what happened (not allowed, not found, refused).
//
//	con, err := console.New(apiServer, store, store, &console.Config{Retention: 90 * 24 * time.Hour})
//	mux.Handle("/console/", con)
//
// # Safety
//
// Pages are html/template, so every value is escaped; the scripts read data from the page only
// through JSON. Every POST but the sign-in carries the session's CSRF token and is refused (403)
// without it, before anything is read or changed; the sign-in form carries its own double-submit
// token, and so does the language switch (a POST too) on a page signed out. Failed sign-ins are
// limited per client address ([Config.SignInLimit] in [Config.SignInWindow]), counted in the store
// by every process together; behind a proxy, [Config.TrustedProxies] says whose X-Forwarded-For
// names the client. No token ever appears in a URL or a log line.
//
// # Languages
//
// English and Swedish come from one message catalog (messages.go). The language is the one of the
// crmflow_lang cookie (set by the switch in the page's header), else the best match of
// Accept-Language, else English.
package console
