package console_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// TestPagesOfAnActionTheUserLacks: the page that leads only to a delete the user may not make
// (the record's delete page, the typed count of a bulk delete, a list's delete) refuses with the
// permission it needs and the command that grants it, and offers no form.
func TestPagesOfAnActionTheUserLacks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	id := b.createContact(t, map[string]string{"email": "keep@example.com"})
	other := b.createContact(t, map[string]string{"email": "other@example.com"})
	l, err := b.store.CreateList(ctx, b.tenant, "Keep", crm.Contacts)
	require.NoError(t, err)
	_, _, err = b.store.AddListMembers(ctx, b.tenant, l.ID, []crm.RecordID{crm.RecordID(id)})
	require.NoError(t, err)

	reader := b.browser(t)
	require.Equal(t, http.StatusSeeOther, reader.signIn(b.readerToken).StatusCode)
	resp, page := reader.get("/console/objects/contacts/" + id + "/delete")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, page, `this request needs the &#34;delete&#34; permission`)
	require.Contains(t, page, "crmflow admin user set-perms "+string(b.tenant)+" reader@example.com --perms read,delete")
	require.NotContains(t, page, `id="delete-bin"`)
	resp, page = reader.get("/console/lists/" + string(l.ID) + "/delete")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, page, `needs the &#34;delete&#34; and &#34;bulk_delete&#34; permissions`)
	require.NotContains(t, page, `id="confirm-delete"`)
	resp, page = reader.post("/console/objects/contacts/delete", url.Values{"csrf": {reader.csrf()}, "scope": {"all"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.NotContains(t, page, `id="confirm-delete"`)
	reader.lang = "sv"
	_, page = reader.get("/console/objects/contacts/" + id + "/delete")
	require.Contains(t, page, "Din användare saknar behörigheten delete.")

	// A user who may delete one record at a time is asked for the typed count of one, and refused
	// two at once before typing anything.
	_, err = b.store.CreateUser(ctx, b.tenant, "one@example.com", crm.Permissions{crm.PermRead, crm.PermDelete}, "test")
	require.NoError(t, err)
	token, err := b.store.CreateToken(ctx, b.tenant, "one@example.com", nil)
	require.NoError(t, err)
	one := b.browser(t)
	require.Equal(t, http.StatusSeeOther, one.signIn(token).StatusCode)
	csrf := one.csrf()
	// The index lets them tick a record, but offers no "select all on this page".
	_, page = one.get("/console/objects/contacts")
	require.Contains(t, page, `class="pick"`)
	require.Contains(t, page, `id="delete-selected"`)
	require.NotContains(t, page, `id="selectpage"`)
	require.NotContains(t, page, `id="delete-all"`)
	resp, page = one.post("/console/objects/contacts/delete", url.Values{"csrf": {csrf}, "scope": {"selected"}, "id": {id}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `id="confirm-delete"`)
	resp, page = one.post("/console/objects/contacts/delete", url.Values{"csrf": {csrf}, "scope": {"selected"}, "id": {id, other}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, page, `this request needs the &#34;bulk_delete&#34; permission`)
	require.NotContains(t, page, `id="confirm-delete"`)
	_, page = one.get("/console/objects/contacts/" + id + "/delete")
	require.Contains(t, page, `id="delete-bin"`)
	require.NotContains(t, page, `id="delete-permanent"`)
	require.True(t, b.live(t, id))
	require.True(t, b.live(t, other))

	// A user who may erase a contact but not move it to the bin is offered the erasure alone.
	_, err = b.store.CreateUser(ctx, b.tenant, "eraser@example.com", crm.Permissions{crm.PermRead, crm.PermPermanentDelete}, "test")
	require.NoError(t, err)
	token, err = b.store.CreateToken(ctx, b.tenant, "eraser@example.com", nil)
	require.NoError(t, err)
	eraser := b.browser(t)
	require.Equal(t, http.StatusSeeOther, eraser.signIn(token).StatusCode)
	resp, page = eraser.get("/console/objects/contacts/" + id + "/delete")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `id="delete-permanent"`)
	require.NotContains(t, page, `id="delete-bin"`)
}

// TestWrongMethod: an address of the console asked with the wrong method (the address of a
// confirmation, which a form posts to, opened in a new tab) is a 405 that says what to do, not
// "there is no such page"; it changes nothing.
func TestWrongMethod(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	for _, path := range []string{"/console/signout", "/console/objects/contacts/delete", "/console/objects/contacts/delete/run",
		"/console/bin/contacts/restore", "/console/settings/protection"} {
		resp, page := br.get(path)
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, path)
		require.Equal(t, "POST", resp.Header.Get("Allow"), path)
		require.Contains(t, page, "takes a form sent from a console page", path)
		require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	}
	resp, page := br.post("/console/audit", url.Values{"csrf": {br.csrf()}})
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
	require.Contains(t, page, "is a page to open")
	resp, _ = br.do(http.MethodPut, "/console/objects/contacts/1/delete", nil)
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Equal(t, "GET, HEAD, POST", resp.Header.Get("Allow"))
	resp, page = br.get("/console/nothing/here")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, page, "There is no such page.")
	br.lang = "sv"
	_, page = br.get("/console/signout")
	require.Contains(t, page, "Den här adressen tar emot ett formulär")
	// Still signed in: the GET of the sign-out address signed nobody out.
	resp, _ = br.get("/console/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestCustomObjectTypeTitles: the pages of a tenant's custom object type are titled with its name,
// not with a message key the catalog lacks.
func TestCustomObjectTypeTitles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.CreateObjectType(context.Background(), b.tenant, crm.ObjectTypeDef{Name: "pets", Label: "Pet",
		Properties: []crm.Property{{Name: "name", Label: "Name", Type: "string"}}}, "ops@x.example")
	require.NoError(t, err)
	recs, err := b.store.CreateRecords(context.Background(), b.tenant, "pets", []crm.RecordInput{{Properties: map[string]string{"name": "Rex"}}},
		crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	for path, title := range map[string]string{
		"/console/objects/pets":                       "<h1>pets · Records</h1>",
		"/console/objects/pets/" + string(recs[0].ID): "<h1>pets " + string(recs[0].ID) + "</h1>",
		"/console/bin/pets":                           "<h1>pets · Recycle bin</h1>",
	} {
		resp, page := br.get(path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, page, title, path)
		require.NotContains(t, page, "type.pets", path)
	}
}

// TestNamesThatNameNothing: a protection rule's name, a workflow's or an operation's id typed as
// ".", ".." or nothing is refused with what is wrong with it, not answered with the redirect the
// API's router gives such an address (a 307 page without a Location) or with "no endpoint".
func TestNamesThatNameNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	csrf := br.csrf()
	for _, name := range []string{".", ".."} {
		want := "&#34;" + name + "&#34; is not a name or an id"
		resp, page := br.post("/console/settings/protection", url.Values{"csrf": {csrf}, "name": {name},
			"objectType": {"contacts"}, "when": {"true"}})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		require.Contains(t, page, want)
		require.Contains(t, page, `id="rule-refusal"`, "the settings show again, with the refusal")

		resp, page = br.get("/console/bin/contacts?op=" + url.QueryEscape(name))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		require.Contains(t, page, want)

		src := "name: '" + name + "'\nobject_type: contacts\ntrigger: 'true'\nactions:\n  - type: delete_contact\n"
		resp, page = br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"save"}, "source": {src}})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		require.Contains(t, page, want)
		require.Contains(t, page, "delete_contact", "the page keeps the text being edited")
	}
	resp, page := br.post("/console/settings/protection", url.Values{"csrf": {csrf}, "name": {" "},
		"objectType": {"contacts"}, "when": {"true"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, "a name or an id is missing")
}

// TestSecurityHeaders: every answer of the console, signed in or out, a page, a form's answer, an
// error or a job's status, forbids framing, sniffing and a Referer to another site, and is never
// kept by a cache; a static file (the style sheet, the script) may be kept, and is not sniffed.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(t)
	out := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	signedIn, _ := br.get("/console/")
	signin, _ := out.get("/console/signin")
	redirected, _ := out.get("/console/workflows")
	refused, _ := out.post("/console/workflows/save", url.Values{"source": {"name: x"}})
	missing, _ := br.get("/console/nothing/here")
	status, _ := br.get("/console/jobs/1/status")
	signout, _ := br.post("/console/signout", url.Values{"csrf": {br.csrf()}})
	for name, resp := range map[string]*http.Response{"signed in": signedIn, "sign-in page": signin, "to sign in": redirected,
		"refused": refused, "no such page": missing, "job status": status, "sign-out": signout} {
		h := resp.Header
		require.Contains(t, h.Get("Content-Security-Policy"), "frame-ancestors 'none'", name)
		require.Equal(t, "DENY", h.Get("X-Frame-Options"), name)
		require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), name)
		require.Equal(t, "same-origin", h.Get("Referrer-Policy"), name)
		require.Equal(t, "no-store", h.Get("Cache-Control"), name)
	}
	require.Equal(t, http.StatusOK, signedIn.StatusCode)
	require.Equal(t, http.StatusForbidden, refused.StatusCode)
	require.Equal(t, http.StatusNotFound, missing.StatusCode)

	css, _ := out.get("/console/static/console.css")
	require.Equal(t, http.StatusOK, css.StatusCode)
	require.Equal(t, "nosniff", css.Header.Get("X-Content-Type-Options"))
	require.Empty(t, css.Header.Get("Cache-Control"))
}

// TestStaticFiles: the console serves its style sheet and script, and lists no files: the
// directory, or a file it does not have, is the "no such page" page (404), never kept by a cache.
func TestStaticFiles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(t)
	for path, ctype := range map[string]string{"/console/static/console.css": "text/css", "/console/static/console.js": "text/javascript"} {
		resp, body := br.get(path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, resp.Header.Get("Content-Type"), ctype, path)
		require.NotEmpty(t, body, path)
	}
	for _, path := range []string{"/console/static/", "/console/static/nothing.js", "/console/static/console.css/"} {
		resp, page := br.get(path)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, path)
		require.Contains(t, page, "There is no such page.", path)
		require.NotContains(t, page, `href="console.css"`, path)
		require.Equal(t, "no-store", resp.Header.Get("Cache-Control"), path)
	}
	resp, _ := br.get("/console/static")
	require.Equal(t, "/console/static/", resp.Header.Get("Location"), "the directory's address without its slash leads to the 404")
}
