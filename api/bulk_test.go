package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/worker"
)

// jobAccepted is the 202 of a request that started a bulk job.
type jobAccepted struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	Total        int64  `json:"total"`
	ConfirmCount int64  `json:"confirmCount"`
	Links        struct {
		Status string `json:"status"`
	} `json:"links"`
}

// jobStatus is GET /crm/v3/jobs/{jobId}.
type jobStatus struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	ObjectType   string `json:"objectType"`
	ConfirmCount int64  `json:"confirmCount"`
	Scanned      int64  `json:"scanned"`
	Matched      int64  `json:"matched"`
	Total        int64  `json:"total"`
	Done         int64  `json:"done"`
	Skipped      int64  `json:"skipped"`
	Selection    string `json:"selection"`
	RequestedBy  string `json:"requestedBy"`
	CreatedAt    string `json:"createdAt"`
	UpdatedAt    string `json:"updatedAt"`
	CompletedAt  string `json:"completedAt"`
	Refusal      *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"refusal"`
}

// accepted checks the 202 of a request that started a job of total records, enqueued for the workers.
func (b *testBundle) accepted(t *testing.T, r response, total int64) jobAccepted {
	t.Helper()
	acc := expect[jobAccepted](t, r, http.StatusAccepted)
	require.NotEmpty(t, acc.ID)
	require.Equal(t, "PENDING", acc.Status)
	require.Equal(t, total, acc.Total)
	require.Equal(t, "/crm/v3/jobs/"+acc.ID, acc.Links.Status)
	require.Contains(t, b.tasks.jobsOf(b.tenantA), acc.ID)
	return acc
}

// selecting checks the 202 of a request that started a job selecting by filter or list, of the
// confirmed count, enqueued for the workers.
func (b *testBundle) selecting(t *testing.T, r response, confirm int64) jobAccepted {
	t.Helper()
	acc := expect[jobAccepted](t, r, http.StatusAccepted)
	require.NotEmpty(t, acc.ID)
	require.Equal(t, "SELECTING", acc.Status)
	require.Zero(t, acc.Total)
	require.Equal(t, confirm, acc.ConfirmCount)
	require.Equal(t, "/crm/v3/jobs/"+acc.ID, acc.Links.Status)
	require.Contains(t, b.tasks.jobsOf(b.tenantA), acc.ID)
	return acc
}

// work runs a job of tenant A with the worker's own handler, as a worker process would, and
// returns its status after.
func (b *testBundle) work(t *testing.T, id string) jobStatus {
	t.Helper()
	return b.workIn(t, b.tenantA, id)
}

// workIn runs a job of tenant tn with the worker's own handler and returns its status after.
func (b *testBundle) workIn(t *testing.T, tn crm.TenantID, id string) jobStatus {
	t.Helper()
	opt := b.rdb.Options()
	w, err := worker.New(b.store, asynq.RedisClientOpt{Addr: opt.Addr, DB: opt.DB},
		&worker.Config{Clock: b.clock, Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	require.NoError(t, w.HandleBulkDelete(b.ctx, worker.NewBulkDeleteTask(tn, id, "1")))
	j, err := b.store.Job(b.ctx, tn, id)
	require.NoError(t, err)
	if tn != b.tenantA {
		return jobStatus{ID: j.ID, Status: strings.ToUpper(string(j.State)), Matched: j.Matched, Total: j.Total, Done: j.Done}
	}
	return expect[jobStatus](t, b.call(t, "GET", "/crm/v3/jobs/"+id, tokRead, nil), http.StatusOK)
}

// runJob does what a worker does: it runs a job of tenant A in batches of limit until it is done,
// reading its progress through the API after every batch.
func (b *testBundle) runJob(t *testing.T, id string, limit int) jobStatus {
	t.Helper()
	for range 10_000 {
		j, err := b.store.RunDeleteJobBatch(b.ctx, b.tenantA, id, limit)
		require.NoError(t, err)
		st := expect[jobStatus](t, b.call(t, "GET", "/crm/v3/jobs/"+id, tokRead, nil), http.StatusOK)
		require.Equal(t, j.Done, st.Done)
		require.LessOrEqual(t, st.Done+st.Skipped, st.Total)
		if j.State == crm.JobDone {
			require.Equal(t, "COMPLETE", st.Status)
			return st
		}
		require.Equal(t, "RUNNING", st.Status)
		require.Empty(t, st.CompletedAt)
	}
	t.Fatalf("job %s did not finish", id)
	return jobStatus{}
}

func TestBulkDeleteByFilter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := "/crm/v3/objects/contacts/bulk-delete"
	var leads, customers []string
	for i := range 5 {
		leads = append(leads, string(b.contact(t, map[string]string{"firstname": fmt.Sprint("Lead ", i), "lifecyclestage": "lead"})))
	}
	for i := range 2 {
		customers = append(customers, string(b.contact(t, map[string]string{"firstname": fmt.Sprint("Customer ", i), "lifecyclestage": "customer"})))
	}
	filter := `lifecyclestage == "lead"`

	// The request answers at once with a job that selects in the worker; it deletes nothing.
	acc := b.selecting(t, b.call(t, "POST", path, tokAll, map[string]any{"filter": filter, "confirmCount": 4}), 4)
	st := expect[jobStatus](t, b.call(t, "GET", acc.Links.Status, tokRead, nil), http.StatusOK)
	require.Equal(t, jobStatus{ID: acc.ID, Status: "SELECTING", ObjectType: "contacts", ConfirmCount: 4, Selection: "records matching a filter",
		RequestedBy: "all@a.example", CreatedAt: crm.FormatDatetime(b.clock.Now()), UpdatedAt: crm.FormatDatetime(b.clock.Now())}, st)

	// The wrong count: the job ends refused with both numbers, and nothing is deleted.
	st = b.work(t, acc.ID)
	require.Equal(t, "REFUSED", st.Status)
	require.EqualValues(t, 5, st.Matched)
	require.EqualValues(t, 7, st.Scanned)
	require.Zero(t, st.Total)
	require.Zero(t, st.Done)
	require.NotNil(t, st.Refusal)
	require.Equal(t, "COUNT_MISMATCH", st.Refusal.Code)
	require.Contains(t, st.Refusal.Message, "you confirmed deleting 4 records but 5 match now")
	require.NotEmpty(t, st.CompletedAt)
	for _, id := range append(append([]string{}, leads...), customers...) {
		b.requireLive(t, crm.Contacts, id, true)
	}
	require.Zero(t, b.rdb.Exists(b.ctx, redisstore.JobSelectedKey(b.tenantA, acc.ID), redisstore.JobPendingKey(b.tenantA, acc.ID)).Val())

	// The right count: selected, then deleted, by the worker.
	b.clock.Advance(time.Minute)
	acc = b.selecting(t, b.call(t, "POST", path, tokAll, map[string]any{"filter": filter, "confirmCount": 5}), 5)
	st = b.work(t, acc.ID)
	require.Equal(t, "COMPLETE", st.Status)
	require.Equal(t, int64(5), st.Total)
	require.Equal(t, st.Total, st.Done)
	require.EqualValues(t, 5, st.Matched)
	require.Zero(t, st.Skipped)
	require.Nil(t, st.Refusal)
	require.Equal(t, crm.FormatDatetime(b.clock.Now()), st.CompletedAt)
	for _, id := range leads {
		b.requireLive(t, crm.Contacts, id, false)
		rec := b.archived(t, crm.Contacts, id)
		require.Equal(t, "all@a.example", rec.ArchivedBy)
		require.Equal(t, "bulk", rec.ArchivedVia)
		require.Equal(t, acc.ID, rec.ArchivedRef)
	}
	for _, id := range customers {
		b.requireLive(t, crm.Contacts, id, true)
	}

	// Nothing left matches: a count of 0 selects nothing and completes.
	zero := b.selecting(t, b.call(t, "POST", path, tokAll, map[string]any{"filter": filter, "confirmCount": 0}), 0)
	st = b.work(t, zero.ID)
	require.Equal(t, "COMPLETE", st.Status)
	require.Zero(t, st.Total)
}

// The filter's "now" is the server's clock, not the wall clock.
func TestBulkDeleteFilterUsesTheClock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := b.clock.Now()
	stale := b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Stale", "last_activity_date": crm.FormatDatetime(now.Add(-40 * 24 * time.Hour))})
	fresh := b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Fresh", "last_activity_date": crm.FormatDatetime(now.Add(-10 * 24 * time.Hour))})
	body := map[string]any{"filter": "daysSince(last_activity_date) > 30 && isSet(\"last_activity_date\")", "confirmCount": 1}

	acc := b.selecting(t, b.call(t, "POST", "/crm/v3/objects/0-2/bulk-delete", tokAll, body), 1)
	require.Equal(t, "COMPLETE", b.work(t, acc.ID).Status)
	b.requireLive(t, crm.Companies, string(stale), false)
	b.requireLive(t, crm.Companies, string(fresh), true)

	// 25 days later the other one is stale too.
	b.clock.Advance(25 * 24 * time.Hour)
	acc = b.selecting(t, b.call(t, "POST", "/crm/v3/objects/companies/bulk-delete", tokAll, body), 1)
	require.Equal(t, "COMPLETE", b.work(t, acc.ID).Status)
	b.requireLive(t, crm.Companies, string(fresh), false)
}

func TestBulkDeleteByIDs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := "/crm/v3/objects/deals/bulk-delete"
	d1 := string(b.create(t, b.tenantA, crm.Deals, map[string]string{"dealname": "One"}))
	d2 := string(b.create(t, b.tenantA, crm.Deals, map[string]string{"dealname": "Two"}))
	d3 := string(b.create(t, b.tenantA, crm.Deals, map[string]string{"dealname": "Three"}))
	// Ids of records that are not live and repeated ids are not counted (malformed ids are refused:
	// see TestBulkDeleteMalformedIDs).
	sel := []any{d1, d2, "999999", d1, 12345678}

	e := expectError(t, b.call(t, "POST", path, tokAll, map[string]any{"ids": sel, "confirmCount": 5}), http.StatusConflict, "CONFLICT")
	require.Equal(t, []string{"5"}, e.Errors[0].Context["confirmCount"])
	require.Equal(t, []string{"2"}, e.Errors[0].Context["matched"])

	acc := b.accepted(t, b.call(t, "POST", path, tokAll, map[string]any{"ids": sel, "confirmCount": 2}), 2)
	st := expect[jobStatus](t, b.call(t, "GET", acc.Links.Status, tokRead, nil), http.StatusOK)
	require.Equal(t, "deals", st.ObjectType)
	require.Equal(t, "5 ids", st.Selection)

	// One of them is deleted by someone else before the worker gets to it: it is skipped, not counted twice.
	_, err := b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Deals, []crm.RecordID{crm.RecordID(d2)}, crm.Actor{User: userEmail})
	require.NoError(t, err)
	st = b.runJob(t, acc.ID, 1)
	require.Equal(t, jobStatus{Total: 2, Done: 1, Skipped: 1}, jobStatus{Total: st.Total, Done: st.Done, Skipped: st.Skipped})
	require.Equal(t, "bulk", b.archived(t, crm.Deals, d1).ArchivedVia)
	require.Equal(t, "api", b.archived(t, crm.Deals, d2).ArchivedVia)
	b.requireLive(t, crm.Deals, d3, true)
}

// TestBulkDeleteMalformedIDs sends bulk deletes whose ids mix records with entries that are not
// record ids: each is a 400 naming every such entry by its position, and nothing is stored (no job,
// no operation, no audit entry, no record moved), for real and as a dry run.
func TestBulkDeleteMalformedIDs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := "/crm/v3/objects/contacts/bulk-delete"
	c1 := string(b.contact(t, map[string]string{"firstname": "One"}))
	c2 := string(b.contact(t, map[string]string{"firstname": "Two"}))
	before, raw := b.snapshot(t, b.tenantA), b.dump(t, b.tenantA)
	// "0"+c2 and " "+c2 look like c2 but name no record: the store would not delete c2 for them.
	ids := []any{c1, "abc", c2, "", "-1", "1.5", 1.5, " " + c2, "0" + c2, "0", "999999"}
	bad := []struct{ in, code, value string }{
		{"ids[1]", "INVALID_ID", `"abc"`},
		{"ids[3]", "MISSING_ID", ""},
		{"ids[4]", "INVALID_ID", `"-1"`},
		{"ids[5]", "INVALID_ID", `"1.5"`},
		{"ids[6]", "INVALID_ID", `"1.5"`},
		{"ids[7]", "INVALID_ID", `" ` + c2 + `"`},
		{"ids[8]", "INVALID_ID", `"0` + c2 + `"`},
		{"ids[9]", "INVALID_ID", `"0"`},
	}

	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"Delete", map[string]any{"ids": ids, "confirmCount": 2}},
		{"DryRun", map[string]any{"ids": ids, "dryRun": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := expectError(t, b.call(t, "POST", path, tokAll, tc.body), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Len(t, e.Errors, len(bad), "body: %+v", e)
			for i, want := range bad {
				d := e.Errors[i]
				require.Equal(t, want.in, d.In)
				require.Equal(t, want.code, d.Code)
				require.True(t, strings.HasPrefix(d.Message, want.in+" "), d.Message)
				require.Contains(t, d.Message, want.value)
			}
			require.Contains(t, e.Message, "8 ids are invalid, nothing was deleted: ids[1] \"abc\" is not a record id")
			require.Contains(t, e.Errors[0].Message, "whole numbers without leading zeros")

			// Nothing was made: no job, no operation, no audit entry, nothing enqueued or moved.
			require.Empty(t, expect[page[map[string]any]](t, b.call(t, "GET", "/crm/v3/jobs", tokAll, nil), http.StatusOK).Results)
			require.Empty(t, expect[page[map[string]any]](t, b.call(t, "GET", "/crm/v3/operations", tokAll, nil), http.StatusOK).Results)
			require.Empty(t, b.tasks.jobsOf(b.tenantA))
			b.requireLive(t, crm.Contacts, c1, true)
			b.requireLive(t, crm.Contacts, c2, true)
			require.Equal(t, before, b.snapshot(t, b.tenantA))
			require.Equal(t, raw, b.dump(t, b.tenantA))
		})
	}

	t.Run("OneMalformed", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", path, tokAll, map[string]any{"ids": []any{c1, "ada@example.com"}, "confirmCount": 1}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"ids[1]"}, e.in())
		require.True(t, strings.HasPrefix(e.Message, `ids[1] "ada@example.com" is not a record id`), e.Message)
		require.True(t, strings.HasSuffix(e.Message, ": nothing was deleted"), e.Message)
		require.Empty(t, b.tasks.jobsOf(b.tenantA))
		b.requireLive(t, crm.Contacts, c1, true)
	})
}

func TestBulkDeleteByList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l, err := b.store.CreateList(b.ctx, b.tenantA, "Churned", crm.Contacts)
	require.NoError(t, err)
	m1, m2 := b.contact(t, map[string]string{"firstname": "M1"}), b.contact(t, map[string]string{"firstname": "M2"})
	outsider := b.contact(t, map[string]string{"firstname": "Outsider"})
	_, _, err = b.store.AddListMembers(b.ctx, b.tenantA, l.ID, []crm.RecordID{m1, m2})
	require.NoError(t, err)

	acc := b.selecting(t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll,
		map[string]any{"listId": string(l.ID), "confirmCount": 2}), 2)
	st := b.work(t, acc.ID)
	require.Equal(t, "COMPLETE", st.Status)
	require.Equal(t, int64(2), st.Done)
	for _, id := range []crm.RecordID{m1, m2} {
		rec := b.archived(t, crm.Contacts, string(id))
		require.Equal(t, "list", rec.ArchivedVia)
		require.Equal(t, string(l.ID), rec.ArchivedRef)
	}
	b.requireLive(t, crm.Contacts, string(outsider), true)
	got := expect[listResponse](t, b.call(t, "GET", "/crm/v3/lists/"+string(l.ID), tokRead, nil), http.StatusOK)
	require.Equal(t, string(l.ID), got.List.ListID) // the list stays

	// A list of companies cannot select contacts.
	cl, err := b.store.CreateList(b.ctx, b.tenantA, "Accounts", crm.Companies)
	require.NoError(t, err)
	before := b.snapshot(t, b.tenantA)
	e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll,
		map[string]any{"listId": string(cl.ID), "confirmCount": 0}), http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, []string{"listId"}, e.in())
	require.Equal(t, before, b.snapshot(t, b.tenantA))
}

// TestBulkDeleteRefused sends bulk deletes that cannot succeed: each is an error naming the field,
// and nothing of the tenant changes.
func TestBulkDeleteRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := "/crm/v3/objects/contacts/bulk-delete"
	c := string(b.contact(t, map[string]string{"lifecyclestage": "lead"}))
	before := b.snapshot(t, b.tenantA)
	tooMany := make([]string, 10_001)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint(i + 1)
	}

	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
		in     string
		msg    []string
	}{
		{"NoSelection", path, map[string]any{"confirmCount": 1}, http.StatusBadRequest, "ids,filter,listId",
			[]string{"exactly one", `"ids"`, `"filter"`, `"listId"`}},
		{"TwoSelections", path, map[string]any{"ids": []string{c}, "filter": "true", "confirmCount": 1}, http.StatusBadRequest,
			"ids,filter,listId", []string{"exactly one", "has 2"}},
		{"NoConfirmCount", path, map[string]any{"ids": []string{c}}, http.StatusBadRequest, "confirmCount", []string{"required"}},
		{"NullConfirmCount", path, map[string]any{"ids": []string{c}, "confirmCount": nil}, http.StatusBadRequest, "confirmCount", []string{"required"}},
		{"NegativeConfirmCount", path, map[string]any{"ids": []string{c}, "confirmCount": -1}, http.StatusBadRequest, "confirmCount", []string{"-1"}},
		{"FractionalConfirmCount", path, map[string]any{"ids": []string{c}, "confirmCount": 1.5}, http.StatusBadRequest, "confirmCount", []string{"1.5"}},
		{"StringConfirmCount", path, map[string]any{"ids": []string{c}, "confirmCount": "1"}, http.StatusBadRequest, "confirmCount", []string{"whole number"}},
		{"EmptyIDs", path, map[string]any{"ids": []string{}, "confirmCount": 0}, http.StatusBadRequest, "ids", []string{"empty"}},
		{"TooManyIDs", path, map[string]any{"ids": tooMany, "confirmCount": 1}, http.StatusBadRequest, "ids", []string{"10001", "10000"}},
		{"EmptyFilter", path, map[string]any{"filter": " ", "confirmCount": 1}, http.StatusBadRequest, "filter", []string{"empty"}},
		{"UnknownProperty", path, map[string]any{"filter": `shoe_size > 3`, "confirmCount": 1}, http.StatusBadRequest, "filter",
			[]string{"1:1", "shoe_size"}},
		{"SyntaxErrorOnLine2", path, map[string]any{"filter": "lifecyclestage == \"lead\" &&\n  num_notes >", "confirmCount": 1},
			http.StatusBadRequest, "filter", []string{"2:"}},
		{"NotBoolean", path, map[string]any{"filter": `firstname`, "confirmCount": 1}, http.StatusBadRequest, "filter", []string{"1:"}},
		{"UnknownType", "/crm/v3/objects/spaceships/bulk-delete", map[string]any{"ids": []string{c}, "confirmCount": 1}, http.StatusNotFound,
			"object type", []string{"spaceships"}},
		{"UnknownList", path, map[string]any{"listId": "999", "confirmCount": 0}, http.StatusNotFound, "list", []string{"999"}},
		{"MalformedList", path, map[string]any{"listId": "x", "confirmCount": 0}, http.StatusNotFound, "list", []string{"x"}},
		{"UnknownField", path, map[string]any{"ids": []string{c}, "confirmCount": 1, "force": true}, http.StatusBadRequest, "force",
			[]string{"unknown field"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cat := "VALIDATION_ERROR"
			if tc.status == http.StatusNotFound {
				cat = "OBJECT_NOT_FOUND"
			}
			e := expectError(t, b.call(t, "POST", tc.path, tokAll, tc.body), tc.status, cat)
			require.Equal(t, []string{tc.in}, e.in())
			for _, m := range tc.msg {
				require.Contains(t, e.Message, m)
			}
			require.Equal(t, before, b.snapshot(t, b.tenantA))
			require.Empty(t, b.tasks.jobsOf(b.tenantA))
		})
	}

	t.Run("FilterErrorCarriesThePosition", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", path, tokAll, map[string]any{"filter": `lifecyclestage == "lead" && nope`, "confirmCount": 1}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "1:29")
		d := e.Errors[0]
		require.Equal(t, "filter", d.In)
		require.Equal(t, "INVALID_FILTER", d.Code)
		require.Equal(t, []string{"1"}, d.Context["line"])
		require.Equal(t, []string{"29"}, d.Context["column"])
		require.Len(t, d.Context["snippet"], 1)
		require.Contains(t, d.Context["snippet"][0], `lifecyclestage == "lead" && nope`)
		require.Contains(t, d.Context["snippet"][0], "^")
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	// The checks against the schema (enumeration options, isSet's argument) answer in the same shape.
	t.Run("FilterCheckedAgainstTheSchema", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ filter, col, msg string }{
			{`email_bounced && lifecyclestage == "Customer"`, "36", `"Customer" is not an option of lifecyclestage: did you mean "customer" (label "Customer")?`},
			{`isSet(last_activity_date)`, "7", `isSet takes the property's name in quotes: write isSet("last_activity_date")`},
			{`contains(email, "@acme")`, "1", `contains is an operator, not a function: write email contains "@acme"`},
		} {
			e := expectError(t, b.call(t, "POST", path, tokAll, map[string]any{"filter": tc.filter, "confirmCount": 1}),
				http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, "filter is invalid at 1:"+tc.col+" (line:column): "+tc.msg, e.Message)
			d := e.Errors[0]
			require.Equal(t, "filter", d.In)
			require.Equal(t, "INVALID_FILTER", d.Code)
			require.Equal(t, []string{tc.col}, d.Context["column"])
			require.Len(t, d.Context["snippet"], 1)
			require.Contains(t, d.Context["snippet"][0], tc.filter)
		}
		require.Equal(t, before, b.snapshot(t, b.tenantA))
		require.Empty(t, b.tasks.jobsOf(b.tenantA))
	})
}

func TestDeleteListRecords(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("MembersNotTheList", func(t *testing.T) {
		t.Parallel()
		b := setup(t) // its own tenant: the refusal below compares snapshots
		l, err := b.store.CreateList(b.ctx, b.tenantA, "Old leads", crm.Contacts)
		require.NoError(t, err)
		var members []crm.RecordID
		for i := range 3 {
			members = append(members, b.contact(t, map[string]string{"firstname": fmt.Sprint("Member ", i)}))
		}
		outsider := b.contact(t, map[string]string{"firstname": "Outsider"})
		_, _, err = b.store.AddListMembers(b.ctx, b.tenantA, l.ID, members)
		require.NoError(t, err)
		path := "/crm/v3/lists/" + string(l.ID) + "/records/delete"

		refused := b.selecting(t, b.call(t, "POST", path, tokAll, map[string]any{"confirmCount": 2}), 2)
		st := b.work(t, refused.ID)
		require.Equal(t, "REFUSED", st.Status)
		require.EqualValues(t, 3, st.Matched)
		require.Contains(t, st.Refusal.Message, "you confirmed deleting 2 records but 3 match now")
		for _, id := range members {
			b.requireLive(t, crm.Contacts, string(id), true)
		}

		acc := b.selecting(t, b.call(t, "POST", path, tokAll, map[string]any{"confirmCount": 3}), 3)
		st = b.work(t, acc.ID)
		require.Equal(t, int64(3), st.Done)
		require.Equal(t, "members of list "+string(l.ID), st.Selection)
		for _, id := range members {
			rec := b.archived(t, crm.Contacts, string(id))
			require.Equal(t, "list", rec.ArchivedVia)
			require.Equal(t, string(l.ID), rec.ArchivedRef)
			require.Equal(t, "all@a.example", rec.ArchivedBy)
		}
		b.requireLive(t, crm.Contacts, string(outsider), true)
		got := expect[listResponse](t, b.call(t, "GET", "/crm/v3/lists/"+string(l.ID), tokRead, nil), http.StatusOK)
		require.Equal(t, "Old leads", got.List.Name)
		require.Zero(t, got.List.Size)
	})

	t.Run("Companies", func(t *testing.T) {
		t.Parallel()
		l, err := b.store.CreateList(b.ctx, b.tenantA, "Accounts", crm.Companies)
		require.NoError(t, err)
		co := b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Gone Inc"})
		_, _, err = b.store.AddListMembers(b.ctx, b.tenantA, l.ID, []crm.RecordID{co})
		require.NoError(t, err)
		acc := b.selecting(t, b.call(t, "POST", "/crm/v3/lists/"+string(l.ID)+"/records/delete", tokAll,
			map[string]any{"confirmCount": 1}), 1)
		require.Equal(t, "COMPLETE", b.work(t, acc.ID).Status)
		require.Equal(t, "list", b.archived(t, crm.Companies, string(co)).ArchivedVia)
	})

	t.Run("DeletingTheListKeepsTheMembers", func(t *testing.T) {
		t.Parallel()
		l, err := b.store.CreateList(b.ctx, b.tenantA, "Temporary", crm.Contacts)
		require.NoError(t, err)
		m := b.contact(t, nil)
		_, _, err = b.store.AddListMembers(b.ctx, b.tenantA, l.ID, []crm.RecordID{m})
		require.NoError(t, err)
		r := b.call(t, "DELETE", "/crm/v3/lists/"+string(l.ID), tokAll, nil)
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		b.requireLive(t, crm.Contacts, string(m), true)
	})

	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
		in     string
	}{
		{"UnknownList", "/crm/v3/lists/999/records/delete", map[string]any{"confirmCount": 0}, http.StatusNotFound, "list"},
		{"MalformedList", "/crm/v3/lists/abc/records/delete", map[string]any{"confirmCount": 0}, http.StatusNotFound, "list"},
		{"NoConfirmCount", "/crm/v3/lists/1/records/delete", map[string]any{}, http.StatusBadRequest, "confirmCount"},
		{"ExtraSelection", "/crm/v3/lists/1/records/delete", map[string]any{"confirmCount": 1, "ids": []string{"1"}}, http.StatusBadRequest, "ids"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cat := "VALIDATION_ERROR"
			if tc.status == http.StatusNotFound {
				cat = "OBJECT_NOT_FOUND"
			}
			e := expectError(t, b.call(t, "POST", tc.path, tokAll, tc.body), tc.status, cat)
			require.Equal(t, []string{tc.in}, e.in())
		})
	}
}

func TestGetJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, id := range []string{"999", "abc"} {
		e := expectError(t, b.call(t, "GET", "/crm/v3/jobs/"+id, tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.True(t, strings.Contains(e.Message, "job "+id), e.Message)
	}

	// A job whose creator lost bulk_delete before its first batch: STOPPED, final, and why.
	const who = "gone@a.example"
	_, err := b.store.CreateUser(b.ctx, b.tenantA, who, crm.Permissions{crm.PermDelete, crm.PermBulkDelete}, "admin@a.example")
	require.NoError(t, err)
	ids := []crm.RecordID{b.contact(t, map[string]string{"firstname": "a"}), b.contact(t, map[string]string{"firstname": "b"})}
	job, err := b.store.CreateDeleteJob(b.ctx, b.tenantA, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids, ConfirmCount: 2, By: who})
	require.NoError(t, err)
	_, err = b.store.SetUserPermissions(b.ctx, b.tenantA, who, crm.Permissions{crm.PermDelete}, "admin@a.example")
	require.NoError(t, err)
	_, err = b.store.RunDeleteJobBatch(b.ctx, b.tenantA, job.ID, 500)
	require.NoError(t, err)
	got := expect[api.Job](t, b.call(t, "GET", "/crm/v3/jobs/"+job.ID, tokRead, nil), http.StatusOK)
	require.Equal(t, "STOPPED", got.Status)
	require.NotEmpty(t, got.CompletedAt)
	require.Nil(t, got.Refusal)
	require.NotNil(t, got.Stop)
	require.Equal(t, api.JobStop{Code: crm.StoppedPermission, User: who, Permission: "bulk_delete", Message: got.Stop.Message}, *got.Stop)
	require.Contains(t, got.Stop.Message, "the job's creator "+who+" no longer holds the bulk_delete permission")
	require.Contains(t, got.Stop.Message, "stopped before it moved anything to the recycle bin: its 2 records stay live")
	n, err := b.store.BinSize(b.ctx, b.tenantA, crm.Contacts)
	require.NoError(t, err)
	require.Zero(t, n, "nothing moved")
}
