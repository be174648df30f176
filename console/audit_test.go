package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// TestAuditAndOutboxScreens: the audit log newest first and filtered, the outbox newest first with
// its bodies (escaped), both only for a user with the restore right.
func TestAuditAndOutboxScreens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	one := b.createContact(t, map[string]string{"email": "one@example.com"})
	two := b.createContact(t, map[string]string{"email": "two@example.com"})
	_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{crm.RecordID(one), crm.RecordID(two)}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	b.clock.Advance(time.Minute)
	_, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{crm.RecordID(two)}, crm.Actor{User: "fixer@example.com"})
	require.NoError(t, err)
	for i := range 2 {
		_, err := b.store.AppendOutbox(ctx, b.tenant, crm.Mail{ID: fmt.Sprint("m", i), To: "ops@example.com",
			Subject: fmt.Sprint("Mail ", i), Body: fmt.Sprintf("Line one of %d.\n<script>alert(%d)</script>", i, i), Kind: "test",
			CreatedAt: b.clock.Now().Add(time.Duration(i) * time.Minute)}, nil)
		require.NoError(t, err)
	}

	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	_, page := br.get("/console/")
	require.Contains(t, page, `href="/console/audit"`)
	require.Contains(t, page, `href="/console/outbox"`)

	resp, page := br.get("/console/audit")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	restore, archive := strings.Index(page, `class="audit-restore"`), strings.Index(page, `class="audit-archive"`)
	require.Positive(t, restore)
	require.Greater(t, archive, restore, "newest first")
	require.Contains(t, page, `href="/console/objects/contacts/`+one+`"`)
	require.Contains(t, page, "fixer@example.com")
	_, page = br.get("/console/audit?action=archive")
	require.NotContains(t, page, `class="audit-restore"`)
	require.Contains(t, page, `class="audit-archive"`)
	_, page = br.get("/console/audit?by=FIXER")
	require.Equal(t, 1, strings.Count(page, `<tr class="audit-`))

	resp, page = br.get("/console/outbox")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Greater(t, strings.Index(page, "Mail 0"), strings.Index(page, "Mail 1"), "newest first")
	require.Contains(t, page, "Line one of 1.\n&lt;script&gt;alert(1)&lt;/script&gt;")
	require.NotContains(t, page, "<script>alert")
	require.NotContains(t, page, "The outbox was full")
	// What a full outbox dropped is said above the emails.
	for i := range 2 {
		_, err := b.store.AppendOutbox(ctx, b.tenant, crm.Mail{ID: fmt.Sprint("n", i), To: "ops@example.com", Subject: "Note",
			Body: "note", Kind: "workflow", ExpiresAt: b.clock.Now().Add(time.Hour)}, &crm.AppendOutboxOpts{Max: 3})
		require.NoError(t, err)
	}
	_, page = br.get("/console/outbox")
	require.Contains(t, page, "The outbox was full and dropped its oldest workflow notifications: 1 so far, the last at ")

	rd := b.browser(t)
	require.Equal(t, http.StatusSeeOther, rd.signIn(b.readerToken).StatusCode)
	_, page = rd.get("/console/")
	require.NotContains(t, page, `href="/console/audit"`)
	resp, _ = rd.get("/console/audit")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = rd.get("/console/outbox")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

// TestBinUndoOfAWholeOperation: the bin names each record's operation; filtered by one, it shows
// what the operation moved and what is still in the bin, and "Undo" starts the undo job and opens
// its page. A reader sees no Undo, and a forged one is refused. A record restored by someone after
// the undo started is counted as gone on the job's page.
func TestBinUndoOfAWholeOperation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	one := b.createContact(t, map[string]string{"email": "one@example.com", "firstname": "One"})
	two := b.createContact(t, map[string]string{"email": "two@example.com", "firstname": "Two"})
	three := b.createContact(t, map[string]string{"email": "three@example.com", "firstname": "Three"})
	other := b.createContact(t, map[string]string{"email": "other@example.com", "firstname": "Other"})
	_, err := b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{crm.RecordID(one), crm.RecordID(two), crm.RecordID(three)}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	binned, err := b.store.Record(ctx, b.tenant, crm.Contacts, crm.RecordID(one), &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	op := binned.Deletion.Operation
	require.NotEmpty(t, op)
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{crm.RecordID(other)}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)

	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	csrf := br.csrf()
	_, page := br.get("/console/bin/contacts")
	require.Contains(t, page, `href="/console/bin/contacts?op=`+op+`"`)
	_, page = br.get("/console/bin/contacts?op=" + op)
	require.Contains(t, page, `id="operation"`)
	require.Contains(t, page, "3 records moved to the bin, 3 of them still there")
	require.Contains(t, page, "One")
	require.NotContains(t, page, "Other", "the page shows the operation's records")
	require.Contains(t, page, `action="/console/operations/`+op+`/undo"`)

	rd := b.browser(t)
	require.Equal(t, http.StatusSeeOther, rd.signIn(b.readerToken).StatusCode)
	_, page = rd.get("/console/bin/contacts?op=" + op)
	require.NotContains(t, page, `id="undo-operation"`)
	resp, _ := rd.post("/console/operations/"+op+"/undo", url.Values{"csrf": {rd.csrf()}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	blocker := b.createContact(t, map[string]string{"email": "two@example.com", "firstname": "Taken"})
	resp, _ = br.post("/console/operations/"+op+"/undo", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Regexp(t, `^/console/jobs/\d+$`, resp.Header.Get("Location"))
	resp, page = br.get(resp.Header.Get("Location"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `id="job"`)
	// The job runs in the workers; here its batches run through the store, after someone restored
	// one of the operation's records.
	id := strings.TrimPrefix(resp.Request.URL.Path, "/console/jobs/")
	_, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{crm.RecordID(three)}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	for range 5 {
		j, err := b.store.RunUndoBatch(ctx, b.tenant, id, 100)
		require.NoError(t, err)
		if j.State.Finished() {
			break
		}
	}
	require.True(t, b.live(t, one))
	require.False(t, b.live(t, two), "its email is taken")
	require.False(t, b.live(t, other), "only the operation's records come back")
	_, page = br.get("/console/jobs/" + id)
	require.Contains(t, page, "Undo of operation "+op)
	require.Contains(t, page, "1 of 3 restored")
	require.Contains(t, page, "1 record had left the recycle bin before the undo reached it (restored by someone, or purged).")
	require.Contains(t, page, `id="job-failures"`)
	require.Contains(t, page, `href="/console/objects/contacts/`+blocker+`"`)
	require.Contains(t, page, "its email belongs to the live contact "+blocker)
	br.lang = "sv"
	_, page = br.get("/console/jobs/" + id)
	require.Contains(t, page, "dess e-postadress tillhör kontakten "+blocker)
	require.Contains(t, page, "1 post hade lämnat papperskorgen innan ångringen nådde den")
	require.NotContains(t, page, "its email belongs")
}

// TestSettingsAndJobsScreens: the tenant's plan, retention and default limit; protection rules
// written (a bad expression refused with its position, the text kept), listed and removed by a user
// with protect, read-only for others; the jobs index newest first.
func TestSettingsAndJobsScreens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.store.CreateUser(ctx, b.tenant, "guard@example.com", crm.Permissions{crm.PermRead, crm.PermProtect}, "test")
	require.NoError(t, err)
	guardToken, err := b.store.CreateToken(ctx, b.tenant, "guard@example.com", nil)
	require.NoError(t, err)

	g := b.browser(t)
	require.Equal(t, http.StatusSeeOther, g.signIn(guardToken).StatusCode)
	csrf := g.csrf()
	resp, page := g.get("/console/settings")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "professional · workflows can be activated")
	require.Contains(t, page, "1000 deletions per 1h")
	require.Contains(t, page, "90 days")
	require.Contains(t, page, "No protection rules")
	require.Contains(t, page, "Signed in as guard@example.com ("+string(b.tenant)+")", "the header names the tenant")

	resp, page = g.post("/console/settings/protection", url.Values{"csrf": {csrf}, "name": {"customers"}, "objectType": {"contacts"},
		"when": {`lifecyclestage == `}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, `id="rule-refusal"`)
	require.Contains(t, page, "1:")
	require.Contains(t, page, `value="lifecyclestage == "`, "the expression as typed")
	rules, err := b.store.ProtectionRules(ctx, b.tenant)
	require.NoError(t, err)
	require.Empty(t, rules)

	resp, _ = g.post("/console/settings/protection", url.Values{"csrf": {csrf}, "name": {"customers"}, "objectType": {"contacts"},
		"when": {`lifecyclestage == "customer"`}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, page = g.get(resp.Header.Get("Location"))
	require.Contains(t, page, "The protection rule is saved.")
	require.Contains(t, page, `lifecyclestage == &#34;customer&#34;`)
	require.Contains(t, page, "guard@example.com")

	rd := b.browser(t)
	require.Equal(t, http.StatusSeeOther, rd.signIn(b.readerToken).StatusCode)
	_, page = rd.get("/console/settings")
	require.Contains(t, page, "customers")
	require.NotContains(t, page, `id="rule-form"`)
	require.NotContains(t, page, `id="delete-rule-customers"`)
	resp, _ = rd.post("/console/settings/protection/customers/delete", url.Values{"csrf": {rd.csrf()}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	rules, err = b.store.ProtectionRules(ctx, b.tenant)
	require.NoError(t, err)
	require.Len(t, rules, 1)

	// Remove asks first, saying what the removal lets through; only the confirmation removes it.
	resp, page = g.post("/console/settings/protection/customers/delete", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `id="confirm-remove-rule"`)
	require.Contains(t, page, "Remove the protection rule customers? Workflows and bulk deletes may then delete the Contacts it protects (lifecyclestage == &#34;customer&#34;).")
	rules, err = b.store.ProtectionRules(ctx, b.tenant)
	require.NoError(t, err)
	require.Len(t, rules, 1, "not removed before the confirmation")
	resp, _ = g.post("/console/settings/protection/customers/delete", url.Values{"csrf": {csrf}, "confirm": {"yes"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	rules, err = b.store.ProtectionRules(ctx, b.tenant)
	require.NoError(t, err)
	require.Empty(t, rules)

	// The jobs index: the newest first, each linked to its page.
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	var ids []string
	for range 2 {
		c := b.createContact(t, map[string]string{"firstname": "J"})
		j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: []crm.RecordID{crm.RecordID(c)}, ConfirmCount: 1, By: "ops@example.com"})
		require.NoError(t, err)
		ids = append(ids, j.ID)
		b.clock.Advance(time.Second)
	}
	resp, page = br.get("/console/jobs")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	newer, older := strings.Index(page, `href="/console/jobs/`+ids[1]+`"`), strings.Index(page, `href="/console/jobs/`+ids[0]+`"`)
	require.Positive(t, newer)
	require.Greater(t, older, newer, "newest first")
	require.Contains(t, page, "0 of 1 deleted")
}

// TestAuditShowsDataModelChanges: the audit log shows the changes of the data model (a property
// created, changed, archived, restored; a custom object type created) with the type, the property,
// who, and what a change changed, in English and Swedish, and filters them by action.
func TestAuditShowsDataModelChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	size, err := b.store.CreateProperty(ctx, b.tenant, crm.Contacts,
		crm.Property{Name: "size", Label: "Size", Type: crm.TypeEnumeration, Options: []string{"s", "m", "l"}}, "modeler@example.com")
	require.NoError(t, err)
	next := size
	next.Label, next.Options = "Shirt size", []string{"s", "m", "xl", "xxl"}
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, size, next, "modeler@example.com")
	require.NoError(t, err)
	_, err = b.store.ArchiveProperty(ctx, b.tenant, crm.Contacts, next, "modeler@example.com")
	require.NoError(t, err)
	_, err = b.store.RestoreProperty(ctx, b.tenant, crm.Contacts, "size", "modeler@example.com")
	require.NoError(t, err)
	_, err = b.store.CreateObjectType(ctx, b.tenant, crm.ObjectTypeDef{Name: "pets",
		Properties: []crm.Property{{Name: "pet_name", Type: crm.TypeString}}}, "modeler@example.com")
	require.NoError(t, err)

	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	resp, page := br.get("/console/audit")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, a := range []string{"property_create", "property_update", "property_archive", "property_restore", "object_type_create"} {
		require.Equal(t, 1, strings.Count(page, `<tr class="audit-`+a+`">`), a)
		require.Contains(t, page, `<option value="`+a+`"`, "the filter offers %s", a)
	}
	require.Equal(t, 5, strings.Count(page, "modeler@example.com"))
	require.Equal(t, 4, strings.Count(page, "property size"))
	// html/template writes + as &#43;.
	require.Contains(t, page, "property size; changed: label, options (options &#43;2 −1)")
	require.Contains(t, page, "object type pets")

	_, page = br.get("/console/audit?action=property_archive")
	require.Equal(t, 1, strings.Count(page, `<tr class="audit-`))
	require.Contains(t, page, `<tr class="audit-property_archive">`)

	br.lang = "sv"
	_, page = br.get("/console/audit?action=property_update")
	require.Equal(t, 1, strings.Count(page, `<tr class="audit-`))
	require.Contains(t, page, "egenskap size; ändrat: label, options (alternativ &#43;2 −1)")
}
