package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// TestListJobsAndTenant lists the tenant's jobs newest first, in pages, and reads the tenant's plan
// and deletion limit; another tenant's jobs never show.
func TestListJobsAndTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []string
	for range 3 {
		c := string(b.contact(t, map[string]string{"firstname": "x"}))
		acc := b.accepted(t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll, map[string]any{"ids": []string{c}, "confirmCount": 1}), 1)
		ids = append(ids, acc.ID)
		b.clock.Advance(time.Millisecond)
	}
	type job struct {
		ID     string `json:"id"`
		Kind   string `json:"kind"`
		Status string `json:"status"`
	}
	first := expect[page[job]](t, b.call(t, "GET", "/crm/v3/jobs?limit=2", tokAll, nil), http.StatusOK)
	require.Len(t, first.Results, 2)
	require.Equal(t, ids[2], first.Results[0].ID, "newest first")
	require.Equal(t, "bulk_delete", first.Results[0].Kind)
	require.NotNil(t, first.Paging)
	rest := expect[page[job]](t, b.call(t, "GET", "/crm/v3/jobs?limit=2&after="+url.QueryEscape(first.Paging.Next.After), tokAll, nil), http.StatusOK)
	require.Len(t, rest.Results, 1)
	require.Equal(t, ids[0], rest.Results[0].ID)
	require.Nil(t, rest.Paging)
	e := expectError(t, b.call(t, "GET", "/crm/v3/jobs?limit=101", tokAll, nil), http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, []string{"limit"}, e.in())
	e = expectError(t, b.call(t, "GET", "/crm/v3/jobs?after=424242", tokAll, nil), http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, []string{"after"}, e.in())
	other := expect[page[job]](t, b.call(t, "GET", "/crm/v3/jobs", tokBAll, nil), http.StatusOK)
	require.Empty(t, other.Results, "another tenant's jobs")

	type tenant struct {
		ID               string `json:"id"`
		Plan             string `json:"plan"`
		WorkflowsAllowed bool   `json:"workflowsAllowed"`
		DeletionLimit    struct {
			MaxDeletions *int   `json:"maxDeletions"`
			Per          string `json:"per"`
			Unlimited    bool   `json:"unlimited"`
		} `json:"deletionLimit"`
	}
	tn := expect[tenant](t, b.call(t, "GET", "/crm/v3/tenant", tokAll, nil), http.StatusOK)
	require.Equal(t, string(b.tenantA), tn.ID)
	require.NotNil(t, tn.DeletionLimit.MaxDeletions)
	require.Equal(t, crm.DefaultDeletionLimit.Max, *tn.DeletionLimit.MaxDeletions)
	require.Equal(t, "1h", tn.DeletionLimit.Per)
	_, err := b.store.SetPlan(b.ctx, b.tenantA, crm.PlanStarter)
	require.NoError(t, err)
	_, err = b.store.SetDeletionLimit(b.ctx, b.tenantA, crm.DeletionLimit{})
	require.NoError(t, err)
	tn = expect[tenant](t, b.call(t, "GET", "/crm/v3/tenant", tokAll, nil), http.StatusOK)
	require.Equal(t, "starter", tn.Plan)
	require.False(t, tn.WorkflowsAllowed)
	require.True(t, tn.DeletionLimit.Unlimited)
	require.Nil(t, tn.DeletionLimit.MaxDeletions)
}

// TestListBinByOperation pages the recycle bin of one operation alone.
func TestListBinByOperation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c1 := string(b.contact(t, map[string]string{"email": "one@example.com"}))
	c2 := string(b.contact(t, map[string]string{"email": "two@example.com"}))
	c3 := string(b.contact(t, map[string]string{"email": "three@example.com"}))
	r := b.call(t, "POST", "/crm/v3/objects/contacts/batch/archive", tokAll, map[string]any{"inputs": idInputs(c1, c2)})
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	r = b.call(t, "DELETE", "/crm/v3/objects/contacts/"+c3, tokAll, nil)
	require.Equal(t, http.StatusNoContent, r.status)
	type rec struct {
		ID                string `json:"id"`
		ArchivedOperation string `json:"archivedOperation"`
	}
	one := expect[rec](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+c1+"?archived=true", tokAll, nil), http.StatusOK)
	require.NotEmpty(t, one.ArchivedOperation)
	pg := expect[page[rec]](t, b.call(t, "GET", "/crm/v3/objects/contacts?archived=true&limit=1&archivedOperation="+one.ArchivedOperation, tokAll, nil), http.StatusOK)
	require.Len(t, pg.Results, 1)
	require.Equal(t, c1, pg.Results[0].ID)
	require.NotNil(t, pg.Paging)
	pg = expect[page[rec]](t, b.call(t, "GET", "/crm/v3/objects/contacts?archived=true&limit=1&archivedOperation="+one.ArchivedOperation+
		"&after="+url.QueryEscape(pg.Paging.Next.After), tokAll, nil), http.StatusOK)
	require.Len(t, pg.Results, 1)
	require.Equal(t, c2, pg.Results[0].ID)
	// A company binned with one of the operation's contact ids is not the operation's.
	cos, err := b.store.CreateRecords(b.ctx, b.tenantA, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "A"}},
		{Properties: map[string]string{"name": "B"}}, {Properties: map[string]string{"name": "C"}}}, crm.Actor{User: userEmail})
	require.NoError(t, err)
	var coIDs []string
	for _, co := range cos {
		coIDs = append(coIDs, string(co.ID))
	}
	require.Contains(t, coIDs, c1, "ids are counted per type")
	r = b.call(t, "POST", "/crm/v3/objects/companies/batch/archive", tokAll, map[string]any{"inputs": idInputs(coIDs...)})
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	other := expect[page[rec]](t, b.call(t, "GET", "/crm/v3/objects/companies?archived=true&archivedOperation="+one.ArchivedOperation, tokAll, nil), http.StatusOK)
	require.Empty(t, other.Results)
	for query, in := range map[string]string{
		"archivedOperation=" + one.ArchivedOperation: "archivedOperation", // not the bin
		"archived=true&archivedOperation=a%7Bb":      "archivedOperation",
	} {
		e := expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts?"+query, tokAll, nil), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{in}, e.in(), query)
	}
}

// TestListBinFiltered pages the recycle bin by who deleted, how and when; a bad filter is a 400
// naming its parameter.
func TestListBinFiltered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var byAPI, byBulk []crm.RecordID
	for i := range 3 {
		byAPI = append(byAPI, b.contact(t, map[string]string{"email": fmt.Sprintf("api%d@example.com", i)}))
	}
	_, err := b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Contacts, byAPI, crm.Actor{User: "Ann@example.com"})
	require.NoError(t, err)
	b.clock.Advance(48 * time.Hour)
	for i := range 2 {
		byBulk = append(byBulk, b.contact(t, map[string]string{"email": fmt.Sprintf("bulk%d@example.com", i)}))
	}
	_, err = b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Contacts, byBulk, crm.Actor{User: "ben@example.com", Via: crm.ViaBulk, Ref: "4"})
	require.NoError(t, err)
	type rec struct {
		ID          string `json:"id"`
		ArchivedBy  string `json:"archivedBy"`
		ArchivedVia string `json:"archivedVia"`
	}
	ids := func(recs []rec) []crm.RecordID {
		out := []crm.RecordID{}
		for _, r := range recs {
			out = append(out, crm.RecordID(r.ID))
		}
		return out
	}
	day := b.clock.Now().Add(-24 * time.Hour).Format(time.DateOnly) // between the two deletions
	for query, want := range map[string][]crm.RecordID{
		"archivedBy=ANN":                         byAPI,
		"archivedVia=bulk":                       byBulk,
		"archivedAfter=" + day:                   byBulk,
		"archivedBefore=" + day:                  byAPI,
		"archivedBy=example.com&archivedVia=api": byAPI,
		"archivedBy=ann&archivedAfter=" + day:    {},
		"archivedAfter=" + url.QueryEscape(b.clock.Now().Format(time.RFC3339)): byBulk,
	} {
		pg := expect[page[rec]](t, b.call(t, "GET", "/crm/v3/objects/contacts?archived=true&"+query, tokAll, nil), http.StatusOK)
		require.Equal(t, want, ids(pg.Results), query)
	}
	// Two a page: the cursor goes on with the filter.
	pg := expect[page[rec]](t, b.call(t, "GET", "/crm/v3/objects/contacts?archived=true&archivedVia=api&limit=2", tokAll, nil), http.StatusOK)
	require.Equal(t, byAPI[:2], ids(pg.Results))
	require.NotNil(t, pg.Paging)
	pg = expect[page[rec]](t, b.call(t, "GET", pg.Paging.Next.Link, tokAll, nil), http.StatusOK)
	require.Equal(t, byAPI[2:], ids(pg.Results))
	require.Nil(t, pg.Paging)

	for query, in := range map[string]string{
		"archivedBy=ann":                                                   "archivedBy,archivedVia,archivedAfter,archivedBefore", // not the bin
		"archived=true&archivedVia=mail":                                   "archivedVia",
		"archived=true&archivedAfter=soon":                                 "archivedAfter",
		"archived=true&archivedBefore=2026-13-01":                          "archivedBefore",
		"archived=true&archivedAfter=2026-03-02&archivedBefore=2026-03-01": "archivedAfter,archivedBefore",
	} {
		e := expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts?"+query, tokAll, nil), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{in}, e.in(), query)
	}
}

// TestRecordMemberships lists the static lists a record is a member of.
func TestRecordMemberships(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := b.contact(t, map[string]string{"email": "in@example.com"})
	out := b.contact(t, map[string]string{"email": "out@example.com"})
	l, err := b.store.CreateList(b.ctx, b.tenantA, "Churned", crm.Contacts)
	require.NoError(t, err)
	_, _, err = b.store.AddListMembers(b.ctx, b.tenantA, l.ID, []crm.RecordID{in})
	require.NoError(t, err)
	type membership struct {
		ListID string `json:"listId"`
		Name   string `json:"name"`
	}
	got := expect[results[membership]](t, b.call(t, "GET", "/crm/v3/lists/records/contacts/"+string(in)+"/memberships", tokRead, nil), http.StatusOK)
	require.Equal(t, []membership{{string(l.ID), "Churned"}}, got.Results)
	got = expect[results[membership]](t, b.call(t, "GET", "/crm/v3/lists/records/contacts/"+string(out)+"/memberships", tokRead, nil), http.StatusOK)
	require.Empty(t, got.Results)
	expectError(t, b.call(t, "GET", "/crm/v3/lists/records/contacts/999999/memberships", tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	expectError(t, b.call(t, "GET", "/crm/v3/lists/records/contacts/"+string(in)+"/memberships", tokBAll, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
}
