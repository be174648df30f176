package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/console"
	"github.com/crmflow/crmflow/crm"
)

// TestBinFilterOfNoOperation: an operation id mistyped in the bin's filter, or a "from" that is
// not a date, is said on the bin's own page, with the filters as typed and the console's menu,
// rather than on an error page that loses them.
func TestBinFilterOfNoOperation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)

	resp, page := br.get("/console/bin/contacts?op=wf-typo&by=ops")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, page, `id="filter-error"`)
	require.Contains(t, page, "There is no operation &#34;wf-typo&#34;: check its id")
	require.Contains(t, page, `id="op" name="op" value="wf-typo"`, "the filter as typed")
	require.Contains(t, page, `id="by" name="by" value="ops"`)
	require.Contains(t, page, `href="/console/bin/contacts">Clear the filters`)

	resp, page = br.get("/console/bin/contacts?from=2026-13-45")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `id="filter-error"`)
	require.Contains(t, page, "&#34;2026-13-45&#34; is not a date: pick one, or write it as 2026-03-01.")
	require.NotContains(t, page, "archivedAfter", "the console's words, not the API's parameter")
}

// archive moves the contacts ids to the bin in one operation, and returns the operation's id.
func archive(t *testing.T, b *testBundle, ids ...string) string {
	t.Helper()
	ctx := context.Background()
	rids := make([]crm.RecordID, len(ids))
	for i, id := range ids {
		rids[i] = crm.RecordID(id)
	}
	_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, rids, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	rec, err := b.store.Record(ctx, b.tenant, crm.Contacts, rids[0], &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	require.NotEmpty(t, rec.Deletion.Operation)
	return rec.Deletion.Operation
}

// TestUndoSentAgain: an undo sent again once its operation has nothing left in the bin (from the
// bin's page shown before the first undo ran: Back, then Undo) changes nothing and leads to the
// operation's page, which says so and links its latest undo.
func TestUndoSentAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	one := b.createContact(t, map[string]string{"email": "one@example.com"})
	two := b.createContact(t, map[string]string{"email": "two@example.com"})
	op := archive(t, b, one, two)

	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	csrf := br.csrf()
	resp, _ := br.post("/console/operations/"+op+"/undo", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	job := strings.TrimPrefix(resp.Header.Get("Location"), "/console/jobs/")
	for range 5 {
		j, err := b.store.RunUndoBatch(ctx, b.tenant, job, 100)
		require.NoError(t, err)
		if j.State.Finished() {
			break
		}
	}
	require.True(t, b.live(t, one))
	require.True(t, b.live(t, two))

	resp, _ = br.post("/console/operations/"+op+"/undo", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/console/bin/contacts?op="+op, resp.Header.Get("Location"))
	_, page := br.get(resp.Header.Get("Location"))
	require.Contains(t, page, `class="flash"`)
	require.Contains(t, page, "so there was nothing to undo: nothing was changed.")
	require.Contains(t, page, "2 records moved to the bin, 0 of them still there")
	require.Contains(t, page, `href="/console/jobs/`+job+`" id="operation-undo-job"`, "its latest undo")
	require.NotContains(t, page, `id="undo-operation"`)
	jobs, _, err := b.store.RecentJobs(ctx, b.tenant, "", 10)
	require.NoError(t, err)
	require.Len(t, jobs, 1, "no second undo job")
}

// TestIndexPaging: every page of records but the first links back to the first, the last one
// included, which has no next page to offer.
func TestIndexPaging(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := make([]crm.RecordInput, 30)
	for i := range in {
		in[i].Properties = map[string]string{"firstname": fmt.Sprintf("Page%02d", i)}
	}
	_, err := b.store.CreateRecords(context.Background(), b.tenant, crm.Contacts, in, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)

	_, page := br.get("/console/objects/contacts")
	require.Contains(t, page, `id="next"`)
	require.NotContains(t, page, `id="first"`, "the first page does not link to itself")
	next := strings.SplitN(strings.SplitN(page, `id="next"`, 2)[0], `href="`, -1)
	after := strings.TrimSuffix(next[len(next)-1], `" `)
	require.Contains(t, after, "/console/objects/contacts?after=")

	_, page = br.get(strings.ReplaceAll(after, "&amp;", "&"))
	require.Contains(t, page, "Page29")
	require.NotContains(t, page, `id="next"`, "the last page")
	require.Contains(t, page, `<a href="/console/objects/contacts" id="first">First page</a>`)
}

// TestErrorPageOfASignedInUser: a refusal of the API shown to a signed-in user keeps the page's
// header: the menu, who is signed in, and sign out.
func TestErrorPageOfASignedInUser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	resp, page := br.get("/console/workflows/no-such-flow")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, page, `class="error"`)
	require.Contains(t, page, `href="/console/workflows"`, "the menu")
	require.Contains(t, page, "Signed in as ops@example.com")
	require.Contains(t, page, `action="/console/signout"`)
	require.Contains(t, page, `name="back" value="/console/workflows/no-such-flow"`, "the language switch comes back here")
}

// TestJobPageWithoutScript: without JavaScript the page of a running job offers a link, in words,
// to read its progress again; a finished job's page has none.
func TestJobPageWithoutScript(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.createContact(t, map[string]string{"firstname": "J"})
	j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: []crm.RecordID{crm.RecordID(c)},
		ConfirmCount: 1, By: "ops@example.com"})
	require.NoError(t, err)
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)

	_, page := br.get("/console/jobs/" + j.ID)
	require.Contains(t, page, `<noscript><p><a href="/console/jobs/`+j.ID+`" id="job-refresh">Refresh to see how far it has come</a></p></noscript>`)
	require.NotContains(t, page, "↻")
	br.lang = "sv"
	_, page = br.get("/console/jobs/" + j.ID)
	require.Contains(t, page, "Uppdatera för att se hur långt det har kommit")

	for range 5 {
		done, err := b.store.RunDeleteJobBatch(ctx, b.tenant, j.ID, 100)
		require.NoError(t, err)
		if done.State.Finished() {
			break
		}
	}
	_, page = br.get("/console/jobs/" + j.ID)
	require.Contains(t, page, `data-status="COMPLETE"`)
	require.NotContains(t, page, `id="job-refresh"`)
}

// TestProblemsPointAtTheirColumn: a workflow's problem, and a filter's, show the line they are on
// with a caret under the column, and the position once, in the page's words.
func TestProblemsPointAtTheirColumn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	csrf := br.csrf()

	src := "name: typo\nobject_type: contacts\ntrigger: lifecyclestage == \"lead\" && citty == \"x\"\nactions:\n  - type: delete_contact\n"
	resp, page := br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"preview"}, "source": {src}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, `<span class="pos">line 3, column 38:</span> trigger: unknown name citty`)
	require.NotContains(t, page, "flow.yaml:3:38", "the position is said once")
	caret := "\n   |                                      ^"
	require.Contains(t, page, `<pre class="snippet"> 3 | trigger: lifecyclestage == &#34;lead&#34; &amp;&amp; citty == &#34;x&#34;`+caret+`</pre>`)

	_, page = br.get("/console/objects/contacts?filter=" + url.QueryEscape(`lifecyclestage == "lead" && citty == "x"`))
	require.Contains(t, page, `id="filter-error"`)
	require.Contains(t, page, "filter is invalid at 1:29 (line:column): unknown name citty")
	require.Contains(t, page, `<span class="snippet">
 | lifecyclestage == &#34;lead&#34; &amp;&amp; citty == &#34;x&#34;
 | ............................^</span></pre>`, "a mark under column 29")
}

// TestTimesInThePagesWords: the times of a workflow's revisions and history and of an operation
// read like every other time of the console (2026-03-01 12:00), not as the API's RFC 3339.
func TestTimesInThePagesWords(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	lead := b.createContact(t, map[string]string{"firstname": "T", "lifecyclestage": "lead"})
	op := archive(t, b, b.createContact(t, map[string]string{"firstname": "U"}))
	_, err := b.store.CreateUser(ctx, b.tenant, "flows@example.com", crm.Permissions{crm.PermRead, crm.PermWorkflows,
		crm.PermDelete, crm.PermBulkDelete}, "test")
	require.NoError(t, err)
	token, err := b.store.CreateToken(ctx, b.tenant, "flows@example.com", nil)
	require.NoError(t, err)
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(token).StatusCode)
	csrf := br.csrf()
	resp, _ := br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"save"}, "source": {cleanLeads}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = br.post("/console/workflows/clean-leads/activate", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	ref := crm.FlowRef{Name: "clean-leads", Revision: 1, ObjectType: crm.Contacts}
	_, err = b.store.EvaluateFlow(ctx, b.tenant, ref, []crm.FlowVerdict{{ID: crm.RecordID(lead), Verdict: crm.VerdictMatch}})
	require.NoError(t, err)

	_, page := br.get("/console/workflows/clean-leads")
	require.Contains(t, page, "Revision 1, 2026-03-01 12:00, by flows@example.com")
	_, page = br.get("/console/workflows/clean-leads/history")
	require.Contains(t, page, `<td class="when">2026-03-01 12:00</td>`)
	_, page = br.get("/console/bin/contacts?op=" + op)
	require.Contains(t, page, "By ops@example.com, from 2026-03-01 12:00: 1 records moved to the bin")
	require.NotContains(t, page, "T12:00")
}

// TestFlashWaitsForThePageShown: the message of a change waits for the page the browser shows: a
// page the console's script fetches (following the redirect after a delete, to see where it
// leads) leaves it for the page the script then opens.
func TestFlashWaitsForThePageShown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.createContact(t, map[string]string{"firstname": "F"})
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	resp, _ := br.post("/console/objects/contacts/delete/run", url.Values{"csrf": {br.csrf()}, "scope": {"selected"}, "id": {id},
		"count": {"1"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.False(t, b.live(t, id))

	br.header = http.Header{"X-Console-Fetch": {"1"}}
	_, page := br.get(resp.Header.Get("Location"))
	require.NotContains(t, page, "moved to the recycle bin", "a page the script fetched")
	br.header = nil
	_, page = br.get(resp.Header.Get("Location"))
	require.Contains(t, page, "1 record moved to the recycle bin.", "the page the browser shows")
	_, page = br.get(resp.Header.Get("Location"))
	require.NotContains(t, page, "moved to the recycle bin", "once")
}

// TestErrorPageTitles: an error page is titled by what happened when the API (or the console)
// refused the request, in the user's language: not allowed (403), not found (404), refused (400,
// 405, 409, 422); a failure of the server, or an answer the console cannot read, is "Something
// went wrong".
func TestErrorPageTitles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	kept := b.createContact(t, map[string]string{"email": "vip@example.com"})
	_, _, err := b.store.PutProtectionRule(ctx, b.tenant, crm.ProtectionRule{Name: "vip", ObjectType: crm.Contacts,
		When: `email == "vip@example.com"`}, "ops@example.com")
	require.NoError(t, err)

	ops := b.browser(t)
	require.Equal(t, http.StatusSeeOther, ops.signIn(b.token).StatusCode)
	csrf := ops.csrf()
	reader := b.browser(t)
	require.Equal(t, http.StatusSeeOther, reader.signIn(b.readerToken).StatusCode)
	signedOut := b.browser(t)

	for _, tc := range []struct {
		name   string
		br     *browser
		method string
		path   string
		form   url.Values
		status int
		en, sv string
	}{
		{"Forbidden", reader, http.MethodGet, "/console/objects/contacts/" + kept + "/delete", nil, http.StatusForbidden, "Not allowed", "Inte tillåtet"},
		{"SignedOut", signedOut, http.MethodPost, "/console/objects/contacts/" + kept + "/delete", url.Values{"mode": {"bin"}}, http.StatusForbidden, "Not allowed", "Inte tillåtet"},
		{"NotFound", ops, http.MethodGet, "/console/workflows/no-such-flow", nil, http.StatusNotFound, "Not found", "Hittades inte"},
		{"NoSuchPage", signedOut, http.MethodGet, "/console/no/such/page", nil, http.StatusNotFound, "Not found", "Hittades inte"},
		{"Conflict", ops, http.MethodPost, "/console/objects/contacts/" + kept + "/delete", url.Values{"mode": {"bin"}, "csrf": {csrf}}, http.StatusConflict, "Refused", "Avvisat"},
		{"BadRequest", ops, http.MethodPost, "/console/operations/%2e%2e/undo", url.Values{"csrf": {csrf}}, http.StatusBadRequest, "Refused", "Avvisat"},
		{"WrongMethod", ops, http.MethodGet, "/console/bin/contacts/restore", nil, http.StatusMethodNotAllowed, "Refused", "Avvisat"},
	} {
		for _, lang := range []string{"en", "sv"} {
			tc.br.lang = lang
			resp, page := tc.br.do(tc.method, tc.path, tc.form)
			require.Equal(t, tc.status, resp.StatusCode, "%s %s: %s", tc.name, lang, page)
			want := map[string]string{"en": tc.en, "sv": tc.sv}[lang]
			require.Contains(t, page, "<h1>"+want+"</h1>", "%s %s", tc.name, lang)
			require.Contains(t, page, "<title>"+want+" · ", "%s %s", tc.name, lang)
		}
		tc.br.lang = ""
	}
	require.True(t, b.live(t, kept), "the protected contact stays")

	// An API that fails (503), and one whose answer the console cannot read (500).
	apiSrv, err := api.New(b.store, &api.Config{Clock: b.clock})
	require.NoError(t, err)
	failing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/automation/v4/flows":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"error","message":"the store is unavailable: try again","category":"SERVICE_UNAVAILABLE"}`))
		case "/crm/v3/lists":
			_, _ = w.Write([]byte("not json"))
		default:
			apiSrv.ServeHTTP(w, r)
		}
	})
	con, err := console.New(failing, b.store, b.store, &console.Config{Clock: b.clock, SessionTTL: time.Hour, SignInLimit: 1000})
	require.NoError(t, err)
	srv := httptest.NewServer(con)
	t.Cleanup(srv.Close)
	down := *b
	down.base, down.transport = srv.URL, srv.Client().Transport
	br := down.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	for path, status := range map[string]int{"/console/workflows": http.StatusServiceUnavailable, "/console/lists": http.StatusInternalServerError} {
		for lang, want := range map[string]string{"en": "Something went wrong", "sv": "Något gick fel"} {
			br.lang = lang
			resp, page := br.get(path)
			require.Equal(t, status, resp.StatusCode, "%s %s", path, lang)
			require.Contains(t, page, "<h1>"+want+"</h1>", "%s %s", path, lang)
		}
	}
}

// TestFilteredIndexPaging: a filtered index pages through every record the filter matches, a page
// at a time as the unfiltered index does, with each record's name, email and update time; its
// Next and First links keep the filter; and "Delete all N" on any page still deletes every match.
func TestFilteredIndexPaging(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	in := make([]crm.RecordInput, 60)
	for i := range in {
		stage := "lead"
		if i%12 == 5 {
			stage = "customer" // 5 that the filter does not match
		}
		in[i].Properties = map[string]string{"firstname": fmt.Sprintf("Row%02d", i), "lifecyclestage": stage,
			"email": fmt.Sprintf("row%02d@example.com", i)}
	}
	recs, err := b.store.CreateRecords(ctx, b.tenant, crm.Contacts, in, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	var match []int // the indexes of the records the filter matches, by ascending id
	for i := range in {
		if i%12 != 5 {
			match = append(match, i)
		}
	}
	filter := `lifecyclestage == "lead"`
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	link := func(page, id string) string {
		t.Helper()
		m := regexp.MustCompile(`<a href="([^"]*)" id="` + id + `">`).FindStringSubmatch(page)
		require.NotNil(t, m, "the page links %s", id)
		return html.UnescapeString(m[1]) // as a browser reads the attribute
	}
	requireRows := func(page string, from, to int) {
		t.Helper()
		for k, i := range match {
			row := `<a href="/console/objects/contacts/` + string(recs[i].ID) + `">`
			if k >= from && k < to {
				require.Contains(t, page, row, "match %d", k)
				require.Contains(t, page, fmt.Sprintf(`<td class="text">Row%02d</td>`, i))
				require.Contains(t, page, fmt.Sprintf(`<td>row%02d@example.com</td>`, i))
			} else {
				require.NotContains(t, page, row, "match %d", k)
			}
		}
		for i := range in {
			if i%12 == 5 {
				require.NotContains(t, page, `<a href="/console/objects/contacts/`+string(recs[i].ID)+`">`, "no record the filter does not match")
			}
		}
	}

	_, page := br.get("/console/objects/contacts?filter=" + url.QueryEscape(filter))
	require.Contains(t, page, `<p id="total">55 records match the filter.</p>`)
	require.Contains(t, page, `<td class="when">2026-03-01 12:00</td>`, "the update time, as the unfiltered index shows it")
	requireRows(page, 0, 25)
	require.NotContains(t, page, `id="first"`, "the first page does not link to itself")
	next := link(page, "next")
	u, err := url.Parse(next)
	require.NoError(t, err)
	require.Equal(t, "/console/objects/contacts", u.Path)
	require.Equal(t, filter, u.Query().Get("filter"), "the next page keeps the filter")
	require.Equal(t, string(recs[match[24]].ID), u.Query().Get("after"))

	_, page = br.get(next)
	require.Contains(t, page, `<p id="total">55 records match the filter.</p>`, "every page counts every match")
	requireRows(page, 25, 50)
	first := link(page, "first")
	require.Equal(t, "/console/objects/contacts?filter="+url.QueryEscape(filter), first)
	require.Contains(t, page, `id="delete-all"`)
	require.Contains(t, page, `<input type="hidden" name="filter" value="lifecyclestage == &#34;lead&#34;">`)

	_, last := br.get(link(page, "next"))
	requireRows(last, 50, 55)
	require.NotContains(t, last, `id="next"`, "the last page")
	require.Equal(t, first, link(last, "first"))
	_, page = br.get(first)
	requireRows(page, 0, 25)

	// "Delete all 55", from the second page: the confirmation counts every match, and the job
	// selects by the filter, not the page.
	csrf := br.csrf()
	resp, page := br.post("/console/objects/contacts/delete", url.Values{"csrf": {csrf}, "scope": {"all"}, "filter": {filter}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "Type 55 to confirm")
	resp, _ = br.post("/console/objects/contacts/delete/run", url.Values{"csrf": {csrf}, "scope": {"all"}, "filter": {filter}, "count": {"55"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	job, err := b.store.Job(ctx, b.tenant, strings.TrimPrefix(resp.Header.Get("Location"), "/console/jobs/"))
	require.NoError(t, err)
	require.Equal(t, filter, job.Filter)
	require.EqualValues(t, 55, job.ConfirmCount)
}

// TestFilteredIndexBadAfter: a filtered index's page after something that is no record id is
// refused as the page's error, not shown as a problem of the filter.
func TestFilteredIndexBadAfter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createContact(t, map[string]string{"firstname": "A", "lifecyclestage": "lead"})
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	resp, page := br.get("/console/objects/contacts?filter=" + url.QueryEscape(`lifecyclestage == "lead"`) + "&after=abc")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.NotContains(t, page, `id="filter-error"`)
	require.Contains(t, page, "sampleAfter &#34;abc&#34; is not a record id")
}
