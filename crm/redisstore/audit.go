package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// Audit implements Store.
func (s *Store) Audit(ctx context.Context, t crm.TenantID, opts *crm.AuditOpts) ([]crm.AuditEntry, string, error) {
	if opts == nil {
		opts = &crm.AuditOpts{}
	}
	limit := opts.Limit
	if limit == 0 {
		limit = 100
	}
	if limit < 0 || limit > 1000 {
		return nil, "", &crm.ValidationError{Field: "limit", Code: "INVALID_LIMIT", Message: fmt.Sprintf("limit %d is out of range: use 1 to 1000", limit)}
	}
	start, end := "-", "+"
	if opts.After != "" {
		ms, seq, ok := strings.Cut(opts.After, "-")
		if _, err := strconv.ParseUint(ms, 10, 64); err != nil || !ok {
			return nil, "", &crm.ValidationError{Field: "after", Code: "INVALID_CURSOR", Message: fmt.Sprintf("cursor %q is invalid: pass the paging.next.after value of the previous page", opts.After)}
		}
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			return nil, "", &crm.ValidationError{Field: "after", Code: "INVALID_CURSOR", Message: fmt.Sprintf("cursor %q is invalid: pass the paging.next.after value of the previous page", opts.After)}
		}
		if opts.Newest {
			end = "(" + opts.After
		} else {
			start = "(" + opts.After
		}
	}
	read := func(n int64) ([]redis.XMessage, error) {
		if opts.Newest {
			return s.rdb.XRevRangeN(ctx, AuditKey(t), end, start, n).Result()
		}
		return s.rdb.XRangeN(ctx, AuditKey(t), start, end, n).Result()
	}
	if !opts.Filtered() {
		msgs, err := read(int64(limit + 1))
		if err != nil {
			return nil, "", fmt.Errorf("read audit: %w", err)
		}
		next := ""
		if len(msgs) > limit {
			msgs = msgs[:limit]
			next = msgs[limit-1].ID
		}
		out := make([]crm.AuditEntry, len(msgs))
		for i, m := range msgs {
			out[i] = auditEntry(m)
		}
		return out, next, nil
	}
	// Filtered: read on until the page is full or auditScan entries were read, and go on from the
	// last one read.
	out := []crm.AuditEntry{}
	for scanned := 0; scanned < auditScan; {
		msgs, err := read(int64(max(limit, 200)))
		if err != nil {
			return nil, "", fmt.Errorf("read audit: %w", err)
		}
		for i, m := range msgs {
			scanned++
			e := auditEntry(m)
			if !opts.Keeps(e) {
				continue
			}
			out = append(out, e)
			if len(out) == limit {
				if i == len(msgs)-1 && len(msgs) < max(limit, 200) {
					return out, "", nil // the last entry there is
				}
				return out, m.ID, nil
			}
		}
		if len(msgs) < max(limit, 200) {
			return out, "", nil
		}
		last := msgs[len(msgs)-1].ID
		if opts.Newest {
			end = "(" + last
		} else {
			start = "(" + last
		}
		if scanned >= auditScan {
			return out, last, nil
		}
	}
	return out, "", nil
}

// auditScan bounds how many entries one filtered Audit call reads: the page ends there, with a
// cursor to go on from.
const auditScan = 10000

func auditEntry(m redis.XMessage) crm.AuditEntry {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	var ids []crm.RecordID
	for _, id := range strings.Split(str("record_ids"), ",") {
		if id != "" {
			ids = append(ids, crm.RecordID(id))
		}
	}
	count, _ := strconv.Atoi(str("count"))
	perms := func(k string) crm.Permissions {
		p, _ := crm.ParsePermissions(str(k)) // written from a Permissions; a set that no longer parses is left empty
		return p
	}
	e := crm.AuditEntry{ID: m.ID, Action: str("action"), ObjectType: crm.ObjectType(str("object_type")), RecordIDs: ids,
		Count: count, MailID: str("mail_id"),
		By: str("by"), Via: crm.Via(str("via")), Ref: str("ref"), Revision: parseRev(str("rev")), At: parseMS(str("at")),
		User: str("user"), TokenID: str("token_id"), Rule: str("rule"), Reason: str("reason"), Property: str("property")}
	if v := str("changed"); v != "" {
		e.Changed = strings.Split(v, ",")
	}
	e.OptionsAdded, _ = strconv.Atoi(str("options_added"))
	e.CallsErased, _ = strconv.Atoi(str("calls_erased"))
	e.OptionsRemoved, _ = strconv.Atoi(str("options_removed"))
	if _, ok := m.Values["perms"]; ok {
		e.Permissions = perms("perms")
	}
	if _, ok := m.Values["prev_perms"]; ok {
		e.PreviousPermissions = perms("prev_perms")
	}
	if v, err := strconv.ParseInt(str("retention"), 10, 64); err == nil {
		e.Retention = time.Duration(v) * time.Millisecond
	}
	if v, err := strconv.ParseInt(str("prev_retention"), 10, 64); err == nil {
		e.PreviousRetention = time.Duration(v) * time.Millisecond
	}
	if v := str("expires_at"); v != "" && v != "0" {
		e.ExpiresAt = parseMS(v)
	}
	return e
}
