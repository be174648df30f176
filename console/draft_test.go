package console_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/console"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/redistest"
)

// TestDraftKeptWhenTheSessionEnds: the workflow text sent from the editor after the session ended
// (idle, or at its absolute end) is not lost: the browser goes to the sign-in page, which says the
// text is kept; signing in again as the same user opens the editor with it, saved only when saved
// again with the new session. Another user signing in on that browser never sees it, and a form
// that does not come from the ended session's own page keeps nothing.
func TestDraftKeptWhenTheSessionEnds(t *testing.T) {
	t.Parallel()
	const src = "name: kept-draft\nobject_type: contacts\ntrigger: lifecyclestage == \"lead\"\nactions:\n  - type: delete_contact\n"
	type bundle struct {
		*testBundle
		token string // flows@example.com's, who may edit workflows
	}
	// Each case has its own bundle: it moves its clock.
	setupDraft := func(t *testing.T) bundle {
		t.Helper()
		b := setupConsole(t, api.Config{}, console.Config{SessionTTL: time.Hour, IdleTimeout: 10 * time.Minute, SignInLimit: 1000}, false)
		_, err := b.store.CreateUser(context.Background(), b.tenant, "flows@example.com",
			crm.Permissions{crm.PermRead, crm.PermWorkflows}, "test")
		require.NoError(t, err)
		token, err := b.store.CreateToken(context.Background(), b.tenant, "flows@example.com", nil)
		require.NoError(t, err)
		return bundle{testBundle: b, token: token}
	}
	// editing signs br in as token and returns the CSRF token of the editor's page.
	editing := func(t *testing.T, br *browser, token, path string) string {
		t.Helper()
		require.Equal(t, http.StatusSeeOther, br.signIn(token).StatusCode)
		resp, page := br.get(path)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		m := csrfRE.FindStringSubmatch(page)
		require.NotNil(t, m)
		return m[1]
	}
	// sentAfterIdleEnd saves a new workflow's text from the editor of a session past its idle end,
	// checks that the console answers with a redirect, and returns the ended session's CSRF token.
	sentAfterIdleEnd := func(t *testing.T) (bundle, *browser, string, *http.Response) {
		t.Helper()
		b := setupDraft(t)
		br := b.browser(t)
		csrf := editing(t, br, b.token, "/console/workflows/-/new")
		b.clock.Advance(11 * time.Minute)
		resp, _ := br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"save"}, "source": {src}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		return b, br, csrf, resp
	}
	notStored := func(t *testing.T, b bundle) {
		t.Helper()
		_, err := b.store.Flow(context.Background(), b.tenant, "kept-draft")
		require.ErrorIs(t, err, crm.ErrNotFound)
	}

	t.Run("AfterTheIdleEnd", func(t *testing.T) {
		t.Parallel()
		b, br, csrf, resp := sentAfterIdleEnd(t)
		require.Equal(t, "/console/signin", resp.Header.Get("Location"))
		notStored(t, b)

		// Kept sealed: the store never holds the text as written.
		keys, err := redistest.Client(t).Keys(context.Background(), "crm:{"+string(b.tenant)+"}:session-trace:*").Result()
		require.NoError(t, err)
		require.Len(t, keys, 1)
		kept := redistest.Client(t).HGet(context.Background(), keys[0], "draft").Val()
		require.NotEmpty(t, kept)
		require.NotContains(t, kept, "kept-draft")

		resp, page := br.get("/console/signin")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, page, `id="draft-waiting"`)
		resp = br.signIn(b.token)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/console/workflows/-/draft", resp.Header.Get("Location"))
		resp, page = br.get("/console/workflows/-/draft")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, page, `id="draft-notice"`)
		require.Contains(t, page, html.EscapeString(src), "the editor holds the text as it was sent")
		notStored(t, b)

		// Shown once: the page holds it now.
		resp, _ = br.get("/console/workflows/-/draft")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/console/workflows", resp.Header.Get("Location"))

		// Saved with the new session's token, and only then.
		m := csrfRE.FindStringSubmatch(page)
		require.NotNil(t, m)
		require.NotEqual(t, csrf, m[1], "a new session, a new token")
		resp, _ = br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"save"}, "source": {src}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "the ended session's token saves nothing")
		notStored(t, b)
		resp, _ = br.post("/console/workflows/save", url.Values{"csrf": {m[1]}, "do": {"save"}, "source": {src}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		f, err := b.store.Flow(context.Background(), b.tenant, "kept-draft")
		require.NoError(t, err)
		require.Equal(t, int64(1), f.Revision)
	})

	t.Run("AfterTheAbsoluteEndOnAWorkflowsPage", func(t *testing.T) {
		t.Parallel()
		b := setupDraft(t)
		br := b.browser(t)
		csrf := editing(t, br, b.token, "/console/workflows/-/new")
		resp, _ := br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"save"}, "source": {src}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		csrf = editing(t, br, b.token, "/console/workflows/kept-draft")
		for range 6 { // used every 9 minutes: only the session's absolute end, an hour on, ends it
			b.clock.Advance(9 * time.Minute)
			resp, _ = br.get("/console/workflows/kept-draft")
			require.Equal(t, http.StatusOK, resp.StatusCode)
		}
		b.clock.Advance(7 * time.Minute)
		edited := strings.Replace(src, `"lead"`, `"subscriber"`, 1)
		resp, _ = br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"preview"}, "name": {"kept-draft"}, "source": {edited}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/console/signin", resp.Header.Get("Location"))

		require.Equal(t, "/console/workflows/-/draft", br.signIn(b.token).Header.Get("Location"))
		resp, page := br.get("/console/workflows/-/draft")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, page, `id="workflow-facts"`, "the page of the workflow being edited")
		require.Contains(t, page, `name="name" value="kept-draft"`)
		require.Contains(t, page, html.EscapeString(edited))
		f, err := b.store.Flow(context.Background(), b.tenant, "kept-draft")
		require.NoError(t, err)
		require.Equal(t, int64(1), f.Revision, "nothing saved")
	})

	t.Run("NeverShownToAnotherUser", func(t *testing.T) {
		t.Parallel()
		b, br, _, resp := sentAfterIdleEnd(t)

		// Another user signs in on that browser: the draft goes with the old session, unseen.
		resp = br.signIn(b.readerToken)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/console/", resp.Header.Get("Location"))
		resp, _ = br.get("/console/workflows/-/draft")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/console/workflows", resp.Header.Get("Location"))
		_, page := br.get("/console/workflows/-/new")
		require.NotContains(t, page, "kept-draft")
		// Nor does its writer find it afterwards.
		require.Equal(t, "/console/", br.signIn(b.token).Header.Get("Location"))
		_, page = br.get("/console/signin")
		require.NotContains(t, page, `id="draft-waiting"`)
		notStored(t, b)
	})

	t.Run("KeptOnlyFromTheEndedSessionsOwnPage", func(t *testing.T) {
		t.Parallel()
		b := setupDraft(t)
		br := b.browser(t)
		csrf := editing(t, br, b.token, "/console/workflows/-/new")
		b.clock.Advance(11 * time.Minute)
		refused := func(why string, by *browser, form url.Values) {
			t.Helper()
			resp, page := by.post("/console/workflows/save", form)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, why)
			require.Contains(t, page, "You are not signed in", why)
			_, page = br.get("/console/signin")
			require.NotContains(t, page, `id="draft-waiting"`, why)
		}
		refused("without the session's token", br, url.Values{"do": {"save"}, "source": {src}})
		refused("with another token", br, url.Values{"csrf": {strings.Repeat("0", 64)}, "do": {"save"}, "source": {src}})
		refused("from another browser", b.browser(t), url.Values{"csrf": {csrf}, "do": {"save"}, "source": {src}})
		refused("too long", br, url.Values{"csrf": {csrf}, "do": {"save"}, "source": {src + "#" + strings.Repeat("x", 64<<10)}})
		refused("empty", br, url.Values{"csrf": {csrf}, "do": {"save"}, "source": {" \n"}})
		// Another form of the console sent after the end is refused as before, and keeps nothing.
		resp, _ := br.post("/console/settings/protection", url.Values{"csrf": {csrf}, "name": {"x"}, "objectType": {"contacts"},
			"when": {"true"}, "source": {src}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		_, page := br.get("/console/signin")
		require.NotContains(t, page, `id="draft-waiting"`)
		// An hour past the session's absolute end, the ended session is forgotten.
		b.clock.Advance(2 * time.Hour)
		refused("too late", br, url.Values{"csrf": {csrf}, "do": {"save"}, "source": {src}})
		notStored(t, b)
	})

	t.Run("NotAfterSignOut", func(t *testing.T) {
		t.Parallel()
		b := setupDraft(t)
		br := b.browser(t)
		csrf := editing(t, br, b.token, "/console/workflows/-/new")
		// The cookie of the signed-out session, put back, brings nothing back.
		u, err := url.Parse(b.base + "/console/")
		require.NoError(t, err)
		cookies := br.client.Jar.Cookies(u)
		resp, _ := br.post("/console/signout", url.Values{"csrf": {csrf}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		br.client.Jar.SetCookies(u, cookies)
		resp, _ = br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"save"}, "source": {src}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		keys, err := redistest.Client(t).Keys(context.Background(), "crm:{"+string(b.tenant)+"}:session-trace:*").Result()
		require.NoError(t, err)
		require.Empty(t, keys, "signing out left no trace")
	})
}
