package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/crmflow/crmflow/crm"
)

// Paging limits of the audit trail, larger than the record pages' since entries are small.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// auditJSON is one entry of the audit trail: a deletion, a restore or a permanent delete of one
// record or of a batch moved together. It names records by id only.
type auditJSON struct {
	Action     string   `json:"action"`
	ObjectType string   `json:"objectType"`
	RecordIDs  []string `json:"recordIds"`
	Count      int      `json:"count,omitempty"`
	MailID     string   `json:"mailId,omitempty"`
	By         string   `json:"by"`
	Via        string   `json:"via"`
	Ref        string   `json:"ref"`
	At         string   `json:"at"`
}

func toAuditJSON(e crm.AuditEntry) auditJSON {
	ids := make([]string, len(e.RecordIDs))
	for i, id := range e.RecordIDs {
		ids[i] = string(id)
	}
	return auditJSON{Action: e.Action, ObjectType: string(e.ObjectType), RecordIDs: ids, Count: e.Count, MailID: e.MailID, By: e.By, Via: string(e.Via),
		Ref: e.Ref, At: crm.FormatDatetime(e.At)}
}

// listAudit serves GET /crm/v3/audit?limit=&after=: the tenant's audit trail of deletions and
// restores, oldest first. limit defaults to 100, at most 1000; the next page's cursor is
// paging.next.after, absent on the last page. It needs restore, the admin-level right.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	limit := defaultAuditLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditLimit {
			return errInvalid("limit", "INVALID_LIMIT", "limit %q is invalid: use a whole number from 1 to %d", v, maxAuditLimit)
		}
		limit = n
	}
	entries, next, err := s.store.Audit(r.Context(), p.Tenant, &crm.AuditOpts{After: r.URL.Query().Get("after"), Limit: limit})
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
