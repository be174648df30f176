package console

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// A draft is the workflow text a user sent from the editor after their session had ended (idle,
// or at its absolute end). Rather than lose it behind a "you are signed out" page, the console
// keeps it on the ended session's trace in the store (crm.SessionTrace), sealed with a key that
// only the browser's cookie holds, and sends the browser to sign in. The form must carry that
// session's CSRF token and cookie (SameSite=Strict), so no other site can leave a draft. When the
// same user signs in again in that browser, the draft moves to the new session and the editor
// opens with it; it is saved only when they save it, with the new session's token. Anyone else
// signing in there ends the old session, and its draft with it, unseen.

// traceKeep is how long past a session's absolute end (Config.SessionTTL from sign-in) the store
// keeps its trace and the browser its cookie: how late a form sent after the session ended is
// still kept as a draft, and the draft found by a new sign-in.
const traceKeep = time.Hour

// maxDraftBytes bounds the text kept as a draft: a longer one is not kept.
const maxDraftBytes = 64 << 10

// draftPage is the editor of the draft kept for the signed-in user.
const draftPage = "/console/workflows/-/draft"

// draft is what the console keeps: the name of the workflow being edited ("" for a new one) and
// its text.
type draft struct {
	Name   string `json:"name"`
	Source string `json:"source"`
}

// sealDraft seals d with the key of secret.
func sealDraft(secret string, d draft) []byte {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err) // two strings always encode
	}
	return sealWith(draftKey(secret), b)
}

// openDraft opens what sealDraft sealed with the same secret.
func openDraft(secret string, sealed []byte) (draft, bool) {
	plain, err := unsealWith(draftKey(secret), sealed)
	if err != nil {
		return draft{}, false
	}
	var d draft
	return d, json.Unmarshal(plain, &d) == nil
}

// keepDraft keeps the workflow text of r, a form of the editor sent after its session ended, for
// its user, and sends the browser to sign in. It reports false, keeping nothing and writing
// nothing, unless r carries the cookie of a session whose trace the store still keeps and that
// session's CSRF token, and a text of at most maxDraftBytes.
func (c *Console) keepDraft(w http.ResponseWriter, r *http.Request) bool {
	ck, err := c.cookie(r, sessionCookie)
	if err != nil {
		return false
	}
	tenant, secret, ok := parseSessionCookie(ck.Value)
	if !ok {
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return false
	}
	id := sessionID(secret)
	tr, err := c.sessions.SessionTrace(r.Context(), tenant, id)
	if err != nil {
		if !errors.Is(err, crm.ErrNotFound) {
			c.cfg.Logger.WarnContext(r.Context(), "console: reading an ended session's trace", slog.String("error", err.Error()))
		}
		return false
	}
	if !validCSRF(r, tr.CSRF) {
		return false
	}
	d := draft{Name: r.PostForm.Get("name"), Source: strings.ReplaceAll(r.PostForm.Get("source"), "\r\n", "\n")}
	if strings.TrimSpace(d.Source) == "" || len(d.Name)+len(d.Source) > maxDraftBytes {
		return false
	}
	if err := c.sessions.SetSessionDraft(r.Context(), tenant, id, sealDraft(secret, d)); err != nil {
		c.cfg.Logger.WarnContext(r.Context(), "console: keeping a draft", slog.String("error", err.Error()))
		return false
	}
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
	return true
}

// draftWaiting reports whether the session of r's cookie, ended or not, has a draft kept, for the
// sign-in page to say so.
func (c *Console) draftWaiting(r *http.Request) bool {
	ck, err := c.cookie(r, sessionCookie)
	if err != nil {
		return false
	}
	tenant, secret, ok := parseSessionCookie(ck.Value)
	if !ok {
		return false
	}
	tr, err := c.sessions.SessionTrace(r.Context(), tenant, sessionID(secret))
	return err == nil && len(tr.Draft) > 0
}

// draftFor returns the draft kept on the session of secret in tenant, which a sign-in as p is
// about to end, when that session was p's; nil when it has none, or was another user's (whose
// draft then goes with their session, unseen). A store failure is an error.
func (c *Console) draftFor(ctx context.Context, tenant crm.TenantID, secret string, p crm.Principal) (*draft, error) {
	tr, err := c.sessions.SessionTrace(ctx, tenant, sessionID(secret))
	if errors.Is(err, crm.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(tr.Draft) == 0 || tenant != p.Tenant || tr.User != p.User.Email {
		return nil, nil
	}
	d, ok := openDraft(secret, tr.Draft)
	if !ok {
		return nil, nil
	}
	return &d, nil
}

// workflowDraft serves GET /console/workflows/-/draft: the editor of the workflow the signed-in
// user's draft names (a new one's when it names none, or one since gone) with the draft's text,
// which the page says is not saved yet. The draft is then dropped: the page holds the text.
// Without a draft it leads to the workflows.
func (c *Console) workflowDraft(q *request) error {
	ctx := q.r.Context()
	tr, err := c.sessions.SessionTrace(ctx, q.sess.tenant, q.sess.id)
	if err != nil && !errors.Is(err, crm.ErrNotFound) {
		return err
	}
	var d draft
	ok := err == nil && len(tr.Draft) > 0
	if ok {
		d, ok = openDraft(q.sess.secret, tr.Draft)
	}
	if !ok {
		http.Redirect(q.w, q.r, "/console/workflows", http.StatusSeeOther)
		return nil
	}
	var p workflowPage
	if d.Name != "" {
		var apiErr *APIError
		switch stored, err := c.workflowPage(q.withName(d.Name)); {
		case err == nil:
			p = stored
			p.Here = "/console/workflows/" + url.PathEscape(d.Name) // where the language switch comes back to
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound:
			// Gone since: the text stands as a new workflow's.
		default:
			return err
		}
	}
	if p.Flow.Name == "" {
		p = workflowPage{view: q.view("workflow.new.title"), New: true, CanEdit: q.can(crm.PermWorkflows)}
		p.Here = "/console/workflows/-/new"
	}
	p.Source, p.Recovered = d.Source, true
	if err := c.sessions.SetSessionDraft(ctx, q.sess.tenant, q.sess.id, nil); err != nil {
		return err
	}
	c.render(q.w, q.r, http.StatusOK, "workflow", p)
	return nil
}
