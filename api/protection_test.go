package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// protectionJSON is a rule as the API shows it.
type protectionJSON struct {
	Name       string `json:"name"`
	ObjectType string `json:"objectType"`
	When       string `json:"when"`
	UpdatedBy  string `json:"updatedBy"`
}

// errorJSON is the error body, with the fields the protection tests read.
type errorJSON struct {
	Message  string              `json:"message"`
	Category string              `json:"category"`
	Context  map[string][]string `json:"context"`
	Errors   []struct {
		Code    string              `json:"code"`
		In      string              `json:"in"`
		Context map[string][]string `json:"context"`
	} `json:"errors"`
}

// protectedJob is GET /crm/v3/jobs/{id} with its protected counts.
type protectedJob struct {
	jobStatus
	Protected       int64            `json:"protected"`
	ProtectedByRule map[string]int64 `json:"protectedByRule"`
}

// dryRunJSON is the 200 of a bulk delete's dry run.
type dryRunJSON struct {
	DryRun          bool             `json:"dryRun"`
	Matched         int64            `json:"matched"`
	WouldDelete     int64            `json:"wouldDelete"`
	Protected       int64            `json:"protected"`
	ProtectedByRule map[string]int64 `json:"protectedByRule"`
	Sample          []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"sample"`
	CountMatches *bool `json:"countMatches"`
}

// protect writes a rule as the user with every permission, and checks it was created.
func (b *testBundle) protect(t *testing.T, name, objectType, when string) {
	t.Helper()
	r := b.call(t, "PUT", "/crm/v3/protection/"+name, tokAll, map[string]any{"objectType": objectType, "when": when})
	got := expect[protectionJSON](t, r, http.StatusCreated)
	require.Equal(t, name, got.Name)
}

func TestProtectionRules(t *testing.T) {
	t.Parallel()

	t.Run("CRUDAndAudit", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		start := b.auditAfter(t)
		b.protect(t, "customers", "contacts", `lifecyclestage == "customer"`)
		got := expect[protectionJSON](t, b.call(t, "GET", "/crm/v3/protection/customers", tokRead, nil), http.StatusOK)
		require.Equal(t, protectionJSON{Name: "customers", ObjectType: "contacts", When: `lifecyclestage == "customer"`, UpdatedBy: "all@a.example"}, got)
		// Replaced: 200.
		r := b.call(t, "PUT", "/crm/v3/protection/customers", tokAll, map[string]any{"objectType": "contacts", "when": `lifecyclestage == "evangelist"`})
		require.Equal(t, `lifecyclestage == "evangelist"`, expect[protectionJSON](t, r, http.StatusOK).When)
		list := expect[page[protectionJSON]](t, b.call(t, "GET", "/crm/v3/protection", tokRead, nil), http.StatusOK)
		require.Len(t, list.Results, 1)
		r = b.call(t, "DELETE", "/crm/v3/protection/customers", tokAll, nil)
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		expect[errorJSON](t, b.call(t, "GET", "/crm/v3/protection/customers", tokRead, nil), http.StatusNotFound)
		expect[errorJSON](t, b.call(t, "DELETE", "/crm/v3/protection/customers", tokAll, nil), http.StatusNotFound)

		entries, _, err := b.store.Audit(b.ctx, b.tenantA, &crm.AuditOpts{After: start})
		require.NoError(t, err)
		var actions []string
		for _, e := range entries {
			require.Equal(t, "customers", e.Rule)
			require.Equal(t, crm.Contacts, e.ObjectType)
			require.Equal(t, "all@a.example", e.By)
			actions = append(actions, e.Action)
		}
		require.Equal(t, []string{crm.AuditProtectionPut, crm.AuditProtectionPut, crm.AuditProtectionDelete}, actions)
		// The API's audit trail shows them with the rule's name.
		pg := expect[page[map[string]any]](t, b.call(t, "GET", "/crm/v3/audit?after="+start, tokAll, nil), http.StatusOK)
		require.Len(t, pg.Results, 3)
		require.Equal(t, "customers", pg.Results[0]["rule"])
	})

	t.Run("BadExpressionIs400WithPosition", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		before := b.dump(t, b.tenantA)
		r := b.call(t, "PUT", "/crm/v3/protection/bad", tokAll, map[string]any{"objectType": "contacts", "when": "lifecyclestage == \"customer\" &&\n  no_such_property > 3"})
		e := expect[errorJSON](t, r, http.StatusBadRequest)
		require.Contains(t, e.Message, "when is invalid at 2:3 (line:column)")
		require.Equal(t, "INVALID_EXPRESSION", e.Errors[0].Code)
		require.Equal(t, "when", e.Errors[0].In)
		require.Equal(t, []string{"2"}, e.Errors[0].Context["line"])
		require.Equal(t, []string{"3"}, e.Errors[0].Context["column"])
		// Not boolean, a bad type, a bad name, missing fields: 400s, nothing changed.
		for _, body := range []map[string]any{
			{"objectType": "contacts", "when": `firstname`},
			{"objectType": "nosuchtype", "when": `true`},
			{"objectType": "contacts"},
			{"when": `true`},
		} {
			expect[errorJSON](t, b.call(t, "PUT", "/crm/v3/protection/bad", tokAll, body), http.StatusBadRequest)
		}
		e = expect[errorJSON](t, b.call(t, "PUT", "/crm/v3/protection/Bad%20Name", tokAll, map[string]any{"objectType": "contacts", "when": "true"}), http.StatusBadRequest)
		require.Contains(t, e.Message, "lowercase letters, digits, dashes or underscores")
		require.Equal(t, before, b.dump(t, b.tenantA))
	})

	t.Run("PermissionRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.protect(t, "keep", "contacts", `true`)
		// A user with every other permission still needs protect.
		var others []string
		for _, p := range crm.AllPermissions {
			if p != crm.PermProtect {
				others = append(others, string(p))
			}
		}
		b.tokens["noprotect"] = b.user(t, b.tenantA, "noprotect@a.example", strings.Join(others, ","))
		before := b.dump(t, b.tenantA)
		for _, req := range []struct{ method, path string }{{"PUT", "/crm/v3/protection/other"}, {"DELETE", "/crm/v3/protection/keep"}} {
			e := expect[errorJSON](t, b.call(t, req.method, req.path, "noprotect", map[string]any{"objectType": "contacts", "when": "true"}), http.StatusForbidden)
			require.Equal(t, []string{"protect"}, e.Context["requiredScopes"])
		}
		require.Equal(t, before, b.dump(t, b.tenantA))
	})
}

func TestProtectedDeletes(t *testing.T) {
	t.Parallel()

	t.Run("SingleDeleteRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		vip := string(b.contact(t, map[string]string{"email": "vip@example.com", "lifecyclestage": "customer"}))
		lead := string(b.contact(t, map[string]string{"email": "lead@example.com", "lifecyclestage": "lead"}))
		b.protect(t, "customers", "contacts", `lifecyclestage == "customer"`)
		before := b.dump(t, b.tenantA)
		e := expect[errorJSON](t, b.call(t, "DELETE", "/crm/v3/objects/contacts/"+vip, tokDelete, nil), http.StatusConflict)
		require.Equal(t, "CONFLICT", e.Category)
		require.Equal(t, "PROTECTED", e.Errors[0].Code)
		require.Contains(t, e.Message, `protected by rule "customers"`)
		require.Equal(t, []string{vip}, e.Context["id"])
		require.Equal(t, []string{"customers"}, e.Context["rule"])
		require.Equal(t, before, b.dump(t, b.tenantA))
		b.requireLive(t, crm.Contacts, vip, true)
		// A record the rule does not match is deleted as before.
		require.Equal(t, http.StatusNoContent, b.call(t, "DELETE", "/crm/v3/objects/contacts/"+lead, tokDelete, nil).status)
		b.requireLive(t, crm.Contacts, lead, false)
	})

	t.Run("PermanentDeleteNotHeldBack", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		vip := string(b.contact(t, map[string]string{"email": "vip@example.com", "lifecyclestage": "customer"}))
		b.protect(t, "customers", "contacts", `lifecyclestage == "customer"`)
		// A privacy erasure is not the tenant's to refuse: the rule that refuses a delete lets it through.
		require.Equal(t, http.StatusConflict, b.call(t, "DELETE", "/crm/v3/objects/contacts/"+vip, tokAll, nil).status)
		r := b.call(t, "POST", "/crm/v3/objects/contacts/gdpr-delete", tokAll, map[string]any{"objectId": vip})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		b.requireLive(t, crm.Contacts, vip, false)
		require.Equal(t, http.StatusNotFound, b.call(t, "GET", "/crm/v3/objects/contacts/"+vip+"?archived=true", tokRead, nil).status,
			"not in the bin either")
	})

	t.Run("BatchRefusedWhole", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c1 := string(b.contact(t, map[string]string{"lifecyclestage": "customer"}))
		c2 := string(b.contact(t, map[string]string{"lifecyclestage": "lead"}))
		c3 := string(b.contact(t, map[string]string{"lifecyclestage": "customer"}))
		b.protect(t, "customers", "contacts", `lifecyclestage == "customer"`)
		before := b.dump(t, b.tenantA)
		r := b.call(t, "POST", "/crm/v3/objects/contacts/batch/archive", tokAll, map[string]any{"inputs": idInputs(c1, c2, c3)})
		e := expect[errorJSON](t, r, http.StatusConflict)
		require.Equal(t, "PROTECTED", e.Errors[0].Code)
		require.Equal(t, []string{c1, c3}, e.Context["id"])
		require.Equal(t, []string{"customers", "customers"}, e.Context["rule"])
		require.Contains(t, e.Message, "nothing was deleted")
		require.Equal(t, before, b.dump(t, b.tenantA))
		// Without the protected ones, the batch goes through.
		r = b.call(t, "POST", "/crm/v3/objects/contacts/batch/archive", tokAll, map[string]any{"inputs": idInputs(c2)})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	})

	t.Run("BulkJobSkipsProtected", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var leads, customers []string
		for i := range 4 {
			leads = append(leads, string(b.contact(t, map[string]string{"firstname": fmt.Sprint("Lead", i), "lifecyclestage": "lead"})))
		}
		for i := range 3 {
			customers = append(customers, string(b.contact(t, map[string]string{"firstname": fmt.Sprint("Cust", i), "lifecyclestage": "customer"})))
		}
		b.contact(t, map[string]string{"lifecyclestage": "subscriber"})
		b.protect(t, "customers", "contacts", `lifecyclestage == "customer"`)
		path := "/crm/v3/objects/contacts/bulk-delete"
		filter := `lifecyclestage in ["lead", "customer"]`

		// Confirming every match (7) is refused: only the 4 leads would be deleted.
		acc := b.selecting(t, b.call(t, "POST", path, tokAll, map[string]any{"filter": filter, "confirmCount": 7}), 7)
		b.work(t, acc.ID)
		j := expect[protectedJob](t, b.call(t, "GET", "/crm/v3/jobs/"+acc.ID, tokRead, nil), http.StatusOK)
		require.Equal(t, "REFUSED", j.Status)
		require.Equal(t, "COUNT_MISMATCH", j.Refusal.Code)
		require.Contains(t, j.Refusal.Message, "you confirmed deleting 7 records but 4 match now, not counting 3 (customers: 3) protected records")
		require.EqualValues(t, 3, j.Protected)
		require.Equal(t, map[string]int64{"customers": 3}, j.ProtectedByRule)
		for _, id := range append(slicesClone(leads), customers...) {
			b.requireLive(t, crm.Contacts, id, true)
		}

		// Confirming the leads only is accepted: the job deletes them and names what it skipped.
		acc = b.selecting(t, b.call(t, "POST", path, tokAll, map[string]any{"filter": filter, "confirmCount": 4}), 4)
		b.work(t, acc.ID)
		j = expect[protectedJob](t, b.call(t, "GET", "/crm/v3/jobs/"+acc.ID, tokRead, nil), http.StatusOK)
		require.Equal(t, "COMPLETE", j.Status)
		require.EqualValues(t, 4, j.Done)
		require.EqualValues(t, 4, j.Matched)
		require.EqualValues(t, 3, j.Protected)
		require.Equal(t, map[string]int64{"customers": 3}, j.ProtectedByRule)
		for _, id := range leads {
			b.requireLive(t, crm.Contacts, id, false)
		}
		for _, id := range customers {
			b.requireLive(t, crm.Contacts, id, true)
		}
	})

	t.Run("BulkByIDsLeavesProtectedOut", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		cust := string(b.contact(t, map[string]string{"lifecyclestage": "customer"}))
		lead := string(b.contact(t, map[string]string{"lifecyclestage": "lead"}))
		b.protect(t, "customers", "contacts", `lifecyclestage == "customer"`)
		path := "/crm/v3/objects/contacts/bulk-delete"
		e := expect[errorJSON](t, b.call(t, "POST", path, tokAll, map[string]any{"ids": []string{cust, lead}, "confirmCount": 2}), http.StatusConflict)
		require.Contains(t, e.Message, "1 (customers: 1) protected")
		require.Equal(t, []string{"1"}, e.Context["protected"])
		acc := b.accepted(t, b.call(t, "POST", path, tokAll, map[string]any{"ids": []string{cust, lead}, "confirmCount": 1}), 1)
		j := expect[protectedJob](t, b.call(t, "GET", "/crm/v3/jobs/"+acc.ID, tokRead, nil), http.StatusOK)
		require.EqualValues(t, 1, j.Protected)
		require.Equal(t, map[string]int64{"customers": 1}, j.ProtectedByRule)
		b.work(t, acc.ID)
		b.requireLive(t, crm.Contacts, cust, true)
		b.requireLive(t, crm.Contacts, lead, false)
	})

	t.Run("ListJobSkipsProtected", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		cust := b.contact(t, map[string]string{"lifecyclestage": "customer"})
		lead := b.contact(t, map[string]string{"lifecyclestage": "lead"})
		l, err := b.store.CreateList(b.ctx, b.tenantA, "mixed", crm.Contacts)
		require.NoError(t, err)
		_, _, err = b.store.AddListMembers(b.ctx, b.tenantA, l.ID, []crm.RecordID{cust, lead})
		require.NoError(t, err)
		b.protect(t, "customers", "contacts", `lifecyclestage == "customer"`)
		path := "/crm/v3/lists/" + string(l.ID) + "/records/delete"
		dr := expect[dryRunJSON](t, b.call(t, "POST", path, tokAll, map[string]any{"dryRun": true}), http.StatusOK)
		require.EqualValues(t, 1, dr.WouldDelete)
		require.EqualValues(t, 1, dr.Protected)
		acc := b.selecting(t, b.call(t, "POST", path, tokAll, map[string]any{"confirmCount": 1}), 1)
		b.work(t, acc.ID)
		j := expect[protectedJob](t, b.call(t, "GET", "/crm/v3/jobs/"+acc.ID, tokRead, nil), http.StatusOK)
		require.Equal(t, "COMPLETE", j.Status)
		require.EqualValues(t, 1, j.Done)
		require.Equal(t, map[string]int64{"customers": 1}, j.ProtectedByRule)
		b.requireLive(t, crm.Contacts, string(cust), true)
		b.requireLive(t, crm.Contacts, string(lead), false)
	})

	t.Run("DryRunHasNoSideEffect", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for i := range 12 {
			b.contact(t, map[string]string{"firstname": "Lead", "lastname": fmt.Sprint(i), "lifecyclestage": "lead"})
		}
		b.contact(t, map[string]string{"email": "noname@example.com", "lifecyclestage": "lead", "hs_lead_status": "open"})
		for range 2 {
			b.contact(t, map[string]string{"lifecyclestage": "customer"})
		}
		b.protect(t, "customers", "contacts", `lifecyclestage == "customer"`)
		b.protect(t, "open-leads", "contacts", `hs_lead_status == "open"`)
		before := b.dump(t, b.tenantA)
		jobs := len(b.tasks.jobsOf(b.tenantA))
		r := b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll,
			map[string]any{"filter": `lifecyclestage in ["lead", "customer"]`, "dryRun": true, "confirmCount": 12})
		dr := expect[dryRunJSON](t, r, http.StatusOK)
		require.True(t, dr.DryRun)
		require.EqualValues(t, 15, dr.Matched)
		require.EqualValues(t, 12, dr.WouldDelete)
		require.EqualValues(t, 3, dr.Protected)
		require.Equal(t, map[string]int64{"customers": 2, "open-leads": 1}, dr.ProtectedByRule)
		require.Len(t, dr.Sample, 10)
		require.Equal(t, "Lead 0", dr.Sample[0].Name)
		require.True(t, *dr.CountMatches)
		// A reader gets the same answer: a dry run changes nothing, so it needs read alone.
		r = b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokRead,
			map[string]any{"filter": `lifecyclestage in ["lead", "customer"]`, "dryRun": true})
		require.Equal(t, dr.WouldDelete, expect[dryRunJSON](t, r, http.StatusOK).WouldDelete)
		// Nothing stored, nothing enqueued, nothing audited.
		require.Equal(t, before, b.dump(t, b.tenantA))
		require.Len(t, b.tasks.jobsOf(b.tenantA), jobs)
	})
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func TestPreviewCountsProtected(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.contact(t, map[string]string{"email_bounced": "true", "lifecyclestage": "customer"})
	b.contact(t, map[string]string{"email_bounced": "true", "lifecyclestage": "lead"})
	b.contact(t, map[string]string{"email_bounced": "false", "lifecyclestage": "customer"})
	b.protect(t, "customers", "contacts", `lifecyclestage == "customer"`)
	type previewProtected struct {
		Matched         int64            `json:"matched"`
		Protected       int64            `json:"protected"`
		ProtectedByRule map[string]int64 `json:"protectedByRule"`
	}
	out := expect[previewProtected](t, b.call(t, "POST", "/automation/v4/flows/preview", tokRead, yamlBody(bouncedFlow("bounced"))), http.StatusOK)
	require.EqualValues(t, 2, out.Matched)
	require.EqualValues(t, 1, out.Protected)
	require.Equal(t, map[string]int64{"customers": 1}, out.ProtectedByRule)
}

// racingArchive writes, once, between a delete's protection check and its move.
type racingArchive struct {
	*redisstore.Store
	once  sync.Once
	write func()
}

func (s *racingArchive) ArchiveChecked(ctx context.Context, t crm.TenantID, o crm.ObjectType, recs []crm.Record, by crm.Actor, opts crm.CheckedArchive) (crm.ArchiveResult, error) {
	s.once.Do(s.write)
	return s.Store.ArchiveChecked(ctx, t, o, recs, by, opts)
}

// deleteRacing deletes contact one (batch: one and two by batch/archive) through a server whose
// store runs write once between the delete's protection check and its move, and asserts the 409
// naming the rule "customers" and that both contacts are still live.
func (b *testBundle) deleteRacing(t *testing.T, batch bool, one, two crm.RecordID, write func()) {
	t.Helper()
	srv, err := api.New(&racingArchive{Store: b.store, write: write}, &api.Config{Clock: b.clock, Tasks: b.tasks})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	b.url, b.client = ts.URL, ts.Client()
	var r response
	if batch {
		r = b.call(t, "POST", "/crm/v3/objects/contacts/batch/archive", tokAll, map[string]any{"inputs": idInputs(string(one), string(two))})
	} else {
		r = b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(one), tokAll, nil)
	}
	e := expectError(t, r, http.StatusConflict, "CONFLICT")
	require.Contains(t, e.Message, `"customers"`, "batch %v", batch)
	for _, id := range []crm.RecordID{one, two} {
		_, err := b.store.Record(b.ctx, b.tenantA, crm.Contacts, id, nil)
		require.NoError(t, err, "batch %v: contact %s is live", batch, id)
	}
}

// A record made protected between a delete's check and its move is not deleted: the delete reads
// and checks again, and answers 409 PROTECTED; a batch archive moves nothing.
func TestProtectionHoldsAgainstAWriteBeforeTheMove(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.protect(t, "customers", "contacts", `lifecyclestage == "customer"`)
	for _, batch := range []bool{false, true} {
		one := b.contact(t, map[string]string{"lifecyclestage": "lead"})
		two := b.contact(t, map[string]string{"lifecyclestage": "lead"})
		b.deleteRacing(t, batch, one, two, func() {
			_, err := b.store.UpdateRecords(b.ctx, b.tenantA, crm.Contacts,
				[]crm.RecordUpdate{{ID: one, Properties: map[string]string{"lifecyclestage": "customer"}}}, crm.Actor{User: "sales@a.example"})
			require.NoError(t, err)
		})
	}
}

// A rule written between a delete's check and its move (here the tenant's first, so the delete
// checked against none) protects the record all the same: the delete checks again and answers 409.
func TestProtectionHoldsAgainstARuleWrittenBeforeTheMove(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, batch := range []bool{false, true} {
		one := b.contact(t, map[string]string{"lifecyclestage": "customer"})
		two := b.contact(t, map[string]string{"lifecyclestage": "lead"})
		b.deleteRacing(t, batch, one, two, func() {
			_, _, err := b.store.PutProtectionRule(b.ctx, b.tenantA, crm.ProtectionRule{Name: "customers", ObjectType: crm.Contacts,
				When: `lifecyclestage == "customer"`}, "ops@a.example")
			require.NoError(t, err)
		})
		require.NoError(t, b.store.DeleteProtectionRule(b.ctx, b.tenantA, "customers", "ops@a.example"))
	}
}

// A rule that fails at run time on some records (an index past the end of a split, on the contacts
// without an email) protects them in every path, fails closed: a single delete and a batch are
// refused with a message saying the rule cannot be evaluated on the record (not that it matches),
// and a bulk delete's dry run counts what its job then deletes and skips.
func TestRuleFailingOnARecordProtectsIt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	vip := string(b.contact(t, map[string]string{"email": "a@vip.example", "lifecyclestage": "lead"}))
	plain := string(b.contact(t, map[string]string{"email": "b@plain.example", "lifecyclestage": "lead"}))
	noMail := string(b.contact(t, map[string]string{"firstname": "N", "lifecyclestage": "lead"}))
	b.contact(t, map[string]string{"firstname": "M", "lifecyclestage": "lead"})
	b.protect(t, "vip-domain", "contacts", `split(email, "@")[1] == "vip.example"`)
	before := b.dump(t, b.tenantA)

	e := expect[errorJSON](t, b.call(t, "DELETE", "/crm/v3/objects/contacts/"+noMail, tokDelete, nil), http.StatusConflict)
	require.Equal(t, "PROTECTED", e.Errors[0].Code)
	require.Contains(t, e.Message, `protected by rule "vip-domain", which cannot be evaluated on it`)
	require.Contains(t, e.Message, "fix the rule")
	e = expect[errorJSON](t, b.call(t, "DELETE", "/crm/v3/objects/contacts/"+vip, tokDelete, nil), http.StatusConflict)
	require.NotContains(t, e.Message, "cannot be evaluated", "a record the rule matches is protected as before")
	r := b.call(t, "POST", "/crm/v3/objects/contacts/batch/archive", tokAll, map[string]any{"inputs": idInputs(plain, vip, noMail)})
	e = expect[errorJSON](t, r, http.StatusConflict)
	require.Contains(t, e.Message, fmt.Sprintf(`%s (rule "vip-domain"), %s (rule "vip-domain", which cannot be evaluated on it: fix the rule)`, vip, noMail))
	require.Equal(t, before, b.dump(t, b.tenantA))
	require.Contains(t, b.logs.String(), "protection rules cannot be evaluated on some records")

	path := "/crm/v3/objects/contacts/bulk-delete"
	filter := `lifecyclestage == "lead"`
	dr := expect[dryRunJSON](t, b.call(t, "POST", path, tokAll, map[string]any{"filter": filter, "dryRun": true}), http.StatusOK)
	require.EqualValues(t, 4, dr.Matched)
	require.EqualValues(t, 1, dr.WouldDelete)
	require.Equal(t, map[string]int64{"vip-domain": 3}, dr.ProtectedByRule)
	acc := b.selecting(t, b.call(t, "POST", path, tokAll, map[string]any{"filter": filter, "confirmCount": dr.WouldDelete}), dr.WouldDelete)
	b.work(t, acc.ID)
	j := expect[protectedJob](t, b.call(t, "GET", "/crm/v3/jobs/"+acc.ID, tokRead, nil), http.StatusOK)
	require.Equal(t, "COMPLETE", j.Status)
	require.Equal(t, dr.WouldDelete, j.Done)
	require.Equal(t, dr.ProtectedByRule, j.ProtectedByRule)
	b.requireLive(t, crm.Contacts, plain, false)
	b.requireLive(t, crm.Contacts, noMail, true)
	b.requireLive(t, crm.Contacts, vip, true)
}
