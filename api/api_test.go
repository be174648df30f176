package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/redistest"
)

// Tokens of the bundle's users, by what they may do.
const (
	tokAll    = "all"   // tenant A, every permission
	tokRead   = "read"  // tenant A, read only
	tokWrite  = "write" // tenant A, read and write, no schema
	tokNone   = "none"  // tenant A, only workflows: not even read
	tokDelete = "del"   // tenant A, read, write and delete: no bulk_delete, restore or permanent_delete
	tokBAll   = "b-all" // tenant B, every permission
	userEmail = "ops@a.example"
)

type testBundle struct {
	url     string
	store   *redisstore.Store
	rdb     *redis.Client // the store's Redis, to look at every key of a tenant
	tasks   *fakeTasks    // the server's Config.Tasks
	clock   *clock.Sim
	ctx     context.Context
	tenantA crm.TenantID
	tenantB crm.TenantID
	tokens  map[string]string
	reg     *prometheus.Registry
	logs    *syncBuffer
	client  *http.Client
}

// setup starts a server on loopback over a store on the test redis-server, with two fresh tenants
// and users of several permissions.
func setup(t *testing.T) *testBundle {
	t.Helper()
	clk := clock.NewSim(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	rdb := redistest.Client(t)
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: clk})
	require.NoError(t, err)
	b := &testBundle{
		store:   st,
		rdb:     rdb,
		tasks:   &fakeTasks{},
		clock:   clk,
		ctx:     context.Background(),
		tenantA: crm.TenantID(redistest.Tenant(t)),
		tenantB: crm.TenantID(redistest.Tenant(t)),
		tokens:  map[string]string{},
		reg:     prometheus.NewRegistry(),
		logs:    &syncBuffer{},
	}
	for _, tn := range []crm.TenantID{b.tenantA, b.tenantB} {
		_, err := st.CreateTenant(b.ctx, tn, crm.PlanProfessional)
		require.NoError(t, err)
	}
	b.tokens[tokAll] = b.user(t, b.tenantA, "all@a.example", "all")
	b.tokens[tokRead] = b.user(t, b.tenantA, "read@a.example", "read")
	b.tokens[tokWrite] = b.user(t, b.tenantA, "write@a.example", "read,write")
	b.tokens[tokNone] = b.user(t, b.tenantA, "none@a.example", "workflows")
	b.tokens[tokDelete] = b.user(t, b.tenantA, "del@a.example", "read,write,delete")
	b.tokens[tokBAll] = b.user(t, b.tenantB, "all@b.example", "all")

	b.serve(t, &api.Config{
		// The tests send bad tokens by the hundred from one address (the permission matrix's
		// callers, above all); TestAuthFailureLimit tests the limit.
		AuthFailureLimit: 1 << 20,
		Clock:            clk,
		Logger:           slog.New(slog.NewJSONHandler(b.logs, nil)),
		Registerer:       b.reg,
		Tasks:            b.tasks,
	})
	return b
}

// serve starts a server of cfg over the bundle's store on loopback and points the bundle at it.
func (b *testBundle) serve(t *testing.T, cfg *api.Config) {
	t.Helper()
	srv, err := api.New(b.store, cfg)
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	b.url, b.client = ts.URL, ts.Client()
}

// user creates a user with perms in tenant tn and returns a token of it.
func (b *testBundle) user(t *testing.T, tn crm.TenantID, email, perms string) string {
	t.Helper()
	ps, err := crm.ParsePermissions(perms)
	require.NoError(t, err)
	_, err = b.store.CreateUser(b.ctx, tn, email, ps, "test")
	require.NoError(t, err)
	tok, err := b.store.CreateToken(b.ctx, tn, email, nil)
	require.NoError(t, err)
	return tok
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request as the user of token key who ("" for no Authorization header). body is
// nil, a string or []byte sent as is, a yamlBody sent as application/yaml, or a value sent as JSON.
func (b *testBundle) call(t *testing.T, method, path, who string, body any) response {
	t.Helper()
	tok := ""
	if who != "" {
		tok = "Bearer " + b.tokens[who]
	}
	return b.raw(t, method, path, tok, body)
}

// raw sends a request with the Authorization header auth as given ("" for none).
func (b *testBundle) raw(t *testing.T, method, path, auth string, body any) response {
	t.Helper()
	var rd io.Reader
	ctype := "application/json"
	switch v := body.(type) {
	case nil:
	case yamlBody:
		rd, ctype = strings.NewReader(string(v)), "application/yaml"
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(b.ctx, method, b.url+path, rd)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := b.client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

// decode decodes the body of r into a T.
func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(r.body, &v), "body: %s", r.body)
	return v
}

// expect checks the status of r and decodes its body.
func expect[T any](t *testing.T, r response, status int) T {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	return decode[T](t, r)
}

type record struct {
	ID          string            `json:"id"`
	Properties  map[string]string `json:"properties"`
	CreatedAt   string            `json:"createdAt"`
	UpdatedAt   string            `json:"updatedAt"`
	Archived    bool              `json:"archived"`
	ArchivedAt  string            `json:"archivedAt"`
	ArchivedBy  string            `json:"archivedBy"`
	ArchivedVia string            `json:"archivedVia"`
	ArchivedRef string            `json:"archivedRef"`
}

type page[T any] struct {
	Results []T `json:"results"`
	Paging  *struct {
		Next struct {
			After string `json:"after"`
			Link  string `json:"link"`
		} `json:"next"`
	} `json:"paging"`
}

// batchOf is the answer of a batch endpoint: HubSpot's BatchResponse... models, whose results are T.
type batchOf[T any] struct {
	Status      string `json:"status"`
	Results     []T    `json:"results"`
	NumErrors   int    `json:"numErrors"`
	StartedAt   string `json:"startedAt"`
	CompletedAt string `json:"completedAt"`
	Errors      []struct {
		Status   string              `json:"status"`
		Category string              `json:"category"`
		Message  string              `json:"message"`
		Context  map[string][]string `json:"context"`
		Errors   []any               `json:"errors"`
		Links    map[string]string   `json:"links"`
	} `json:"errors"`
}

// failedInputs are the inputs the errors of a batch answer name, in order.
func (a batchOf[T]) failedInputs() []string {
	var out []string
	for _, e := range a.Errors {
		out = append(out, e.Context["input"]...)
	}
	return out
}

// batch is the answer of a records batch endpoint.
type batch = batchOf[record]

type apiError struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	Category      string              `json:"category"`
	CorrelationID string              `json:"correlationId"`
	Context       map[string][]string `json:"context"`
	Errors        []struct {
		Message string              `json:"message"`
		Code    string              `json:"code"`
		In      string              `json:"in"`
		Context map[string][]string `json:"context"`
	} `json:"errors"`
}

// expectError checks that r is an error response of status and category, in the full error shape
// with the correlation id of its header, and returns it.
func expectError(t *testing.T, r response, status int, category string) apiError {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	require.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(r.body, &fields), "body: %s", r.body)
	for _, f := range []string{"status", "message", "category", "correlationId", "errors"} {
		require.Contains(t, fields, f, "body: %s", r.body)
	}
	e := decode[apiError](t, r)
	require.Equal(t, "error", e.Status)
	require.Equal(t, category, e.Category, "body: %s", r.body)
	require.NotEmpty(t, e.Message)
	require.NotEmpty(t, e.Errors)
	for _, d := range e.Errors {
		require.NotEmpty(t, d.Message)
		require.NotEmpty(t, d.Code)
	}
	id, err := uuid.Parse(e.CorrelationID)
	require.NoError(t, err)
	require.Equal(t, uuid.Version(4), id.Version())
	require.Equal(t, e.CorrelationID, r.header.Get("X-Correlation-Id"))
	return e
}

// in returns the "in" fields of e's errors.
func (e apiError) in() []string {
	out := make([]string, len(e.Errors))
	for i, d := range e.Errors {
		out[i] = d.In
	}
	return out
}

// contact creates a contact of tenant A through the store.
func (b *testBundle) contact(t *testing.T, props map[string]string) crm.RecordID {
	t.Helper()
	return b.create(t, b.tenantA, crm.Contacts, props)
}

// create creates a record through the store.
func (b *testBundle) create(t *testing.T, tn crm.TenantID, o crm.ObjectType, props map[string]string) crm.RecordID {
	t.Helper()
	recs, err := b.store.CreateRecords(b.ctx, tn, o, []crm.RecordInput{{Properties: props}}, crm.Actor{User: userEmail})
	require.NoError(t, err)
	return recs[0].ID
}

// snapshot reads everything of a tenant that the Store shows: every live and binned record of every
// object type, their associations, the schemas, the custom types, the lists with their members, the
// audit trail, the pending emails and the workflows with their revisions. Two equal snapshots mean a request changed nothing.
func (b *testBundle) snapshot(t *testing.T, tn crm.TenantID) map[string]any {
	t.Helper()
	out := map[string]any{}
	types, err := b.store.AllObjectTypes(b.ctx, tn)
	require.NoError(t, err)
	defs, err := b.store.ObjectTypes(b.ctx, tn)
	require.NoError(t, err)
	out["types"] = defs
	for _, o := range types {
		sch, err := b.store.Schema(b.ctx, tn, o)
		require.NoError(t, err)
		out["schema:"+string(o)] = sch
		for _, archived := range []bool{false, true} {
			var recs []crm.Record
			after := ""
			for {
				pg, err := b.store.ListRecords(b.ctx, tn, o, &crm.ListOpts{After: after, Limit: 100, Archived: archived})
				require.NoError(t, err)
				recs = append(recs, pg.Records...)
				if after = pg.After; after == "" {
					break
				}
			}
			out[fmt.Sprintf("records:%s:%v", o, archived)] = recs
			if archived {
				continue
			}
			for _, rec := range recs {
				for _, to := range types {
					ids, err := b.store.Associations(b.ctx, tn, crm.AssociationRef{Type: o, ID: rec.ID}, to)
					require.NoError(t, err)
					out[fmt.Sprintf("assoc:%s:%s:%s", o, rec.ID, to)] = ids
				}
			}
		}
	}
	lists, err := b.store.Lists(b.ctx, tn)
	require.NoError(t, err)
	out["lists"] = lists
	for _, l := range lists {
		ids, _, err := b.store.ListMembers(b.ctx, tn, l.ID, &crm.ListOpts{Limit: 100})
		require.NoError(t, err)
		out["members:"+string(l.ID)] = ids
	}
	var audit []crm.AuditEntry
	for after := ""; ; {
		pg, next, err := b.store.Audit(b.ctx, tn, &crm.AuditOpts{After: after, Limit: 1000})
		require.NoError(t, err)
		audit = append(audit, pg...)
		if after = next; after == "" {
			break
		}
	}
	out["audit"] = audit
	mails, err := b.store.PendingMails(b.ctx, tn)
	require.NoError(t, err)
	out["mails"] = mails
	flows, err := b.store.Flows(b.ctx, tn)
	require.NoError(t, err)
	out["flows"] = flows
	for _, f := range flows {
		for rev := int64(1); rev <= f.Revision; rev++ {
			fr, err := b.store.FlowRevision(b.ctx, tn, f.Name, rev)
			require.NoError(t, err)
			out[fmt.Sprintf("flow:%s:%d", f.Name, rev)] = fr
		}
	}
	return out
}

// dump reads every key of a tenant in Redis with its whole value: what a request must not change
// when it is refused, and where no trace of a permanently deleted contact may remain.
func (b *testBundle) dump(t *testing.T, tn crm.TenantID) map[string]string {
	t.Helper()
	out := redistest.Dump(t, b.rdb, string(tn))
	require.NotEmpty(t, out)
	return out
}

// fakeTasks is a Config.Tasks that records what it was asked to enqueue, and fails every call with
// err when err is set. Safe for concurrent use.
type fakeTasks struct {
	err       error
	mu        sync.Mutex
	jobs      []enqueuedJob
	mails     []enqueuedMail
	backfills []enqueuedBackfill
	steps     []enqueuedSteps
	resumes   []enqueuedResume
	drains    []crm.TenantID
}

// drainsOf returns how many drains of tn's changes were asked for.
func (f *fakeTasks) drainsOf(tn crm.TenantID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.drains {
		if t == tn {
			n++
		}
	}
	return n
}

type enqueuedBackfill struct {
	tenant   crm.TenantID
	flow     string
	revision int64
}

type enqueuedJob struct {
	tenant crm.TenantID
	id     string
}

type enqueuedMail struct {
	tenant crm.TenantID
	mail   crm.Mail
}

func (f *fakeTasks) EnqueueWorkflowBackfill(_ context.Context, t crm.TenantID, flow string, rev int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.backfills = append(f.backfills, enqueuedBackfill{tenant: t, flow: flow, revision: rev})
	return f.err
}

func (f *fakeTasks) EnqueueWorkflowSteps(_ context.Context, t crm.TenantID, flow string, rev int64, ids []crm.RecordID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps = append(f.steps, enqueuedSteps{tenant: t, flow: flow, revision: rev, ids: ids})
	return f.err
}

type enqueuedResume struct {
	tenant      crm.TenantID
	flow        string
	activatedAt time.Time
}

func (f *fakeTasks) EnqueueWorkflowResume(_ context.Context, t crm.TenantID, flow string, activatedAt time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resumes = append(f.resumes, enqueuedResume{tenant: t, flow: flow, activatedAt: activatedAt})
	return f.err
}

// resumesOf returns the workflow resumes enqueued for tenant tn, in order.
func (f *fakeTasks) resumesOf(tn crm.TenantID) []enqueuedResume {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []enqueuedResume
	for _, r := range f.resumes {
		if r.tenant == tn {
			out = append(out, r)
		}
	}
	return out
}

// stepsOf returns the workflow steps enqueued for tenant tn, in order.
func (f *fakeTasks) stepsOf(tn crm.TenantID) []enqueuedSteps {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []enqueuedSteps
	for _, s := range f.steps {
		if s.tenant == tn {
			out = append(out, s)
		}
	}
	return out
}

type enqueuedSteps struct {
	tenant   crm.TenantID
	flow     string
	revision int64
	ids      []crm.RecordID
}

// backfillsOf returns the backfills enqueued for tenant tn, in order.
func (f *fakeTasks) backfillsOf(tn crm.TenantID) []enqueuedBackfill {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []enqueuedBackfill
	for _, b := range f.backfills {
		if b.tenant == tn {
			out = append(out, b)
		}
	}
	return out
}

func (f *fakeTasks) EnqueueChangesDrain(_ context.Context, t crm.TenantID, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drains = append(f.drains, t)
	return nil
}

func (f *fakeTasks) EnqueueDeleteJob(_ context.Context, t crm.TenantID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = append(f.jobs, enqueuedJob{tenant: t, id: id})
	return f.err
}

func (f *fakeTasks) EnqueueMail(_ context.Context, t crm.TenantID, m crm.Mail) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mails = append(f.mails, enqueuedMail{tenant: t, mail: m})
	return f.err
}

// jobsOf returns the ids of the jobs enqueued for tenant tn, in order.
func (f *fakeTasks) jobsOf(tn crm.TenantID) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, j := range f.jobs {
		if j.tenant == tn {
			out = append(out, j.id)
		}
	}
	return out
}

// mailsOf returns the mails enqueued for tenant tn, in order.
func (f *fakeTasks) mailsOf(tn crm.TenantID) []crm.Mail {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []crm.Mail
	for _, m := range f.mails {
		if m.tenant == tn {
			out = append(out, m.mail)
		}
	}
	return out
}

// syncBuffer is a buffer safe for the server's goroutines to write while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// lines returns the JSON log lines written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		out = append(out, m)
	}
	return out
}

// String returns everything logged so far.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func TestNew(t *testing.T) {
	t.Parallel()

	t.Run("NilStore", func(t *testing.T) {
		t.Parallel()
		_, err := api.New(nil, nil)
		require.ErrorContains(t, err, "store")
	})

	t.Run("NegativeMaxBodyBytes", func(t *testing.T) {
		t.Parallel()
		st, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
		require.NoError(t, err)
		_, err = api.New(st, &api.Config{MaxBodyBytes: -1})
		require.ErrorContains(t, err, "MaxBodyBytes")
	})

	t.Run("NegativeMaxTenantInFlight", func(t *testing.T) {
		t.Parallel()
		st, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
		require.NoError(t, err)
		_, err = api.New(st, &api.Config{MaxTenantInFlight: -1})
		require.EqualError(t, err, "api: Config.MaxTenantInFlight must be positive, got -1")
	})

	t.Run("TwoServersShareARegistry", func(t *testing.T) {
		t.Parallel()
		st, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
		require.NoError(t, err)
		reg := prometheus.NewRegistry()
		_, err = api.New(st, &api.Config{Registerer: reg})
		require.NoError(t, err)
		_, err = api.New(st, &api.Config{Registerer: reg})
		require.NoError(t, err)
	})
}
