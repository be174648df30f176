package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/redistest"
)

// freshTenant creates a tenant with one user of every permission and returns its id and token.
func (b *testBundle) freshTenant(t *testing.T) (crm.TenantID, string) {
	t.Helper()
	tn := crm.TenantID(redistest.Tenant(t))
	_, err := b.store.CreateTenant(b.ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	return tn, b.user(t, tn, "intruder@b.example", "all")
}

// TestTenantIsolation calls every endpoint with the token of another tenant and tenant A's ids. A
// record, list, property or type of tenant A is answered exactly as a missing one (404), reads show
// nothing of A, writes land in the caller's own tenant, and tenant A is unchanged.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// Tenant A: contacts, a company, an association, a list with a member, a custom property, a
	// custom object type with a record, and a contact in the bin.
	c1 := string(b.contact(t, map[string]string{"email": "ada@a.example", "firstname": "Ada"}))
	c2 := string(b.contact(t, map[string]string{"email": "bob@a.example"}))
	binned := b.contact(t, map[string]string{"email": "old@a.example"})
	_, err := b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Contacts, []crm.RecordID{binned}, crm.Actor{User: userEmail})
	require.NoError(t, err)
	ops, _, err := b.store.Operations(b.ctx, b.tenantA, nil)
	require.NoError(t, err)
	require.Len(t, ops, 1)
	op := ops[0].ID // the operation that moved it, which an undo would restore
	co := string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Acme"}))
	require.NoError(t, b.store.Associate(b.ctx, b.tenantA, crm.AssociationRef{Type: crm.Contacts, ID: crm.RecordID(c1)},
		crm.AssociationRef{Type: crm.Companies, ID: crm.RecordID(co)}))
	l, err := b.store.CreateList(b.ctx, b.tenantA, "VIPs", crm.Contacts)
	require.NoError(t, err)
	_, _, err = b.store.AddListMembers(b.ctx, b.tenantA, l.ID, []crm.RecordID{crm.RecordID(c1)})
	require.NoError(t, err)
	list := string(l.ID)
	_, err = b.store.CreateProperty(b.ctx, b.tenantA, crm.Contacts, crm.Property{Name: "shoe_size", Label: "Shoe size", Type: crm.TypeNumber}, "ops@x.example")
	require.NoError(t, err)
	_, err = b.store.CreateObjectType(b.ctx, b.tenantA, crm.ObjectTypeDef{Name: "pets", Label: "Pets",
		Properties: []crm.Property{{Name: "pet_name", Label: "Name", Type: crm.TypeString}}}, "ops@x.example")
	require.NoError(t, err)
	pet := string(b.create(t, b.tenantA, "pets", map[string]string{"pet_name": "Rex"}))
	job, err := b.store.CreateDeleteJob(b.ctx, b.tenantA, crm.DeleteJobParams{ObjectType: crm.Contacts,
		IDs: []crm.RecordID{crm.RecordID(c2)}, ConfirmCount: 1, By: userEmail, Selection: "1 ids"})
	require.NoError(t, err)
	// An active workflow of A with a suppression list, and a contact enrolled in it.
	flowSrc := "name: a-flow\nobject_type: contacts\ntrigger: email_bounced\nsuppression:\n  lists: [" + list + "]\n" +
		"actions:\n  - type: delete_contact\n"
	_, _, err = b.store.PutFlow(b.ctx, b.tenantA, "a-flow", crm.Contacts, flowSrc, userEmail)
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(b.ctx, b.tenantA, "a-flow", crm.ActivateFlowParams{By: userEmail})
	require.NoError(t, err)
	_, err = b.store.EvaluateFlow(b.ctx, b.tenantA, crm.FlowRef{Name: f.Name, Revision: f.ActiveRevision, ObjectType: crm.Contacts},
		[]crm.FlowVerdict{{ID: crm.RecordID(c2), Verdict: crm.VerdictMatch}})
	require.NoError(t, err)
	before, raw := b.snapshot(t, b.tenantA), b.dump(t, b.tenantA)

	empty := func(t *testing.T, r response) {
		t.Helper()
		pg := expect[page[record]](t, r, http.StatusOK)
		require.Empty(t, pg.Results)
	}
	notFound := func(t *testing.T, r response) {
		t.Helper()
		expectError(t, r, http.StatusNotFound, "OBJECT_NOT_FOUND")
	}
	props := map[string]any{"properties": map[string]any{"firstname": "Mallory"}}
	// noneMatched is a bulk delete's refusal: of A's records, none is selected in the caller's tenant.
	noneMatched := func(t *testing.T, r response) {
		t.Helper()
		e := expectError(t, r, http.StatusConflict, "CONFLICT")
		require.Equal(t, []string{"0"}, e.Context["matched"])
	}

	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		check  func(t *testing.T, r response)
	}{
		{"GetObject", "GET", "/crm/v3/objects/contacts/" + c1, nil, notFound},
		{"GetArchivedObject", "GET", "/crm/v3/objects/contacts/" + string(binned) + "?archived=true", nil, notFound},
		{"UpdateObject", "PATCH", "/crm/v3/objects/contacts/" + c1, props, notFound},
		{"ListObjects", "GET", "/crm/v3/objects/contacts", nil, empty},
		{"ListArchivedObjects", "GET", "/crm/v3/objects/contacts?archived=true", nil, empty},
		{"BatchRead", "POST", "/crm/v3/objects/contacts/batch/read", map[string]any{"inputs": idInputs(c1, c2)},
			func(t *testing.T, r response) {
				res := expect[batch](t, r, http.StatusMultiStatus)
				require.Empty(t, res.Results)
				require.Equal(t, []string{c1, c2}, res.Errors[0].Context["ids"])
			}},
		{"BatchReadArchived", "POST", "/crm/v3/objects/contacts/batch/read?archived=true",
			map[string]any{"inputs": idInputs(string(binned))}, func(t *testing.T, r response) {
				require.Empty(t, expect[batch](t, r, http.StatusMultiStatus).Results)
			}},
		{"BatchUpdate", "POST", "/crm/v3/objects/contacts/batch/update",
			map[string]any{"inputs": []any{map[string]any{"id": c1, "properties": map[string]any{"firstname": "M"}}}}, notFound},
		// A's email is free in another tenant: creating lands in the caller's tenant, no conflict leaks.
		{"CreateObjectWithAsEmail", "POST", "/crm/v3/objects/contacts",
			map[string]any{"properties": map[string]any{"email": "ada@a.example"}}, func(t *testing.T, r response) {
				expect[record](t, r, http.StatusCreated)
			}},
		{"BatchCreateWithAsEmail", "POST", "/crm/v3/objects/contacts/batch/create",
			map[string]any{"inputs": []any{map[string]any{"properties": map[string]any{"email": "bob@a.example"}}}},
			func(t *testing.T, r response) { expect[batch](t, r, http.StatusCreated) }},
		{"ListCustomObjects", "GET", "/crm/v3/objects/pets", nil, notFound},
		{"GetCustomObject", "GET", "/crm/v3/objects/pets/" + pet, nil, notFound},
		{"CreateCustomObject", "POST", "/crm/v3/objects/pets", map[string]any{"properties": map[string]any{"pet_name": "X"}}, notFound},
		{"ListProperties", "GET", "/crm/v3/properties/contacts", nil, func(t *testing.T, r response) {
			pg := expect[page[property]](t, r, http.StatusOK)
			require.NotEmpty(t, pg.Results)
			for _, p := range pg.Results {
				require.NotEqual(t, "shoe_size", p.Name)
			}
		}},
		{"GetProperty", "GET", "/crm/v3/properties/contacts/shoe_size", nil, notFound},
		{"UpdateProperty", "PATCH", "/crm/v3/properties/contacts/shoe_size", map[string]any{"label": "Mallory's"}, notFound},
		{"CustomTypeProperties", "GET", "/crm/v3/properties/pets", nil, notFound},
		{"CreateProperty", "POST", "/crm/v3/properties/contacts", map[string]any{"name": "shoe_size", "type": "string"},
			func(t *testing.T, r response) {
				require.Equal(t, "string", expect[property](t, r, http.StatusCreated).Type)
			}},
		{"ListSchemas", "GET", "/crm/v3/schemas", nil, func(t *testing.T, r response) {
			require.Empty(t, expect[page[schema]](t, r, http.StatusOK).Results)
		}},
		{"GetSchema", "GET", "/crm/v3/schemas/pets", nil, notFound},
		{"CreateSchema", "POST", "/crm/v3/schemas", map[string]any{"name": "pets", "label": "Pets"},
			func(t *testing.T, r response) { expect[schema](t, r, http.StatusCreated) }},
		{"Associate", "PUT", "/crm/v4/objects/contacts/" + c2 + "/associations/default/companies/" + co, nil, notFound},
		{"Dissociate", "DELETE", "/crm/v4/objects/contacts/" + c1 + "/associations/default/companies/" + co, nil, notFound},
		{"DissociateHubSpotPath", "DELETE", "/crm/v4/objects/contacts/" + c1 + "/associations/companies/" + co, nil, notFound},
		{"ListAssociations", "GET", "/crm/v4/objects/contacts/" + c1 + "/associations/companies", nil, notFound},
		{"BatchAssociateDefault", "POST", "/crm/v4/associations/contacts/companies/batch/associate/default",
			map[string]any{"inputs": []any{map[string]any{"from": map[string]any{"id": c2}, "to": map[string]any{"id": co}}}},
			func(t *testing.T, r response) {
				res := expect[batchOf[defaultAssociated]](t, r, http.StatusOK)
				require.Empty(t, res.Results)
				require.Equal(t, []string{"inputs[0].from.id"}, res.failedInputs())
			}},
		{"BatchCreateAssociations", "POST", "/crm/v4/associations/contacts/companies/batch/create",
			map[string]any{"inputs": []any{pairIn(c2, co, 279)}}, func(t *testing.T, r response) {
				require.Empty(t, expect[batchOf[labelsBetween]](t, r, http.StatusMultiStatus).Results)
			}},
		{"BatchReadAssociations", "POST", "/crm/v4/associations/contacts/companies/batch/read",
			map[string]any{"inputs": []any{map[string]any{"id": c1}}}, func(t *testing.T, r response) {
				res := expect[batchOf[associationsOf]](t, r, http.StatusMultiStatus)
				require.Empty(t, res.Results, "nothing of A's association shows")
			}},
		{"BatchArchiveAssociations", "POST", "/crm/v4/associations/contacts/companies/batch/archive",
			map[string]any{"inputs": []any{map[string]any{"from": map[string]any{"id": c1}, "to": []any{map[string]any{"id": co}}}}}, notFound},
		{"BatchArchiveAssociationLabels", "POST", "/crm/v4/associations/contacts/companies/batch/labels/archive",
			map[string]any{"inputs": []any{pairIn(c1, co, 279)}}, notFound},
		{"CreateList", "POST", "/crm/v3/lists", map[string]any{"name": "VIPs", "objectType": "contacts"},
			func(t *testing.T, r response) { expect[listResponse](t, r, http.StatusOK) }},
		{"ListLists", "GET", "/crm/v3/lists", nil, func(t *testing.T, r response) {
			require.Empty(t, expect[listsResponse](t, r, http.StatusOK).Lists)
		}},
		{"GetList", "GET", "/crm/v3/lists/" + list, nil, notFound},
		{"DeleteList", "DELETE", "/crm/v3/lists/" + list, nil, notFound},
		{"AddMembers", "PUT", "/crm/v3/lists/" + list + "/memberships/add", []string{c2}, notFound},
		{"RemoveMembers", "PUT", "/crm/v3/lists/" + list + "/memberships/remove", []string{c1}, notFound},
		{"ListMembers", "GET", "/crm/v3/lists/" + list + "/memberships", nil, notFound},

		// Deletes: another tenant can neither delete, restore, permanently delete, select nor see A's records.
		{"ArchiveObject", "DELETE", "/crm/v3/objects/contacts/" + c1, nil, notFound},
		{"ArchiveCustomObject", "DELETE", "/crm/v3/objects/pets/" + pet, nil, notFound},
		{"BatchArchive", "POST", "/crm/v3/objects/contacts/batch/archive", map[string]any{"inputs": idInputs(c1, c2)},
			func(t *testing.T, r response) { require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body) }},
		{"BatchRestore", "POST", "/crm/v3/objects/contacts/batch/restore", map[string]any{"inputs": idInputs(string(binned))},
			func(t *testing.T, r response) {
				res := expect[batch](t, r, http.StatusMultiStatus)
				require.Empty(t, res.Results)
				require.Equal(t, []string{string(binned)}, res.Errors[0].Context["id"])
			}},
		{"GDPRDeleteByID", "POST", "/crm/v3/objects/contacts/gdpr-delete", map[string]any{"objectId": c1}, notFound},
		{"GDPRDeleteBinnedByID", "POST", "/crm/v3/objects/contacts/gdpr-delete", map[string]any{"objectId": string(binned)}, notFound},
		// A's email is unknown in the caller's tenant: it is blocklisted there, and only there.
		{"GDPRDeleteByAsEmail", "POST", "/crm/v3/objects/contacts/gdpr-delete",
			map[string]any{"objectId": "ada@a.example", "idProperty": "email"}, func(t *testing.T, r response) {
				require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
				ok, err := b.store.IsBlocklisted(b.ctx, b.tenantA, "ada@a.example")
				require.NoError(t, err)
				require.False(t, ok)
			}},
		{"BulkDeleteIDs", "POST", "/crm/v3/objects/contacts/bulk-delete", map[string]any{"ids": []string{c1, c2}, "confirmCount": 2}, noneMatched},
		{"BulkDeleteFilter", "POST", "/crm/v3/objects/contacts/bulk-delete",
			map[string]any{"filter": `email == "ada@a.example"`, "confirmCount": 1}, nil},
		{"BulkDeleteCustomType", "POST", "/crm/v3/objects/pets/bulk-delete", map[string]any{"ids": []string{pet}, "confirmCount": 1}, notFound},
		{"BulkDeleteList", "POST", "/crm/v3/objects/contacts/bulk-delete", map[string]any{"listId": list, "confirmCount": 1}, notFound},
		{"DeleteListRecords", "POST", "/crm/v3/lists/" + list + "/records/delete", map[string]any{"confirmCount": 1}, notFound},
		{"GetJob", "GET", "/crm/v3/jobs/" + job.ID, nil, notFound},
		// Operations: another tenant neither sees nor undoes A's, by its id or in its bin.
		{"GetOperation", "GET", "/crm/v3/operations/" + op, nil, notFound},
		{"ListOperations", "GET", "/crm/v3/operations", nil, empty},
		{"BinByOperation", "GET", "/crm/v3/objects/contacts?archived=true&archivedOperation=" + op, nil, empty},
		{"UndoOperation", "POST", "/crm/v3/operations/" + op + "/undo", nil, notFound},
		// job-<id> of A's job, not finished: from another tenant it names no job, so nothing is canceled.
		{"UndoJobOperation", "POST", "/crm/v3/operations/" + crm.JobOperationID(job.ID) + "/undo", nil, notFound},
		{"Audit", "GET", "/crm/v3/audit", nil, func(t *testing.T, r response) {
			// Only the caller's tenant's own entries: the creation of its user and token, no record.
			for _, e := range expect[page[auditEntry]](t, r, http.StatusOK).Results {
				require.Contains(t, []string{crm.AuditUserCreate, crm.AuditTokenCreate}, e.Action)
				require.Empty(t, e.RecordIDs)
			}
		}},

		// Workflows: another tenant neither sees, changes, activates, previews nor enrolls into A's.
		{"ListFlows", "GET", "/automation/v4/flows", nil, func(t *testing.T, r response) {
			require.Empty(t, expect[results[flow]](t, r, http.StatusOK).Results)
		}},
		{"GetFlow", "GET", "/automation/v4/flows/a-flow", nil, notFound},
		{"GetFlowRevision", "GET", "/automation/v4/flows/a-flow/revisions/1", nil, notFound},
		{"ActivateFlow", "POST", "/automation/v4/flows/a-flow/activate", map[string]any{"enrollExisting": true}, notFound},
		{"PauseFlow", "POST", "/automation/v4/flows/a-flow/pause", nil, notFound},
		{"PreviewFlow", "GET", "/automation/v4/flows/a-flow/preview", nil, notFound},
		{"FlowHistory", "GET", "/automation/v4/flows/a-flow/history?recordId=" + c2, nil, notFound},
		{"EnrollRecord", "POST", "/automation/v4/flows/a-flow/enrollments", map[string]any{"recordId": c1}, notFound},
		// A's name is free in another tenant: the workflow lands in the caller's tenant, as a new one.
		{"PutFlowWithAsName", "PUT", "/automation/v4/flows/a-flow", yamlBody(bouncedFlow("a-flow")), func(t *testing.T, r response) {
			f := expect[flow](t, r, http.StatusCreated)
			require.Equal(t, int64(1), f.Revision)
			require.Equal(t, "DRAFT", f.State)
		}},
		// A's suppression list does not exist in another tenant, and A's contacts are not previewed.
		{"PreviewSourceWithAsList", "POST", "/automation/v4/flows/preview", yamlBody(flowSrc), func(t *testing.T, r response) {
			expectProblems(t, r, problem{5, 11, "suppression.lists[0]", "list " + list + " does not exist"})
		}},
		{"PreviewSource", "POST", "/automation/v4/flows/preview", yamlBody(bouncedFlow("x")), func(t *testing.T, r response) {
			p := expect[preview](t, r, http.StatusOK)
			require.Zero(t, p.Total)
			require.Empty(t, p.Sample)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A tenant of its own per case, so that what one case creates cannot answer another.
			tn, tok := b.freshTenant(t)
			r := b.raw(t, tc.method, tc.path, "Bearer "+tok, tc.body)
			if tc.check != nil {
				tc.check(t, r)
			} else {
				// A selection in the worker: the job selects in the caller's tenant, where none of
				// A's records is, and is refused.
				acc := expect[jobAccepted](t, r, http.StatusAccepted)
				st := b.workIn(t, tn, acc.ID)
				require.Equal(t, "REFUSED", st.Status)
				require.Zero(t, st.Matched)
			}
			require.Equal(t, before, b.snapshot(t, b.tenantA))
			require.Equal(t, raw, b.dump(t, b.tenantA)) // not a key nor a value of A changed
			require.Empty(t, b.tasks.jobsOf(b.tenantA))
			require.Empty(t, b.tasks.mailsOf(b.tenantA))
			require.Empty(t, b.tasks.backfillsOf(b.tenantA))
		})
	}
}
