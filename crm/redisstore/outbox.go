package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
)

const mailLeasePrefix = "lease:"

// appendOutboxScript keeps an email in the outbox unless its idempotency key was already delivered,
// or drops a workflow's notification whose record, recipient or workflow activation is gone, or
// whose activator lacks the read its text needs, as claimMailScript does, and first removes the expired entries (at most 100 a call); past the outbox's cap it drops the
// oldest workflow notifications and counts them.
// See lua/append_outbox.lua for its KEYS and ARGV.
var appendOutboxScript = newScript[appendOutboxCall]("helpers", "mail_drop", "append_outbox")

// appendOutboxCall is a call of appendOutboxScript (lua/append_outbox.lua).
type appendOutboxCall struct {
	Outbox, Sent, Expiry, Audit, Dropped string
	// Record and BinRecord are the keys of the record the email is about and Recipient the user key
	// of its recipient, all "" without a record, and Flow its workflow's key, "" without a record or
	// a workflow; an empty one is left out of KEYS.
	Record, BinRecord, Recipient, Flow string
	To                                 string // the recipient's address, with a record
	ShowsRecordData                    bool   // with a record: its text shows the record's data
	UserPrefix                         string // with a record: the user key prefix

	Message     string // JSON
	SentTTL     int64  // ms
	At          int64  // unix ms
	ExpiresAt   int64  // unix ms, 0 for never
	Ref         crm.MailRef
	MailID      string
	AuditMaxLen string
	Max         int
}

func (c appendOutboxCall) keys() []string {
	keys := []string{c.Outbox, c.Sent, c.Expiry, c.Audit, c.Dropped}
	if c.Record != "" {
		keys = append(keys, c.Record, c.BinRecord, c.Recipient)
		if c.Flow != "" {
			keys = append(keys, c.Flow)
		}
	}
	return keys
}

func (c appendOutboxCall) argv() []any {
	return []any{c.Message, c.SentTTL, c.At, c.ExpiresAt, string(c.Ref.ObjectType), string(c.Ref.RecordID), c.Ref.Workflow,
		c.MailID, c.AuditMaxLen, c.Max, activation(c.Ref), activationNumber(c.Ref), c.To, flag(c.ShowsRecordData), c.UserPrefix}
}

// activation is the ARGV of the workflow activation a notification was queued under: its
// activated_at in unix ms, or "" when the notification does not say (queued by a version that did
// not record it), which the scripts take as the current activation.
func activation(ref crm.MailRef) string {
	if ref.ActivatedAt.IsZero() {
		return ""
	}
	return ms(ref.ActivatedAt)
}

// activationNumber is the ARGV of that activation's number (crm.MailRef.Activation), or "" when
// the notification does not carry one (activated_at alone then names the activation).
func activationNumber(ref crm.MailRef) string {
	if ref.Activation == 0 || ref.ActivatedAt.IsZero() {
		return ""
	}
	return strconv.FormatInt(ref.Activation, 10)
}

// expireOutboxScript removes the outbox entries expired at now, oldest first.
// See lua/expire_outbox.lua for its KEYS and ARGV.
var expireOutboxScript = newScript[expireOutboxCall]("expire_outbox").quiet()

// expireOutboxCall is a call of expireOutboxScript (lua/expire_outbox.lua).
type expireOutboxCall struct {
	Outbox, Expiry string

	At    int64 // unix ms
	Limit int
}

func (c expireOutboxCall) keys() []string { return []string{c.Outbox, c.Expiry} }
func (c expireOutboxCall) argv() []any    { return []any{c.At, c.Limit} }

// claimMailScript takes the lease on the delivery of an email unless it was delivered, or drops a
// workflow's notification when its record, its recipient or its workflow's activation is gone, or
// its activator lacks the read its text needs.
// See lua/claim_mail.lua for its KEYS and ARGV.
var claimMailScript = newScript[claimMailCall]("helpers", "mail_drop", "claim_mail")

// claimMailCall is a call of claimMailScript (lua/claim_mail.lua).
type claimMailCall struct {
	Sent, Audit string
	// Record and BinRecord are the keys of the record the email is about, Recipient the user key of
	// its recipient and Flow its workflow's key; all "" without a record (they are then left out of
	// KEYS).
	Record, BinRecord, Recipient, Flow string
	To                                 string // the recipient's address, with a record
	ShowsRecordData                    bool   // with a record: its text shows the record's data
	UserPrefix                         string // with a record: the user key prefix

	Lease       string // "lease:<token>"
	LeaseTTL    int64  // ms
	At          int64  // unix ms
	Ref         crm.MailRef
	MailID      string
	AuditMaxLen string
	SentTTL     int64 // ms
}

func (c claimMailCall) keys() []string {
	keys := []string{c.Sent, c.Audit}
	if c.Record != "" {
		keys = append(keys, c.Record, c.BinRecord, c.Recipient, c.Flow)
	}
	return keys
}

func (c claimMailCall) argv() []any {
	return []any{c.Lease, c.LeaseTTL, c.At, string(c.Ref.ObjectType), string(c.Ref.RecordID), c.Ref.Workflow, c.MailID,
		c.AuditMaxLen, c.SentTTL, c.To, flag(c.ShowsRecordData), c.UserPrefix, activation(c.Ref), activationNumber(c.Ref)}
}

// releaseMailScript gives up a lease after a failed delivery, if the caller still holds it.
// See lua/release_mail.lua for its KEYS and ARGV.
var releaseMailScript = newScript[releaseMailCall]("release_mail").quiet()

// releaseMailCall is a call of releaseMailScript (lua/release_mail.lua).
type releaseMailCall struct {
	Sent string

	Lease string // "lease:<token>"
}

func (c releaseMailCall) keys() []string { return []string{c.Sent} }
func (c releaseMailCall) argv() []any    { return []any{c.Lease} }

func checkMailID(id string) error {
	if id == "" || strings.ContainsAny(id, "\r\n") {
		return &crm.ValidationError{Field: "id", Code: "INVALID_MAIL_ID",
			Message: fmt.Sprintf("email idempotency key %q is invalid: use a non-empty single-line string", id)}
	}
	return nil
}

// AppendOutbox keeps an email in the tenant's outbox (crm:{<tenant>}:outbox) and returns how many
// workflow notifications it dropped to keep the outbox within opts.Max (nil: the defaults, see
// crm.AppendOutboxOpts): those nearest their expiry, the oldest, at most 100 a call, counted in
// OutboxDropped. An email that does not expire is never dropped. It is idempotent by m.ID: a
// message whose ID was already kept, sent or dropped within MailSentTTL is not appended again (nor
// dropped again), and the error wraps ErrMailDone. A message with a Ref whose record exists neither live nor in the bin is
// dropped (audit entry "mail_dropped") and the error wraps ErrMailDropped. A message with an
// ExpiresAt leaves the outbox once that time has passed; each call first removes up to 100 expired
// entries. It returns a wrapped ErrMailInFlight when an SMTP delivery of the same ID holds the
// lease, and a *ValidationError for a bad tenant, an empty ID or a negative Max. A zero m.CreatedAt
// is set to the store clock's now. Safe for concurrent use.
//
// A message whose Ref names its workflow is kept only while that workflow is active under the
// activation m.Ref.ActivatedAt and m.Ref.Activation name (any activation when ActivatedAt is zero: a
// notification queued by a version that did not record it; ActivatedAt alone when Activation is
// 0): otherwise it is dropped (audit entry "mail_dropped" with the reason "workflow_inactive" or
// "workflow_reactivated") and the error wraps ErrMailWorkflowStopped, as ClaimRecordMail drops it
// before an SMTP delivery. Such a drop holds back that activation's copy of the email only: the
// same ID queued under another activation (its step ran again under it) is kept as any other.
//
// A message with a Ref is checked against its reader as at an SMTP delivery too, since reading
// the outbox renders its text from the record: when m.To is no longer a user of the tenant, or is
// a disabled one, it is dropped (audit entry "mail_dropped", reason "recipient_gone", naming the
// recipient) and the error wraps ErrMailRecipientGone; when its text shows the record's data
// (crm.ShowsRecordData) and its workflow's activator no longer holds read, it is dropped (reason
// "activator_lacks_read") and the error wraps ErrMailWorkflowStopped. Each drop is written once:
// the same message appended again after its drop wraps ErrMailDone and writes nothing. A message
// with a Ref needs m.To (a *ValidationError otherwise). An email without a Ref (a permanent
// delete's confirmation, a limit's email) is kept unchecked.
func (s *Store) AppendOutbox(ctx context.Context, t crm.TenantID, m crm.Mail, opts *crm.AppendOutboxOpts) (int, error) {
	if err := t.Validate(); err != nil {
		return 0, err
	}
	if err := checkMailID(m.ID); err != nil {
		return 0, err
	}
	keep := crm.DefaultOutboxMax
	if opts != nil && opts.Max != 0 {
		keep = opts.Max
	}
	if keep < 1 {
		return 0, &crm.ValidationError{Field: "max", Code: "INVALID_OUTBOX_MAX",
			Message: fmt.Sprintf("the outbox's cap must be 1 or more, got %d", keep)}
	}
	if !m.Ref.IsZero() && m.To == "" {
		return 0, &crm.ValidationError{Field: "to", Code: "INVALID_MAIL_REF",
			Message: fmt.Sprintf("keeping email %s about a record needs its recipient: set To, or leave Ref empty for another email", m.ID)}
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = s.cfg.Clock.Now()
	}
	m.CreatedAt = m.CreatedAt.UTC()
	raw, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("encode outbox message %s: %w", m.ID, err)
	}
	call := appendOutboxCall{
		Outbox: OutboxKey(t), Sent: MailSentKey(t, m.ID), Expiry: OutboxExpiryKey(t), Audit: AuditKey(t),
		Dropped: OutboxDroppedKey(t),
		Message: string(raw), SentTTL: crm.MailSentTTL.Milliseconds(), At: s.cfg.Clock.Now().UnixMilli(),
		Ref: m.Ref, MailID: m.ID, AuditMaxLen: auditMaxLen, Max: keep,
	}
	if !m.Ref.IsZero() {
		call.Record, call.BinRecord = RecordKey(t, m.Ref.ObjectType, m.Ref.RecordID), BinRecordKey(t, m.Ref.ObjectType, m.Ref.RecordID)
		call.Recipient, call.To = UserKey(t, m.To), m.To
		call.ShowsRecordData, call.UserPrefix = crm.ShowsRecordData(m.Subject, m.Body), userKeyPrefix(t)
		if m.Ref.Workflow != "" {
			call.Flow = FlowKey(t, m.Ref.Workflow)
		}
	}
	if !m.ExpiresAt.IsZero() {
		call.ExpiresAt = m.ExpiresAt.UnixMilli()
	}
	res, err := appendOutboxScript.run(ctx, s, call).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("append outbox message %s: %w", m.ID, err)
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("append outbox message %s: unexpected reply %v", m.ID, res)
	}
	switch n := res[0]; {
	case n == 2:
		return 0, fmt.Errorf("append outbox message %s: %w", m.ID, crm.ErrMailDropped)
	case n == 3:
		return 0, fmt.Errorf("append outbox message %s: %w", m.ID, crm.ErrMailWorkflowStopped)
	case n == 4:
		return 0, fmt.Errorf("append outbox message %s: %w", m.ID, crm.ErrMailRecipientGone)
	case n < 0:
		return 0, fmt.Errorf("append outbox message %s: %w", m.ID, crm.ErrMailInFlight)
	case n == 0:
		return 0, fmt.Errorf("append outbox message %s: %w", m.ID, crm.ErrMailDone)
	}
	return int(res[1]), nil
}

// OutboxDropped says how many workflow notifications the tenant's outbox dropped, since it was
// created, to stay within its cap (see AppendOutbox), and when it last did. A *ValidationError for a
// bad tenant.
func (s *Store) OutboxDropped(ctx context.Context, t crm.TenantID) (crm.OutboxDrops, error) {
	if err := t.Validate(); err != nil {
		return crm.OutboxDrops{}, err
	}
	h, err := s.rdb.HGetAll(ctx, OutboxDroppedKey(t)).Result()
	if err != nil {
		return crm.OutboxDrops{}, fmt.Errorf("read the outbox's drops: %w", err)
	}
	var d crm.OutboxDrops
	if v, ok := h["count"]; ok {
		if d.Count, err = strconv.ParseInt(v, 10, 64); err != nil {
			return crm.OutboxDrops{}, fmt.Errorf("read the outbox's drops: count %q: %w", v, err)
		}
	}
	if v, ok := h["last_at"]; ok {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return crm.OutboxDrops{}, fmt.Errorf("read the outbox's drops: last_at %q: %w", v, err)
		}
		d.LastAt = time.UnixMilli(ms).UTC()
	}
	return d, nil
}

// Outbox returns up to limit messages of the tenant's outbox, oldest first; limit <= 0 returns
// them all. A *ValidationError for a bad tenant.
func (s *Store) Outbox(ctx context.Context, t crm.TenantID, limit int) ([]crm.Mail, error) {
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
	return s.decodeOutbox(ctx, t, raws)
}

// RecentOutbox is Outbox newest first: the last limit messages kept (0: all), the newest first.
func (s *Store) RecentOutbox(ctx context.Context, t crm.TenantID, limit int) ([]crm.Mail, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	start := int64(0)
	if limit > 0 {
		start = -int64(limit)
	}
	raws, err := s.rdb.LRange(ctx, OutboxKey(t), start, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	slices.Reverse(raws)
	return s.decodeOutbox(ctx, t, raws)
}

// decodeOutbox decodes outbox entries, rendering the workflow notifications from their records.
func (s *Store) decodeOutbox(ctx context.Context, t crm.TenantID, raws []string) ([]crm.Mail, error) {
	out := make([]crm.Mail, 0, len(raws))
	for i, raw := range raws {
		var m crm.Mail
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			return nil, fmt.Errorf("decode outbox message %d: %w", i, err)
		}
		if !m.Ref.IsZero() {
			if err := s.renderOutboxMessage(ctx, t, &m); err != nil {
				return nil, err
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// renderOutboxMessage renders a notification's templates from its record, live or in the bin, or
// marks it erased when the record exists in neither.
func (s *Store) renderOutboxMessage(ctx context.Context, t crm.TenantID, m *crm.Mail) error {
	rec, err := s.MailRecord(ctx, t, m.Ref)
	switch {
	case errors.Is(err, crm.ErrNotFound):
		m.Subject, m.Body = crm.ErasedNotification(m.Ref)
		m.Erased = true
		return nil
	case err != nil:
		return fmt.Errorf("render outbox message %s: %w", m.ID, err)
	}
	m.Subject, m.Body = crm.RenderNotification(m.Subject, m.Body, m.Ref, rec)
	return nil
}

// MailRecord reads the record a notification is about: live, or else in the bin (a notification
// written before a restorable delete is still delivered; the bin keeps the data until the purge).
// A *NotFoundError when it exists in neither: it was permanently deleted or purged.
func (s *Store) MailRecord(ctx context.Context, t crm.TenantID, ref crm.MailRef) (crm.Record, error) {
	rec, err := s.Record(ctx, t, ref.ObjectType, ref.RecordID, nil)
	if errors.Is(err, crm.ErrNotFound) {
		rec, err = s.Record(ctx, t, ref.ObjectType, ref.RecordID, &crm.ReadOpts{Archived: true})
	}
	return rec, err
}

// ExpireOutbox removes up to limit outbox entries whose ExpiresAt is at or before now, oldest
// first, and returns how many it removed. A *ValidationError for a bad tenant.
func (s *Store) ExpireOutbox(ctx context.Context, t crm.TenantID, now time.Time, limit int) (int, error) {
	if err := t.Validate(); err != nil {
		return 0, err
	}
	if limit <= 0 || limit > crm.MaxScriptBatch {
		return 0, fmt.Errorf("crm: outbox expiry limit %d out of range 1..%d", limit, crm.MaxScriptBatch)
	}
	n, err := expireOutboxScript.run(ctx, s, expireOutboxCall{Outbox: OutboxKey(t), Expiry: OutboxExpiryKey(t), At: now.UnixMilli(), Limit: limit}).Int()
	if err != nil {
		return 0, fmt.Errorf("expire outbox: %w", err)
	}
	return n, nil
}

// ClaimMail takes a lease of the given length on the delivery of the email whose idempotency key
// is id, for the caller identified by token (unique per attempt). See MailClaim for the answers.
// A *ValidationError for a bad tenant, an empty id or token, or a lease under a millisecond.
func (s *Store) ClaimMail(ctx context.Context, t crm.TenantID, id, token string, lease time.Duration) (crm.MailClaim, error) {
	if err := t.Validate(); err != nil {
		return 0, err
	}
	if err := checkMailID(id); err != nil {
		return 0, err
	}
	if token == "" || lease < time.Millisecond {
		return 0, &crm.ValidationError{Field: "lease", Code: "INVALID_MAIL_LEASE",
			Message: fmt.Sprintf("claiming email %s needs a token and a lease of at least 1ms (got %s)", id, lease)}
	}
	return s.claimMail(ctx, t, id, mailLeasePrefix+token, lease, crm.MailDelivery{})
}

// ClaimRecordMail is ClaimMail for a workflow's notification about a record, checked against d at
// the moment of delivery, since its text is rendered from the record then. It drops the email in
// the same step (the audit entry "mail_dropped" with its reason, the ledger marks it done, once: an
// email claimed again after its drop is answered MailAlreadyDropped, and nothing is written) and
// answers MailDropped when the record exists neither live nor in the bin (permanently deleted or
// purged); MailRecipientGone when d.To is no longer a user of the tenant, or is a disabled one;
// MailWorkflowStopped when the workflow is no longer active (reason "workflow_inactive"), when it
// is active under another activation than d.Ref.ActivatedAt and d.Ref.Activation name
// ("workflow_reactivated": an email queued before a pause stays dropped once the workflow is
// activated again, even in the same millisecond; a zero ActivatedAt, from a version that did not
// record it, is taken as the current activation, and a zero Activation compares ActivatedAt
// alone), or when d.ShowsRecordData and its activator no longer holds read
// ("activator_lacks_read"). A drop for the workflow holds back that activation's copy of the email
// only: the same id queued under another activation (its step ran again under it) is claimed as
// any other. Errors as ClaimMail.
func (s *Store) ClaimRecordMail(ctx context.Context, t crm.TenantID, id, token string, lease time.Duration, d crm.MailDelivery) (crm.MailClaim, error) {
	if err := t.Validate(); err != nil {
		return 0, err
	}
	if err := checkMailID(id); err != nil {
		return 0, err
	}
	if token == "" || lease < time.Millisecond {
		return 0, &crm.ValidationError{Field: "lease", Code: "INVALID_MAIL_LEASE",
			Message: fmt.Sprintf("claiming email %s needs a token and a lease of at least 1ms (got %s)", id, lease)}
	}
	if d.Ref.IsZero() || d.Ref.Workflow == "" || d.To == "" {
		return 0, &crm.ValidationError{Field: "ref", Code: "INVALID_MAIL_REF",
			Message: fmt.Sprintf("claiming email %s about a record needs the record, its workflow and the recipient: use ClaimMail for another email", id)}
	}
	return s.claimMail(ctx, t, id, mailLeasePrefix+token, lease, d)
}

func (s *Store) claimMail(ctx context.Context, t crm.TenantID, id, lease string, ttl time.Duration, d crm.MailDelivery) (crm.MailClaim, error) {
	ref := d.Ref
	call := claimMailCall{
		Sent: MailSentKey(t, id), Audit: AuditKey(t),
		Lease: lease, LeaseTTL: ttl.Milliseconds(), At: s.cfg.Clock.Now().UnixMilli(), Ref: ref, MailID: id,
		AuditMaxLen: auditMaxLen, SentTTL: crm.MailSentTTL.Milliseconds(),
	}
	if !ref.IsZero() {
		call.Record, call.BinRecord = RecordKey(t, ref.ObjectType, ref.RecordID), BinRecordKey(t, ref.ObjectType, ref.RecordID)
		call.Recipient, call.To, call.Flow = UserKey(t, d.To), d.To, FlowKey(t, ref.Workflow)
		call.ShowsRecordData, call.UserPrefix = d.ShowsRecordData, userKeyPrefix(t)
	}
	res, err := claimMailScript.run(ctx, s, call).Text()
	if err != nil {
		return 0, fmt.Errorf("claim email %s: %w", id, err)
	}
	switch res {
	case "claimed":
		return crm.MailClaimed, nil
	case "busy":
		return crm.MailBusy, nil
	case "dropped":
		return crm.MailDropped, nil
	case "already_dropped":
		return crm.MailAlreadyDropped, nil
	case "recipient_gone":
		return crm.MailRecipientGone, nil
	case "workflow_stopped":
		return crm.MailWorkflowStopped, nil
	default:
		return crm.MailDone, nil
	}
}

// FinishMail ends a lease taken by ClaimMail. With delivered it records the email as sent for
// MailSentTTL (even if the lease had run out: the email did go); otherwise it releases the lease,
// if the caller still holds it, so that a retry may deliver. A *ValidationError for a bad tenant or id.
func (s *Store) FinishMail(ctx context.Context, t crm.TenantID, id, token string, delivered bool) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if err := checkMailID(id); err != nil {
		return err
	}
	key := MailSentKey(t, id)
	if delivered {
		if err := s.rdb.Set(ctx, key, "sent", crm.MailSentTTL).Err(); err != nil {
			return fmt.Errorf("record email %s as sent: %w", id, err)
		}
		return nil
	}
	if err := releaseMailScript.run(ctx, s, releaseMailCall{Sent: key, Lease: mailLeasePrefix + token}).Err(); err != nil {
		return fmt.Errorf("release email %s: %w", id, err)
	}
	return nil
}
