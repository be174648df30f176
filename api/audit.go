package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// Paging limits of the audit trail, larger than the record pages' since entries are small.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// auditJSON is one entry of the audit trail: a deletion, a restore or a permanent delete of one
// record or of a batch moved together, a change of a user or a token by an admin (user_create,
// user_set_perms, user_disable, user_enable, token_create, token_revoke), or a change of the data
// model (property_create, property_update, property_archive, property_restore,
// object_type_create). It names records by id, users by email, tokens by public id and
// properties by name only. The fields of user, token and property changes are left out of the
// other entries.
type auditJSON struct {
	Action     string   `json:"action"`
	ObjectType string   `json:"objectType"`
	RecordIDs  []string `json:"recordIds"`
	Count      int      `json:"count,omitempty"`
	MailID     string   `json:"mailId,omitempty"`
	By         string   `json:"by"`
	Via        string   `json:"via"`
	Ref        string   `json:"ref"`
	// Revision is the revision of the workflow (ref) that made the change.
	Revision int64 `json:"revision,omitempty"`
	// Actor says who made the change, as "USER via workflow NAME (revision R)" for a workflow.
	Actor string `json:"actor"`
	At    string `json:"at"`
	// User is the user a user or token change concerns, and the recipient of a notification
	// dropped ("mail_dropped") because it is no longer an enabled user of the tenant.
	User string `json:"user,omitempty"`
	// Permissions is the user's set after user_create and user_set_perms, PreviousPermissions
	// the set before user_set_perms.
	Permissions         *[]string `json:"permissions,omitempty"`
	PreviousPermissions *[]string `json:"previousPermissions,omitempty"`
	// TokenID is the public id of the token of token_create and token_revoke.
	TokenID string `json:"tokenId,omitempty"`
	// ExpiresAt is when the token of token_create expires, absent for never.
	ExpiresAt string `json:"expiresAt,omitempty"`
	// Rule names the protection rule of protection_put and protection_delete.
	Rule string `json:"rule,omitempty"`
	// Retention is the deployment's retention after retention_set, as days and hours ("30d"),
	// PreviousRetention the one before; count is how many of the tenant's bin entries it made
	// purgeable at once.
	Retention         string `json:"retention,omitempty"`
	PreviousRetention string `json:"previousRetention,omitempty"`
	// Reason says why a mail_dropped notification was dropped: record_gone, recipient_gone,
	// workflow_inactive, workflow_reactivated or activator_lacks_read.
	Reason string `json:"reason,omitempty"`
	// Property names the property of property_create, property_update, property_archive and
	// property_restore (objectType is its type).
	Property string `json:"property,omitempty"`
	// Changed names the fields a property_update changed (label, description, type, options,
	// displayOrder, hidden, formField); OptionsAdded and OptionsRemoved count the options it
	// added and removed, set when it changed options.
	Changed        []string `json:"changed,omitempty"`
	OptionsAdded   *int     `json:"optionsAdded,omitempty"`
	OptionsRemoved *int     `json:"optionsRemoved,omitempty"`
	// CallsErased is, on a permanent_delete, how many calls associated with the contact were
	// erased with it, including calls also associated with other records; the
	// permanent_delete_cascade entries name them.
	CallsErased *int `json:"callsErased,omitempty"`
}

func toAuditJSON(e crm.AuditEntry) auditJSON {
	ids := make([]string, len(e.RecordIDs))
	for i, id := range e.RecordIDs {
		ids[i] = string(id)
	}
	out := auditJSON{Action: e.Action, ObjectType: string(e.ObjectType), RecordIDs: ids, Count: e.Count, MailID: e.MailID, By: e.By, Via: string(e.Via),
		Ref: e.Ref, Revision: e.Revision, Actor: e.Actor(), At: crm.FormatDatetime(e.At), User: e.User, TokenID: e.TokenID, Rule: e.Rule, Reason: e.Reason,
		Property: e.Property}
	perms := func(p crm.Permissions) *[]string {
		s := make([]string, len(p))
		for i, x := range p {
			s[i] = string(x)
		}
		return &s
	}
	switch e.Action {
	case crm.AuditUserCreate:
		out.Permissions = perms(e.Permissions)
	case crm.AuditUserSetPerms:
		out.Permissions, out.PreviousPermissions = perms(e.Permissions), perms(e.PreviousPermissions)
	case crm.AuditRetentionSet:
		out.Retention, out.PreviousRetention = crm.FormatWindow(e.Retention), crm.FormatWindow(e.PreviousRetention)
	case crm.AuditPermanentDelete:
		out.CallsErased = &e.CallsErased
	case crm.AuditPropertyUpdate:
		out.Changed = e.Changed
		if slices.Contains(e.Changed, "options") {
			out.OptionsAdded, out.OptionsRemoved = &e.OptionsAdded, &e.OptionsRemoved
		}
	}
	if !e.ExpiresAt.IsZero() {
		out.ExpiresAt = crm.FormatDatetime(e.ExpiresAt)
	}
	return out
}

// listAudit serves GET /crm/v3/audit?limit=&after=&order=&action=&by=: the tenant's audit trail of
// deletions and restores, of the admins' changes of users and tokens, and of the changes of the
// data model, oldest first, or newest first with order=newest; action= (repeated or
// comma-separated) keeps those actions, by= the entries whose actor or user contains it (a
// filtered page may hold fewer than limit entries and still have a next page). limit defaults to
// 100, at most 1000; the next page's cursor is paging.next.after, absent on the last page. It
// needs restore, the admin-level right.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	limit := defaultAuditLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditLimit {
			return errInvalid("limit", "INVALID_LIMIT", "limit %q is invalid: use a whole number from 1 to %d", v, maxAuditLimit)
		}
		limit = n
	}
	qs := r.URL.Query()
	opts := &crm.AuditOpts{After: qs.Get("after"), Limit: limit, By: strings.TrimSpace(qs.Get("by"))}
	switch v := qs.Get("order"); v {
	case "", "oldest":
	case "newest":
		opts.Newest = true
	default:
		return errInvalid("order", "INVALID_ORDER", "order %q is invalid: use newest or oldest (the default)", v)
	}
	for _, v := range qs["action"] {
		for a := range strings.SplitSeq(v, ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			if !slices.Contains(crm.AuditActions, a) {
				return errInvalid("action", "INVALID_ACTION", "action %q is unknown: use one of %s", a, strings.Join(crm.AuditActions, ", "))
			}
			opts.Actions = append(opts.Actions, a)
		}
	}
	entries, next, err := s.store.Audit(r.Context(), p.Tenant, opts)
	if err != nil {
		return fmt.Errorf("read audit: %w", err)
	}
	out := pageJSON[auditJSON]{Results: make([]auditJSON, len(entries)), Paging: paging(r, next)}
	for i, e := range entries {
		out.Results[i] = toAuditJSON(e)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Page sizes of the outbox: its emails carry their bodies.
const (
	defaultOutboxLimit = 20
	maxOutboxLimit     = 200
)

// outboxJSON is one email kept in the tenant's outbox.
type outboxJSON struct {
	ID        string `json:"id"`
	To        string `json:"to"`
	Subject   string `json:"subject"`
	Body      string `json:"body"`
	Kind      string `json:"kind"`
	CreatedAt string `json:"createdAt"`
}

// listOutbox serves GET /crm/v3/outbox?limit=: the newest emails a worker without an SMTP server
// kept instead of sending (confirmations of permanent deletes, workflow notifications, limit
// notices), newest first, with their bodies; limit defaults to 20, at most 200. It needs restore,
// the admin-level right: the emails name the tenant's users.
func (s *Server) listOutbox(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	limit := defaultOutboxLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxOutboxLimit {
			return errInvalid("limit", "INVALID_LIMIT", "limit %q is invalid: use a whole number from 1 to %d", v, maxOutboxLimit)
		}
		limit = n
	}
	mails, err := s.store.RecentOutbox(r.Context(), p.Tenant, limit)
	if err != nil {
		return fmt.Errorf("read the outbox: %w", err)
	}
	drops, err := s.store.OutboxDropped(r.Context(), p.Tenant)
	if err != nil {
		return fmt.Errorf("read the outbox: %w", err)
	}
	out := outboxPageJSON{Results: make([]outboxJSON, len(mails)), Dropped: outboxDropsJSON{Count: drops.Count}}
	if !drops.LastAt.IsZero() {
		out.Dropped.LastAt = crm.FormatDatetime(drops.LastAt)
	}
	for i, m := range mails {
		out.Results[i] = outboxJSON{ID: m.ID, To: m.To, Subject: m.Subject, Body: m.Body, Kind: m.Kind, CreatedAt: crm.FormatDatetime(m.CreatedAt)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// outboxPageJSON is the answer of GET /crm/v3/outbox: the emails, and how many workflow
// notifications a full outbox dropped (count 0 and no lastAt when none was).
type outboxPageJSON struct {
	Results []outboxJSON    `json:"results"`
	Dropped outboxDropsJSON `json:"dropped"`
}

type outboxDropsJSON struct {
	Count  int64  `json:"count"`
	LastAt string `json:"lastAt,omitempty"`
}
