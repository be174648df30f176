package crm

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// AuditEntry is one deletion, restore or permanent delete, of one record or of a batch of records
// moved together. It names records by id only.
type AuditEntry struct {
	// ID is the entry's cursor.
	ID string
	// Action is "archive", "restore", "permanent_delete", "permanent_delete_cascade" (the calls
	// wiped with a permanently deleted contact), "purge" (bin entries removed for good) or
	// "mail_dropped" (a notification about a record that no longer exists, not sent).
	Action     string
	ObjectType ObjectType
	RecordIDs  []RecordID
	// MailID is the id of the email a "mail_dropped" entry is about.
	MailID string
	// Count is how many records the entry is about, set by the purge and cascade entries; 0 otherwise.
	Count int
	By    string
	Via   Via
	Ref   string
	At    time.Time
}

// AuditOpts are options of Audit. nil means the defaults.
type AuditOpts struct {
	// After is the cursor of the previous page; empty starts at the oldest entry.
	After string
	// Limit is the page size. Defaults to 100; at most 1000.
	Limit int
}

// Audit implements Store.
func (s *RedisStore) Audit(ctx context.Context, t TenantID, opts *AuditOpts) ([]AuditEntry, string, error) {
	if opts == nil {
		opts = &AuditOpts{}
	}
	limit := opts.Limit
	if limit == 0 {
		limit = 100
	}
	if limit < 0 || limit > 1000 {
		return nil, "", &ValidationError{Field: "limit", Code: "INVALID_LIMIT", Message: fmt.Sprintf("limit %d is out of range: use 1 to 1000", limit)}
	}
	start := "-"
	if opts.After != "" {
		ms, seq, ok := strings.Cut(opts.After, "-")
		if _, err := strconv.ParseUint(ms, 10, 64); err != nil || !ok {
			return nil, "", &ValidationError{Field: "after", Code: "INVALID_CURSOR", Message: fmt.Sprintf("cursor %q is invalid: pass the paging.next.after value of the previous page", opts.After)}
		}
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			return nil, "", &ValidationError{Field: "after", Code: "INVALID_CURSOR", Message: fmt.Sprintf("cursor %q is invalid: pass the paging.next.after value of the previous page", opts.After)}
		}
		start = "(" + opts.After
	}
	msgs, err := s.rdb.XRangeN(ctx, AuditKey(t), start, "+", int64(limit+1)).Result()
	if err != nil {
		return nil, "", fmt.Errorf("read audit: %w", err)
	}
	next := ""
	if len(msgs) > limit {
		msgs = msgs[:limit]
		next = msgs[limit-1].ID
	}
	out := make([]AuditEntry, len(msgs))
	for i, m := range msgs {
		out[i] = auditEntry(m)
	}
	return out, next, nil
}

func auditEntry(m redis.XMessage) AuditEntry {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	var ids []RecordID
	for _, id := range strings.Split(str("record_ids"), ",") {
		if id != "" {
			ids = append(ids, RecordID(id))
		}
	}
	count, _ := strconv.Atoi(str("count"))
	return AuditEntry{ID: m.ID, Action: str("action"), ObjectType: ObjectType(str("object_type")), RecordIDs: ids, Count: count, MailID: str("mail_id"),
		By: str("by"), Via: Via(str("via")), Ref: str("ref"), At: parseMS(str("at"))}
}
