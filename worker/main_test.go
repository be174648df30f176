package worker_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/redistest"
	"github.com/crmflow/crmflow/internal/smtptest"
	"github.com/crmflow/crmflow/worker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// redistest starts one redis-server for the whole test binary and waits for its process in a
		// goroutine that lives as long as the binary.
		goleak.IgnoreAnyFunction("github.com/crmflow/crmflow/internal/redistest.(*Server).Start.func1"),
	)
}

// testBundle is what most tests need: a private redis-server (so that the asynq queues, and the
// tenant registry the sweep reads, belong to this test alone), a store on it with a simulated
// clock, a tenant, and the queue's connection options.
type testBundle struct {
	ctx    context.Context
	rdb    *redis.Client
	store  *redisstore.Store
	clock  *clock.Sim
	tenant crm.TenantID
	queue  asynq.RedisConnOpt
	insp   *asynq.Inspector
	reg    *prometheus.Registry
	logs   *syncBuffer
	logger *slog.Logger
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// jobCreator makes email a user of tenant tn who may create and run bulk delete jobs (delete and
// bulk_delete; a user already there is left as it is): a job acts with its creator's authority at
// each of its batches.
func jobCreator(t *testing.T, st crm.Store, tn crm.TenantID, email string) {
	t.Helper()
	_, err := st.CreateUser(context.Background(), tn, email, crm.Permissions{crm.PermDelete, crm.PermBulkDelete}, "admin@example.com")
	if !errors.Is(err, crm.ErrUserExists) {
		require.NoError(t, err)
	}
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	srv, err := redistest.StartServer("")
	require.NoError(t, err)
	// Kill, not Stop: Stop's SHUTDOWN is retried by go-redis after the server closes the connection,
	// which costs a second and a half of "connection refused" lines per server.
	t.Cleanup(func() { _ = srv.Kill() })
	opt, err := redis.ParseURL(srv.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	clk := clock.NewSim(t0)
	store, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: clk})
	require.NoError(t, err)
	tenant := crm.TenantID(redistest.Tenant(t))
	ctx := context.Background()
	_, err = store.CreateTenant(ctx, tenant, crm.PlanProfessional)
	require.NoError(t, err)
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: opt.Addr})
	t.Cleanup(func() { _ = insp.Close() })
	logs := &syncBuffer{}
	return &testBundle{
		ctx: ctx, rdb: rdb, store: store, clock: clk, tenant: tenant,
		queue: asynq.RedisClientOpt{Addr: opt.Addr}, insp: insp, reg: prometheus.NewRegistry(),
		logs: logs, logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// watch activates in tenant a contact workflow that no test contact matches (none has
// email_bounced), so that the tenant's contact writes leave change marks: the writes of a type that
// no active workflow watches leave none.
func (b *testBundle) watch(t *testing.T, tenant crm.TenantID) {
	t.Helper()
	_, err := b.store.CreateUser(b.ctx, tenant, activatorEmail, crm.AllPermissions, "admin@example.com")
	if !errors.Is(err, crm.ErrUserExists) {
		require.NoError(t, err)
	}
	_, _, err = b.store.PutFlow(b.ctx, tenant, "watch", crm.Contacts,
		"name: watch\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n", "ops@example.com")
	require.NoError(t, err)
	_, err = b.store.ActivateFlow(b.ctx, tenant, "watch", crm.ActivateFlowParams{By: activatorEmail})
	require.NoError(t, err)
}

// config returns a worker Config for the bundle: its clock, registry and logger, a short poll.
func (b *testBundle) config() *worker.Config {
	return &worker.Config{
		Clock:           b.clock,
		Logger:          b.logger,
		PollInterval:    20 * time.Millisecond,
		Registerer:      b.reg,
		ShutdownTimeout: 5 * time.Second,
	}
}

// startWorker builds a worker and runs it until the test ends.
func (b *testBundle) startWorker(t *testing.T, cfg *worker.Config) *worker.Worker {
	t.Helper()
	w, err := worker.New(b.store, b.queue, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return w
}

// client returns a Client of the bundle's queue, closed when the test ends.
func (b *testBundle) client(t *testing.T) *worker.Client {
	t.Helper()
	c := worker.NewClient(b.queue)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// records creates n records of type o in tenant, each with props, and returns their ids.
func (b *testBundle) records(t *testing.T, tenant crm.TenantID, o crm.ObjectType, n int, props map[string]string) []crm.RecordID {
	t.Helper()
	var ids []crm.RecordID
	for len(ids) < n {
		in := make([]crm.RecordInput, min(n-len(ids), 500))
		for i := range in {
			in[i] = crm.RecordInput{Properties: props}
		}
		recs, err := b.store.CreateRecords(b.ctx, tenant, o, in, crm.Actor{User: "ops@example.com"})
		require.NoError(t, err)
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// companies creates n companies in tenant and returns their ids.
func (b *testBundle) companies(t *testing.T, tenant crm.TenantID, n int) []crm.RecordID {
	t.Helper()
	return b.records(t, tenant, crm.Companies, n, map[string]string{"name": "Acme"})
}

// archive moves records into the bin at the store clock's current time.
func (b *testBundle) archive(t *testing.T, tenant crm.TenantID, o crm.ObjectType, ids []crm.RecordID) {
	t.Helper()
	for len(ids) > 0 {
		n := min(len(ids), 500)
		res, err := b.store.ArchiveRecords(b.ctx, tenant, o, ids[:n], crm.Actor{User: "ops@example.com"})
		require.NoError(t, err)
		require.Len(t, res.Archived, n)
		ids = ids[n:]
	}
}

// liveCount returns how many live records of type o tenant holds.
func (b *testBundle) liveCount(t *testing.T, tenant crm.TenantID, o crm.ObjectType) int64 {
	t.Helper()
	n, err := b.store.CountRecords(b.ctx, tenant, o)
	require.NoError(t, err)
	return n
}

// binSize returns how many records of type o are in tenant's bin.
func (b *testBundle) binSize(t *testing.T, tenant crm.TenantID, o crm.ObjectType) int64 {
	t.Helper()
	n, err := b.store.BinSize(b.ctx, tenant, o)
	require.NoError(t, err)
	return n
}

// eventually polls cond every 20ms until it holds, failing the test after timeout. It is for
// waiting on real servers (the worker, SMTP), never for waiting out time.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (the worker's goroutines log into it).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// smtpServer is a real SMTP server on loopback (smtptest) with the worker's configuration for it.
type smtpServer struct {
	*smtptest.Server
	opts smtptest.Options
}

func startSMTP(t *testing.T, opts smtptest.Options) *smtpServer {
	t.Helper()
	return &smtpServer{Server: smtptest.Start(t, opts), opts: opts}
}

// mailWorker returns a worker, not started, whose mail goes to srv; it is closed when the test
// ends. Tests run its tasks with ProcessTask.
func (b *testBundle) mailWorker(t *testing.T, srv *smtpServer) *worker.Worker {
	t.Helper()
	cfg := b.config()
	cfg.Mail = srv.mailConfig()
	w, err := worker.New(b.store, b.queue, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, w.Close()) })
	return w
}

// mailConfig returns a worker MailConfig pointing at the server.
func (s *smtpServer) mailConfig() worker.MailConfig {
	mc := worker.MailConfig{
		From:      "CRM <crm@example.com>",
		Host:      "127.0.0.1",
		Port:      s.Port(),
		RetryBase: time.Millisecond,
		RetryMax:  time.Millisecond,
		StartTLS:  worker.StartTLSNever,
		Timeout:   5 * time.Second,
	}
	if s.opts.TLS {
		mc.StartTLS = worker.StartTLSMandatory
		mc.TLSConfig = &tls.Config{RootCAs: s.RootCAs(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	}
	if s.opts.Auth {
		mc.Username, mc.Password = smtptest.User, smtptest.Password
	}
	return mc
}

// taskState returns the state of a task in a queue, or "gone" once asynq deleted it.
func (b *testBundle) taskState(t *testing.T, queue, id string) string {
	t.Helper()
	info, err := b.insp.GetTaskInfo(queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return "gone"
	}
	require.NoError(t, err)
	return info.State.String()
}

// decodeQP undoes quoted-printable soft line breaks well enough for assertions on the body.
func decodeQP(s string) string {
	s = strings.ReplaceAll(s, "=\r\n", "")
	return strings.ReplaceAll(s, "=3D", "=")
}

// metricValue returns the value of the counter or gauge name whose one label has value label (or
// of the unlabelled metric when label is ""), 0 if it has not been reported.
func metricValue(t *testing.T, reg prometheus.Gatherer, name, label string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
