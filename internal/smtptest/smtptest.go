// Package smtptest runs a real SMTP server on loopback for tests: it records the messages it
// accepts and can be told to offer STARTTLS or SMTPUTF8, require AUTH PLAIN, fail DATA, drop the
// connection after DATA, refuse recipients or hold MAIL commands.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// User and Password are the credentials the server accepts when Options.Auth is set.
const (
	User     = "mailer"
	Password = "s3cret"
)

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data string
	User string // the AUTH PLAIN user, if any
	TLS  bool   // sent over STARTTLS
}

// Options configure Start. The zero value accepts everything in clear text.
type Options struct {
	// FailData makes the first FailData DATA commands fail with 451 (temporary).
	FailData int
	// DropAfterData makes the first DropAfterData messages be accepted (kept in Messages) but the
	// connection closed before the reply to DATA, as a server that crashes at that moment: the
	// client cannot tell whether the message went.
	DropAfterData int
	// RejectRcpt refuses every recipient with 550 (permanent), naming the address in the reply as
	// Postfix does.
	RejectRcpt bool
	// RejectRcptAs, with RejectRcpt, is how the reply spells the address (a server may change its
	// case); nil names it as the client gave it.
	RejectRcptAs func(addr string) string
	// SMTPUTF8 offers the SMTPUTF8 extension (addresses outside ASCII).
	SMTPUTF8 bool
	// Gate, when set, holds every MAIL command until it is closed; MailStarted is closed when the
	// first MAIL command arrives.
	Gate, MailStarted chan struct{}
	// TLS offers STARTTLS with a self-signed certificate for 127.0.0.1 (see Server.RootCAs).
	TLS bool
	// Auth requires AUTH PLAIN with User and Password.
	Auth bool
}

// Server is a running SMTP server. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	port     int
	rootCAs  *x509.CertPool
	mu       sync.Mutex
	msgs     []Message
	dataSeen int
	once     sync.Once
	cert     tls.Certificate
	srvMu    sync.Mutex
	srv      *smtp.Server
	served   chan struct{}
	ln       net.Listener
}

// Start starts a server on a free loopback port; it stops when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts}
	if opts.TLS {
		s.cert, s.rootCAs = selfSigned(t)
	}
	if err := s.listen("127.0.0.1:0"); err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) listen(addr string) error {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{s: s, tls: isTLS, conn: c.Conn()}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = discardLogger{}
	srv.EnableSMTPUTF8 = s.opts.SMTPUTF8
	if s.opts.TLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if s.port == 0 {
		s.port = l.Addr().(*net.TCPAddr).Port
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
	s.srvMu.Lock()
	s.srv, s.served, s.ln = srv, served, l
	s.srvMu.Unlock()
	return nil
}

// Stop closes the server, as an SMTP server that is down: connections are refused until Restart.
// The messages accepted so far are kept. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.srvMu.Lock()
	srv, served, l := s.srv, s.served, s.ln
	s.srv = nil
	s.srvMu.Unlock()
	if srv != nil {
		// Closing the listener too: a Close that comes before Serve has taken the listener
		// would not stop it.
		_ = srv.Close()
		_ = l.Close()
		<-served
	}
}

// Restart serves again on the same port after Stop.
func (s *Server) Restart() error {
	s.srvMu.Lock()
	running := s.srv != nil
	s.srvMu.Unlock()
	if running {
		return nil
	}
	return s.listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)))
}

// Port is the server's port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// RootCAs trusts the server's certificate (nil without Options.TLS).
func (s *Server) RootCAs() *x509.CertPool { return s.rootCAs }

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// DataAttempts counts the DATA commands received, failed ones included.
func (s *Server) DataAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dataSeen
}

type session struct {
	s    *Server
	conn net.Conn
	tls  bool
	user string
	from string
	to   []string
}

func (ss *session) AuthMechanisms() []string {
	if !ss.s.opts.Auth {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != User || pass != Password {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Auth && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	if ss.s.opts.Gate != nil {
		ss.s.once.Do(func() { close(ss.s.opts.MailStarted) })
		<-ss.s.opts.Gate
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.opts.RejectRcpt {
		if ss.s.opts.RejectRcptAs != nil {
			to = ss.s.opts.RejectRcptAs(to)
		}
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "<" + to + ">: Recipient address rejected: no such user"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.dataSeen++
	if ss.s.dataSeen <= ss.s.opts.FailData {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	ss.s.msgs = append(ss.s.msgs, Message{From: ss.from, To: ss.to, Data: string(b), User: ss.user, TLS: ss.tls})
	if len(ss.s.msgs) <= ss.s.opts.DropAfterData {
		_ = ss.conn.Close()
	}
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// selfSigned makes a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("smtptest: key: %v", err)
	}
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
	if err != nil {
		t.Fatalf("smtptest: certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("smtptest: certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}
