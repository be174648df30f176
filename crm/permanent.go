package crm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// PermanentDeleteParams names the contact to delete for good: by id, or by email (exactly one).
type PermanentDeleteParams struct {
	// ID is the contact's id.
	ID RecordID
	// Email finds the contact by its primary or additional email. An email that belongs to no contact
	// is blocklisted all the same.
	Email string
	// By is the acting user's email; the confirmation goes there.
	By string
}

// PermanentDeleteResult tells what PermanentDeleteContact did.
type PermanentDeleteResult struct {
	// ID is the deleted contact's id, empty when an unknown email was only blocklisted.
	ID RecordID
	// Blocklisted is how many email addresses were blocklisted.
	Blocklisted int
	// Mail is the confirmation email, written with the delete; a worker sends it.
	Mail PendingMail
}

// PendingMail is an email written atomically with the change that causes it, kept until a worker has
// delivered it (see PendingMailKey).
type PendingMail struct {
	ID        string    `json:"id"`
	To        string    `json:"to"`
	Subject   string    `json:"subject"`
	Body      string    `json:"body"`
	Kind      string    `json:"kind"`
	CreatedAt time.Time `json:"created_at"`
}

// LogValue logs a pending mail by id and kind only.
func (m PendingMail) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mail_id", m.ID), slog.String("kind", m.Kind))
}

// MailKindPermanentDelete is the Kind of the confirmation of a permanent delete.
const MailKindPermanentDelete = "permanent_delete_confirmation"

// PermanentDeleteContact deletes a contact for good (privacy law): see permanentDeleteScript for what
// goes. It works on a live contact or one in the bin, never enters the bin and cannot be undone. By
// email, an unknown address succeeds and is blocklisted. A *NotFoundError for an unknown id.
func (s *RedisStore) PermanentDeleteContact(ctx context.Context, t TenantID, p PermanentDeleteParams) (PermanentDeleteResult, error) {
	if (p.ID == "") == (p.Email == "") {
		return PermanentDeleteResult{}, &ValidationError{Field: "objectId", Code: "INVALID_INPUT",
			Message: "name the contact by id, or by email with idProperty \"email\": exactly one of the two"}
	}
	by, err := NormalizeEmail(p.By)
	if err != nil {
		return PermanentDeleteResult{}, &ValidationError{Field: "by", Code: "INVALID_EMAIL", Message: "the acting user's email is needed for the confirmation"}
	}
	typed := ""
	if p.Email != "" {
		e, err := NormalizeEmail(p.Email)
		if err != nil {
			return PermanentDeleteResult{}, &ValidationError{Field: "objectId", Code: "INVALID_EMAIL",
				Message: fmt.Sprintf("%q is not an email address: pass the contact's email, or its id without idProperty", p.Email)}
		}
		// The confirmation never repeats the address: it is kept in Redis until sent (and in the
		// outbox when no SMTP server is configured), where no trace of the contact may stay.
		p.Email, typed = e, "named by its email address"
	} else {
		if _, err := idArgs([]RecordID{p.ID}); err != nil {
			return PermanentDeleteResult{}, err
		}
		typed = "with id " + string(p.ID)
	}
	for attempt := 0; attempt < 5; attempt++ {
		res, retry, err := s.permanentDeleteOnce(ctx, t, p, by, typed)
		if !retry {
			return res, err
		}
	}
	return PermanentDeleteResult{}, &ConflictError{Message: "the contact kept changing during the permanent delete: try again"}
}

func (s *RedisStore) permanentDeleteOnce(ctx context.Context, t TenantID, p PermanentDeleteParams, by, typed string) (PermanentDeleteResult, bool, error) {
	id := p.ID
	var emails []string
	if p.Email != "" {
		found, err := s.ContactByEmail(ctx, t, p.Email)
		switch {
		case errors.Is(err, ErrNotFound):
			emails = []string{p.Email}
		case err != nil:
			return PermanentDeleteResult{}, false, err
		default:
			id = found
		}
	}
	if id != "" {
		rec, err := s.Record(ctx, t, Contacts, id, nil)
		if errors.Is(err, ErrNotFound) {
			rec, err = s.Record(ctx, t, Contacts, id, &ReadOpts{Archived: true})
		}
		if err != nil {
			return PermanentDeleteResult{}, false, err
		}
		emails = RecordEmails(rec.Properties)
	}
	now := s.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	var rb [12]byte
	if _, err := rand.Read(rb[:]); err != nil {
		return PermanentDeleteResult{}, false, fmt.Errorf("mail id: %w", err)
	}
	mail := PendingMail{
		ID: "pd-" + hex.EncodeToString(rb[:]), To: by, Kind: MailKindPermanentDelete, CreatedAt: now,
		Subject: "Permanent deletion completed",
		Body: fmt.Sprintf("The contact you asked to delete permanently (%s) was deleted at %s, with its activities and list memberships.\n"+
			"It cannot be restored, and its email addresses can no longer be used for a new contact.\n", typed, now.Format(time.RFC1123)),
	}
	raw, err := json.Marshal(mail)
	if err != nil {
		return PermanentDeleteResult{}, false, fmt.Errorf("encode mail: %w", err)
	}
	recordEmails := ""
	if id != "" {
		recordEmails = strings.Join(emails, ";")
	}
	args := []any{ms(now), string(id), by, auditMaxLen, recordKeyPrefix(t), binRecordKeyPrefix(t),
		assocKeyPrefix(t), binAssocKeyPrefix(t), prefix(t) + "memberof:", listKeyPrefix(t), listMembersKeySuffix,
		liveKeyPrefix(t), trashKeyPrefix(t), binIDsKeyPrefix(t), mail.ID, string(raw), recordEmails,
		flowKeyPrefix(t), prefix(t) + "enr:", prefix(t) + "hist:", binAssocIDsKeyPrefix(t)}
	for _, e := range emails {
		args = append(args, s.emailHash(t, e))
	}
	n, err := permanentDeleteScript.Run(ctx, s.rdb, []string{EmailIndexKey(t), ChangedKey(t), ChangedEventsKey(t),
		AuditKey(t), BlocklistKey(t), PendingMailKey(t), FlowsKey(t)}, args...).Int()
	if err != nil {
		return PermanentDeleteResult{}, false, fmt.Errorf("permanent delete: %w", err)
	}
	switch n {
	case 0:
		return PermanentDeleteResult{}, false, &NotFoundError{Kind: "contact", ID: string(id)}
	case -1:
		return PermanentDeleteResult{}, true, nil
	}
	return PermanentDeleteResult{ID: id, Blocklisted: len(emails), Mail: mail}, false, nil
}

// IsBlocklisted reports whether an email was blocklisted by a permanent delete.
func (s *RedisStore) IsBlocklisted(ctx context.Context, t TenantID, email string) (bool, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return false, &ValidationError{Field: "email", Code: "INVALID_EMAIL", Message: fmt.Sprintf("%q is not an email address", email)}
	}
	ok, err := s.rdb.SIsMember(ctx, BlocklistKey(t), s.emailHash(t, e)).Result()
	if err != nil {
		return false, fmt.Errorf("read blocklist: %w", err)
	}
	return ok, nil
}

// PendingMails lists a tenant's emails not yet delivered, oldest first.
func (s *RedisStore) PendingMails(ctx context.Context, t TenantID) ([]PendingMail, error) {
	h, err := s.rdb.HGetAll(ctx, PendingMailKey(t)).Result()
	if err != nil {
		return nil, fmt.Errorf("read pending mail: %w", err)
	}
	out := make([]PendingMail, 0, len(h))
	for id, raw := range h {
		var m PendingMail
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			return nil, fmt.Errorf("decode pending mail %s: %w", id, err)
		}
		out = append(out, m)
	}
	sortPending(out)
	return out, nil
}

// AckPendingMail forgets a pending email once it was delivered (or kept in the outbox). Idempotent.
func (s *RedisStore) AckPendingMail(ctx context.Context, t TenantID, id string) error {
	if err := s.rdb.HDel(ctx, PendingMailKey(t), id).Err(); err != nil {
		return fmt.Errorf("ack pending mail %s: %w", id, err)
	}
	return nil
}

func sortPending(m []PendingMail) {
	slices.SortFunc(m, func(a, b PendingMail) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
