package worker_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/redistest"
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
	store  *crm.RedisStore
	clock  *clock.Sim
	tenant crm.TenantID
	queue  asynq.RedisConnOpt
	insp   *asynq.Inspector
	reg    *prometheus.Registry
	logs   *syncBuffer
	logger *slog.Logger
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

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
	store, err := crm.NewRedisStore(rdb, &crm.Config{Clock: clk})
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

// companies creates n companies and returns their ids.
func (b *testBundle) companies(t *testing.T, tenant crm.TenantID, n int) []crm.RecordID {
	t.Helper()
	var ids []crm.RecordID
	for len(ids) < n {
		in := make([]crm.RecordInput, min(n-len(ids), 500))
		for i := range in {
			in[i] = crm.RecordInput{Properties: map[string]string{"name": "Acme"}}
		}
		recs, err := b.store.CreateRecords(b.ctx, tenant, crm.Companies, in, crm.Actor{User: "ops@example.com"})
		require.NoError(t, err)
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
	}
	return ids
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

// --- A real SMTP server on loopback that records what it accepts. ---

type smtpMessage struct {
	From string
	To   []string
	Data string
	User string // the AUTH PLAIN user, if any
	TLS  bool
}

type smtpOpts struct {
	// failData makes the first failData DATA commands fail with 451 (temporary).
	failData int
	// rejectRcpt refuses every recipient with 550 (permanent).
	rejectRcpt bool
	// gate, when set, holds every MAIL command until it is closed; mailStarted is closed when the
	// first MAIL command arrives.
	gate, mailStarted chan struct{}
	// tls offers STARTTLS with a self-signed certificate; auth requires AUTH PLAIN user:password.
	tls  bool
	auth bool
}

type smtpServer struct {
	opts     smtpOpts
	addr     *net.TCPAddr
	rootCAs  *x509.CertPool
	mu       sync.Mutex
	msgs     []smtpMessage
	dataSeen int
	once     sync.Once
}

func startSMTP(t *testing.T, opts smtpOpts) *smtpServer {
	t.Helper()
	s := &smtpServer{opts: opts}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &smtpSession{s: s, tls: isTLS}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = discardLogger{}
	if opts.tls {
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.rootCAs = pool
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = l.Addr().(*net.TCPAddr)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
	})
	return s
}

func (s *smtpServer) messages() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.msgs...)
}

func (s *smtpServer) dataAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dataSeen
}

// mailConfig returns a worker MailConfig pointing at the server.
func (s *smtpServer) mailConfig() worker.MailConfig {
	mc := worker.MailConfig{
		From:      "CRM <crm@example.com>",
		Host:      "127.0.0.1",
		Port:      s.addr.Port,
		RetryBase: time.Millisecond,
		RetryMax:  time.Millisecond,
		StartTLS:  worker.StartTLSNever,
		Timeout:   5 * time.Second,
	}
	if s.opts.tls {
		mc.StartTLS = worker.StartTLSMandatory
		mc.TLSConfig = &tls.Config{RootCAs: s.rootCAs, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	}
	if s.opts.auth {
		mc.Username, mc.Password = "mailer", "s3cret"
	}
	return mc
}

type smtpSession struct {
	s    *smtpServer
	tls  bool
	user string
	from string
	to   []string
}

func (ss *smtpSession) AuthMechanisms() []string {
	if !ss.s.opts.auth {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "mailer" || pass != "s3cret" {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.auth && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	if ss.s.opts.gate != nil {
		ss.s.once.Do(func() { close(ss.s.opts.mailStarted) })
		<-ss.s.opts.gate
	}
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.opts.rejectRcpt {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.dataSeen++
	if ss.s.dataSeen <= ss.s.opts.failData {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	ss.s.msgs = append(ss.s.msgs, smtpMessage{From: ss.from, To: ss.to, Data: string(b), User: ss.user, TLS: ss.tls})
	return nil
}

func (ss *smtpSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *smtpSession) Logout() error { return nil }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// selfSigned makes a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "crmflow test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
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
