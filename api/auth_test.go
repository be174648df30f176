package api_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := string(b.contact(t, map[string]string{"firstname": "Ada"}))
	tenantPart := strings.Split(b.tokens[tokAll], "_")[1]

	for _, tc := range []struct {
		name string
		auth string
	}{
		{"NoHeader", ""},
		{"EmptyBearer", "Bearer "},
		{"BearerOnly", "Bearer"},
		{"WrongScheme", "Basic " + b.tokens[tokAll]},
		{"TwoWords", "Bearer " + b.tokens[tokAll] + " extra"},
		{"NotAToken", "Bearer hello"},
		{"UnknownToken", "Bearer cft_" + tenantPart + "_" + strings.Repeat("0", 64)},
		{"UnknownTenant", "Bearer cft_no-such-tenant_" + strings.Repeat("0", 64)},
		{"TruncatedToken", "Bearer " + b.tokens[tokAll][:len(b.tokens[tokAll])-1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := b.snapshot(t, b.tenantA)
			for _, req := range []struct {
				method, path string
				body         any
			}{
				{"GET", "/crm/v3/objects/contacts/" + id, nil},
				{"PATCH", "/crm/v3/objects/contacts/" + id, map[string]any{"properties": map[string]any{"firstname": "X"}}},
				{"POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"firstname": "X"}}},
				{"GET", "/crm/v3/lists", nil},
			} {
				r := b.raw(t, req.method, req.path, tc.auth, req.body)
				expectError(t, r, http.StatusUnauthorized, "INVALID_AUTHENTICATION")
				require.True(t, strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer"), "%s %s", req.method, req.path)
			}
			require.Equal(t, before, b.snapshot(t, b.tenantA))
		})
	}

	// A valid token is refused from the next request on once revoked, once expired by the store's
	// clock, or while its user is disabled; the answer says why, and nothing changes.
	t.Run("RevokedExpiredDisabled", func(t *testing.T) {
		t.Parallel()
		rb := setup(t)
		rid := string(rb.contact(t, map[string]string{"firstname": "Ada"}))
		path := "/crm/v3/objects/contacts/" + rid
		ok := func(tok string) {
			t.Helper()
			expect[record](t, rb.raw(t, "GET", path, "Bearer "+tok, nil), http.StatusOK)
		}
		refused := func(tok, why string) {
			t.Helper()
			before := rb.dump(t, rb.tenantA)
			e := expectError(t, rb.raw(t, "PATCH", path, "Bearer "+tok, map[string]any{"properties": map[string]any{"firstname": "X"}}),
				http.StatusUnauthorized, "INVALID_AUTHENTICATION")
			require.Contains(t, e.Message, why)
			require.Equal(t, before, rb.dump(t, rb.tenantA))
		}
		revoked := rb.tokens[tokAll]
		ok(revoked)
		require.NoError(t, rb.store.RevokeToken(rb.ctx, rb.tenantA, crm.TokenID(revoked), "admin"))
		refused(revoked, "revoked")

		rb.user(t, rb.tenantA, "temp@a.example", "all")
		expiring, err := rb.store.CreateToken(rb.ctx, rb.tenantA, "temp@a.example", &crm.TokenOpts{TTL: time.Hour})
		require.NoError(t, err)
		ok(expiring)
		rb.clock.Advance(time.Hour)
		refused(expiring, "expired at")

		reader := rb.tokens[tokRead]
		ok(reader)
		_, err = rb.store.SetUserDisabled(rb.ctx, rb.tenantA, "read@a.example", true, "admin")
		require.NoError(t, err)
		refused(reader, "disabled")
		refused(reader, "crmflow admin user enable "+string(rb.tenantA)+" read@a.example")
		_, err = rb.store.SetUserDisabled(rb.ctx, rb.tenantA, "read@a.example", false, "admin")
		require.NoError(t, err)
		ok(reader)
	})

	t.Run("SchemeIsCaseInsensitive", func(t *testing.T) {
		t.Parallel()
		expect[record](t, b.raw(t, "GET", "/crm/v3/objects/contacts/"+id, "bearer "+b.tokens[tokRead], nil), http.StatusOK)
	})
}

// TestPermissions calls every endpoint with a token that lacks the permission it needs: each is a
// 403 naming the permission, and nothing of the tenant changes.
func TestPermissions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c1 := string(b.contact(t, map[string]string{"email": "a@example.com"}))
	c2 := string(b.contact(t, map[string]string{"email": "b@example.com"}))
	co := string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Acme"}))
	require.NoError(t, b.store.Associate(b.ctx, b.tenantA, crm.AssociationRef{Type: crm.Contacts, ID: crm.RecordID(c2)},
		crm.AssociationRef{Type: crm.Companies, ID: crm.RecordID(co)}))
	l, err := b.store.CreateList(b.ctx, b.tenantA, "VIPs", crm.Contacts)
	require.NoError(t, err)
	_, _, err = b.store.AddListMembers(b.ctx, b.tenantA, l.ID, []crm.RecordID{crm.RecordID(c1)})
	require.NoError(t, err)
	list := string(l.ID)
	props := map[string]any{"properties": map[string]any{"firstname": "Changed"}}
	binned := string(b.contact(t, map[string]string{"email": "binned@example.com"}))
	_, err = b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Contacts, []crm.RecordID{crm.RecordID(binned)}, crm.Actor{User: userEmail})
	require.NoError(t, err)
	job, err := b.store.CreateDeleteJob(b.ctx, b.tenantA, crm.DeleteJobParams{ObjectType: crm.Contacts,
		IDs: []crm.RecordID{crm.RecordID(c2)}, ConfirmCount: 1, By: userEmail, Selection: "1 ids"})
	require.NoError(t, err)
	bulk := func(sel map[string]any) map[string]any { sel["confirmCount"] = 2; return sel }
	// alsoLacking are the permissions a row's request needs beyond its perm that its user lacks too.
	alsoLacking := map[string][]string{
		"BulkDeleteReadOnly":        {string(crm.PermBulkDelete)},
		"DeleteListRecordsReadOnly": {string(crm.PermBulkDelete)},
	}
	// An active workflow, and a record enrolled in it, for the workflow endpoints.
	_, _, err = b.store.PutFlow(b.ctx, b.tenantA, "perm-flow", crm.Contacts, bouncedFlow("perm-flow"), userEmail)
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(b.ctx, b.tenantA, "perm-flow", crm.ActivateFlowParams{By: userEmail})
	require.NoError(t, err)
	_, err = b.store.EvaluateFlow(b.ctx, b.tenantA, crm.FlowRef{Name: f.Name, Revision: f.ActiveRevision, ObjectType: crm.Contacts},
		[]crm.FlowVerdict{{ID: crm.RecordID(c1), Verdict: crm.VerdictMatch}})
	require.NoError(t, err)
	flowPath := "/automation/v4/flows/perm-flow"

	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		who    string
		perm   crm.Permission
	}{
		{"CreateObject", "POST", "/crm/v3/objects/contacts", props, tokRead, crm.PermWrite},
		{"UpdateObject", "PATCH", "/crm/v3/objects/contacts/" + c1, props, tokRead, crm.PermWrite},
		{"BatchCreate", "POST", "/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": []any{props}}, tokRead, crm.PermWrite},
		{"BatchUpdate", "POST", "/crm/v3/objects/contacts/batch/update",
			map[string]any{"inputs": []any{map[string]any{"id": c1, "properties": map[string]any{"firstname": "X"}}}}, tokRead, crm.PermWrite},
		{"Associate", "PUT", "/crm/v4/objects/contacts/" + c1 + "/associations/default/companies/" + co, nil, tokRead, crm.PermWrite},
		{"Dissociate", "DELETE", "/crm/v4/objects/contacts/" + c2 + "/associations/default/companies/" + co, nil, tokRead, crm.PermWrite},
		{"CreateList", "POST", "/crm/v3/lists", map[string]any{"name": "New", "objectType": "contacts"}, tokRead, crm.PermWrite},
		{"DeleteList", "DELETE", "/crm/v3/lists/" + list, nil, tokRead, crm.PermWrite},
		{"AddMembers", "PUT", "/crm/v3/lists/" + list + "/memberships/add", []string{c2}, tokRead, crm.PermWrite},
		{"RemoveMembers", "PUT", "/crm/v3/lists/" + list + "/memberships/remove", []string{c1}, tokRead, crm.PermWrite},
		{"CreateProperty", "POST", "/crm/v3/properties/contacts", map[string]any{"name": "shoe_size", "label": "Shoe size", "type": "number"},
			tokWrite, crm.PermSchema},
		{"CreateSchema", "POST", "/crm/v3/schemas", map[string]any{"name": "pets", "label": "Pets"}, tokWrite, crm.PermSchema},
		{"GetObject", "GET", "/crm/v3/objects/contacts/" + c1, nil, tokNone, crm.PermRead},
		{"ListObjects", "GET", "/crm/v3/objects/contacts", nil, tokNone, crm.PermRead},
		{"BatchRead", "POST", "/crm/v3/objects/contacts/batch/read", map[string]any{"inputs": idInputs(c1)}, tokNone, crm.PermRead},
		{"ListProperties", "GET", "/crm/v3/properties/contacts", nil, tokNone, crm.PermRead},
		{"GetProperty", "GET", "/crm/v3/properties/contacts/email", nil, tokNone, crm.PermRead},
		{"ListSchemas", "GET", "/crm/v3/schemas", nil, tokNone, crm.PermRead},
		{"GetSchema", "GET", "/crm/v3/schemas/contacts", nil, tokNone, crm.PermRead},
		{"ListAssociations", "GET", "/crm/v4/objects/contacts/" + c2 + "/associations/companies", nil, tokNone, crm.PermRead},
		{"ListLists", "GET", "/crm/v3/lists", nil, tokNone, crm.PermRead},
		{"GetList", "GET", "/crm/v3/lists/" + list, nil, tokNone, crm.PermRead},
		{"ListMembers", "GET", "/crm/v3/lists/" + list + "/memberships", nil, tokNone, crm.PermRead},
		// A write without read or write at all names write, the permission the route needs.
		{"CreateWithNothing", "POST", "/crm/v3/objects/contacts", props, tokNone, crm.PermWrite},

		// The deletion endpoints (SPEC S2): delete, bulk_delete, restore, permanent_delete are separate rights.
		{"ArchiveObject", "DELETE", "/crm/v3/objects/contacts/" + c1, nil, tokWrite, crm.PermDelete},
		{"ArchiveWithNothing", "DELETE", "/crm/v3/objects/contacts/" + c1, nil, tokNone, crm.PermDelete},
		{"BatchArchiveOne", "POST", "/crm/v3/objects/contacts/batch/archive", map[string]any{"inputs": idInputs(c1)}, tokWrite, crm.PermDelete},
		{"BatchArchiveTwo", "POST", "/crm/v3/objects/contacts/batch/archive", map[string]any{"inputs": idInputs(c1, c2)}, tokDelete, crm.PermBulkDelete},
		{"BatchArchiveTwoWithoutDelete", "POST", "/crm/v3/objects/contacts/batch/archive", map[string]any{"inputs": idInputs(c1, c2)}, tokWrite, crm.PermDelete},
		{"BatchRestore", "POST", "/crm/v3/objects/contacts/batch/restore", map[string]any{"inputs": idInputs(binned)}, tokDelete, crm.PermRestore},
		{"GDPRDelete", "POST", "/crm/v3/objects/contacts/gdpr-delete", map[string]any{"objectId": c1}, tokDelete, crm.PermPermanentDelete},
		{"GDPRDeleteUnknownEmail", "POST", "/crm/v3/objects/contacts/gdpr-delete",
			map[string]any{"objectId": "nobody@example.com", "idProperty": "email"}, tokDelete, crm.PermPermanentDelete},
		{"GDPRDeleteOtherType", "POST", "/crm/v3/objects/companies/gdpr-delete", map[string]any{"objectId": co}, tokDelete, crm.PermPermanentDelete},
		{"BulkDeleteIDs", "POST", "/crm/v3/objects/contacts/bulk-delete", bulk(map[string]any{"ids": []string{c1, c2}}), tokDelete, crm.PermBulkDelete},
		{"BulkDeleteFilter", "POST", "/crm/v3/objects/contacts/bulk-delete", bulk(map[string]any{"filter": `email != ""`}), tokDelete, crm.PermBulkDelete},
		{"BulkDeleteList", "POST", "/crm/v3/objects/contacts/bulk-delete", bulk(map[string]any{"listId": list}), tokDelete, crm.PermBulkDelete},
		{"DeleteListRecords", "POST", "/crm/v3/lists/" + list + "/records/delete", map[string]any{"confirmCount": 1}, tokDelete, crm.PermBulkDelete},
		// A dry run needs read alone; without dryRun a reader is refused on delete, the first right missing.
		{"BulkDeleteReadOnly", "POST", "/crm/v3/objects/contacts/bulk-delete", bulk(map[string]any{"filter": `email != ""`}), tokRead, crm.PermDelete},
		{"BulkDeleteDryRunWithNothing", "POST", "/crm/v3/objects/contacts/bulk-delete", map[string]any{"filter": `email != ""`, "dryRun": true}, tokNone, crm.PermRead},
		{"DeleteListRecordsReadOnly", "POST", "/crm/v3/lists/" + list + "/records/delete", map[string]any{"confirmCount": 1}, tokRead, crm.PermDelete},
		{"DeleteListRecordsDryRunWithNothing", "POST", "/crm/v3/lists/" + list + "/records/delete", map[string]any{"dryRun": true}, tokNone, crm.PermRead},
		{"GetJob", "GET", "/crm/v3/jobs/" + job.ID, nil, tokNone, crm.PermRead},
		{"Audit", "GET", "/crm/v3/audit", nil, tokDelete, crm.PermRestore},

		// Workflows: writing, activating, pausing and enrolling need workflows; reading needs read.
		{"PutFlow", "PUT", flowPath, yamlBody("# v2\n" + bouncedFlow("perm-flow")), tokWrite, crm.PermWorkflows},
		{"PutNewFlow", "PUT", "/automation/v4/flows/new-flow", yamlBody(bouncedFlow("new-flow")), tokRead, crm.PermWorkflows},
		{"ActivateFlow", "POST", flowPath + "/activate", map[string]any{"enrollExisting": true}, tokWrite, crm.PermWorkflows},
		{"PauseFlow", "POST", flowPath + "/pause", nil, tokWrite, crm.PermWorkflows},
		{"EnrollRecord", "POST", flowPath + "/enrollments", map[string]any{"recordId": c2}, tokWrite, crm.PermWorkflows},
		{"ListFlows", "GET", "/automation/v4/flows", nil, tokNone, crm.PermRead},
		{"GetFlow", "GET", flowPath, nil, tokNone, crm.PermRead},
		{"GetFlowRevision", "GET", flowPath + "/revisions/1", nil, tokNone, crm.PermRead},
		{"PreviewFlow", "GET", flowPath + "/preview", nil, tokNone, crm.PermRead},
		{"PreviewSource", "POST", "/automation/v4/flows/preview", yamlBody(bouncedFlow("x")), tokNone, crm.PermRead},
		{"FlowHistory", "GET", flowPath + "/history?recordId=" + c1, nil, tokNone, crm.PermRead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before, raw := b.snapshot(t, b.tenantA), b.dump(t, b.tenantA)
			e := expectError(t, b.call(t, tc.method, tc.path, tc.who, tc.body), http.StatusForbidden, "MISSING_SCOPES")
			require.Contains(t, e.Message, `"`+string(tc.perm)+`"`)
			// The hint is a command that works for an existing user: it keeps its permissions.
			require.Contains(t, e.Message, "crmflow admin user set-perms "+string(b.tenantA)+" ")
			m := regexp.MustCompile(`--perms (\S+)\)`).FindStringSubmatch(e.Message)
			require.NotNil(t, m, e.Message)
			require.Contains(t, strings.Split(m[1], ","), string(tc.perm))
			// Every permission the request needs and the user lacks is named at once, so that one
			// grant is enough: a reader's bulk delete needs delete and bulk_delete.
			require.Equal(t, append([]string{string(tc.perm)}, alsoLacking[tc.name]...), e.Context["requiredScopes"])
			for _, also := range alsoLacking[tc.name] {
				require.Contains(t, e.Message, `"`+also+`"`)
				require.Contains(t, strings.Split(m[1], ","), also)
			}
			require.Equal(t, before, b.snapshot(t, b.tenantA))
			require.Equal(t, raw, b.dump(t, b.tenantA)) // not a key nor a value of the tenant changed
			require.Empty(t, b.tasks.jobsOf(b.tenantA))
			require.Empty(t, b.tasks.mailsOf(b.tenantA))
			require.Empty(t, b.tasks.backfillsOf(b.tenantA))
		})
	}
}
