package console_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/worker"
)

const cleanLeads = `name: clean-leads
object_type: contacts
trigger: lifecyclestage == "lead"
limits: {max_deletions: 1, per: 1h}
actions:
  - type: delete_contact
`

// TestWorkflowScreens walks a workflow through the console: a file with a problem shown at its
// line and column and kept as written, saved, previewed with names, refused on Starter with the
// plan's message (nothing changes), activated on Professional and paused; a reader sees it
// read-only and a forged activation is refused.
func TestWorkflowScreens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.store.CreateUser(ctx, b.tenant, "flows@example.com", crm.Permissions{crm.PermRead, crm.PermWorkflows,
		crm.PermDelete, crm.PermBulkDelete}, "test")
	require.NoError(t, err)
	token, err := b.store.CreateToken(ctx, b.tenant, "flows@example.com", nil)
	require.NoError(t, err)
	ada := b.createContact(t, map[string]string{"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace", "lifecyclestage": "lead"})
	b.createContact(t, map[string]string{"email": "bo@example.com", "firstname": "Bo", "lastname": "Kund", "lifecyclestage": "customer"})
	b.createContact(t, map[string]string{"email": "cy@example.com", "firstname": "Cy", "lastname": "Lead", "lifecyclestage": "lead"})
	_, err = b.store.SetPlan(ctx, b.tenant, crm.PlanStarter)
	require.NoError(t, err)

	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(token).StatusCode)
	csrf := br.csrf()
	resp, page := br.get("/console/workflows")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "No workflows yet.")
	require.Contains(t, page, `href="/console/workflows/-/new"`)

	// A problem is shown at its line and column, with the text as written, and nothing is stored.
	bad := "name: clean-leads\nobject_type: contacts\ntrigger: lifecyclestage == <\"x\">\nactions:\n  - type: delete_contact\n"
	resp, page = br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"save"}, "source": {bad}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, `id="problems"`)
	require.Contains(t, page, "line 3, column")
	require.Contains(t, page, html.EscapeString(bad), "the text stays as written")
	_, err = b.store.Flow(ctx, b.tenant, "clean-leads")
	require.ErrorIs(t, err, crm.ErrNotFound)

	// Checked and previewed without saving: names, not just ids, and the limit's reach.
	resp, page = br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"preview"}, "source": {cleanLeads}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "Of 3 records, 2 match and would enroll")
	require.Contains(t, page, "Ada Lovelace")
	require.Contains(t, page, "Cy Lead")
	require.NotContains(t, page, "Bo Kund")
	require.Contains(t, page, `href="/console/objects/contacts/`+ada+`"`)
	require.Contains(t, page, "Limit: 1 deletion per 1h (its own). It would delete 1 in its first window, then pause itself")
	require.NotContains(t, page, "already count")
	_, err = b.store.Flow(ctx, b.tenant, "clean-leads")
	require.ErrorIs(t, err, crm.ErrNotFound, "a check saves nothing")

	// A deletion of a workflow of that name still in the window counts: the limit is the
	// workflow's, whatever the activation.
	gone := b.createContact(t, map[string]string{"firstname": "Di", "lifecyclestage": "customer"})
	_, err = b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, []crm.RecordID{crm.RecordID(gone)},
		crm.Actor{User: "flows@example.com", Via: crm.ViaWorkflow, Ref: "clean-leads", Revision: 1},
		crm.ArchiveLimit{DeletionLimit: crm.DeletionLimit{Max: 1, Per: time.Hour}})
	require.NoError(t, err)
	resp, page = br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"preview"}, "source": {cleanLeads}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "It would delete 0 in its first window, then pause itself")
	require.Contains(t, page, "1 deletion of the workflow in the last 1h already counts: the limit is shared by all its activations.")

	resp, _ = br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"save"}, "source": {cleanLeads}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/console/workflows/clean-leads", resp.Header.Get("Location"))
	_, page = br.get(resp.Header.Get("Location"))
	require.Contains(t, page, "Saved as revision 1.")
	require.Contains(t, page, "Draft")

	// A new workflow never replaces one of the same name.
	resp, page = br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"save"}, "source": {cleanLeads}})
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, page, "A workflow named clean-leads exists already")
	f, err := b.store.Flow(ctx, b.tenant, "clean-leads")
	require.NoError(t, err)
	require.EqualValues(t, 1, f.Revision)

	// A workflow cannot be renamed from its page.
	resp, page = br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"save"}, "name": {"clean-leads"},
		"source": {"name: other\nobject_type: contacts\ntrigger: \"true\"\nactions: []\n"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, "cannot be renamed")

	// Starter: refused with the plan's message, on the workflow's page; nothing changes.
	resp, page = br.post("/console/workflows/clean-leads/activate", url.Values{"csrf": {csrf}, "enroll": {"1"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, page, `id="refusal"`)
	require.Contains(t, page, "the starter plan does not include workflow automation")
	require.Contains(t, page, `id="enroll" checked>`, "the refused form as it was sent")
	f, err = b.store.Flow(ctx, b.tenant, "clean-leads")
	require.NoError(t, err)
	require.Equal(t, crm.FlowDraft, f.State)

	// Professional: activated, then paused.
	_, err = b.store.SetPlan(ctx, b.tenant, crm.PlanProfessional)
	require.NoError(t, err)
	resp, _ = br.post("/console/workflows/clean-leads/activate", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, page = br.get(resp.Header.Get("Location"))
	require.Contains(t, page, "The workflow is active.")
	require.Contains(t, page, `id="pause"`)
	f, err = b.store.Flow(ctx, b.tenant, "clean-leads")
	require.NoError(t, err)
	require.Equal(t, crm.FlowActive, f.State)
	require.Equal(t, "flows@example.com", f.ActivatedBy)
	_, page = br.get("/console/workflows")
	require.Contains(t, page, `href="/console/workflows/clean-leads"`)
	require.Contains(t, page, "Active")

	// What it did: the engine's writes (the workers' part, done here through the store).
	ref := crm.FlowRef{Name: "clean-leads", Revision: 1, ObjectType: crm.Contacts}
	_, err = b.store.EvaluateFlow(ctx, b.tenant, ref, []crm.FlowVerdict{{ID: crm.RecordID(ada), Verdict: crm.VerdictMatch}})
	require.NoError(t, err)
	_, err = b.store.AdvanceSteps(ctx, b.tenant, ref, 0, 1, "delete_contact",
		[]crm.StepResult{{ID: crm.RecordID(ada), Outcome: "done", Detail: "moved contact " + ada + " to the recycle bin", Due: b.clock.Now()}})
	require.NoError(t, err)
	l, err := b.store.CreateList(ctx, b.tenant, "Leads to clean", crm.Contacts)
	require.NoError(t, err)
	_, _, err = b.store.AddListMembers(ctx, b.tenant, l.ID, []crm.RecordID{crm.RecordID(ada)})
	require.NoError(t, err)
	resp, page = br.get("/console/objects/contacts/" + ada)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "Leads to clean ("+string(l.ID)+")", "the record's lists")
	require.Contains(t, page, `href="/console/workflows/clean-leads"`, "the workflows that acted on it")
	require.Contains(t, page, "Action · delete_contact: done — moved contact "+ada+" to the recycle bin")
	resp, page = br.get("/console/workflows/clean-leads/history")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `class="event-action"`)
	require.Contains(t, page, "moved contact "+ada+" to the recycle bin")
	require.Contains(t, page, "delete_contact (step 1): done", "the API's step 0 is the first step")
	require.NotContains(t, page, "step 0")
	require.Contains(t, page, `href="/console/objects/contacts/`+ada+`"`)
	require.Equal(t, 3, strings.Count(page, `<tr class="event-`), "enrolled, action, completed")
	_, page = br.get("/console/workflows/clean-leads/history?kind=enrolled")
	require.Equal(t, 1, strings.Count(page, `<tr class="event-`))
	require.Contains(t, page, `class="event-enrolled"`)
	resp, page = br.get("/console/workflows/clean-leads/history?kind=bogus")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, "kind &#34;bogus&#34; is unknown")

	resp, _ = br.post("/console/workflows/clean-leads/pause", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, page = br.get(resp.Header.Get("Location"))
	require.Contains(t, page, "The workflow is paused")
	f, err = b.store.Flow(ctx, b.tenant, "clean-leads")
	require.NoError(t, err)
	require.Equal(t, crm.FlowPaused, f.State)

	// A reader: the file read-only, no action; a forged activation is refused by the API.
	rd := b.browser(t)
	require.Equal(t, http.StatusSeeOther, rd.signIn(b.readerToken).StatusCode)
	_, page = rd.get("/console/workflows/clean-leads?preview=1")
	require.Contains(t, page, "readonly")
	require.NotContains(t, page, `id="activate"`)
	require.NotContains(t, page, `id="save"`)
	require.Contains(t, page, "Ada Lovelace", "a reader may preview")
	resp, _ = rd.post("/console/workflows/clean-leads/activate", url.Values{"csrf": {rd.csrf()}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	f, err = b.store.Flow(ctx, b.tenant, "clean-leads")
	require.NoError(t, err)
	require.Equal(t, crm.FlowPaused, f.State)

	// Without the CSRF token, nothing is saved.
	resp, _ = br.post("/console/workflows/save", url.Values{"do": {"save"}, "source": {cleanLeads}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	f, err = b.store.Flow(ctx, b.tenant, "clean-leads")
	require.NoError(t, err)
	require.EqualValues(t, 1, f.Revision)
}

// TestWorkflowPauseReasonInTheUsersLanguage: a workflow paused at its deletion limit shows why in
// the user's language, worded from the reason's code and params; one paused before codes were
// kept shows the English sentence it has; one a user paused shows no reason.
func TestWorkflowPauseReasonInTheUsersLanguage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for _, name := range []string{"limited", "older", "manual"} {
		_, _, err := b.store.PutFlow(ctx, b.tenant, name, crm.Contacts, strings.Replace(cleanLeads, "clean-leads", name, 1), "ops@example.com")
		require.NoError(t, err)
		_, err = b.store.ActivateFlow(ctx, b.tenant, name, crm.ActivateFlowParams{By: "ops@example.com"})
		require.NoError(t, err)
	}
	lim := crm.DeletionLimit{Max: 3, Per: time.Hour}
	_, err := b.store.PauseFlow(ctx, b.tenant, "limited", &crm.PauseOpts{Reason: worker.LimitPauseReason(lim),
		Code: crm.PauseDeletionLimit, Params: worker.LimitPauseParams(lim)})
	require.NoError(t, err)
	const older = "plan free does not include workflows"
	_, err = b.store.PauseFlow(ctx, b.tenant, "older", &crm.PauseOpts{Reason: older}) // as stored before codes were kept
	require.NoError(t, err)
	_, err = b.store.PauseFlow(ctx, b.tenant, "manual", nil)
	require.NoError(t, err)

	br := b.browser(t)
	br.lang = "sv"
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	const sv = "Pausat: raderingsgränsen på 3 raderingar per 1h nåddes. De poster som fortfarande väntar förblir registrerade"
	resp, page := br.get("/console/workflows/limited")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `<dd id="workflow-reason">`+sv)
	require.NotContains(t, page, "blast-radius")
	_, page = br.get("/console/workflows/older")
	require.Contains(t, page, `<dd id="workflow-reason">`+older+`</dd>`)
	_, page = br.get("/console/workflows/manual")
	require.NotContains(t, page, `id="workflow-reason"`)
	_, page = br.get("/console/workflows")
	require.Contains(t, page, "<td>"+sv)
	require.Contains(t, page, "<td>"+older+"</td>")

	br.lang = "en"
	_, page = br.get("/console/workflows/limited")
	require.Contains(t, page, `<dd id="workflow-reason">Paused: blast-radius limit of 3 deletions per 1h reached. The records still waiting stay enrolled`)
	_, page = br.get("/console/workflows/older")
	require.Contains(t, page, `<dd id="workflow-reason">`+older+`</dd>`)
}

// queueTasks is a task queue that takes every task, or refuses every one when failing is set.
type queueTasks struct{ failing bool }

func (q queueTasks) err() error {
	if q.failing {
		return errors.New("queue down")
	}
	return nil
}
func (q queueTasks) EnqueueWorkflowBackfill(context.Context, crm.TenantID, string, int64) error {
	return q.err()
}
func (q queueTasks) EnqueueWorkflowSteps(context.Context, crm.TenantID, string, int64, []crm.RecordID) error {
	return q.err()
}
func (q queueTasks) EnqueueWorkflowResume(context.Context, crm.TenantID, string, time.Time) error {
	return q.err()
}
func (q queueTasks) EnqueueDeleteJob(context.Context, crm.TenantID, string) error { return q.err() }
func (q queueTasks) EnqueueMail(context.Context, crm.TenantID, crm.Mail) error    { return q.err() }
func (q queueTasks) EnqueueChangesDrain(context.Context, crm.TenantID, time.Time) error {
	return q.err()
}

// After an activation, the workflow's page says what became of the records: those that waited
// while it was paused carry on now (or a little later, when the task queue could not be reached),
// and those that match already were not enrolled when their backfill could not be queued.
func TestActivationSaysWhatBecameOfTheRecords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		failing        bool
		enroll, resume string
	}{
		{"Queued", false, "The workflow is active.", "carry on now."},
		{"QueueDown", true, "the records that match now were not enrolled", "carry on within a minute or two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupWith(t, api.Config{Tasks: queueTasks{failing: tc.failing}})
			ctx := context.Background()
			_, err := b.store.SetPlan(ctx, b.tenant, crm.PlanProfessional)
			require.NoError(t, err)
			_, err = b.store.CreateUser(ctx, b.tenant, "flows@example.com", crm.Permissions{crm.PermRead, crm.PermWorkflows}, "test")
			require.NoError(t, err)
			token, err := b.store.CreateToken(ctx, b.tenant, "flows@example.com", nil)
			require.NoError(t, err)
			br := b.browser(t)
			require.Equal(t, http.StatusSeeOther, br.signIn(token).StatusCode)
			csrf := br.csrf()
			src := "name: tidy\nobject_type: contacts\ntrigger: lifecyclestage == \"lead\"\nactions:\n  - type: delay\n    duration: 1d\n"
			resp, page := br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"save"}, "source": {src}})
			require.Equal(t, http.StatusSeeOther, resp.StatusCode, "%s", page)

			resp, _ = br.post("/console/workflows/tidy/activate", url.Values{"csrf": {csrf}, "enroll": {"1"}})
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			_, page = br.get(resp.Header.Get("Location"))
			require.Contains(t, page, tc.enroll)

			resp, _ = br.post("/console/workflows/tidy/pause", url.Values{"csrf": {csrf}})
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			resp, _ = br.post("/console/workflows/tidy/activate", url.Values{"csrf": {csrf}})
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			_, page = br.get(resp.Header.Get("Location"))
			require.Contains(t, page, "The workflow is active again: the records that waited while it was paused "+tc.resume)
		})
	}
}
