package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/crmflow/crmflow/crm"
)

// Job is a bulk job as GET /crm/v3/jobs/{jobId} shows it: its state and its progress (scanned and
// matched while it is SELECTING, done and skipped of total while it runs). CompletedAt is set once it
// is COMPLETE, REFUSED, CANCELED or STOPPED; Refusal says why it was refused, CanceledBy names the
// undo job that stopped a CANCELED one, and Stop says why a STOPPED one stopped. Clients of the API
// (crmflow's CLI among them) decode it.
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
	// CanceledBy is the id of the undo job that stopped the job (status CANCELED): what the job had
	// moved to the bin, that undo job restores; the other records it selected stay live.
	CanceledBy string `json:"canceledBy,omitempty"`
	// Stop says why the job stopped (status STOPPED): its creator (requestedBy) was disabled, is
	// no longer a user or lost the delete or bulk_delete permission (a job acts with its
	// creator's authority at each batch). What it had moved stays in the bin; the rest stays live.
	Stop *JobStop `json:"stop,omitempty"`
	// Protected is how many records the job did not delete because protection rules protect them
	// (SPEC S25); ProtectedByRule counts them by rule. Those the selection left out are not in
	// Matched nor Total, and confirmCount does not count them; those found protected when their
	// batch came (a rule written or a record changed since the selection) are also in Skipped.
	Protected       int64            `json:"protected"`
	ProtectedByRule map[string]int64 `json:"protectedByRule,omitempty"`
	// Kind is "bulk_delete" or "undo". An undo job restores the records of Operation still in
	// the bin: done counts those restored, skipped those it could not restore, each of which
	// (the first maxJobFailures) is in Failures with the reason, naming the blocking record.
	Kind      string       `json:"kind"`
	Operation string       `json:"operation,omitempty"`
	Failures  []JobFailure `json:"failures,omitempty"`
	// Gone, for an undo job once COMPLETE, counts the records of the operation that left the bin
	// before the undo reached them (restored by someone, or purged): done, skipped and gone add up
	// to total. Left out when none.
	Gone int64 `json:"gone,omitempty"`
}

// JobFailure is a record an undo job could not restore: code is conflict (its email belongs to a
// live contact, blockingId), unique (a unique property's value belongs to a live record,
// blockingId), erased (an email of it was permanently deleted under a privacy request and is
// blocklisted, property), expired (past its retention period) or missing (no longer in the bin
// from the operation); reason says it for people.
type JobFailure struct {
	ID         string `json:"id"`
	Code       string `json:"code"`
	Property   string `json:"property,omitempty"`
	BlockingID string `json:"blockingId,omitempty"`
	Reason     string `json:"reason"`
}

// maxJobFailures bounds the failures a job's status shows.
const maxJobFailures = 1000

// JobRefusal says why a job was REFUSED: a code (COUNT_MISMATCH, INVALID_FILTER, LIST_GONE,
// FILTER_ERASED) and a message for people.
type JobRefusal struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// JobStop says why a job was STOPPED: a code (USER_DISABLED, USER_MISSING, PERMISSION_MISSING),
// the user (the job's creator), the permission it lacks (with PERMISSION_MISSING) and a message
// for people.
type JobStop struct {
	Code       string `json:"code"`
	User       string `json:"user"`
	Permission string `json:"permission,omitempty"`
	Message    string `json:"message"`
}

// jobStatus names a job's state as the API shows it: SELECTING, PENDING, RUNNING, COMPLETE,
// REFUSED, CANCELED or STOPPED.
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
	case crm.JobCanceled:
		return "CANCELED"
	case crm.JobStopped:
		return "STOPPED"
	default:
		return string(s)
	}
}

// jobPath is the path at which a job's status is read.
func jobPath(id string) string { return "/crm/v3/jobs/" + id }

func toJobJSON(j crm.Job) Job {
	out := Job{ID: j.ID, Status: jobStatus(j.State), ObjectType: string(j.ObjectType), ConfirmCount: j.ConfirmCount,
		Scanned: j.Scanned, Matched: j.Matched, Total: j.Total, Done: j.Done, Skipped: j.Skipped, Gone: j.Gone,
		Selection: j.Selection, RequestedBy: j.By.User,
		CreatedAt: crm.FormatDatetime(j.CreatedAt), UpdatedAt: crm.FormatDatetime(j.UpdatedAt)}
	if j.State.Finished() && !j.FinishedAt.IsZero() {
		out.CompletedAt = crm.FormatDatetime(j.FinishedAt)
	}
	if n := j.Protected.Total(); n > 0 {
		out.Protected, out.ProtectedByRule = n, j.Protected
	}
	out.CanceledBy = j.CanceledBy
	if j.Refusal != nil {
		out.Refusal = &JobRefusal{Code: j.Refusal.Code, Message: j.Refusal.Message}
	}
	if j.Stop != nil {
		out.Stop = &JobStop{Code: j.Stop.Code, User: j.Stop.User, Permission: string(j.Stop.Permission), Message: j.Stop.Message}
	}
	out.Kind = j.Kind
	if j.Kind == crm.JobKindUndo {
		out.Operation = j.By.Ref
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
	out := toJobJSON(j)
	if j.Kind == crm.JobKindUndo && j.Skipped > 0 {
		fails, err := s.store.JobFailures(r.Context(), p.Tenant, id, maxJobFailures)
		if err != nil {
			return fmt.Errorf("read failures of job %s: %w", id, err)
		}
		for _, f := range fails {
			out.Failures = append(out.Failures, JobFailure{ID: string(f.ID), Code: f.Code, Property: f.Property,
				BlockingID: string(f.BlockingID), Reason: fmt.Sprintf("%s %s: %s", j.ObjectType, f.ID, f.Reason(j.ObjectType))})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listJobs serves GET /crm/v3/jobs?limit=&after=: the tenant's jobs (bulk and list deletes, undos),
// newest first, limit (1 to crm.MaxJobsLimit, default 20) at a time; paging.next.after goes on.
// Failures are on each job's own GET.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > crm.MaxJobsLimit {
			return errInvalid("limit", "INVALID_LIMIT", "limit %q is invalid: use a whole number from 1 to %d", v, crm.MaxJobsLimit)
		}
		limit = n
	}
	jobs, next, err := s.store.RecentJobs(r.Context(), p.Tenant, r.URL.Query().Get("after"), limit)
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	out := pageJSON[Job]{Results: make([]Job, len(jobs)), Paging: paging(r, next)}
	for i, j := range jobs {
		out.Results[i] = toJobJSON(j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// tenantJSON is the caller's tenant: its plan (and whether it may activate workflows) and the
// blast-radius limit of its workflows that set none.
type tenantJSON struct {
	ID               string `json:"id"`
	Plan             string `json:"plan"`
	WorkflowsAllowed bool   `json:"workflowsAllowed"`
	CreatedAt        string `json:"createdAt"`
	DeletionLimit    struct {
		MaxDeletions *int   `json:"maxDeletions"`
		Per          string `json:"per,omitempty"`
		Unlimited    bool   `json:"unlimited"`
	} `json:"deletionLimit"`
}

// getTenant serves GET /crm/v3/tenant: the caller's tenant.
func (s *Server) getTenant(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	tn, err := s.store.Tenant(r.Context(), p.Tenant)
	if err != nil {
		return fmt.Errorf("read tenant: %w", err)
	}
	out := tenantJSON{ID: string(tn.ID), Plan: string(tn.Plan), WorkflowsAllowed: tn.Plan.AllowsWorkflows(), CreatedAt: crm.FormatDatetime(tn.CreatedAt)}
	if tn.DeletionLimit.Unlimited() {
		out.DeletionLimit.Unlimited = true
	} else {
		n := tn.DeletionLimit.Max
		out.DeletionLimit.MaxDeletions = &n
		out.DeletionLimit.Per = crm.FormatWindow(tn.DeletionLimit.Per)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
