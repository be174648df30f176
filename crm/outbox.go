package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file holds the store side of outgoing email: the outbox, where an email is kept when no
// SMTP server is configured, and the delivery ledger that keeps a retried email task from sending
// twice. The worker package reaches both through a small interface of its own.

// MailSentKey is the STRING that records the delivery of one email, by its idempotency key:
// "lease:<token>" while a worker is sending it, then "sent" (delivered over SMTP) or "outbox" (kept
// in OutboxKey). It expires MailSentTTL after the delivery, or when the lease runs out.
// Key: crm:{<tenant>}:mailsent:<idempotency key>. It lives here, not in keys.go, only because this
// file was added beside the store; it follows keys.go's rules.
func MailSentKey(t TenantID, idempotencyKey string) string {
	return prefix(t) + "mailsent:" + idempotencyKey
}

// MailSentTTL is how long the ledger remembers a delivered email. A retry of the same email within
// that time is not sent again; it is far longer than any retry schedule of the worker.
const MailSentTTL = 7 * 24 * time.Hour

// ErrMailDone means an email of that idempotency key was already sent or kept in the outbox:
// there is nothing left to do.
var ErrMailDone = errors.New("crm: this email was already sent or kept")

// ErrMailInFlight means another worker holds the lease on the delivery of the same email; the
// caller should try again after the lease expires.
var ErrMailInFlight = errors.New("crm: another delivery of this email is in progress")

// OutboxMessage is an email kept in a tenant's outbox because no SMTP server is configured. It is
// stored as JSON in the tenant's OutboxKey list, oldest first.
type OutboxMessage struct {
	// ID is the email's idempotency key: one message of an ID is ever kept.
	ID string `json:"id"`
	// To is the recipient's address.
	To string `json:"to"`
	// Subject and Body are the email's text.
	Subject string `json:"subject"`
	Body    string `json:"body"`
	// Kind names what the email is for, such as "permanent_delete_confirmation".
	Kind string `json:"kind"`
	// CreatedAt is when the email was kept.
	CreatedAt time.Time `json:"created_at"`
}

// LogValue logs a message by id and kind only: the address and the text are personal data.
func (m OutboxMessage) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mail_id", m.ID), slog.String("kind", m.Kind))
}

// MailClaim is what ClaimMail found in the delivery ledger.
type MailClaim int

// The answers of ClaimMail.
const (
	// MailClaimed means the caller now holds the lease: it must deliver the email and then call
	// FinishMail, whatever the outcome.
	MailClaimed MailClaim = iota + 1
	// MailDone means the email was already delivered (or kept in the outbox): do nothing.
	MailDone
	// MailBusy means another delivery holds the lease: try again after it expires.
	MailBusy
)

// String returns "claimed", "done" or "busy".
func (c MailClaim) String() string {
	switch c {
	case MailClaimed:
		return "claimed"
	case MailDone:
		return "done"
	case MailBusy:
		return "busy"
	}
	return fmt.Sprintf("MailClaim(%d)", int(c))
}

const mailLeasePrefix = "lease:"

// appendOutboxScript keeps an email in the outbox unless its idempotency key was already delivered.
// KEYS[1] -> crm:{<tenant>}:outbox   KEYS[2] -> crm:{<tenant>}:mailsent:<id>
// ARGV[1] -> the message (JSON)      ARGV[2] -> MailSentTTL (ms)
// Returns 1 if appended, 0 if the id was already sent or kept, -1 if a delivery holds the lease.
var appendOutboxScript = redis.NewScript(`
local v = redis.call('GET', KEYS[2])
if v then
  if string.sub(v, 1, 6) == 'lease:' then return -1 end
  return 0
end
redis.call('SET', KEYS[2], 'outbox', 'PX', ARGV[2])
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
`)

// claimMailScript takes the lease on the delivery of an email unless it was delivered.
// KEYS[1] -> crm:{<tenant>}:mailsent:<id>
// ARGV[1] -> "lease:<token>"   ARGV[2] -> lease (ms)
// Returns "claimed" (also when the caller already holds this lease), "busy" or "done".
var claimMailScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 'claimed'
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 'claimed'
end
if string.sub(v, 1, 6) == 'lease:' then return 'busy' end
return 'done'
`)

// releaseMailScript gives up a lease after a failed delivery, if the caller still holds it.
// KEYS[1] -> crm:{<tenant>}:mailsent:<id>
// ARGV[1] -> "lease:<token>"
// Returns 1 if released, 0 if the key held something else.
var releaseMailScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

func checkMailID(id string) error {
	if id == "" || strings.ContainsAny(id, "\r\n") {
		return &ValidationError{Field: "id", Code: "INVALID_MAIL_ID",
			Message: fmt.Sprintf("email idempotency key %q is invalid: use a non-empty single-line string", id)}
	}
	return nil
}

// AppendOutbox keeps an email in the tenant's outbox (crm:{<tenant>}:outbox). It is idempotent by
// m.ID: a message whose ID was already kept or sent within MailSentTTL is not appended again, and
// the error wraps ErrMailDone. It returns a wrapped ErrMailInFlight when an SMTP delivery of the
// same ID holds the lease, and a *ValidationError for a bad tenant or an empty ID. A zero
// m.CreatedAt is set to the store clock's now. Safe for concurrent use.
func (s *RedisStore) AppendOutbox(ctx context.Context, t TenantID, m OutboxMessage) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if err := checkMailID(m.ID); err != nil {
		return err
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = s.cfg.Clock.Now()
	}
	m.CreatedAt = m.CreatedAt.UTC()
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode outbox message %s: %w", m.ID, err)
	}
	n, err := appendOutboxScript.Run(ctx, s.rdb, []string{OutboxKey(t), MailSentKey(t, m.ID)},
		string(raw), MailSentTTL.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("append outbox message %s: %w", m.ID, err)
	}
	switch {
	case n < 0:
		return fmt.Errorf("append outbox message %s: %w", m.ID, ErrMailInFlight)
	case n == 0:
		return fmt.Errorf("append outbox message %s: %w", m.ID, ErrMailDone)
	}
	return nil
}

// Outbox returns up to limit messages of the tenant's outbox, oldest first; limit <= 0 returns
// them all. A *ValidationError for a bad tenant.
func (s *RedisStore) Outbox(ctx context.Context, t TenantID, limit int) ([]OutboxMessage, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	stop := int64(-1)
	if limit > 0 {
		stop = int64(limit) - 1
	}
	raws, err := s.rdb.LRange(ctx, OutboxKey(t), 0, stop).Result()
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	out := make([]OutboxMessage, 0, len(raws))
	for i, raw := range raws {
		var m OutboxMessage
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			return nil, fmt.Errorf("decode outbox message %d: %w", i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// ClaimMail takes a lease of the given length on the delivery of the email whose idempotency key
// is id, for the caller identified by token (unique per attempt). See MailClaim for the answers.
// A *ValidationError for a bad tenant, an empty id or token, or a lease under a millisecond.
func (s *RedisStore) ClaimMail(ctx context.Context, t TenantID, id, token string, lease time.Duration) (MailClaim, error) {
	if err := t.Validate(); err != nil {
		return 0, err
	}
	if err := checkMailID(id); err != nil {
		return 0, err
	}
	if token == "" || lease < time.Millisecond {
		return 0, &ValidationError{Field: "lease", Code: "INVALID_MAIL_LEASE",
			Message: fmt.Sprintf("claiming email %s needs a token and a lease of at least 1ms (got %s)", id, lease)}
	}
	res, err := claimMailScript.Run(ctx, s.rdb, []string{MailSentKey(t, id)},
		mailLeasePrefix+token, lease.Milliseconds()).Text()
	if err != nil {
		return 0, fmt.Errorf("claim email %s: %w", id, err)
	}
	switch res {
	case "claimed":
		return MailClaimed, nil
	case "busy":
		return MailBusy, nil
	default:
		return MailDone, nil
	}
}

// FinishMail ends a lease taken by ClaimMail. With delivered it records the email as sent for
// MailSentTTL (even if the lease had run out: the email did go); otherwise it releases the lease,
// if the caller still holds it, so that a retry may deliver. A *ValidationError for a bad tenant or id.
func (s *RedisStore) FinishMail(ctx context.Context, t TenantID, id, token string, delivered bool) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if err := checkMailID(id); err != nil {
		return err
	}
	key := MailSentKey(t, id)
	if delivered {
		if err := s.rdb.Set(ctx, key, "sent", MailSentTTL).Err(); err != nil {
			return fmt.Errorf("record email %s as sent: %w", id, err)
		}
		return nil
	}
	if err := releaseMailScript.Run(ctx, s.rdb, []string{key}, mailLeasePrefix+token).Err(); err != nil {
		return fmt.Errorf("release email %s: %w", id, err)
	}
	return nil
}
