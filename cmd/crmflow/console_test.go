package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/redistest"
)

// The console's end-to-end tests drive a real headless Chromium against real `serve` and
// `worker` processes on a real redis-server. With CRMFLOW_SCREENSHOTS=DIR they also save a
// screenshot of every screen they visit in DIR (docs/screenshots holds the committed ones).

// chromiumPath returns the browser the tests drive: $CRMFLOW_CHROMIUM, or chromium on PATH. With
// none it FAILS, saying how to install it: a skipped browser suite would look green.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CRMFLOW_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the console's end-to-end tests drive a headless Chromium, and none was found on PATH: " +
		"install it with `sudo apt-get install -y chromium` (Debian, Ubuntu) or `brew install --cask chromium` (macOS), " +
		"or set CRMFLOW_CHROMIUM to the browser's path; .ci/run installs it when it is missing")
	return ""
}

// browserCtx starts a fresh headless browser (its own cookies) for the test and returns its
// context, which ends with the test or after three minutes.
func browserCtx(t *testing.T) context.Context {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // the CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(1200, 900),
		chromedp.Flag("lang", "en-US"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelCtx := chromedp.NewContext(allocCtx)
	// The first action starts the browser; its context must not carry the timeout (it would stop
	// the browser), so the timeout goes on a context derived once the browser runs.
	require.NoError(t, chromedp.Do(browser), "start %s", chromiumPath(t))
	ctx, cancelTimeout := context.WithTimeout(browser, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

// shot saves a full-page screenshot named name.png in $CRMFLOW_SCREENSHOTS, when it is set.
func shot(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		dir := os.Getenv("CRMFLOW_SCREENSHOTS")
		if dir == "" {
			return nil
		}
		buf, err := chromedp.FullScreenshot(100)(ctx, tg) // quality 100: a lossless PNG
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	})
}

// until waits until the script expression is true in the page, for at most a minute.
func until(expression string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expression, chromedp.WithPollingTimeout(time.Minute))(ctx, tg)
		return err
	})
}

// eval evaluates a script expression in the page (awaiting a promise) and returns its value.
func eval[T any](t *testing.T, ctx context.Context, expression string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "evaluate %s", expression)
	return v
}

// run runs actions in the browser and fails the test on an error, with what the page shows.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\npage:\n%s", what, err, body)
	}
}

// text returns the text of the first element matching sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, "read %s", sel)
	return s
}

// signInConsole signs in at base with token through the sign-in form.
func signInConsole(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	run(t, ctx, "sign in",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		shot("signin"),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/objects/contacts"]`)),
	)
}

// postFromPage makes the page POST a form to path, as a forged form would: with the session
// cookie (same origin) and the fields of form, and returns the answer's status.
func postFromPage(t *testing.T, ctx context.Context, path string, form map[string]string) int {
	t.Helper()
	js := fmt.Sprintf(`fetch(%q, {method: "POST", credentials: "same-origin", body: new URLSearchParams(%s)}).then(r => r.status)`,
		path, mustJSON(t, form))
	return eval[int](t, ctx, js)
}

// mustJSON encodes v as JSON, for a script.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestConsoleEndToEnd(t *testing.T) {
	t.Parallel()
	chromiumPath(t) // fail at once, before any process starts, when there is no browser
	b := bundleOn(t, setup(t).redisURL)
	tenant, token := b.opsTenant(t)
	_, err := b.store.CreateUser(b.ctx, tenant, "reader@example.com", crm.Permissions{crm.PermRead}, "test")
	require.NoError(t, err)
	readerToken, err := b.store.CreateToken(b.ctx, tenant, "reader@example.com", nil)
	require.NoError(t, err)
	base := b.serveWithWorker(t)
	contacts := base + "/crm/v3/objects/contacts"
	readerSees := ""

	create := func(t *testing.T, props map[string]string) string {
		t.Helper()
		code, body := call(t, http.MethodPost, contacts, token, map[string]any{"properties": props})
		require.Equal(t, http.StatusCreated, code, "%v", body)
		return body["id"].(string)
	}
	liveStatus := func(t *testing.T, id string) int {
		t.Helper()
		code, _ := call(t, http.MethodGet, contacts+"/"+id, token, nil)
		return code
	}

	readerSees = create(t, map[string]string{"email": "readonly@example.com", "firstname": "Rut"})

	t.Run("Operator", func(t *testing.T) {
		t.Parallel()
		one := create(t, map[string]string{"email": "one@example.com", "firstname": "Olle", "lastname": "Ettan", "lifecyclestage": "lead"})
		company, err := b.store.CreateRecords(b.ctx, tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Ettan AB"}}}, crm.Actor{User: opsUser})
		require.NoError(t, err)
		require.NoError(t, b.store.Associate(b.ctx, tenant, crm.AssociationRef{Type: crm.Contacts, ID: crm.RecordID(one)},
			crm.AssociationRef{Type: crm.Companies, ID: company[0].ID}))
		var bulk []string
		for i := range 12 {
			bulk = append(bulk, create(t, map[string]string{"email": fmt.Sprintf("sub%02d@bulk.example", i), "firstname": fmt.Sprintf("Sub %d", i),
				"lifecyclestage": "subscriber"}))
		}
		for i := range 20 {
			create(t, map[string]string{"email": fmt.Sprintf("lead%02d@example.com", i), "firstname": fmt.Sprintf("Lead %d", i), "lifecyclestage": "lead"})
		}

		ctx := browserCtx(t)
		signInConsole(t, ctx, base, token)
		run(t, ctx, "home", shot("home"))

		// The index: a page of 25, paging, select all on the page, then "select all N".
		run(t, ctx, "index",
			chromedp.Navigate(base+"/console/objects/contacts"),
			chromedp.WaitVisible(chromedp.CSS("#next")),
			shot("index"),
			click("#selectpage"),
			chromedp.WaitVisible(chromedp.CSS("#selectall-n")),
			shot("index-selected"),
			click("#selectall-n"),
			click("#delete-selected"),
			chromedp.WaitVisible(chromedp.CSS("#count")),
		)
		require.Contains(t, text(t, ctx, "main"), "Type 34 to confirm", "every live contact: 33 here and the reader's")
		require.True(t, eval[bool](t, ctx, `document.activeElement && document.activeElement.id === "count"`), "the dialog focuses the count")
		run(t, ctx, "cancel with Escape",
			chromedp.KeyEvent(kb.Escape),
			until(`!document.querySelector("dialog#confirm-dialog").open`),
		)

		// Delete one record from its page: Actions → Delete → the recycle bin.
		run(t, ctx, "record",
			chromedp.Navigate(base+"/console/objects/contacts/"+one),
			chromedp.WaitVisible(chromedp.CSS("#record-delete")),
			shot("record"),
		)
		require.Contains(t, text(t, ctx, "main"), "Companies: "+string(company[0].ID))
		run(t, ctx, "delete one",
			click("#record-delete"),
			chromedp.WaitVisible(chromedp.CSS("#delete-bin")),
			shot("record-delete"),
			click("#delete-bin"),
			chromedp.WaitVisible(chromedp.CSS(".flash")),
		)
		require.Contains(t, text(t, ctx, ".flash"), "1 record moved to the recycle bin")
		require.Equal(t, http.StatusNotFound, liveStatus(t, one))

		// Bulk delete by filter: a wrong typed count is refused, the right one runs a job whose
		// progress the page follows to the end.
		run(t, ctx, "filter",
			chromedp.Navigate(base+"/console/objects/contacts"),
			chromedp.WaitVisible(chromedp.CSS("#filter")),
			chromedp.SendKeys(chromedp.CSS("#filter"), `lifecyclestage == "subscriber"`),
			chromedp.Submit(chromedp.CSS("#filter")),
			// The unfiltered page has the button too: wait for the filtered page's own link that
			// clears the filter, then for the button.
			chromedp.WaitVisible(chromedp.CSS("form.filter a")),
			chromedp.WaitVisible(chromedp.CSS("#delete-all")),
			shot("index-filtered"),
		)
		require.Contains(t, text(t, ctx, "#total"), "12 records match")
		run(t, ctx, "confirm wrong",
			click("#delete-all"),
			chromedp.WaitVisible(chromedp.CSS("#count")),
			shot("bulk-confirm"),
			chromedp.SendKeys(chromedp.CSS("#count"), "11"),
			click("#confirm-delete"),
			chromedp.WaitVisible(chromedp.CSS("#confirm-error")),
			shot("bulk-confirm-wrong"),
		)
		require.Contains(t, text(t, ctx, "#confirm-error"), "You typed “11”, but 12 records are selected")
		require.True(t, eval[bool](t, ctx, `document.querySelector("dialog#confirm-dialog[open] #confirm-error") !== null`),
			"the confirmation and its refusal stay in a modal dialog over the index")
		require.True(t, eval[bool](t, ctx, `location.pathname === "/console/objects/contacts"`))
		for _, id := range bulk {
			require.Equal(t, http.StatusOK, liveStatus(t, id), "a wrong count deletes nothing")
		}
		run(t, ctx, "confirm right",
			chromedp.Clear(chromedp.CSS("#count")),
			chromedp.SendKeys(chromedp.CSS("#count"), "12"),
			click("#confirm-delete"),
			chromedp.WaitVisible(chromedp.CSS("#job-status")),
			until(`document.getElementById("job-status").dataset.status === "COMPLETE"`),
			shot("job"),
		)
		require.Equal(t, "12 of 12 deleted", text(t, ctx, "#job-progress"))
		for _, id := range bulk {
			require.Equal(t, http.StatusNotFound, liveStatus(t, id))
		}

		// The members of a list: typed count, job, the list stays.
		var members []crm.RecordID
		for i := range 3 {
			members = append(members, crm.RecordID(create(t, map[string]string{"email": fmt.Sprintf("member%d@list.example", i)})))
		}
		l, err := b.store.CreateList(b.ctx, tenant, "Churned 2025", crm.Contacts)
		require.NoError(t, err)
		_, _, err = b.store.AddListMembers(b.ctx, tenant, l.ID, members)
		require.NoError(t, err)
		run(t, ctx, "lists",
			chromedp.Navigate(base+"/console/lists"),
			chromedp.WaitVisible(chromedp.CSS("#delete-members-"+string(l.ID))),
			shot("lists"),
			click("#delete-members-"+string(l.ID)),
			chromedp.WaitVisible(chromedp.CSS("#count")),
			shot("list-confirm"),
			chromedp.SendKeys(chromedp.CSS("#count"), "3"),
			click("#confirm-delete"),
			chromedp.WaitVisible(chromedp.CSS("#job-status")),
			until(`document.getElementById("job-status") && document.getElementById("job-status").dataset.status === "COMPLETE"`),
		)
		for _, id := range members {
			require.Equal(t, http.StatusNotFound, liveStatus(t, string(id)))
		}
		code, _ := call(t, http.MethodGet, base+"/crm/v3/lists/"+string(l.ID), token, nil)
		require.Equal(t, http.StatusOK, code, "deleting a list's members keeps the list")

		// Undo the list delete's whole operation from the bin: one member's email is taken
		// meanwhile, so the undo job restores two and names the blocking contact.
		var binned map[string]any
		code, binned = call(t, http.MethodGet, contacts+"/"+string(members[1])+"?archived=true", token, nil)
		require.Equal(t, http.StatusOK, code)
		op := binned["archivedOperation"].(string)
		taken := create(t, map[string]string{"email": "member0@list.example", "firstname": "Taken"})
		run(t, ctx, "undo an operation",
			chromedp.Navigate(base+"/console/bin/contacts?op="+op),
			chromedp.WaitVisible(chromedp.CSS("#undo-operation")),
			shot("bin-operation"),
			click("#undo-operation"),
			chromedp.WaitVisible(chromedp.CSS("#job-failures")),
			shot("undo-job"),
		)
		require.Contains(t, text(t, ctx, "#job-failures"), string(members[0]))
		href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#job-failures a.blocking"), "href"))
		require.NoError(t, err)
		require.Equal(t, "/console/objects/contacts/"+taken, href.Value)
		require.Equal(t, http.StatusOK, liveStatus(t, string(members[1])))
		require.Equal(t, http.StatusOK, liveStatus(t, string(members[2])))
		require.Equal(t, http.StatusNotFound, liveStatus(t, string(members[0])))

		// Restore from the bin: the contact whose email is now taken is refused, naming the
		// blocking contact with a link to it.
		twin := create(t, map[string]string{"email": "twin@example.com", "firstname": "Old twin"})
		code, _ = call(t, http.MethodDelete, contacts+"/"+twin, token, nil)
		require.Equal(t, http.StatusNoContent, code)
		blocker := create(t, map[string]string{"email": "twin@example.com", "firstname": "New twin"})
		run(t, ctx, "bin",
			chromedp.Navigate(base+"/console/bin/contacts"),
			chromedp.WaitVisible(chromedp.CSS("#restore")),
			shot("bin"),
			click(`input.pick[value="`+twin+`"]`),
			click(`input.pick[value="`+one+`"]`),
			click("#restore"),
			chromedp.WaitVisible(chromedp.CSS("#restore-failures")),
			shot("bin-conflict"),
		)
		require.Contains(t, text(t, ctx, "#restore-failures"), "twin@example.com")
		require.Contains(t, text(t, ctx, ".flash"), "1 record restored")
		href, err = chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#restore-failures a.blocking"), "href"))
		require.NoError(t, err)
		require.Equal(t, "/console/objects/contacts/"+blocker, href.Value)
		require.Equal(t, http.StatusOK, liveStatus(t, one), "the other record came back")
		require.Equal(t, http.StatusNotFound, liveStatus(t, twin))

		// A permanent delete, its consequences spelled out, confirmed by typing the email; the
		// confirmation mail reaches the outbox (this worker has no SMTP server).
		gone := create(t, map[string]string{"email": "forget.me@privacy.example", "firstname": "Forget"})
		run(t, ctx, "permanent",
			chromedp.Navigate(base+"/console/objects/contacts/"+gone+"/delete"),
			chromedp.WaitVisible(chromedp.CSS("#delete-permanent")),
			shot("record-delete-permanent"),
			chromedp.SendKeys(chromedp.CSS("#confirm"), "forget.me@privacy.example"),
			click("#delete-permanent"),
			chromedp.WaitVisible(chromedp.CSS(".flash")),
		)
		require.Contains(t, text(t, ctx, ".flash"), "deleted permanently")
		require.Equal(t, http.StatusNotFound, liveStatus(t, gone))
		code, _ = call(t, http.MethodGet, contacts+"/"+gone+"?archived=true", token, nil)
		require.Equal(t, http.StatusNotFound, code, "a permanent delete never enters the bin")
		require.Eventually(t, func() bool {
			mails, err := b.store.Outbox(b.ctx, tenant, 20)
			return err == nil && slices.ContainsFunc(mails, func(m crm.Mail) bool {
				return m.Kind == crm.MailKindPermanentDelete && m.To == opsUser
			})
		}, time.Minute, 50*time.Millisecond, "the confirmation mail reaches the outbox")
		run(t, ctx, "outbox",
			chromedp.Navigate(base+"/console/outbox"),
			chromedp.WaitVisible(chromedp.CSS("article.mail")),
			shot("outbox"),
		)
		require.Contains(t, text(t, ctx, "main"), "Permanent deletion completed")
		run(t, ctx, "audit",
			chromedp.Navigate(base+"/console/audit"),
			chromedp.WaitVisible(chromedp.CSS("#audit")),
			shot("audit"),
		)
		require.Contains(t, text(t, ctx, "#audit tr.audit-permanent_delete"), opsUser, "the newest entries first")

		// A POST without the CSRF token is refused and changes nothing.
		victim := create(t, map[string]string{"email": "victim@example.com"})
		require.Equal(t, http.StatusForbidden, postFromPage(t, ctx, "/console/objects/contacts/"+victim+"/delete", map[string]string{"mode": "bin"}))
		require.Equal(t, http.StatusOK, liveStatus(t, victim))

		// A workflow: written and previewed with names, saved, refused on Starter with the plan's
		// message, activated on Professional with enroll-existing; its history shows the deletions.
		var doomed []string
		for i := range 2 {
			doomed = append(doomed, create(t, map[string]string{"email": fmt.Sprintf("gone%d@wf.example", i), "firstname": "Gone",
				"lastname": fmt.Sprint("Number ", i), "lifecyclestage": "other"}))
		}
		const flowSrc = "name: clean-wf-example\nobject_type: contacts\ntrigger: hasSuffix(email, \"@wf.example\")\n" +
			"enroll_existing: true\nactions:\n  - type: delete_contact\n"
		run(t, ctx, "new workflow",
			chromedp.Navigate(base+"/console/workflows"),
			chromedp.WaitVisible(chromedp.CSS("#new-workflow")),
			click("#new-workflow"),
			chromedp.WaitVisible(chromedp.CSS("#source")),
			setValue("#source", "name: clean-wf-example\nobject_type: contacts\ntrigger: hasSuffix(emial, \"x\")\nactions: []\n"),
			click("#check"),
			chromedp.WaitVisible(chromedp.CSS("#problems")),
			shot("workflow-problems"),
		)
		require.Contains(t, text(t, ctx, "#problems"), "line 3, column")
		require.Contains(t, text(t, ctx, "#problems"), "email", "the problem suggests the property meant")
		run(t, ctx, "preview",
			setValue("#source", flowSrc),
			click("#check"),
			chromedp.WaitVisible(chromedp.CSS("#preview-sample")),
			shot("workflow-preview"),
		)
		require.Contains(t, text(t, ctx, "#preview-counts"), "2 match and would enroll")
		require.Contains(t, text(t, ctx, "#preview-sample"), "Gone Number 0")
		run(t, ctx, "save",
			click("#save"),
			chromedp.WaitVisible(chromedp.CSS("#workflow-facts")),
		)
		require.Contains(t, text(t, ctx, ".flash"), "Saved as revision 1.")
		_, err = b.store.SetPlan(b.ctx, tenant, crm.PlanStarter)
		require.NoError(t, err)
		run(t, ctx, "refused on starter",
			click("#enroll"),
			click("#activate"),
			chromedp.WaitVisible(chromedp.CSS("#refusal")),
			shot("workflow-refused"),
		)
		require.Contains(t, text(t, ctx, "#refusal"), "the starter plan does not include workflow automation")
		require.True(t, eval[bool](t, ctx, `document.getElementById("enroll").checked`), "the refused form as it was sent")
		_, err = b.store.SetPlan(b.ctx, tenant, crm.PlanProfessional)
		require.NoError(t, err)
		run(t, ctx, "activate",
			click("#activate"),
			chromedp.WaitVisible(chromedp.CSS("#pause")),
		)
		require.Contains(t, text(t, ctx, ".flash"), "The workflow is active.")
		require.Eventually(t, func() bool {
			return liveStatus(t, doomed[0]) == http.StatusNotFound && liveStatus(t, doomed[1]) == http.StatusNotFound
		}, time.Minute, 100*time.Millisecond, "the workflow deletes both contacts")
		run(t, ctx, "history",
			chromedp.Navigate(base+"/console/workflows/clean-wf-example/history?kind=action"),
			chromedp.WaitVisible(chromedp.CSS("#history")),
			shot("workflow-history"),
		)
		require.Equal(t, 2, eval[int](t, ctx, `document.querySelectorAll("#history tr.event-action").length`))
		for _, id := range doomed {
			require.Contains(t, text(t, ctx, "#history"), "moved contact "+id+" to the recycle bin")
		}
		run(t, ctx, "a deleted record from the history",
			click(`#history a[href="/console/objects/contacts/`+doomed[0]+`"]`),
			chromedp.WaitVisible(chromedp.CSS("#record-inbin")),
		)
		require.Contains(t, text(t, ctx, "#record-inbin"), "via workflow clean-wf-example")
		require.Zero(t, eval[int](t, ctx, `document.querySelectorAll("#record-delete").length`), "no Delete for a record in the bin")
		run(t, ctx, "workflows list",
			chromedp.Navigate(base+"/console/workflows/clean-wf-example"),
			chromedp.WaitVisible(chromedp.CSS("#workflow-facts")),
			shot("workflow"),
			chromedp.Navigate(base+"/console/workflows"),
			chromedp.WaitVisible(chromedp.CSS("#workflows")),
			shot("workflows"),
		)

		// The jobs index and the tenant's settings.
		run(t, ctx, "jobs and settings",
			chromedp.Navigate(base+"/console/jobs"),
			chromedp.WaitVisible(chromedp.CSS("#jobs")),
			shot("jobs"),
		)
		require.Contains(t, text(t, ctx, "#jobs"), "Undo of operation "+op)
		run(t, ctx, "settings",
			chromedp.Navigate(base+"/console/settings"),
			chromedp.WaitVisible(chromedp.CSS("#rule-form")),
			chromedp.SendKeys(chromedp.CSS("#rule-name"), "customers"),
			chromedp.SendKeys(chromedp.CSS("#rule-when"), `lifecyclestage == "customer"`),
			click("#save-rule"),
			chromedp.WaitVisible(chromedp.CSS("#rules")),
			shot("settings"),
		)
		require.Contains(t, text(t, ctx, "#rules"), `lifecyclestage == "customer"`)

		// A narrow screen.
		run(t, ctx, "narrow",
			chromedp.EmulateViewport(390, 844),
			chromedp.Navigate(base+"/console/objects/contacts"),
			chromedp.WaitVisible(chromedp.CSS("#filter")),
			shot("index-narrow"),
			chromedp.EmulateViewport(1200, 900),
		)

		// Sign out ends the session.
		run(t, ctx, "sign out",
			click(`form[action="/console/signout"] button`),
			chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.Navigate(base+"/console/objects/contacts"),
			chromedp.WaitVisible(chromedp.CSS("#token")),
		)
	})

	t.Run("ReaderInSwedish", func(t *testing.T) {
		t.Parallel()
		id := readerSees
		ctx := browserCtx(t)
		// The language switch, a form that posts with the page's token: on the sign-in page, and
		// signed in, where it comes back to the page it was used on.
		run(t, ctx, "svenska at the sign-in",
			chromedp.Navigate(base+"/console/signin"),
			chromedp.WaitVisible(chromedp.CSS("#token")),
			click(`nav.langs button[value="sv"]`),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="sv"]`)),
		)
		signInConsole(t, ctx, base, readerToken)
		run(t, ctx, "english, then svenska",
			chromedp.Navigate(base+"/console/lists"),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="sv"]`)),
			click(`nav.langs button[value="en"]`),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="en"]`)),
			click(`nav.langs button[value="sv"]`),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="sv"]`)),
		)
		require.True(t, eval[bool](t, ctx, `location.pathname === "/console/lists"`), "the switch comes back to the page")
		run(t, ctx, "svenska",
			chromedp.Navigate(base+"/console/objects/contacts"),
			chromedp.WaitVisible(chromedp.CSS("#filter")),
			shot("index-sv"),
		)
		require.Contains(t, text(t, ctx, "h1"), "Kontakter")

		// A read-only user sees no delete control, and a forged POST (with the session's own
		// CSRF token) is refused by the API's permission check.
		require.Zero(t, eval[int](t, ctx, `document.querySelectorAll("#delete-selected, #delete-all, input.pick").length`))
		run(t, ctx, "record",
			chromedp.Navigate(base+"/console/objects/contacts/"+id),
			chromedp.WaitVisible(chromedp.CSS("#props-h")),
			shot("record-readonly-sv"),
		)
		require.Zero(t, eval[int](t, ctx, `document.querySelectorAll("#record-delete").length`))
		csrf := eval[string](t, ctx, `document.querySelector('input[name="csrf"]').value`)
		require.NotEmpty(t, csrf)
		require.Equal(t, http.StatusForbidden, postFromPage(t, ctx, "/console/objects/contacts/"+id+"/delete",
			map[string]string{"mode": "bin", "csrf": csrf}))
		require.Equal(t, http.StatusOK, liveStatus(t, id))
		// The delete page itself, typed in, says which permission is missing and offers no form.
		run(t, ctx, "delete page",
			chromedp.Navigate(base+"/console/objects/contacts/"+id+"/delete"),
			chromedp.WaitVisible(chromedp.CSS(".error")),
			shot("forbidden-sv"),
		)
		require.Contains(t, strings.ToLower(text(t, ctx, ".error")), "delete")
		require.Zero(t, eval[int](t, ctx, `document.querySelectorAll("#delete-bin, #delete-permanent").length`))
		require.Equal(t, http.StatusOK, liveStatus(t, id))
	})
}

// TestConsolePagesWhenTheSessionEnds: the job page polls its job's status while the job runs;
// once the session has ended (here the token is revoked), the page goes to the sign-in page
// instead of asking for the status again and again while showing the old progress. No worker
// runs on the test's own redis-server, so the job stays pending and the page keeps polling (on the
// shared test Redis, another test's worker would finish the job, and a finished job's page
// rightly stops polling).
func TestConsolePagesWhenTheSessionEnds(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	srv, err := redistest.StartServer("")
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	b := bundleOn(t, srv.URL)
	tenant, token := b.opsTenant(t)
	base := b.serveAPI(t)

	var ids []string
	for i := range 2 {
		code, body := call(t, http.MethodPost, base+"/crm/v3/objects/contacts", token,
			map[string]any{"properties": map[string]string{"email": fmt.Sprintf("poll%d@example.com", i)}})
		require.Equal(t, http.StatusCreated, code, "%v", body)
		ids = append(ids, body["id"].(string))
	}
	code, body := call(t, http.MethodPost, base+"/crm/v3/objects/contacts/bulk-delete", token,
		map[string]any{"ids": ids, "confirmCount": 2})
	require.Equal(t, http.StatusAccepted, code, "%v", body)

	ctx := browserCtx(t)
	signInConsole(t, ctx, base, token)
	run(t, ctx, "job page",
		chromedp.Navigate(base+"/console/jobs/"+body["id"].(string)),
		chromedp.WaitVisible(chromedp.CSS("#job-status")),
	)
	require.NoError(t, b.store.RevokeToken(b.ctx, tenant, crm.TokenID(token), "test"))
	run(t, ctx, "signed out", chromedp.WaitVisible(chromedp.CSS("#token")))
	require.Equal(t, "/console/signin", eval[string](t, ctx, `location.pathname`))

	// A confirmation that opens in a dialog ("Delete the members" of a list) likewise goes to the
	// sign-in page, rather than showing the sign-in form inside the delete dialog.
	l, err := b.store.CreateList(b.ctx, tenant, "Leads", crm.Contacts)
	require.NoError(t, err)
	token, err = b.store.CreateToken(b.ctx, tenant, opsUser, nil)
	require.NoError(t, err)
	signInConsole(t, ctx, base, token)
	run(t, ctx, "lists", chromedp.Navigate(base+"/console/lists"), chromedp.WaitVisible(chromedp.CSS("#delete-members-"+string(l.ID))))
	require.NoError(t, b.store.RevokeToken(b.ctx, tenant, crm.TokenID(token), "test"))
	run(t, ctx, "delete the members", click("#delete-members-"+string(l.ID)), chromedp.WaitVisible(chromedp.CSS("#token")))
	require.Equal(t, "/console/signin", eval[string](t, ctx, `location.pathname`))
	require.Zero(t, eval[int](t, ctx, `document.querySelectorAll("dialog[open]").length`))
}

// TestConsoleDraftAfterTheSessionEnds: the session of a user writing a workflow in the editor ends
// (here Redis drops it, as at its idle end), and they press Save: the text they typed is not lost.
// The browser lands on the sign-in page, which says the text is kept; signing in again opens the
// editor with it, unsaved, and Save, with the new session, stores it.
func TestConsoleDraftAfterTheSessionEnds(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	b := bundleOn(t, setup(t).redisURL)
	tenant, token := b.opsTenant(t)
	base := b.serveAPI(t)
	const src = "name: draft-wf\nobject_type: contacts\ntrigger: lifecyclestage == \"lead\"\nactions:\n  - type: delete_contact\n"
	stored := func() int {
		t.Helper()
		code, _ := call(t, http.MethodGet, base+"/automation/v4/flows/draft-wf", token, nil)
		return code
	}

	ctx := browserCtx(t)
	signInConsole(t, ctx, base, token)
	run(t, ctx, "new workflow",
		chromedp.Navigate(base+"/console/workflows/-/new"),
		chromedp.WaitVisible(chromedp.CSS("#source")),
	)
	eval[string](t, ctx, `document.getElementById("source").value = ""`)
	run(t, ctx, "write it", chromedp.SendKeys(chromedp.CSS("#source"), src))
	keys, err := b.rdb.Keys(b.ctx, "crm:{"+string(tenant)+"}:session:*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.NoError(t, b.rdb.Del(b.ctx, keys...).Err())

	run(t, ctx, "save once the session has ended",
		click("#save"),
		chromedp.WaitVisible(chromedp.CSS("#draft-waiting")),
	)
	require.Equal(t, "/console/signin", eval[string](t, ctx, `location.pathname`))
	require.Equal(t, http.StatusNotFound, stored(), "nothing is saved without a session")
	run(t, ctx, "sign in again",
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#draft-notice")),
	)
	require.Equal(t, "/console/workflows/-/draft", eval[string](t, ctx, `location.pathname`))
	require.Equal(t, src, eval[string](t, ctx, `document.getElementById("source").value`), "the text as typed")
	require.Equal(t, http.StatusNotFound, stored(), "not saved until saved")
	run(t, ctx, "save",
		click("#save"),
		chromedp.WaitVisible(chromedp.CSS("#workflow-facts")),
	)
	require.Contains(t, text(t, ctx, ".flash"), "Saved as revision 1.")
	require.Equal(t, http.StatusOK, stored())
}

// TestConsoleAsSeen checks what the browser shows, where the HTML alone cannot tell: the "select
// all N" bar stays hidden until a page is selected; a name of 330 letters without a space leaves
// the other columns on the screen and the record page no wider than the window; Delete… reads
// white on red; a narrow screen scrolls no page sideways; a record deleted through the dialog says
// so on the page it leads to; and Back to a page shown before a form was sent (the bin, after its
// Undo) shows it as it is now, not as the browser kept it.
func TestConsoleAsSeen(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	b := bundleOn(t, setup(t).redisURL)
	_, token := b.opsTenant(t)
	base := b.serveAPI(t)
	contacts := base + "/crm/v3/objects/contacts"
	create := func(props map[string]string) string {
		t.Helper()
		code, body := call(t, http.MethodPost, contacts, token, map[string]any{"properties": props})
		require.Equal(t, http.StatusCreated, code, "%v", body)
		return body["id"].(string)
	}
	long := create(map[string]string{"email": "long@example.com", "firstname": strings.Repeat("Bartholomew", 30)})
	var ids []string
	for i := range 30 {
		ids = append(ids, create(map[string]string{"email": fmt.Sprintf("seen%02d@example.com", i), "firstname": fmt.Sprintf("Seen %d", i)}))
	}
	ctx := browserCtx(t)
	signInConsole(t, ctx, base, token)
	run(t, ctx, "index",
		chromedp.Navigate(base+"/console/objects/contacts"),
		chromedp.WaitVisible(chromedp.CSS("#delete-selected")),
	)
	require.False(t, eval[bool](t, ctx, `document.getElementById("selectall-bar").checkVisibility()`),
		"nothing is selected: no bar saying that the page is")
	require.LessOrEqual(t, eval[float64](t, ctx, `document.querySelector("#records thead th:nth-child(4)").getBoundingClientRect().right`),
		eval[float64](t, ctx, `window.innerWidth`), "the email column beside a long name is on the screen")
	run(t, ctx, "select the page", click("#selectpage"), chromedp.WaitVisible(chromedp.CSS("#selectall-n")))

	run(t, ctx, "a record with a long name",
		chromedp.Navigate(base+"/console/objects/contacts/"+long),
		chromedp.WaitVisible(chromedp.CSS("#record-delete")),
	)
	require.True(t, eval[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`), "the page is no wider than the window")
	require.True(t, eval[bool](t, ctx, `(s => s.color !== s.backgroundColor)(getComputedStyle(document.getElementById("record-delete")))`),
		"Delete… is readable")

	run(t, ctx, "narrow",
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(base+"/console/objects/contacts"),
		chromedp.WaitVisible(chromedp.CSS("#filter")),
	)
	require.True(t, eval[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`), "no sideways scrolling on a narrow screen")
	run(t, ctx, "wide again", chromedp.EmulateViewport(1200, 900))

	run(t, ctx, "delete one through the dialog",
		chromedp.Navigate(base+"/console/objects/contacts"),
		chromedp.WaitVisible(chromedp.CSS(`input.pick[value="`+ids[0]+`"]`)),
		click(`input.pick[value="`+ids[0]+`"]`),
		click("#delete-selected"),
		chromedp.WaitVisible(chromedp.CSS("#count")),
		chromedp.SendKeys(chromedp.CSS("#count"), "1"),
	)
	require.True(t, eval[bool](t, ctx, `window.beforeTheDelete = true`))
	run(t, ctx, "confirm", click("#confirm-delete"))
	settled(t, ctx, `!window.beforeTheDelete && document.readyState === "complete"`, "the delete leads to a page")
	require.Equal(t, "/console/objects/contacts", eval[string](t, ctx, `location.pathname`))
	require.Contains(t, eval[string](t, ctx, `(document.querySelector(".flash") || {}).textContent || "no message"`),
		"1 record moved to the recycle bin", "the page the delete leads to says what happened")
	code, binned := call(t, http.MethodGet, contacts+"/"+ids[0]+"?archived=true", token, nil)
	require.Equal(t, http.StatusOK, code)
	op := binned["archivedOperation"].(string)

	run(t, ctx, "undo",
		chromedp.Navigate(base+"/console/bin/contacts?op="+op),
		chromedp.WaitVisible(chromedp.CSS("#undo-operation")),
		click("#undo-operation"),
		chromedp.WaitVisible(chromedp.CSS("#job-status")),
	)
	// Whether a worker has run the undo yet or not, the record is live now.
	code, _ = call(t, http.MethodPost, contacts+"/batch/restore", token, map[string]any{"inputs": []map[string]string{{"id": ids[0]}}})
	require.Contains(t, []int{http.StatusOK, http.StatusMultiStatus}, code)
	code, _ = call(t, http.MethodGet, contacts+"/"+ids[0], token, nil)
	require.Equal(t, http.StatusOK, code)
	require.True(t, eval[bool](t, ctx, `history.back(), true`))
	settled(t, ctx, `location.pathname === "/console/bin/contacts" && document.readyState === "complete" &&
		document.getElementById("operation") !== null && document.getElementById("undo-operation") === null`,
		"Back shows the operation as it is now: nothing left to undo")
}

// settled waits until the script expression is true in the page, for at most 30 seconds, across
// the page's navigations (until's poll ends with an error when the page it polls goes away).
func settled(t *testing.T, ctx context.Context, expression, what string) {
	t.Helper()
	require.Eventually(t, func() bool {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expression))
		return err == nil && v
	}, 30*time.Second, 100*time.Millisecond, what)
}

// TestConsoleSignInAcrossProcesses: two `serve` processes behind one proxy (--trusted-proxies)
// share the count of a client's failed console sign-ins in Redis: the client the proxy forwards
// is refused on both after 10 failures, whatever its token, while another client signs in. The
// proxy's X-Forwarded-Proto: https gives __Host- cookies, and --console-idle-timeout bounds the
// session's life in Redis.
func TestConsoleSignInAcrossProcesses(t *testing.T) {
	t.Parallel()
	b := bundleOn(t, setup(t).redisURL)
	tenant, token := b.opsTenant(t)
	var bases []string
	for range 2 {
		addr := freeAddr(t)
		api := start(t, []string{"CRMFLOW_TRUSTED_PROXIES=127.0.0.1"}, "serve", "--addr", addr, "--redis", b.redisURL,
			"--console-idle-timeout", "5m")
		waitReady(t, api, "http://"+addr)
		t.Cleanup(func() { require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr) })
		bases = append(bases, "http://"+addr)
	}
	loginRE := regexp.MustCompile(`name="login" value="([^"]+)"`)
	// signIn signs in at base as the client at addr, behind the proxy, and returns the answer.
	signIn := func(base, addr, tok string) *http.Response {
		t.Helper()
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		client := &http.Client{Jar: jar, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		do := func(method, path string, form url.Values) (*http.Response, string) {
			var body io.Reader
			if form != nil {
				body = strings.NewReader(form.Encode())
			}
			req, err := http.NewRequest(method, base+path, body)
			require.NoError(t, err)
			req.Header.Set("X-Forwarded-For", addr)
			req.Header.Set("X-Forwarded-Proto", "https")
			if form != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return resp, string(raw)
		}
		resp, page := do(http.MethodGet, "/console/signin", nil)
		m := loginRE.FindStringSubmatch(page)
		require.NotNil(t, m, page)
		// The cookie jar keeps no Secure cookie over plain HTTP: hand the sign-in form's back.
		var login string
		for _, c := range resp.Cookies() {
			require.True(t, strings.HasPrefix(c.Name, "__Host-") && c.Secure, "the proxy said https: %s", c.Name)
			login = c.Name + "=" + c.Value
		}
		req, err := http.NewRequest(http.MethodPost, base+"/console/signin", strings.NewReader(url.Values{"login": {m[1]}, "token": {tok}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("X-Forwarded-For", addr)
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", login)
		resp, err = client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp
	}

	suffix := time.Now().UnixNano() % 250
	attacker, user := fmt.Sprintf("198.51.100.%d", suffix+1), fmt.Sprintf("203.0.113.%d", suffix+1)
	bad := "crm_" + string(tenant) + "_" + strings.Repeat("0", 64)
	for i := range 10 {
		require.Equal(t, http.StatusUnauthorized, signIn(bases[i%2], attacker, bad).StatusCode, "failure %d", i+1)
	}
	for _, base := range bases {
		resp := signIn(base, attacker, token)
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		require.NotEmpty(t, resp.Header.Get("Retry-After"))
	}
	resp := signIn(bases[1], user, token)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	keys, err := b.rdb.Keys(b.ctx, "crm:{"+string(tenant)+"}:session:*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	ttl := b.rdb.PTTL(b.ctx, keys[0]).Val()
	require.Positive(t, ttl)
	require.LessOrEqual(t, ttl, 5*time.Minute, "the session ends when idle for --console-idle-timeout")
}

// serveAPI runs `crmflow serve` on the bundle's Redis, stopped (and checked to stop cleanly) when the
// test ends, and returns its base URL once it is ready.
func (b *testBundle) serveAPI(t *testing.T) string {
	t.Helper()
	addr := freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL)
	waitReady(t, api, base)
	t.Cleanup(func() { require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr) })
	return base
}

// click is chromedp.Click, tried again when the page replaced the element between its query and
// the click: the browser then answers "No node with given id found" while it scrolls the element
// into view, before any mouse event, so nothing was clicked. A page still settling on a loaded
// machine does that now and then.
func click(sel string) chromedp.Action[chromedp.Void] {
	return againIfReplaced(chromedp.Click(chromedp.CSS(sel)))
}

// setValue is chromedp.SetValue, tried again as click is.
func setValue(sel, value string) chromedp.Action[chromedp.Void] {
	return againIfReplaced(chromedp.SetValue(chromedp.CSS(sel), value))
}

// againIfReplaced runs a, and runs it again (at most four times more) while it fails because the
// node it found is no longer in the page.
func againIfReplaced(a chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for try := 0; ; try++ {
			v, err := a(ctx, t)
			var cdpErr *cdproto.Error
			if err == nil || try == 4 || !errors.As(err, &cdpErr) || cdpErr.Message != "No node with given id found" {
				return v, err
			}
		}
	}
}
