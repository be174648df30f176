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

type auditEntry struct {
	Action     string   `json:"action"`
	ObjectType string   `json:"objectType"`
	RecordIDs  []string `json:"recordIds"`
	By         string   `json:"by"`
	Via        string   `json:"via"`
	Ref        string   `json:"ref"`
	At         string   `json:"at"`
}

// auditAfter returns the cursor after the audit entries tenant A has now (the setup's users and
// tokens), so that a test reads only the entries it caused.
func (b *testBundle) auditAfter(t *testing.T) string {
	t.Helper()
	pg := expect[page[map[string]any]](t, b.call(t, "GET", "/crm/v3/audit?limit=1000", tokAll, nil), http.StatusOK)
	require.Nil(t, pg.Paging)
	require.NotEmpty(t, pg.Results, "the setup's users and tokens are audited")
	entries, _, err := b.store.Audit(b.ctx, b.tenantA, &crm.AuditOpts{Limit: 1000})
	require.NoError(t, err)
	return entries[len(entries)-1].ID
}

func TestAudit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := b.auditAfter(t)
	c1 := string(b.contact(t, map[string]string{"email": "one@example.com"}))
	c2 := string(b.contact(t, map[string]string{"email": "two@example.com"}))
	c3 := string(b.contact(t, map[string]string{"email": "three@example.com"}))
	c4 := string(b.contact(t, map[string]string{"email": "four@example.com"}))
	t0 := b.clock.Now()

	// Every way of deleting and restoring, through the API, one minute apart.
	step := func(method, path, who string, body any, status int) {
		t.Helper()
		b.clock.Advance(time.Minute)
		r := b.call(t, method, path, who, body)
		require.Equal(t, status, r.status, "body: %s", r.body)
	}
	step("DELETE", "/crm/v3/objects/contacts/"+c1, tokDelete, nil, http.StatusNoContent)
	step("POST", "/crm/v3/objects/contacts/batch/archive", tokAll, map[string]any{"inputs": idInputs(c2, c3)}, http.StatusNoContent)
	step("POST", "/crm/v3/objects/contacts/batch/restore", tokAll, map[string]any{"inputs": idInputs(c1)}, http.StatusOK)
	step("POST", "/crm/v3/objects/contacts/gdpr-delete", tokAll, map[string]any{"objectId": c2}, http.StatusNoContent)
	b.clock.Advance(time.Minute)
	acc := b.accepted(t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll,
		map[string]any{"ids": []string{c4}, "confirmCount": 1}), 1)
	b.runJob(t, acc.ID, 10)

	at := func(minutes int) string { return crm.FormatDatetime(t0.Add(time.Duration(minutes) * time.Minute)) }
	want := []auditEntry{
		{"archive", "contacts", []string{c1}, "del@a.example", "api", "", at(1)},
		{"archive", "contacts", []string{c2, c3}, "all@a.example", "api", "", at(2)},
		{"restore", "contacts", []string{c1}, "all@a.example", "api", "", at(3)},
		{"permanent_delete", "contacts", []string{c2}, "all@a.example", "api", "", at(4)},
		{"archive", "contacts", []string{c4}, "all@a.example", "bulk", acc.ID, at(5)},
	}
	all := expect[page[auditEntry]](t, b.call(t, "GET", "/crm/v3/audit?after="+start, tokAll, nil), http.StatusOK)
	require.Equal(t, want, all.Results)
	require.Nil(t, all.Paging)

	t.Run("Paging", func(t *testing.T) {
		t.Parallel()
		var got []auditEntry
		after := start
		for range len(want) {
			pg := expect[page[auditEntry]](t, b.call(t, "GET", "/crm/v3/audit?limit=2&after="+url.QueryEscape(after), tokAll, nil), http.StatusOK)
			require.LessOrEqual(t, len(pg.Results), 2)
			got = append(got, pg.Results...)
			if pg.Paging == nil {
				break
			}
			after = pg.Paging.Next.After
			require.Contains(t, pg.Paging.Next.Link, "after="+url.QueryEscape(after))
		}
		require.Equal(t, want, got)
	})

	t.Run("NewestFirstAndFiltered", func(t *testing.T) {
		t.Parallel()
		newest := expect[page[auditEntry]](t, b.call(t, "GET", "/crm/v3/audit?order=newest&limit=3", tokAll, nil), http.StatusOK)
		require.Equal(t, []auditEntry{want[4], want[3], want[2]}, newest.Results)
		require.NotNil(t, newest.Paging)
		more := expect[page[auditEntry]](t, b.call(t, "GET", "/crm/v3/audit?order=newest&limit=2&after="+url.QueryEscape(newest.Paging.Next.After),
			tokAll, nil), http.StatusOK)
		require.Equal(t, []auditEntry{want[1], want[0]}, more.Results)
		restores := expect[page[auditEntry]](t, b.call(t, "GET", "/crm/v3/audit?order=newest&action=restore,permanent_delete", tokAll, nil), http.StatusOK)
		require.Equal(t, []auditEntry{want[3], want[2]}, restores.Results)
		byDel := expect[page[auditEntry]](t, b.call(t, "GET", "/crm/v3/audit?by=DEL@A&after="+start, tokAll, nil), http.StatusOK)
		require.Equal(t, []auditEntry{want[0]}, byDel.Results)
	})

	for _, tc := range []struct {
		name, query, in string
	}{
		{"BadOrder", "order=up", "order"},
		{"UnknownAction", "action=archive,delete", "action"},
		{"LimitZero", "limit=0", "limit"},
		{"LimitTooLarge", "limit=1001", "limit"},
		{"LimitNotANumber", "limit=ten", "limit"},
		{"BadCursor", "after=yesterday", "after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := expectError(t, b.call(t, "GET", "/crm/v3/audit?"+tc.query, tokAll, nil), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{tc.in}, e.in())
		})
	}

	t.Run("UnknownEmailHasNoRecordIDs", func(t *testing.T) {
		t.Parallel()
		rb := setup(t)
		r := rb.call(t, "POST", "/crm/v3/objects/contacts/gdpr-delete", tokAll, map[string]any{"objectId": "ghost@example.com", "idProperty": "email"})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		r = rb.call(t, "GET", "/crm/v3/audit", tokAll, nil)
		require.Equal(t, http.StatusOK, r.status)
		require.Contains(t, string(r.body), `"recordIds":[]`)
		require.NotContains(t, string(r.body), "ghost")
	})
}

// TestAuditUsersAndTokens reads the admins' changes of users and tokens through the API: who did
// what to which user or token, never a token's secret.
func TestAuditUsersAndTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := b.auditAfter(t)
	ctx := b.ctx
	t0 := b.clock.Now()
	_, err := b.store.CreateUser(ctx, b.tenantA, "new@a.example", crm.Permissions{crm.PermRead}, "admin-cli:alice")
	require.NoError(t, err)
	tok, err := b.store.CreateToken(ctx, b.tenantA, "new@a.example", &crm.TokenOpts{By: "admin-cli:alice", TTL: 48 * time.Hour})
	require.NoError(t, err)
	_, err = b.store.SetUserPermissions(ctx, b.tenantA, "new@a.example", crm.Permissions{crm.PermRead, crm.PermWrite}, "admin-cli:bob")
	require.NoError(t, err)
	_, err = b.store.SetUserDisabled(ctx, b.tenantA, "new@a.example", true, "admin-cli:bob")
	require.NoError(t, err)
	_, err = b.store.SetUserDisabled(ctx, b.tenantA, "new@a.example", false, "admin-cli:bob")
	require.NoError(t, err)
	require.NoError(t, b.store.RevokeToken(ctx, b.tenantA, crm.TokenID(tok), "admin-cli:carol"))

	r := b.call(t, "GET", "/crm/v3/audit?after="+start, tokAll, nil)
	require.NotContains(t, string(r.body), tok, "a token's secret is never shown")
	pg := expect[page[map[string]any]](t, r, http.StatusOK)
	at := crm.FormatDatetime(t0)
	id := crm.TokenID(tok)
	common := map[string]any{"objectType": "", "recordIds": []any{}, "via": "", "ref": "", "at": at, "user": "new@a.example"}
	with := func(m map[string]any) map[string]any {
		m["actor"] = m["by"] // an admin, not a workflow: the actor is who made the change
		for k, v := range common {
			if _, ok := m[k]; !ok {
				m[k] = v
			}
		}
		return m
	}
	require.Equal(t, []map[string]any{
		with(map[string]any{"action": "user_create", "by": "admin-cli:alice", "permissions": []any{"read"}}),
		with(map[string]any{"action": "token_create", "by": "admin-cli:alice", "tokenId": id,
			"expiresAt": crm.FormatDatetime(t0.Add(48 * time.Hour))}),
		with(map[string]any{"action": "user_set_perms", "by": "admin-cli:bob", "permissions": []any{"read", "write"},
			"previousPermissions": []any{"read"}}),
		with(map[string]any{"action": "user_disable", "by": "admin-cli:bob"}),
		with(map[string]any{"action": "user_enable", "by": "admin-cli:bob"}),
		with(map[string]any{"action": "token_revoke", "by": "admin-cli:carol", "tokenId": id}),
	}, pg.Results)
}

// TestOutbox reads the emails kept in the outbox through the API: newest first, with their bodies,
// only the tenant's own, a bad limit refused.
func TestOutbox(t *testing.T) {
	t.Parallel()
	b := setup(t)
	at := b.clock.Now()
	for i := range 3 {
		_, err := b.store.AppendOutbox(b.ctx, b.tenantA, crm.Mail{ID: fmt.Sprint("m", i), To: "all@a.example",
			Subject: fmt.Sprint("Mail ", i), Body: fmt.Sprint("Body ", i), Kind: "test", CreatedAt: at.Add(time.Duration(i) * time.Minute)}, nil)
		require.NoError(t, err)
	}
	_, err := b.store.AppendOutbox(b.ctx, b.tenantB, crm.Mail{ID: "other", To: "x@b.example", Subject: "B's", Body: "B", Kind: "test", CreatedAt: at}, nil)
	require.NoError(t, err)
	type mail struct {
		ID, To, Subject, Body, Kind, CreatedAt string
	}
	got := expect[results[mail]](t, b.call(t, "GET", "/crm/v3/outbox?limit=2", tokAll, nil), http.StatusOK).Results
	require.Equal(t, []mail{
		{"m2", "all@a.example", "Mail 2", "Body 2", "test", crm.FormatDatetime(at.Add(2 * time.Minute))},
		{"m1", "all@a.example", "Mail 1", "Body 1", "test", crm.FormatDatetime(at.Add(time.Minute))},
	}, got)
	require.Len(t, expect[results[mail]](t, b.call(t, "GET", "/crm/v3/outbox", tokAll, nil), http.StatusOK).Results, 3)
	e := expectError(t, b.call(t, "GET", "/crm/v3/outbox?limit=201", tokAll, nil), http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, []string{"limit"}, e.in())

	// What a full outbox dropped is said beside the emails, for the tenant alone.
	type page struct {
		Dropped struct {
			Count  int64
			LastAt string
		}
	}
	require.Zero(t, expect[page](t, b.call(t, "GET", "/crm/v3/outbox", tokAll, nil), http.StatusOK).Dropped.Count)
	for i := range 2 {
		_, err := b.store.AppendOutbox(b.ctx, b.tenantA, crm.Mail{ID: fmt.Sprint("n", i), To: "all@a.example", Subject: "Note",
			Body: "note", Kind: "workflow", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}, &crm.AppendOutboxOpts{Max: 4})
		require.NoError(t, err)
	}
	p := expect[page](t, b.call(t, "GET", "/crm/v3/outbox", tokAll, nil), http.StatusOK)
	require.Equal(t, int64(1), p.Dropped.Count)
	require.Equal(t, crm.FormatDatetime(b.clock.Now()), p.Dropped.LastAt)
	require.Zero(t, expect[page](t, b.call(t, "GET", "/crm/v3/outbox", tokBAll, nil), http.StatusOK).Dropped.Count)
}
