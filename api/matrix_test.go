package api_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/redistest"
)

// matrixFlow is the name of the fixture's active workflow.
const matrixFlow = "matrix-flow"

// matrixFixture is what one tenant of the permission matrix holds: contacts (c2 associated with a
// company and enrolled in an active workflow, c1 a member of a static list), a contact in the bin,
// a custom property, a custom object type with a record and a pending bulk delete job.
type matrixFixture struct {
	tenant crm.TenantID
	c1     string
	c2     string
	binned string
	co     string
	list   string
	pet    string
	job    string
	op     string // the operation that binned binned
}

// matrixFixture fills tenant tn, which exists, with a matrixFixture.
func (b *testBundle) matrixFixture(t *testing.T, tn crm.TenantID) matrixFixture {
	t.Helper()
	ctx := b.ctx
	f := matrixFixture{tenant: tn}
	f.c1 = string(b.create(t, tn, crm.Contacts, map[string]string{"email": "ada@m.example", "firstname": "Ada"}))
	f.c2 = string(b.create(t, tn, crm.Contacts, map[string]string{"email": "bob@m.example", "firstname": "Bob"}))
	f.binned = string(b.create(t, tn, crm.Contacts, map[string]string{"email": "old@m.example"}))
	_, err := b.store.ArchiveRecords(ctx, tn, crm.Contacts, []crm.RecordID{crm.RecordID(f.binned)}, crm.Actor{User: userEmail})
	require.NoError(t, err)
	binned, err := b.store.Record(ctx, tn, crm.Contacts, crm.RecordID(f.binned), &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	f.op = binned.Deletion.Operation
	f.co = string(b.create(t, tn, crm.Companies, map[string]string{"name": "Acme"}))
	require.NoError(t, b.store.Associate(ctx, tn, crm.AssociationRef{Type: crm.Contacts, ID: crm.RecordID(f.c2)},
		crm.AssociationRef{Type: crm.Companies, ID: crm.RecordID(f.co)}))
	l, err := b.store.CreateList(ctx, tn, "VIPs", crm.Contacts)
	require.NoError(t, err)
	_, _, err = b.store.AddListMembers(ctx, tn, l.ID, []crm.RecordID{crm.RecordID(f.c1)})
	require.NoError(t, err)
	f.list = string(l.ID)
	_, err = b.store.CreateProperty(ctx, tn, crm.Contacts, crm.Property{Name: "shoe_size", Label: "Shoe size", Type: crm.TypeNumber}, "ops@x.example")
	require.NoError(t, err)
	eyes, err := b.store.CreateProperty(ctx, tn, crm.Contacts, crm.Property{Name: "eye_color", Label: "Eye color", Type: crm.TypeString}, "ops@x.example")
	require.NoError(t, err)
	_, err = b.store.ArchiveProperty(ctx, tn, crm.Contacts, eyes, userEmail)
	require.NoError(t, err)
	_, err = b.store.CreateObjectType(ctx, tn, crm.ObjectTypeDef{Name: "pets", Label: "Pets",
		Properties: []crm.Property{{Name: "pet_name", Label: "Name", Type: crm.TypeString}}}, "ops@x.example")
	require.NoError(t, err)
	f.pet = string(b.create(t, tn, "pets", map[string]string{"pet_name": "Rex"}))
	job, err := b.store.CreateDeleteJob(ctx, tn, crm.DeleteJobParams{ObjectType: crm.Contacts,
		IDs: []crm.RecordID{crm.RecordID(f.c2)}, ConfirmCount: 1, By: userEmail, Selection: "1 ids"})
	require.NoError(t, err)
	f.job = job.ID
	_, _, err = b.store.PutProtectionRule(ctx, tn, crm.ProtectionRule{Name: "matrix-rule", ObjectType: crm.Contacts,
		When: `firstname == "Nobody"`}, userEmail)
	require.NoError(t, err)
	_, _, err = b.store.PutFlow(ctx, tn, matrixFlow, crm.Contacts, bouncedFlow(matrixFlow), userEmail)
	require.NoError(t, err)
	fl, err := b.store.ActivateFlow(ctx, tn, matrixFlow, crm.ActivateFlowParams{By: userEmail})
	require.NoError(t, err)
	_, err = b.store.EvaluateFlow(ctx, tn, crm.FlowRef{Name: fl.Name, Revision: fl.ActiveRevision, ObjectType: crm.Contacts},
		[]crm.FlowVerdict{{ID: crm.RecordID(f.c2), Verdict: crm.VerdictMatch}})
	require.NoError(t, err)
	return f
}

// matrixRequest is the path and body of one request of a matrix row; the method is the row's.
type matrixRequest struct {
	path string
	body any
}

// The background work a successful request enqueues.
const (
	enqueuesJob      = "job"
	enqueuesMail     = "mail"
	enqueuesBackfill = "backfill"
	enqueuesSteps    = "steps"
)

// matrixRow is one endpoint of the permission matrix: the route it exercises, what a caller must
// hold, a request that succeeds on a matrixFixture, and the answers.
type matrixRow struct {
	name    string
	pattern string // as routes registers it, method included
	// needs are the permissions the endpoint checks, in the order it checks them; empty for a
	// route that needs no token.
	needs []crm.Permission
	req   func(f matrixFixture) matrixRequest
	// ok is the status of a caller holding needs; other that of a caller of another tenant with
	// every permission (see TestTenantIsolation).
	ok, other int
	// readOnly says a success changes nothing in the store.
	readOnly bool
	// enqueues is the background work a success enqueues ("" for none).
	enqueues string
}

func (r matrixRow) method() string {
	m, _, _ := strings.Cut(r.pattern, " ")
	return m
}

// drains says whether a success of the row asks for a drain of its tenant's record changes: it
// does for a request other than a GET to a route that needs write, delete, restore or
// permanent_delete. A bulk or list delete's route needs read (for its
// dry runs): its records change in the job's worker, not in the request, so it asks for none.
func (r matrixRow) drains() bool {
	if len(r.needs) == 0 || r.method() == http.MethodGet {
		return false
	}
	switch r.needs[0] {
	case crm.PermWrite, crm.PermDelete, crm.PermRestore, crm.PermPermanentDelete:
		return true
	}
	return false
}

// matrixRows is every endpoint of the server.
func matrixRows() []matrixRow {
	read := []crm.Permission{crm.PermRead}
	write := []crm.Permission{crm.PermWrite}
	wf := []crm.Permission{crm.PermWorkflows}
	props := map[string]any{"properties": map[string]any{"firstname": "Changed"}}
	obj := func(f matrixFixture) string { return "/crm/v3/objects/contacts/" + f.c1 }
	flowPath := "/automation/v4/flows/" + matrixFlow
	path := func(p string) func(matrixFixture) matrixRequest {
		return func(matrixFixture) matrixRequest { return matrixRequest{path: p} }
	}
	return []matrixRow{
		{name: "Healthz", pattern: "GET /healthz", req: path("/healthz"), ok: 200, other: 200, readOnly: true},
		{name: "Readyz", pattern: "GET /readyz", req: path("/readyz"), ok: 200, other: 200, readOnly: true},

		// Records.
		{name: "CreateObject", pattern: "POST /crm/v3/objects/{objectType}", needs: write,
			req: func(matrixFixture) matrixRequest { return matrixRequest{"/crm/v3/objects/contacts", props} }, ok: 201, other: 201},
		{name: "ListObjects", pattern: "GET /crm/v3/objects/{objectType}", needs: read,
			req: path("/crm/v3/objects/contacts"), ok: 200, other: 200, readOnly: true},
		{name: "GetObject", pattern: "GET /crm/v3/objects/{objectType}/{id}", needs: read,
			req: func(f matrixFixture) matrixRequest { return matrixRequest{path: obj(f)} }, ok: 200, other: 404, readOnly: true},
		{name: "UpdateObject", pattern: "PATCH /crm/v3/objects/{objectType}/{id}", needs: write,
			req: func(f matrixFixture) matrixRequest { return matrixRequest{obj(f), props} }, ok: 200, other: 404},
		{name: "BatchCreate", pattern: "POST /crm/v3/objects/{objectType}/batch/create", needs: write,
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": []any{props}}}
			}, ok: 201, other: 201},
		{name: "BatchRead", pattern: "POST /crm/v3/objects/{objectType}/batch/read", needs: read,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/objects/contacts/batch/read", map[string]any{"inputs": idInputs(f.c1, f.c2)}}
			}, ok: 200, other: 207, readOnly: true},
		{name: "SearchObjects", pattern: "POST /crm/v3/objects/{objectType}/search", needs: read,
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/objects/contacts/search", map[string]any{"query": "a"}}
			}, ok: 200, other: 200, readOnly: true},
		{name: "BatchUpdate", pattern: "POST /crm/v3/objects/{objectType}/batch/update", needs: write,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/objects/contacts/batch/update",
					map[string]any{"inputs": []any{map[string]any{"id": f.c1, "properties": map[string]any{"firstname": "X"}}}}}
			}, ok: 200, other: 404},
		{name: "BatchUpsert", pattern: "POST /crm/v3/objects/{objectType}/batch/upsert", needs: write,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/objects/contacts/batch/upsert", map[string]any{"inputs": []any{
					map[string]any{"idProperty": "email", "id": "upserted@example.com", "properties": map[string]any{"firstname": "U"}}}}}
			}, ok: 200, other: 200},

		// Deletes, the bin, permanent delete, bulk jobs and the audit trail.
		{name: "ArchiveObject", pattern: "DELETE /crm/v3/objects/{objectType}/{id}", needs: []crm.Permission{crm.PermDelete},
			req: func(f matrixFixture) matrixRequest { return matrixRequest{path: obj(f)} }, ok: 204, other: 404},
		{name: "BatchArchiveOne", pattern: "POST /crm/v3/objects/{objectType}/batch/archive", needs: []crm.Permission{crm.PermDelete},
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/objects/contacts/batch/archive", map[string]any{"inputs": idInputs(f.c1)}}
			}, ok: 204, other: 204},
		{name: "BatchArchiveTwo", pattern: "POST /crm/v3/objects/{objectType}/batch/archive",
			needs: []crm.Permission{crm.PermDelete, crm.PermBulkDelete},
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/objects/contacts/batch/archive", map[string]any{"inputs": idInputs(f.c1, f.c2)}}
			}, ok: 204, other: 204},
		{name: "BatchRestore", pattern: "POST /crm/v3/objects/{objectType}/batch/restore", needs: []crm.Permission{crm.PermRestore},
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/objects/contacts/batch/restore", map[string]any{"inputs": idInputs(f.binned)}}
			}, ok: 200, other: 207},
		{name: "GDPRDeleteByID", pattern: "POST /crm/v3/objects/{objectType}/gdpr-delete",
			needs: []crm.Permission{crm.PermPermanentDelete},
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/objects/contacts/gdpr-delete", map[string]any{"objectId": f.c1}}
			}, ok: 204, other: 404, enqueues: enqueuesMail},
		{name: "GDPRDeleteByUnknownEmail", pattern: "POST /crm/v3/objects/{objectType}/gdpr-delete",
			needs: []crm.Permission{crm.PermPermanentDelete},
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/objects/contacts/gdpr-delete",
					map[string]any{"objectId": "nobody@m.example", "idProperty": "email"}}
			}, ok: 204, other: 204, enqueues: enqueuesMail},
		// A bulk or list delete's route needs read, for its dry runs; a delete also needs delete and bulk_delete.
		{name: "BulkDeleteIDs", pattern: "POST /crm/v3/objects/{objectType}/bulk-delete", needs: []crm.Permission{crm.PermRead, crm.PermDelete, crm.PermBulkDelete},
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/objects/contacts/bulk-delete", map[string]any{"ids": []string{f.c1, f.c2}, "confirmCount": 2}}
			}, ok: 202, other: 409, enqueues: enqueuesJob},
		{name: "BulkDeleteDryRun", pattern: "POST /crm/v3/objects/{objectType}/bulk-delete", needs: read,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/objects/contacts/bulk-delete", map[string]any{"ids": []string{f.c1, f.c2}, "dryRun": true}}
			}, ok: 200, other: 200, readOnly: true},
		{name: "DeleteListRecords", pattern: "POST /crm/v3/lists/{listId}/records/delete", needs: []crm.Permission{crm.PermRead, crm.PermDelete, crm.PermBulkDelete},
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/lists/" + f.list + "/records/delete", map[string]any{"confirmCount": 1}}
			}, ok: 202, other: 404, enqueues: enqueuesJob},
		{name: "DeleteListRecordsDryRun", pattern: "POST /crm/v3/lists/{listId}/records/delete", needs: read,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/lists/" + f.list + "/records/delete", map[string]any{"dryRun": true}}
			}, ok: 200, other: 404, readOnly: true},
		{name: "RecordMemberships", pattern: "GET /crm/v3/lists/records/{objectType}/{recordId}/memberships", needs: read,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{path: "/crm/v3/lists/records/contacts/" + f.c1 + "/memberships"}
			}, ok: 200, other: 404, readOnly: true},
		{name: "ListJobs", pattern: "GET /crm/v3/jobs", needs: read,
			req: path("/crm/v3/jobs"), ok: 200, other: 200, readOnly: true},
		{name: "GetTenant", pattern: "GET /crm/v3/tenant", needs: read,
			req: path("/crm/v3/tenant"), ok: 200, other: 200, readOnly: true},
		{name: "GetJob", pattern: "GET /crm/v3/jobs/{jobId}", needs: read,
			req: func(f matrixFixture) matrixRequest { return matrixRequest{path: "/crm/v3/jobs/" + f.job} }, ok: 200, other: 404, readOnly: true},
		{name: "Audit", pattern: "GET /crm/v3/audit", needs: []crm.Permission{crm.PermRestore},
			req: path("/crm/v3/audit"), ok: 200, other: 200, readOnly: true},
		{name: "Outbox", pattern: "GET /crm/v3/outbox", needs: []crm.Permission{crm.PermRestore},
			req: path("/crm/v3/outbox"), ok: 200, other: 200, readOnly: true},
		{name: "ListOperations", pattern: "GET /crm/v3/operations", needs: read,
			req: path("/crm/v3/operations"), ok: 200, other: 200, readOnly: true},
		{name: "GetOperation", pattern: "GET /crm/v3/operations/{operationId}", needs: read,
			req: func(f matrixFixture) matrixRequest { return matrixRequest{path: "/crm/v3/operations/" + f.op} }, ok: 200, other: 404, readOnly: true},
		{name: "UndoOperation", pattern: "POST /crm/v3/operations/{operationId}/undo", needs: []crm.Permission{crm.PermRestore},
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{path: "/crm/v3/operations/" + f.op + "/undo"}
			},
			ok: 202, other: 404, enqueues: enqueuesJob},

		// Protection rules.
		{name: "ListProtection", pattern: "GET /crm/v3/protection", needs: read,
			req: path("/crm/v3/protection"), ok: 200, other: 200, readOnly: true},
		{name: "GetProtection", pattern: "GET /crm/v3/protection/{name}", needs: read,
			req: path("/crm/v3/protection/matrix-rule"), ok: 200, other: 404, readOnly: true},
		{name: "PutProtection", pattern: "PUT /crm/v3/protection/{name}", needs: []crm.Permission{crm.PermProtect},
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/protection/new-rule", map[string]any{"objectType": "companies", "when": `name == "Nobody"`}}
			}, ok: 201, other: 201},
		{name: "DeleteProtection", pattern: "DELETE /crm/v3/protection/{name}", needs: []crm.Permission{crm.PermProtect},
			req: path("/crm/v3/protection/matrix-rule"), ok: 204, other: 404},

		// Properties and custom object schemas.
		{name: "ListProperties", pattern: "GET /crm/v3/properties/{objectType}", needs: read,
			req: path("/crm/v3/properties/contacts"), ok: 200, other: 200, readOnly: true},
		{name: "CreateProperty", pattern: "POST /crm/v3/properties/{objectType}", needs: []crm.Permission{crm.PermSchema},
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/properties/contacts", map[string]any{"name": "hat_size", "label": "Hat size", "type": "number"}}
			}, ok: 201, other: 201},
		{name: "GetProperty", pattern: "GET /crm/v3/properties/{objectType}/{name}", needs: read,
			req: path("/crm/v3/properties/contacts/shoe_size"), ok: 200, other: 404, readOnly: true},
		{name: "UpdateProperty", pattern: "PATCH /crm/v3/properties/{objectType}/{name}", needs: []crm.Permission{crm.PermSchema},
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/properties/contacts/shoe_size", map[string]any{"label": "Shoe"}}
			}, ok: 200, other: 404},
		{name: "ArchiveProperty", pattern: "DELETE /crm/v3/properties/{objectType}/{name}", needs: []crm.Permission{crm.PermSchema},
			req: path("/crm/v3/properties/contacts/shoe_size"), ok: 204, other: 404},
		{name: "RestoreProperty", pattern: "POST /crm/v3/properties/{objectType}/{name}/restore", needs: []crm.Permission{crm.PermSchema},
			req: path("/crm/v3/properties/contacts/eye_color/restore"), ok: 200, other: 404},
		{name: "BatchReadProperties", pattern: "POST /crm/v3/properties/{objectType}/batch/read", needs: read,
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/properties/contacts/batch/read", map[string]any{"inputs": []any{map[string]any{"name": "shoe_size"}}}}
			}, ok: 200, other: 400, readOnly: true},
		{name: "BatchCreateProperties", pattern: "POST /crm/v3/properties/{objectType}/batch/create", needs: []crm.Permission{crm.PermSchema},
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/properties/contacts/batch/create",
					map[string]any{"inputs": []any{map[string]any{"name": "hat_size", "label": "Hat size", "type": "number"}}}}
			}, ok: 201, other: 201},
		{name: "BatchArchiveProperties", pattern: "POST /crm/v3/properties/{objectType}/batch/archive", needs: []crm.Permission{crm.PermSchema},
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/properties/contacts/batch/archive", map[string]any{"inputs": []any{map[string]any{"name": "shoe_size"}}}}
			}, ok: 204, other: 400},
		{name: "ListPropertyGroups", pattern: "GET /crm/v3/properties/{objectType}/groups", needs: read,
			req: path("/crm/v3/properties/contacts/groups"), ok: 200, other: 200, readOnly: true},
		{name: "GetPropertyGroup", pattern: "GET /crm/v3/properties/{objectType}/groups/{groupName}", needs: read,
			req: path("/crm/v3/properties/contacts/groups/information"), ok: 200, other: 200, readOnly: true},
		{name: "ListSchemas", pattern: "GET /crm/v3/schemas", needs: read,
			req: path("/crm/v3/schemas"), ok: 200, other: 200, readOnly: true},
		{name: "CreateSchema", pattern: "POST /crm/v3/schemas", needs: []crm.Permission{crm.PermSchema},
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/schemas", map[string]any{"name": "boats", "label": "Boats"}}
			}, ok: 201, other: 201},
		{name: "GetSchema", pattern: "GET /crm/v3/schemas/{objectType}", needs: read,
			req: path("/crm/v3/schemas/pets"), ok: 200, other: 404, readOnly: true},
		{name: "ListSchemasHubSpotPath", pattern: "GET /crm-object-schemas/v3/schemas", needs: read,
			req: path("/crm-object-schemas/v3/schemas"), ok: 200, other: 200, readOnly: true},
		{name: "CreateSchemaHubSpotPath", pattern: "POST /crm-object-schemas/v3/schemas", needs: []crm.Permission{crm.PermSchema},
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/crm-object-schemas/v3/schemas", map[string]any{"name": "boats", "labels": map[string]any{"singular": "Boat", "plural": "Boats"},
					"requiredProperties": []string{}, "associatedObjects": []string{"CONTACT"}, "primaryDisplayProperty": "hull"}}
			}, ok: 201, other: 201},
		{name: "GetSchemaHubSpotPath", pattern: "GET /crm-object-schemas/v3/schemas/{objectType}", needs: read,
			req: path("/crm-object-schemas/v3/schemas/pets"), ok: 200, other: 404, readOnly: true},

		// Pipelines.
		{name: "ListPipelines", pattern: "GET /crm/v3/pipelines/{objectType}", needs: read,
			req: path("/crm/v3/pipelines/deals"), ok: 200, other: 200, readOnly: true},
		{name: "GetPipeline", pattern: "GET /crm/v3/pipelines/{objectType}/{pipelineId}", needs: read,
			req: path("/crm/v3/pipelines/tickets/0"), ok: 200, other: 200, readOnly: true},
		{name: "ListPipelineStages", pattern: "GET /crm/v3/pipelines/{objectType}/{pipelineId}/stages", needs: read,
			req: path("/crm/v3/pipelines/deals/default/stages"), ok: 200, other: 200, readOnly: true},
		{name: "GetPipelineStage", pattern: "GET /crm/v3/pipelines/{objectType}/{pipelineId}/stages/{stageId}", needs: read,
			req: path("/crm/v3/pipelines/tickets/0/stages/4"), ok: 200, other: 200, readOnly: true},

		// Associations.
		{name: "Associate", pattern: "PUT /crm/v4/objects/{fromType}/{fromId}/associations/default/{toType}/{toId}", needs: write,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{path: "/crm/v4/objects/contacts/" + f.c1 + "/associations/default/companies/" + f.co}
			}, ok: 200, other: 404},
		{name: "Dissociate", pattern: "DELETE /crm/v4/objects/{fromType}/{fromId}/associations/default/{toType}/{toId}", needs: write,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{path: "/crm/v4/objects/contacts/" + f.c2 + "/associations/default/companies/" + f.co}
			}, ok: 204, other: 404},
		{name: "AssociateWithTypes", pattern: "PUT /crm/v4/objects/{fromType}/{fromId}/associations/{toType}/{toId}", needs: write,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v4/objects/contacts/" + f.c1 + "/associations/companies/" + f.co,
					[]map[string]any{{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}}}
			}, ok: 201, other: 404},
		{name: "DissociateHubSpotPath", pattern: "DELETE /crm/v4/objects/{fromType}/{fromId}/associations/{toType}/{toId}", needs: write,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{path: "/crm/v4/objects/contacts/" + f.c2 + "/associations/companies/" + f.co}
			}, ok: 204, other: 404},
		{name: "ListAssociations", pattern: "GET /crm/v4/objects/{fromType}/{fromId}/associations/{toType}", needs: read,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{path: "/crm/v4/objects/contacts/" + f.c2 + "/associations/companies"}
			}, ok: 200, other: 404, readOnly: true},

		{name: "BatchAssociateDefault", pattern: "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/associate/default", needs: write,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v4/associations/contacts/companies/batch/associate/default",
					map[string]any{"inputs": []any{map[string]any{"from": map[string]any{"id": f.c1}, "to": map[string]any{"id": f.co}}}}}
			}, ok: 200, other: 200},
		{name: "BatchCreateAssociations", pattern: "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/create", needs: write,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v4/associations/contacts/companies/batch/create",
					map[string]any{"inputs": []any{map[string]any{"from": map[string]any{"id": f.c1}, "to": map[string]any{"id": f.co},
						"types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}}}}}}
			}, ok: 201, other: 207},
		{name: "BatchReadAssociations", pattern: "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read", needs: read,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v4/associations/contacts/companies/batch/read",
					map[string]any{"inputs": []any{map[string]any{"id": f.c2}}}}
			}, ok: 200, other: 207, readOnly: true},
		{name: "BatchArchiveAssociations", pattern: "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/archive", needs: write,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v4/associations/contacts/companies/batch/archive",
					map[string]any{"inputs": []any{map[string]any{"from": map[string]any{"id": f.c2}, "to": []any{map[string]any{"id": f.co}}}}}}
			}, ok: 204, other: 404},
		{name: "BatchArchiveAssociationLabels", pattern: "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/labels/archive", needs: write,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v4/associations/contacts/companies/batch/labels/archive",
					map[string]any{"inputs": []any{map[string]any{"from": map[string]any{"id": f.c2}, "to": map[string]any{"id": f.co},
						"types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}}}}}}
			}, ok: 204, other: 404},

		// Static lists.
		{name: "CreateList", pattern: "POST /crm/v3/lists", needs: write,
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/lists", map[string]any{"name": "New", "objectType": "contacts"}}
			}, ok: 200, other: 200},
		{name: "CreateListHubSpotPath", pattern: "POST /crm/v3/lists/{$}", needs: write,
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/lists/", map[string]any{"name": "New", "objectTypeId": "0-1", "processingType": "MANUAL"}}
			}, ok: 200, other: 200},
		{name: "ListLists", pattern: "GET /crm/v3/lists", needs: read, req: path("/crm/v3/lists"), ok: 200, other: 200, readOnly: true},
		{name: "ListListsHubSpotPath", pattern: "GET /crm/v3/lists/{$}", needs: read, req: path("/crm/v3/lists/"), ok: 200, other: 200, readOnly: true},
		{name: "SearchLists", pattern: "POST /crm/v3/lists/search", needs: read,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/lists/search", map[string]any{"query": "vip", "count": 1}}
			}, ok: 200, other: 200, readOnly: true},
		{name: "GetList", pattern: "GET /crm/v3/lists/{listId}", needs: read,
			req: func(f matrixFixture) matrixRequest { return matrixRequest{path: "/crm/v3/lists/" + f.list} }, ok: 200, other: 404, readOnly: true},
		{name: "GetListByName", pattern: "GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}", needs: read,
			req: path("/crm/v3/lists/object-type-id/0-1/name/vips"), ok: 200, other: 404, readOnly: true},
		{name: "DeleteList", pattern: "DELETE /crm/v3/lists/{listId}", needs: write,
			req: func(f matrixFixture) matrixRequest { return matrixRequest{path: "/crm/v3/lists/" + f.list} }, ok: 204, other: 404},
		{name: "AddMembers", pattern: "PUT /crm/v3/lists/{listId}/memberships/add", needs: write,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/lists/" + f.list + "/memberships/add", []string{f.c2}}
			}, ok: 200, other: 404},
		{name: "RemoveMembers", pattern: "PUT /crm/v3/lists/{listId}/memberships/remove", needs: write,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{"/crm/v3/lists/" + f.list + "/memberships/remove", []string{f.c1}}
			}, ok: 200, other: 404},
		{name: "ListMembers", pattern: "GET /crm/v3/lists/{listId}/memberships", needs: read,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{path: "/crm/v3/lists/" + f.list + "/memberships"}
			}, ok: 200, other: 404, readOnly: true},

		// Workflows.
		{name: "ListFlows", pattern: "GET /automation/v4/flows", needs: read,
			req: path("/automation/v4/flows"), ok: 200, other: 200, readOnly: true},
		{name: "PreviewSource", pattern: "POST /automation/v4/flows/preview", needs: read,
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{"/automation/v4/flows/preview", yamlBody(bouncedFlow("x"))}
			}, ok: 200, other: 200, readOnly: true},
		{name: "PutFlow", pattern: "PUT /automation/v4/flows/{name}", needs: wf,
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{flowPath, yamlBody("# v2\n" + bouncedFlow(matrixFlow))}
			}, ok: 201, other: 201},
		{name: "GetFlow", pattern: "GET /automation/v4/flows/{name}", needs: read,
			req: path(flowPath), ok: 200, other: 404, readOnly: true},
		{name: "GetFlowRevision", pattern: "GET /automation/v4/flows/{name}/revisions/{rev}", needs: read,
			req: path(flowPath + "/revisions/1"), ok: 200, other: 404, readOnly: true},
		// A workflow acts with its activator's authority (SPEC S23): activating the fixture's
		// delete_contact workflow needs delete, and bulk_delete too when it enrolls the existing
		// records; enrolling a record needs what its actions need.
		{name: "ActivateFlow", pattern: "POST /automation/v4/flows/{name}/activate",
			needs: []crm.Permission{crm.PermWorkflows, crm.PermDelete, crm.PermBulkDelete},
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{flowPath + "/activate", map[string]any{"enrollExisting": true}}
			}, ok: 200, other: 404, enqueues: enqueuesBackfill},
		{name: "ActivateFlowNoBackfill", pattern: "POST /automation/v4/flows/{name}/activate",
			needs: []crm.Permission{crm.PermWorkflows, crm.PermDelete},
			req: func(matrixFixture) matrixRequest {
				return matrixRequest{flowPath + "/activate", map[string]any{"enrollExisting": false}}
			}, ok: 200, other: 404},
		{name: "PauseFlow", pattern: "POST /automation/v4/flows/{name}/pause", needs: wf,
			req: path(flowPath + "/pause"), ok: 200, other: 404},
		{name: "PreviewFlow", pattern: "GET /automation/v4/flows/{name}/preview", needs: read,
			req: path(flowPath + "/preview"), ok: 200, other: 404, readOnly: true},
		{name: "FlowHistory", pattern: "GET /automation/v4/flows/{name}/history", needs: read,
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{path: flowPath + "/history?recordId=" + f.c2}
			},
			ok: 200, other: 404, readOnly: true},
		{name: "EnrollRecord", pattern: "POST /automation/v4/flows/{name}/enrollments", needs: []crm.Permission{crm.PermWorkflows, crm.PermDelete},
			req: func(f matrixFixture) matrixRequest {
				return matrixRequest{flowPath + "/enrollments", map[string]any{"recordId": f.c1}}
			}, ok: 204, other: 404, enqueues: enqueuesSteps},
	}
}

// The kinds of matrix callers.
const (
	callerUser        = iota // a user of the fixture's tenant with the caller's permissions
	callerNoToken            // no Authorization header
	callerBadToken           // a well-formed token of the fixture's tenant that does not exist
	callerOtherTenant        // a user with every permission in another tenant
	callerDisabled           // a user of the fixture's tenant with every permission, disabled
	callerExpired            // an expired token of a user of the fixture's tenant with every permission
	callerRevoked            // a revoked token of a user of the fixture's tenant with every permission
)

// matrixCaller is one column of the permission matrix.
type matrixCaller struct {
	name  string
	kind  int
	perms crm.Permissions
}

// matrixCallers are the callers of the matrix: no token, a bad token, another tenant's user, a
// disabled user, an expired token and a revoked token (each of a user with every permission), and
// users holding no permission, each permission alone, every set of permissions that an endpoint
// needs together, and every permission.
func matrixCallers(rows []matrixRow) []matrixCaller {
	out := []matrixCaller{
		{name: "NoToken", kind: callerNoToken},
		{name: "BadToken", kind: callerBadToken},
		{name: "OtherTenant", kind: callerOtherTenant},
		{name: "DisabledUser", kind: callerDisabled, perms: crm.AllPermissions},
		{name: "ExpiredToken", kind: callerExpired, perms: crm.AllPermissions},
		{name: "RevokedToken", kind: callerRevoked, perms: crm.AllPermissions},
		{name: "NoPermissions", perms: crm.Permissions{}},
	}
	for _, p := range crm.AllPermissions {
		out = append(out, matrixCaller{name: "Only" + camelPerms(crm.Permissions{p}), perms: crm.Permissions{p}})
	}
	seen := map[string]bool{}
	for _, r := range rows {
		if len(r.needs) < 2 {
			continue
		}
		ps := crm.Permissions(r.needs)
		if name := camelPerms(ps); !seen[name] {
			seen[name] = true
			out = append(out, matrixCaller{name: name, perms: ps})
		}
	}
	return append(out, matrixCaller{name: "AllPermissions", perms: crm.AllPermissions})
}

// camelPerms names a set of permissions in CamelCase: "DeleteAndBulkDelete".
func camelPerms(ps crm.Permissions) string {
	words := make([]string, len(ps))
	for i, p := range ps {
		for _, w := range strings.Split(string(p), "_") {
			words[i] += strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, "And")
}

// missing returns the first permission of needs that perms lacks, the one a 403 names.
func missing(needs []crm.Permission, perms crm.Permissions) (crm.Permission, bool) {
	for _, p := range needs {
		if !perms.Has(p) {
			return p, true
		}
	}
	return "", false
}

// matrixPermIdents maps the identifiers of crm's permission constants to their values, to read
// the permission of each route from the server's source.
var matrixPermIdents = map[string]crm.Permission{
	"PermRead": crm.PermRead, "PermWrite": crm.PermWrite, "PermSchema": crm.PermSchema,
	"PermDelete": crm.PermDelete, "PermBulkDelete": crm.PermBulkDelete,
	"PermPermanentDelete": crm.PermPermanentDelete, "PermRestore": crm.PermRestore,
	"PermWorkflows": crm.PermWorkflows, "PermProtect": crm.PermProtect,
}

// serverRoutes reads every route of package api from its source: each call of handle(pattern,
// crm.PermX, h), with the permission it declares, and of mux.HandleFunc or mux.Handle with a
// pattern literal, which needs no token (""). A route whose pattern or permission is not a literal
// fails the test, so that no route escapes the matrix.
func serverRoutes(t *testing.T) map[string]crm.Permission {
	t.Helper()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	routes := map[string]crm.Permission{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) < 2 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				onMux := false
				if x, ok := sel.X.(*ast.SelectorExpr); ok && x.Sel.Name == "mux" {
					onMux = true
				}
				isHandle := sel.Sel.Name == "handle" && len(call.Args) == 3
				isMux := onMux && (sel.Sel.Name == "HandleFunc" || sel.Sel.Name == "Handle")
				if !isHandle && !isMux {
					return true
				}
				at := fset.Position(call.Pos())
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					// The registration helper itself passes its pattern parameter on.
					if isMux && fd.Name.Name == "handle" && fd.Recv != nil {
						return true
					}
					t.Fatalf("%s: a route whose pattern is not a string literal: the permission matrix cannot read it", at)
				}
				pattern, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				require.NotContains(t, routes, pattern, "%s: route registered twice", at)
				perm := crm.Permission("")
				if isHandle {
					ps, ok := call.Args[1].(*ast.SelectorExpr)
					if !ok {
						t.Fatalf("%s: the permission of route %q is not a crm.Perm constant", at, pattern)
					}
					if perm, ok = matrixPermIdents[ps.Sel.Name]; !ok {
						t.Fatalf("%s: route %q needs %s, which the permission matrix does not know", at, pattern, ps.Sel.Name)
					}
				}
				routes[pattern] = perm
				return true
			})
		}
	}
	require.NotEmpty(t, routes)
	return routes
}

// TestPermissionMatrix calls every endpoint as every caller: no token, a bad token, a disabled
// user's token, an expired token and a revoked token (401),
// another tenant's user (the answer of TestTenantIsolation), and users of no permission, of each
// permission alone, of each set an endpoint needs together, and of every permission (403
// MISSING_SCOPES naming the first permission lacking, or the endpoint's success status). A
// refused call, and any call from another tenant, changes no key of the tenant and enqueues
// nothing, not even a drain of its changes; an allowed one runs in a fresh tenant of its own,
// enqueues the row's work and asks for one drain of its tenant's changes if it is a write (see
// matrixRow.drains), and a read among them changes nothing either. The rows are checked against
// the server's routes, so that a route without a row fails the test.
func TestPermissionMatrix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rows := matrixRows()
	callers := matrixCallers(rows)
	require.Len(t, matrixPermIdents, len(crm.AllPermissions), "a permission is missing from matrixPermIdents")

	// The shared tenant A, which no cell may change, with one user per caller. The expired token
	// is valid for a day by the store's clock, which then moves on by more than a day (Redis's own
	// TTL of the token is a day of real time, so the token key stays for the whole test).
	tokens := map[string]string{}
	for i, c := range callers {
		email := "matrix" + strconv.Itoa(i) + "@m.example"
		switch c.kind {
		case callerUser:
			tokens[c.name] = b.user(t, b.tenantA, email, c.perms.String())
		case callerDisabled:
			tokens[c.name] = b.user(t, b.tenantA, email, c.perms.String())
			_, err := b.store.SetUserDisabled(b.ctx, b.tenantA, email, true, "matrix-admin")
			require.NoError(t, err)
		case callerExpired:
			b.user(t, b.tenantA, email, c.perms.String())
			tok, err := b.store.CreateToken(b.ctx, b.tenantA, email, &crm.TokenOpts{By: "matrix-admin", TTL: 24 * time.Hour})
			require.NoError(t, err)
			tokens[c.name] = tok
		case callerRevoked:
			tokens[c.name] = b.user(t, b.tenantA, email, c.perms.String())
			require.NoError(t, b.store.RevokeToken(b.ctx, b.tenantA, crm.TokenID(tokens[c.name]), "matrix-admin"))
		}
	}
	b.clock.Advance(25 * time.Hour)
	fixA := b.matrixFixture(t, b.tenantA)
	badToken := "cft_" + string(b.tenantA) + "_" + strings.Repeat("0", 64)
	baseline := b.dump(t, b.tenantA)
	drainsA := b.tasks.drainsOf(b.tenantA)

	// Each row names a route, declares the permission the route declares, and its request is
	// served by that route; every route has a row.
	routes := serverRoutes(t)
	srv, err := api.New(b.store, &api.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	covered := map[string]bool{}
	for _, r := range rows {
		perm, ok := routes[r.pattern]
		require.True(t, ok, "row %s: no route %q", r.name, r.pattern)
		if perm == "" {
			require.Empty(t, r.needs, "row %s: route %q needs no token", r.name, r.pattern)
		} else {
			require.NotEmpty(t, r.needs, "row %s", r.name)
			require.Equal(t, perm, r.needs[0], "row %s: route %q needs %s first", r.name, r.pattern, perm)
		}
		req, err := http.NewRequest(r.method(), r.req(fixA).path, nil)
		require.NoError(t, err)
		require.Equal(t, r.pattern, srv.RoutePattern(req), "row %s: its request is served by another route", r.name)
		covered[r.pattern] = true
	}
	for pattern := range routes {
		require.True(t, covered[pattern], "route %q has no row in the permission matrix", pattern)
	}

	t.Run("Cells", func(t *testing.T) {
		t.Parallel()
		for _, row := range rows {
			for _, c := range callers {
				t.Run(row.name+"/"+c.name, func(t *testing.T) {
					t.Parallel()
					b.matrixCell(t, row, c, fixA, tokens[c.name], badToken, baseline, drainsA)
				})
			}
		}
	})
	t.Logf("permission matrix: %d endpoints x %d callers = %d cells over %d routes",
		len(rows), len(callers), len(rows)*len(callers), len(routes))
}

// matrixCell runs one cell of the permission matrix. baseline is every key of tenant A before any
// cell ran, and drainsA how many drains of tenant A's changes had been asked for then.
func (b *testBundle) matrixCell(t *testing.T, row matrixRow, c matrixCaller, fixA matrixFixture, tok, badToken string,
	baseline map[string]string, drainsA int) {
	t.Helper()
	public := len(row.needs) == 0
	lacks, refused := missing(row.needs, c.perms)

	if c.kind == callerUser && !public && !refused {
		// Allowed: in a fresh tenant of its own, so that the success changes no other cell.
		tn := crm.TenantID(redistest.Tenant(t))
		_, err := b.store.CreateTenant(b.ctx, tn, crm.PlanProfessional)
		require.NoError(t, err)
		f := b.matrixFixture(t, tn)
		auth := "Bearer " + b.user(t, tn, "caller@m.example", c.perms.String())
		var before map[string]string
		if row.readOnly {
			before = b.dump(t, tn)
		}
		drainsBefore := b.tasks.drainsOf(tn)
		rq := row.req(f)
		r := b.raw(t, row.method(), rq.path, auth, rq.body)
		require.Equal(t, row.ok, r.status, "body: %s", r.body)
		if row.readOnly {
			require.Equal(t, before, b.dump(t, tn))
		}
		b.requireEnqueued(t, tn, row.enqueues)
		// The drain is asked for beside the answer, not before it: wait for it, then make sure
		// there is no other.
		wantDrains := 0
		if row.drains() {
			wantDrains = 1
			require.Eventually(t, func() bool { return b.tasks.drainsOf(tn)-drainsBefore >= wantDrains },
				5*time.Second, time.Millisecond, "a success of %s asks for a drain of the tenant's changes", row.name)
		}
		require.Equal(t, wantDrains, b.tasks.drainsOf(tn)-drainsBefore, "drains of the tenant's changes asked for")
		return
	}

	// Every other cell calls with tenant A's ids and leaves tenant A as it was.
	var auth string
	want := row.ok
	switch c.kind {
	case callerNoToken:
	case callerBadToken:
		auth = "Bearer " + badToken
	case callerOtherTenant:
		_, t2 := b.freshTenant(t)
		auth = "Bearer " + t2
	default:
		auth = "Bearer " + tok
	}
	switch {
	case public:
	case c.kind == callerNoToken || c.kind == callerBadToken || c.kind == callerDisabled ||
		c.kind == callerExpired || c.kind == callerRevoked:
		want = http.StatusUnauthorized
	case c.kind == callerOtherTenant:
		want = row.other
	default:
		want = http.StatusForbidden
	}
	rq := row.req(fixA)
	r := b.raw(t, row.method(), rq.path, auth, rq.body)
	switch want {
	case http.StatusUnauthorized:
		e := expectError(t, r, want, "INVALID_AUTHENTICATION")
		switch c.kind { // a valid token that is refused says why
		case callerDisabled:
			require.Contains(t, e.Message, "disabled")
		case callerExpired:
			require.Contains(t, e.Message, "expired at")
		}
	case http.StatusForbidden:
		e := expectError(t, r, want, "MISSING_SCOPES")
		// The first permission lacking first; a workflow's refusal names every one it lacks.
		scopes := e.Context["requiredScopes"]
		require.NotEmpty(t, scopes)
		require.Equal(t, string(lacks), scopes[0])
		for _, s := range scopes {
			require.Contains(t, row.needs, crm.Permission(s))
			require.False(t, c.perms.Has(crm.Permission(s)), "%s is not lacking", s)
		}
		require.Contains(t, e.Message, `"`+string(lacks)+`"`)
	case http.StatusNotFound:
		expectError(t, r, want, "OBJECT_NOT_FOUND")
	case http.StatusConflict:
		expectError(t, r, want, "CONFLICT")
	default:
		require.Equal(t, want, r.status, "body: %s", r.body)
	}
	require.Equal(t, baseline, b.dump(t, b.tenantA)) // not a key nor a value of A changed
	b.requireEnqueued(t, b.tenantA, "")
	// Neither a refusal nor a call from another tenant asks for a drain of A's changes; a refusal
	// never starts one, so there is nothing to wait for.
	require.Equal(t, drainsA, b.tasks.drainsOf(b.tenantA), "drains of tenant A's changes asked for")
}

// requireEnqueued checks that the only background work enqueued for tenant tn is one of kind ("" for none).
func (b *testBundle) requireEnqueued(t *testing.T, tn crm.TenantID, kind string) {
	t.Helper()
	got := map[string]int{
		enqueuesJob:      len(b.tasks.jobsOf(tn)),
		enqueuesMail:     len(b.tasks.mailsOf(tn)),
		enqueuesBackfill: len(b.tasks.backfillsOf(tn)),
		enqueuesSteps:    len(b.tasks.stepsOf(tn)),
	}
	want := map[string]int{enqueuesJob: 0, enqueuesMail: 0, enqueuesBackfill: 0, enqueuesSteps: 0}
	if kind != "" {
		require.True(t, slices.Contains([]string{enqueuesJob, enqueuesMail, enqueuesBackfill, enqueuesSteps}, kind))
		want[kind] = 1
	}
	require.Equal(t, want, got)
}
