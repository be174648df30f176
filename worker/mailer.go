package worker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"golang.org/x/net/idna"
	"math/rand/v2"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"
)

// StartTLSPolicy says whether the connection to the SMTP server is upgraded with STARTTLS.
type StartTLSPolicy string

// The STARTTLS policies.
const (
	// StartTLSOpportunistic upgrades when the server offers STARTTLS and goes on in clear text
	// otherwise (credentials are then sent only to a loopback server). The default.
	StartTLSOpportunistic StartTLSPolicy = "opportunistic"
	// StartTLSMandatory refuses to send unless the server offers STARTTLS and the TLS handshake,
	// with certificate verification, succeeds.
	StartTLSMandatory StartTLSPolicy = "mandatory"
	// StartTLSNever never upgrades: for a relay on the same host or network.
	StartTLSNever StartTLSPolicy = "never"
)

// MailConfig configures the delivery of emails over SMTP. The zero value has no Host: every email
// is then kept in the tenant's outbox (crm.OutboxKey); only workflow notifications expire from it
// (Config.OutboxRetention), and a notification whose record was erased is dropped, never sent.
type MailConfig struct {
	// From is the sender, as "crm@example.com" or "CRM <crm@example.com>". Required when Host is set.
	From string
	// Host is the SMTP server's host name or IP. Empty keeps every email in the tenant's outbox.
	Host string
	// Password goes with Username.
	Password string
	// Port is the SMTP server's port. Defaults to 587 (submission).
	Port int
	// RetryBase is the delay before the first retry of a failed email; it doubles at each retry.
	// Defaults to 30s.
	RetryBase time.Duration
	// RetryMax caps the delay between retries. Defaults to 1h.
	RetryMax time.Duration
	// StartTLS says whether to upgrade the connection. Defaults to StartTLSOpportunistic.
	StartTLS StartTLSPolicy
	// Timeout bounds one delivery, from connecting to the end of the DATA command. Defaults to 30s.
	Timeout time.Duration
	// TLSConfig is used for STARTTLS. nil verifies the server's certificate against the system's
	// roots for Host.
	TLSConfig *tls.Config
	// Username, when set, authenticates with AUTH PLAIN. Credentials are sent only over TLS, or to
	// a loopback server.
	Username string
}

func (m MailConfig) withDefaults() MailConfig {
	if m.Port == 0 {
		m.Port = 587
	}
	if m.RetryBase == 0 {
		m.RetryBase = 30 * time.Second
	}
	if m.RetryMax == 0 {
		m.RetryMax = time.Hour
	}
	if m.StartTLS == "" {
		m.StartTLS = StartTLSOpportunistic
	}
	if m.Timeout == 0 {
		m.Timeout = 30 * time.Second
	}
	return m
}

func (m MailConfig) validate() error {
	switch m.StartTLS {
	case StartTLSOpportunistic, StartTLSMandatory, StartTLSNever:
	default:
		return fmt.Errorf("worker: Config.Mail.StartTLS %q is unknown: use %q, %q or %q",
			m.StartTLS, StartTLSOpportunistic, StartTLSMandatory, StartTLSNever)
	}
	if m.Port < 1 || m.Port > 65535 {
		return fmt.Errorf("worker: Config.Mail.Port %d is out of range 1..65535", m.Port)
	}
	if m.RetryBase < 0 || m.RetryMax < m.RetryBase {
		return fmt.Errorf("worker: Config.Mail.RetryBase (%s) must be positive and at most RetryMax (%s)", m.RetryBase, m.RetryMax)
	}
	if m.Timeout < 0 {
		return fmt.Errorf("worker: Config.Mail.Timeout must be positive, got %s", m.Timeout)
	}
	if m.Host == "" {
		return nil
	}
	if strings.ContainsAny(m.Host, " \r\n/") {
		return fmt.Errorf("worker: Config.Mail.Host %q is not a host name", m.Host)
	}
	if m.From == "" {
		return errors.New("worker: Config.Mail.From is required when Config.Mail.Host is set: give the sender address, e.g. crm@example.com")
	}
	if _, err := mail.ParseAddress(m.From); err != nil {
		return fmt.Errorf("worker: Config.Mail.From %q is not an email address: %w", m.From, err)
	}
	if m.Username != "" && m.StartTLS == StartTLSNever && !isLoopback(m.Host) {
		return fmt.Errorf("worker: Config.Mail.Username is set with StartTLS %q: credentials would cross the network in clear text to %s; use %q or %q",
			StartTLSNever, m.Host, StartTLSMandatory, StartTLSOpportunistic)
	}
	return nil
}

// backoff is the delay before retry n+1 of an email: RetryBase doubled n times, capped at
// RetryMax, with up to 10% jitter so that many failed emails do not retry at once.
func (m MailConfig) backoff(n int) time.Duration {
	d := m.RetryMax
	if n < 32 {
		if x := m.RetryBase << n; x > 0 && x < m.RetryMax {
			d = x
		}
	}
	if j := int64(d) / 10; j > 0 {
		d += time.Duration(rand.Int64N(j))
	}
	return d
}

// lease is how long a delivery may hold the ledger's lease: longer than any delivery can take.
func (m MailConfig) lease() time.Duration { return 2*m.Timeout + 10*time.Second }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// send delivers one message to one recipient. An error the server gives as permanent (5xx) wraps
// asynq.SkipRetry, so the task is archived rather than retried, as does an address outside ASCII
// for a server without SMTPUTF8; every other error is temporary, refused credentials included (the
// configuration's fault, not the email's). A server's reply is returned with the recipient's
// address replaced by "recipient".
func (m MailConfig) send(ctx context.Context, to string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return fmt.Errorf("smtp: sender %q: %w: %w", m.From, asynq.SkipRetry, err)
	}
	addr := net.JoinHostPort(m.Host, strconv.Itoa(m.Port))

	c, err := m.dial(ctx, addr, m.StartTLS == StartTLSMandatory)
	if err != nil {
		return classifySMTP("connect to "+addr, err)
	}
	defer func() { _ = c.Close() }()
	if m.StartTLS == StartTLSOpportunistic {
		if ok, _ := c.Extension("STARTTLS"); ok {
			// go-smtp upgrades only a fresh client: reconnect and upgrade.
			_ = c.Close()
			if c, err = m.dial(ctx, addr, true); err != nil {
				return classifySMTP("connect to "+addr+" with STARTTLS", err)
			}
		}
	}
	if m.Username != "" {
		if _, secure := c.TLSConnectionState(); !secure && !isLoopback(m.Host) {
			return fmt.Errorf("smtp: %s does not offer STARTTLS: refusing to send credentials in clear text", addr)
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("smtp: %s does not offer AUTH, but Config.Mail.Username is set", addr)
		}
		if err := c.Auth(sasl.NewPlainClient("", m.Username, m.Password)); err != nil {
			// Even a 5xx: refused credentials are the configuration's fault, not the email's, and
			// the email goes once they are fixed.
			return fmt.Errorf("smtp: authenticate at %s: check --smtp-username and SMTP_PASSWORD (the email is retried): %w", addr, err)
		}
	}
	if !isASCII(from.Address) || !isASCII(to) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return fmt.Errorf("smtp: %s does not offer SMTPUTF8, which an address outside ASCII needs: %w", addr, asynq.SkipRetry)
		}
	}
	if err := c.SendMail(from.Address, []string{to}, bytes.NewReader(msg)); err != nil {
		return classifySMTP("send", redactRecipient(err, to))
	}
	// The server accepted the message at the end of DATA; a failed QUIT does not undo that.
	_ = c.Quit()
	return nil
}

// dial connects to the server, upgrading with STARTTLS when startTLS is set. The connection is
// closed when ctx ends, which unblocks any read or write in progress.
func (m MailConfig) dial(ctx context.Context, addr string, startTLS bool) (*smtp.Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	var c *smtp.Client
	if startTLS {
		cfg := &tls.Config{ServerName: m.Host, MinVersion: tls.VersionTLS12}
		if m.TLSConfig != nil {
			cfg = m.TLSConfig.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName = m.Host
			}
		}
		if c, err = smtp.NewClientStartTLS(conn, cfg); err != nil {
			stop()
			_ = conn.Close()
			return nil, err
		}
	} else {
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = m.Timeout
	c.SubmissionTimeout = m.Timeout
	return c, nil
}

// redactRecipient replaces the recipient's address in a server's reply (such as Postfix's "550 5.1.1
// <jane@example.com>: Recipient address rejected") with "<recipient>": the error is logged and kept
// with the task, where no address may go.
func redactRecipient(err error, to string) error {
	var se *smtp.SMTPError
	if !errors.As(err, &se) || to == "" {
		return err
	}
	msg := redactAddress(se.Message, to)
	if msg == se.Message {
		return err
	}
	return &smtp.SMTPError{Code: se.Code, EnhancedCode: se.EnhancedCode, Message: msg}
}

// redactAddress replaces every occurrence of the address to in s with "recipient". The server may
// spell the address in other capitals, outside ASCII too (ÅSA@EXEMPEL.SE for åsa@exempel.se):
// every spelling of the same length in bytes is redacted.
func redactAddress(s, to string) string {
	n := len(to)
	if n == 0 {
		return s
	}
	var b strings.Builder
	found := false
	for i := 0; i+n <= len(s); {
		if !strings.EqualFold(s[i:i+n], to) {
			i++
			continue
		}
		b.WriteString(s[:i] + "recipient")
		s, i, found = s[i+n:], 0, true
	}
	if !found {
		return s
	}
	b.WriteString(s)
	return b.String()
}

// transportAddress is addr as it is sent: its domain in ASCII (bücher.example as
// xn--bcher-kva.example), which every mail server takes, where crmflow keeps the Unicode form
// (crm.NormalizeEmail); only a local part outside ASCII then needs the server's SMTPUTF8. An
// address whose domain has no ASCII form is returned as it is.
func transportAddress(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || isASCII(addr[at+1:]) {
		return addr
	}
	d, err := idna.Punycode.ToASCII(addr[at+1:])
	if err != nil {
		return addr
	}
	return addr[:at+1] + d
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// classifySMTP wraps err, adding asynq.SkipRetry when the server refused for good (a 5xx reply).
func classifySMTP(step string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 && se.Code < 600 {
		return &refusedError{step: step, err: err}
	}
	return fmt.Errorf("smtp: %s: %w", step, err)
}

// refusedError is an SMTP server's refusal for good. It is asynq.SkipRetry to errors.Is, but its
// text is the server's answer alone: it becomes the reason `crmflow admin outbox pending` shows an
// operator, where asynq's "skip retry for the task" would only puzzle.
type refusedError struct {
	step string
	err  error
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("smtp: %s: server refused for good: %v", e.step, e.err)
}

func (e *refusedError) Unwrap() []error { return []error{asynq.SkipRetry, e.err} }

// buildMessage renders an RFC 5322 message: UTF-8 text, quoted-printable, CRLF line ends, every
// line of the header within 78 characters (the Subject folded, see subjectHeader).
func buildMessage(from, to, subject, body, messageID string, date time.Time) []byte {
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	if a, err := mail.ParseAddress(from); err == nil {
		from = a.String()
	}
	header("From", from)
	header("To", (&mail.Address{Address: to}).String())
	b.WriteString(subjectHeader(subject))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", "<"+messageID+"@crmflow>")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(body))
	_ = qp.Close()
	return b.Bytes()
}

// maxHeaderLine is the length a header line should stay within (RFC 5322 2.1.1), CRLF excluded.
const maxHeaderLine = 78

// subjectHeader renders the Subject header field, folded so that no line passes maxHeaderLine
// characters (RFC 5322 allows 998 at most; a subject rendered from a record's properties can be far
// longer). A subject of printable ASCII is folded at its spaces when that keeps every line short; any
// other (non-ASCII text, control characters, a word too long to fold) is written as RFC 2047 encoded-words of at most
// 69 characters, one per line.
func subjectHeader(subject string) string {
	const name = "Subject: "
	if plainFoldable(subject) {
		if folded, ok := foldAtSpaces(name + subject); ok {
			return folded + "\r\n"
		}
	}
	words := qWords(subject)
	return name + strings.Join(words, "\r\n ") + "\r\n"
}

// plainFoldable reports whether s can go in a header as it is: printable ASCII, not looking like an
// encoded-word.
func plainFoldable(s string) bool {
	if strings.Contains(s, "=?") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// foldAtSpaces breaks a header line of printable ASCII before single spaces (a run of spaces would
// lose all but one to some parsers' unfolding) so that no line passes maxHeaderLine characters;
// false when that cannot be done.
func foldAtSpaces(line string) (string, bool) {
	var b strings.Builder
	for len(line) > maxHeaderLine {
		cut := -1
		for i := 1; i <= maxHeaderLine && i < len(line)-1; i++ {
			if line[i] == ' ' && line[i-1] != ' ' && line[i+1] != ' ' {
				cut = i
			}
		}
		if cut < 0 {
			return "", false
		}
		b.WriteString(line[:cut] + "\r\n")
		line = line[cut:]
	}
	b.WriteString(line)
	return b.String(), true
}

// qWords encodes s as RFC 2047 "Q" encoded-words in UTF-8, each at most 69 characters (RFC 2047
// allows 75) and never splitting a character.
func qWords(s string) []string {
	const prefix, suffix = "=?utf-8?q?", "?="
	// 69 characters a word: the first follows "Subject: " on a line of at most 78.
	const room = maxHeaderLine - len("Subject: ") - len(prefix) - len(suffix)
	var words []string
	var cur strings.Builder
	for _, r := range s {
		var enc strings.Builder
		var buf [utf8.UTFMax]byte
		for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
			switch {
			case c == ' ':
				enc.WriteByte('_')
			case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', strings.IndexByte("!*+-/", c) >= 0:
				enc.WriteByte(c)
			default:
				fmt.Fprintf(&enc, "=%02X", c)
			}
		}
		if cur.Len()+enc.Len() > room {
			words = append(words, prefix+cur.String()+suffix)
			cur.Reset()
		}
		cur.WriteString(enc.String())
	}
	return append(words, prefix+cur.String()+suffix)
}
