package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// PermanentDeleteContact deletes a contact for good (privacy law): see permanentDeleteScript for what
// goes. It works on a live contact or one in the bin, never enters the bin and cannot be undone. By
// email, an unknown address succeeds and is blocklisted. A *NotFoundError for an unknown id; a
// contact that was there when read and is gone at the step (purged from the bin, or erased by
// another request) counts as deleted, its emails blocklisted.
func (s *Store) PermanentDeleteContact(ctx context.Context, t crm.TenantID, p crm.PermanentDeleteParams) (crm.PermanentDeleteResult, error) {
	if (p.ID == "") == (p.Email == "") {
		return crm.PermanentDeleteResult{}, &crm.ValidationError{Field: "objectId", Code: "INVALID_INPUT",
			Message: "name the contact by id, or by email with idProperty \"email\": exactly one of the two"}
	}
	by, err := crm.NormalizeEmail(p.By)
	if err != nil {
		return crm.PermanentDeleteResult{}, &crm.ValidationError{Field: "by", Code: "INVALID_EMAIL", Message: "the acting user's email is needed for the confirmation"}
	}
	typed := ""
	if p.Email != "" {
		e, err := crm.NormalizeEmail(p.Email)
		if err != nil {
			return crm.PermanentDeleteResult{}, &crm.ValidationError{Field: "objectId", Code: "INVALID_EMAIL",
				Message: fmt.Sprintf("%q is not an email address: pass the contact's email, or its id without idProperty", p.Email)}
		}
		// The confirmation never repeats the address: it is kept in Redis until sent (and in the
		// outbox when no SMTP server is configured), where no trace of the contact may stay.
		p.Email, typed = e, "named by its email address"
	} else {
		if err := checkIDs([]crm.RecordID{p.ID}); err != nil {
			return crm.PermanentDeleteResult{}, err
		}
		typed = "with id " + string(p.ID)
	}
	for attempt := 0; attempt < 5; attempt++ {
		res, retry, err := s.permanentDeleteOnce(ctx, t, p, by, typed)
		if !retry {
			return res, err
		}
	}
	return crm.PermanentDeleteResult{}, &crm.ConflictError{Message: "the contact kept changing during the permanent delete: try again"}
}

// eraseCopiesNaming erases the copies of emails that a permanent delete must not leave: a bulk
// delete still selecting by a filter that names one is refused and its filter erased, a
// protection rule whose expression names one gets ErasedRuleWhen, and a workflow revision whose
// source names one has it replaced (an active workflow among them is paused: eraseFlowsNaming).
func (s *Store) eraseCopiesNaming(ctx context.Context, t crm.TenantID, emails []string) error {
	if err := s.refuseFiltersNaming(ctx, t, emails); err != nil {
		return fmt.Errorf("erasing the bulk delete filters that name the contact failed: %w", err)
	}
	if err := s.eraseRulesNaming(ctx, t, emails); err != nil {
		return fmt.Errorf("erasing the protection rules that name the contact failed: %w", err)
	}
	if err := s.eraseFlowsNaming(ctx, t, emails); err != nil {
		return fmt.Errorf("erasing the workflows that name the contact failed: %w", err)
	}
	return nil
}

func (s *Store) permanentDeleteOnce(ctx context.Context, t crm.TenantID, p crm.PermanentDeleteParams, by, typed string) (crm.PermanentDeleteResult, bool, error) {
	ids := []crm.RecordID{p.ID}
	var block []string
	if p.Email != "" {
		found, err := s.ContactsByAnyEmail(ctx, t, p.Email)
		if err != nil {
			return crm.PermanentDeleteResult{}, false, err
		}
		ids, block = found, []string{p.Email}
	}
	read := make([]string, len(ids))
	for i, id := range ids {
		rec, err := s.Record(ctx, t, crm.Contacts, id, nil)
		if errors.Is(err, crm.ErrNotFound) {
			rec, err = s.Record(ctx, t, crm.Contacts, id, &crm.ReadOpts{Archived: true})
		}
		switch {
		case errors.Is(err, crm.ErrNotFound) && p.Email != "":
			return crm.PermanentDeleteResult{}, true, nil // purged or erased since the lookup: look again
		case err != nil:
			return crm.PermanentDeleteResult{}, false, err
		}
		emails := crm.RecordEmails(rec.Properties)
		read[i] = strings.Join(emails, ";")
		for _, e := range emails {
			if !slices.Contains(block, e) {
				block = append(block, e)
			}
		}
	}
	now := s.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	var rb [12]byte
	if _, err := rand.Read(rb[:]); err != nil {
		return crm.PermanentDeleteResult{}, false, fmt.Errorf("mail id: %w", err)
	}
	mail := crm.Mail{
		ID: "pd-" + hex.EncodeToString(rb[:]), To: by, Kind: crm.MailKindPermanentDelete, CreatedAt: now,
		Subject: "Permanent deletion completed",
		Body: fmt.Sprintf("The contact you asked to delete permanently (%s) was deleted at %s, with its list memberships and workflow history.\n"+
			"Calls associated with it and erased with it, including calls also associated with other records: %s.\n"+
			"It cannot be restored, and its email addresses can no longer be used for a new contact.\n",
			typed, now.Format(time.RFC1123), mailCallsErased),
	}
	raw, err := json.Marshal(mail)
	if err != nil {
		return crm.PermanentDeleteResult{}, false, fmt.Errorf("encode mail: %w", err)
	}
	call := permanentDeleteCall{
		EmailIndex: EmailIndexKey(t), Changed: ChangedKey(t), ChangedEvents: ChangedEventsKey(t), Audit: AuditKey(t),
		Blocklist: BlocklistKey(t), PendingMail: PendingMailKey(t), Flows: FlowsKey(t),
		Contacts: typeSetsOf(t, crm.Contacts), Calls: typeSetsOf(t, crm.Calls), ActiveFlows: ActiveFlowsKey(t, crm.Contacts),
		At: now.UnixMilli(), IDs: ids, By: by, AuditMaxLen: auditMaxLen,
		RecordPrefix: recordKeyPrefix(t), BinRecordPrefix: binRecordKeyPrefix(t),
		AssocPrefix: assocKeyPrefix(t), BinAssocPrefix: binAssocKeyPrefix(t), MemberOfPrefix: memberOfKeysPrefix(t),
		ListPrefix: listKeyPrefix(t), ListMembersSuffix: listMembersKeySuffix,
		MailID: mail.ID, Mail: string(raw), Read: strings.Join(read, "|"),
		FlowPrefix: flowKeyPrefix(t), EnrollmentsPrefix: enrollmentsKeyPrefix(t), HistoriesPrefix: historiesKeyPrefix(t),
		BinAssocIDsPrefix: binAssocIDsKeyPrefix(t), BinEmailDayPrefix: binEmailDayKeyPrefix(t),
		OperationPrefix: operationKeyPrefix(t), Named: p.Email, BinLinksPrefix: binLinksKeyPrefix(t),
	}
	for _, id := range ids {
		call.Records = append(call.Records, recordKeysOf(t, crm.Contacts, id))
		call.MemberOf = append(call.MemberOf, MemberOfKey(t, crm.Contacts, id))
	}
	for _, o := range []crm.ObjectType{crm.Contacts, crm.Calls} {
		sch, err := s.Schema(ctx, t, o)
		if err != nil {
			return crm.PermanentDeleteResult{}, false, err
		}
		if o == crm.Contacts {
			call.ContactsIndexSpec = indexSpec(t, sch)
		} else {
			call.CallsIndexSpec = indexSpec(t, sch)
		}
	}
	call.Batch = s.erasureBatch()
	for _, e := range block {
		call.Hashes = append(call.Hashes, s.emailHash(t, e))
	}
	// The bulk delete filters, protection rules and workflows that name one of the emails lose it before
	// the contact goes, so that a crash between the two steps cannot leave a copy behind a finished
	// erasure (a retry, which the caller gets no answer without, finishes it); and again after, for
	// one written in between.
	if err := s.eraseCopiesNaming(ctx, t, block); err != nil {
		return crm.PermanentDeleteResult{}, false, fmt.Errorf("%w; nothing was deleted yet: ask again", err)
	}
	// Each step erases a batch of the contacts' calls; the one that finds none left erases the
	// contacts. A crash between steps leaves the contacts with the calls not yet erased: a retry
	// erases those.
	var n int64
	var erased int
	var acked error
	for {
		reply, a := permanentDeleteScript.runAcked(ctx, s, call)
		if a != nil {
			acked = a
		}
		var err error
		n, erased, err = permanentDeleteReply(reply)
		if err != nil {
			return crm.PermanentDeleteResult{}, false, fmt.Errorf("permanent delete: %w", err)
		}
		if n != 2 {
			break
		}
		if err := ctx.Err(); err != nil {
			return crm.PermanentDeleteResult{}, false, fmt.Errorf("permanent delete: the contact's calls were being erased and the contact is not erased yet: ask again to finish: %w", err)
		}
	}
	switch {
	case n == 0 && p.Email != "":
		return crm.PermanentDeleteResult{}, true, nil
	case n == 0:
		// Read a moment ago, gone since: purged from the bin, or erased by another request. Its
		// data is gone all the same; its emails, read above, are blocklisted as an erasure's are
		// (SPEC S10), with the audit entry and the confirmation of a delete that found no contact.
		call.IDs, call.Records, call.MemberOf, call.Read = nil, nil, nil, ""
		var reply *redis.Cmd
		reply, acked = permanentDeleteScript.runAcked(ctx, s, call)
		n, _, err := permanentDeleteReply(reply)
		if err != nil {
			return crm.PermanentDeleteResult{}, false, fmt.Errorf("permanent delete: blocklist the emails of contact %s, gone since it was read: %w", p.ID, err)
		}
		if n != 1 {
			return crm.PermanentDeleteResult{}, false, fmt.Errorf("permanent delete: blocklist the emails of contact %s, gone since it was read: the step answered %d", p.ID, n)
		}
	case n == -1:
		return crm.PermanentDeleteResult{}, true, nil
	}
	if err := s.eraseCopiesNaming(ctx, t, block); err != nil {
		return crm.PermanentDeleteResult{}, false, fmt.Errorf("the contact was deleted permanently, but %w (ask again by email to finish)", err)
	}
	res := crm.PermanentDeleteResult{IDs: ids, Blocklisted: len(block), Mail: mail}
	if n == 1 {
		res.CallsErased = erased
	}
	res.Mail.Body = strings.ReplaceAll(res.Mail.Body, mailCallsErased, strconv.Itoa(res.CallsErased))
	if len(ids) > 0 {
		res.ID = ids[0]
	}
	if acked != nil {
		return res, false, fmt.Errorf("permanent delete: %w", acked)
	}
	return res, false, nil
}

// mailCallsErased stands in the confirmation of a permanent delete for the count of calls erased,
// which the step that erases the contacts fills in.
const mailCallsErased = "{calls_erased}"

// defaultErasureBatch is how many calls one step of a permanent delete erases at most.
const defaultErasureBatch = 200

// erasureBatch is Config.ErasureBatch, or defaultErasureBatch.
func (s *Store) erasureBatch() int {
	if s.cfg.ErasureBatch > 0 {
		return s.cfg.ErasureBatch
	}
	return defaultErasureBatch
}

// permanentDeleteReply decodes the answer of permanentDeleteScript: its status (1 done, 2 calls
// left, 0 a contact not found, -1 changed since read) and, for 1 and 2, the calls erased.
func permanentDeleteReply(reply *redis.Cmd) (int64, int, error) {
	v, err := reply.Slice()
	if err != nil {
		return 0, 0, err
	}
	if len(v) == 0 {
		return 0, 0, fmt.Errorf("the step answered nothing")
	}
	n, ok := v[0].(int64)
	if !ok {
		return 0, 0, fmt.Errorf("the step answered %v", v)
	}
	var erased int
	if len(v) > 1 {
		c, ok := v[1].(int64)
		if !ok {
			return 0, 0, fmt.Errorf("the step answered %v", v)
		}
		erased = int(c)
	}
	return n, erased, nil
}

// ContactsByAnyEmail returns the ids of every contact, live or in the bin, whose primary or
// additional email is email (normalized first), ascending and without repeats; none is not an
// error. It reads the live email index and the days of the bin's (BinEmailDaysKey) in one round
// trip, then each day's index (BinEmailDayKey) in one more, never scanning the bin. A
// *ValidationError for an address that is not an email.
func (s *Store) ContactsByAnyEmail(ctx context.Context, t crm.TenantID, email string) ([]crm.RecordID, error) {
	e, err := crm.NormalizeEmail(email)
	if err != nil {
		return nil, &crm.ValidationError{Field: "email", Code: "INVALID_EMAIL", Message: fmt.Sprintf("%q is not an email address", email)}
	}
	var live *redis.StringCmd
	var days *redis.StringSliceCmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		live = p.HGet(ctx, EmailIndexKey(t), e)
		days = p.ZRange(ctx, BinEmailDaysKey(t), 0, -1)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("find contacts by email: %w", err)
	}
	var ids []crm.RecordID
	if id, err := live.Result(); err == nil {
		ids = append(ids, crm.RecordID(id))
	}
	if len(days.Val()) > 0 {
		cmds := make([]*redis.StringCmd, len(days.Val()))
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, d := range days.Val() {
				day, _ := strconv.ParseInt(d, 10, 64)
				cmds[i] = p.HGet(ctx, BinEmailDayKey(t, day), e)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("find contacts in the bin by email: %w", err)
		}
		var binned []crm.RecordID
		for _, c := range cmds {
			for _, id := range strings.Split(c.Val(), ",") {
				if id != "" && !slices.Contains(ids, crm.RecordID(id)) && !slices.Contains(binned, crm.RecordID(id)) {
					binned = append(binned, crm.RecordID(id))
				}
			}
		}
		// A day's index keeps the entries of its purged contacts until its last one goes: only
		// those still in the bin count.
		if len(binned) > 0 {
			exists := make([]*redis.IntCmd, len(binned))
			_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, id := range binned {
					exists[i] = p.Exists(ctx, BinRecordKey(t, crm.Contacts, id))
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("find contacts in the bin by email: %w", err)
			}
			for i, id := range binned {
				if exists[i].Val() == 1 {
					ids = append(ids, id)
				}
			}
		}
	}
	slices.SortFunc(ids, func(a, b crm.RecordID) int {
		if c := len(a) - len(b); c != 0 {
			return c
		}
		return strings.Compare(string(a), string(b))
	})
	return ids, nil
}

// IsBlocklisted reports whether an email was blocklisted by a permanent delete.
func (s *Store) IsBlocklisted(ctx context.Context, t crm.TenantID, email string) (bool, error) {
	e, err := crm.NormalizeEmail(email)
	if err != nil {
		return false, &crm.ValidationError{Field: "email", Code: "INVALID_EMAIL", Message: fmt.Sprintf("%q is not an email address", email)}
	}
	ok, err := s.rdb.SIsMember(ctx, BlocklistKey(t), s.emailHash(t, e)).Result()
	if err != nil {
		return false, fmt.Errorf("read blocklist: %w", err)
	}
	return ok, nil
}

// PendingMails lists a tenant's emails not yet delivered, oldest first, each with its Failure
// (when its delivery failed for good) and Retries.
func (s *Store) PendingMails(ctx context.Context, t crm.TenantID) ([]crm.Mail, error) {
	var mails, state *redis.MapStringStringCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		mails = p.HGetAll(ctx, PendingMailKey(t))
		state = p.HGetAll(ctx, PendingMailStateKey(t))
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read pending mail: %w", err)
	}
	st := state.Val()
	out := make([]crm.Mail, 0, len(mails.Val()))
	for id, raw := range mails.Val() {
		var m crm.Mail
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			return nil, fmt.Errorf("decode pending mail %s: %w", id, err)
		}
		if f, ok := st["failed:"+id]; ok {
			var w struct {
				At     int64  `json:"at"`
				Reason string `json:"reason"`
			}
			if err := json.Unmarshal([]byte(f), &w); err != nil {
				return nil, fmt.Errorf("decode the failure of pending mail %s: %w", id, err)
			}
			m.Failure = &crm.MailFailure{At: time.UnixMilli(w.At).UTC(), Reason: w.Reason}
		}
		if r, ok := st["retries:"+id]; ok {
			n, err := strconv.Atoi(r)
			if err != nil {
				return nil, fmt.Errorf("decode the retries of pending mail %s: %w", id, err)
			}
			m.Retries = n
		}
		out = append(out, m)
	}
	sortPending(out)
	return out, nil
}

// AckPendingMail forgets a pending email once it was delivered (or kept in the outbox), with what
// befell its delivery. Idempotent.
func (s *Store) AckPendingMail(ctx context.Context, t crm.TenantID, id string) error {
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, PendingMailKey(t), id)
		p.HDel(ctx, PendingMailStateKey(t), "failed:"+id, "retries:"+id)
		return nil
	}); err != nil {
		return fmt.Errorf("ack pending mail %s: %w", id, err)
	}
	return nil
}

// FailPendingMail records that the delivery of the pending email id failed for good, with f.Reason
// cut to crm.MaxMailFailureReason bytes: the mail sweep no longer enqueues it until RetryPendingMail.
// The first failure since the email was written or retried writes the audit entry "mail_failed".
// It returns false when the email is not pending (delivered meanwhile). A *ValidationError for a
// bad tenant or id.
func (s *Store) FailPendingMail(ctx context.Context, t crm.TenantID, id string, f crm.MailFailure) (bool, error) {
	if err := t.Validate(); err != nil {
		return false, err
	}
	if err := checkMailID(id); err != nil {
		return false, err
	}
	reason := f.Reason
	if len(reason) > crm.MaxMailFailureReason {
		reason = strings.ToValidUTF8(reason[:crm.MaxMailFailureReason], "")
	}
	raw, err := json.Marshal(struct {
		At     int64  `json:"at"`
		Reason string `json:"reason"`
	}{f.At.UnixMilli(), reason})
	if err != nil {
		return false, fmt.Errorf("encode the failure of pending mail %s: %w", id, err)
	}
	n, err := failPendingMailScript.run(ctx, s, pendingMailCall{Pending: PendingMailKey(t), State: PendingMailStateKey(t),
		Audit: AuditKey(t), MailID: id, Arg: string(raw), At: s.cfg.Clock.Now().UnixMilli(), AuditMaxLen: auditMaxLen}).Int()
	if err != nil {
		return false, fmt.Errorf("record the failure of pending mail %s: %w", id, err)
	}
	return n == 1, nil
}

// RetryPendingMail clears the failure of the pending email id, so that the next mail sweep enqueues
// it again (with a task id of its own: the failed task stays in the queue's archive), writes the
// audit entry "mail_retried" by by, and returns how many times it was retried. A *NotFoundError
// when no such email is pending, a *ConflictError when its delivery has not failed (it is still
// being tried), a *ValidationError for a bad tenant or id; nothing changes then.
func (s *Store) RetryPendingMail(ctx context.Context, t crm.TenantID, id, by string) (int, error) {
	n, err := s.changePendingMail(ctx, retryPendingMailScript, t, id, by)
	if err != nil {
		return 0, fmt.Errorf("retry pending mail %s: %w", id, err)
	}
	return n, nil
}

// DiscardPendingMail forgets the pending email id, whose delivery failed for good, and writes the
// audit entry "mail_discarded" by by. Errors as RetryPendingMail.
func (s *Store) DiscardPendingMail(ctx context.Context, t crm.TenantID, id, by string) error {
	if _, err := s.changePendingMail(ctx, discardPendingMailScript, t, id, by); err != nil {
		return fmt.Errorf("discard pending mail %s: %w", id, err)
	}
	return nil
}

func (s *Store) changePendingMail(ctx context.Context, sc script[pendingMailCall], t crm.TenantID, id, by string) (int, error) {
	if err := t.Validate(); err != nil {
		return 0, err
	}
	if err := checkMailID(id); err != nil {
		return 0, err
	}
	n, err := sc.run(ctx, s, pendingMailCall{Pending: PendingMailKey(t), State: PendingMailStateKey(t),
		Audit: AuditKey(t), MailID: id, Arg: by, At: s.cfg.Clock.Now().UnixMilli(), AuditMaxLen: auditMaxLen}).Int()
	switch {
	case err != nil:
		return 0, err
	case n == -1:
		return 0, &crm.NotFoundError{Kind: "pending email", ID: id}
	case n == -2:
		return 0, &crm.ConflictError{Message: fmt.Sprintf("the delivery of email %s has not failed: the workers are still trying it", id)}
	}
	return n, nil
}

func sortPending(m []crm.Mail) {
	slices.SortFunc(m, func(a, b crm.Mail) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
