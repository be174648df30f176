package api

import (
	"fmt"
	"net/http"

	"github.com/crmflow/crmflow/crm"
)

// jobJSON is a bulk job as GET /crm/v3/jobs/{jobId} shows it: its state and its progress (done and
// skipped of total) while it runs. CompletedAt is set once it is COMPLETE.
type jobJSON struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	ObjectType  string `json:"objectType"`
	Total       int64  `json:"total"`
	Done        int64  `json:"done"`
	Skipped     int64  `json:"skipped"`
	Selection   string `json:"selection"`
	RequestedBy string `json:"requestedBy"`
	CreatedAt   string `json:"createdAt"`
	UpdatedAt   string `json:"updatedAt"`
	CompletedAt string `json:"completedAt,omitempty"`
}

// jobStatus names a job's state as the API shows it: PENDING, RUNNING or COMPLETE.
func jobStatus(s crm.JobState) string {
	switch s {
	case crm.JobPending:
		return "PENDING"
	case crm.JobRunning:
		return "RUNNING"
	case crm.JobDone:
		return "COMPLETE"
	default:
		return string(s)
	}
}

// jobPath is the path at which a job's status is read.
func jobPath(id string) string { return "/crm/v3/jobs/" + id }

func toJobJSON(j crm.Job) jobJSON {
	out := jobJSON{ID: j.ID, Status: jobStatus(j.State), ObjectType: string(j.ObjectType), Total: j.Total,
		Done: j.Done, Skipped: j.Skipped, Selection: j.Selection, RequestedBy: j.By.User,
		CreatedAt: crm.FormatDatetime(j.CreatedAt), UpdatedAt: crm.FormatDatetime(j.UpdatedAt)}
	if j.State == crm.JobDone && !j.FinishedAt.IsZero() {
		out.CompletedAt = crm.FormatDatetime(j.FinishedAt)
	}
	return out
}

// getJob serves GET /crm/v3/jobs/{jobId}: a bulk job of the caller's tenant, or a 404 (a job of
// another tenant is answered the same).
func (s *Server) getJob(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	id := r.PathValue("jobId")
	if !numericID.MatchString(id) {
		return errNotFound("job", id)
	}
	j, err := s.store.Job(r.Context(), p.Tenant, id)
	if err != nil {
		return fmt.Errorf("read job %s: %w", id, err)
	}
	writeJSON(w, http.StatusOK, toJobJSON(j))
	return nil
}
