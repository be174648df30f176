package api

import (
	"fmt"
	"net/http"

	"github.com/crmflow/crmflow/crm"
)

// Job is a bulk job as GET /crm/v3/jobs/{jobId} shows it: its state and its progress (scanned and
// matched while it is SELECTING, done and skipped of total while it runs). CompletedAt is set once it
// is COMPLETE or REFUSED; Refusal says why it was refused. Clients of the API (crmflow's CLI among
// them) decode it.
type Job struct {
	ID           string      `json:"id"`
	Status       string      `json:"status"`
	ObjectType   string      `json:"objectType"`
	ConfirmCount int64       `json:"confirmCount"`
	Scanned      int64       `json:"scanned"`
	Matched      int64       `json:"matched"`
	Total        int64       `json:"total"`
	Done         int64       `json:"done"`
	Skipped      int64       `json:"skipped"`
	Selection    string      `json:"selection"`
	RequestedBy  string      `json:"requestedBy"`
	CreatedAt    string      `json:"createdAt"`
	UpdatedAt    string      `json:"updatedAt"`
	CompletedAt  string      `json:"completedAt,omitempty"`
	Refusal      *JobRefusal `json:"refusal,omitempty"`
	// Protected is how many records the job did not delete because protection rules protect them
	// (SPEC S25); ProtectedByRule counts them by rule. Those the selection left out are not in
	// Matched nor Total, and confirmCount does not count them; those found protected when their
	// batch came (a rule written or a record changed since the selection) are also in Skipped.
	Protected       int64            `json:"protected"`
	ProtectedByRule map[string]int64 `json:"protectedByRule,omitempty"`
}

// JobRefusal says why a job was REFUSED: a code (COUNT_MISMATCH, INVALID_FILTER, LIST_GONE,
// FILTER_ERASED) and a message for people.
type JobRefusal struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// jobStatus names a job's state as the API shows it: SELECTING, PENDING, RUNNING, COMPLETE or
// REFUSED.
func jobStatus(s crm.JobState) string {
	switch s {
	case crm.JobSelecting:
		return "SELECTING"
	case crm.JobRefused:
		return "REFUSED"
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

func toJobJSON(j crm.Job) Job {
	out := Job{ID: j.ID, Status: jobStatus(j.State), ObjectType: string(j.ObjectType), ConfirmCount: j.ConfirmCount,
		Scanned: j.Scanned, Matched: j.Matched, Total: j.Total, Done: j.Done, Skipped: j.Skipped,
		Selection: j.Selection, RequestedBy: j.By.User,
		CreatedAt: crm.FormatDatetime(j.CreatedAt), UpdatedAt: crm.FormatDatetime(j.UpdatedAt)}
	if j.State.Finished() && !j.FinishedAt.IsZero() {
		out.CompletedAt = crm.FormatDatetime(j.FinishedAt)
	}
	if n := j.Protected.Total(); n > 0 {
		out.Protected, out.ProtectedByRule = n, j.Protected
	}
	if j.Refusal != nil {
		out.Refusal = &JobRefusal{Code: j.Refusal.Code, Message: j.Refusal.Message}
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
