package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// Operation is a destructive operation (SPEC S26) as GET /crm/v3/operations shows it: an API
// delete or batch archive, a bulk or list delete job, or a workflow's deletions from one
// activation until it paused. Moved counts the records it moved to the bin, InBin those still
// there (what an undo would restore). Clients of the API (crmflow's CLI among them) decode it.
type Operation struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	ObjectType string `json:"objectType"`
	// Actor says who deleted, as "USER via workflow NAME (revision R)" for a workflow; By is the
	// user, Via and Ref how (as a deleted record's archivedVia and archivedRef).
	Actor    string `json:"actor"`
	By       string `json:"by"`
	Via      string `json:"via"`
	Ref      string `json:"ref,omitempty"`
	Workflow string `json:"workflow,omitempty"`
	// FirstAt and LastAt are the times of its first and its latest move to the bin.
	FirstAt string `json:"firstAt"`
	LastAt  string `json:"lastAt"`
	Moved   int64  `json:"moved"`
	InBin   int64  `json:"inBin"`
	// UndoJob is the id of its latest undo job, if it was undone (GET /crm/v3/jobs/{id}).
	UndoJob string `json:"undoJob,omitempty"`
	// UndoStops and UndoNeeds are in GET /crm/v3/operations/{id} alone: what an undo asked now
	// would stop besides restoring (empty when nothing), and the permissions that undo needs
	// (restore, and what stopping takes), by the rule the undo itself applies.
	UndoStops *UndoStops `json:"undoStops,omitempty"`
	UndoNeeds []string   `json:"undoNeeds,omitempty"`
}

// UndoStops is what an undo of an operation would stop at this moment: Job, the id of its bulk or
// list job still running, which the undo cancels (needs delete and bulk_delete); Workflow, the
// workflow still active at its activation, which the undo pauses (needs workflows).
type UndoStops struct {
	Job      string `json:"job,omitempty"`
	Workflow string `json:"workflow,omitempty"`
}

func toOperationJSON(op crm.Operation) Operation {
	return Operation{ID: op.ID, Kind: op.Kind, ObjectType: string(op.ObjectType), Actor: op.By.String(), By: op.By.User,
		Via: string(op.By.Via), Ref: op.By.Ref, Workflow: op.Workflow(), FirstAt: crm.FormatDatetime(op.FirstAt),
		LastAt: crm.FormatDatetime(op.LastAt), Moved: op.Moved, InBin: op.InBin, UndoJob: op.UndoJob}
}

// listOperations serves GET /crm/v3/operations?kind=&actor=&workflow=&from=&to=&limit=&after=:
// the tenant's operations, newest first. kind is one of delete, batch, bulk, list, workflow;
// actor a user's email; from and to bound the time of the operation's first deletion (RFC 3339,
// a date, or unix ms). limit defaults to 10, at most 100; the next page's cursor is
// paging.next.after. A page may come back short of limit when the filters leave most
// operations out (each page looks at a bounded number): follow paging.next while it is there.
func (s *Server) listOperations(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	q := r.URL.Query()
	if err := checkParams(q, "GET /crm/v3/operations", operationsParams); err != nil {
		return err
	}
	opts := crm.OperationsOpts{Kind: q.Get("kind"), Actor: strings.TrimSpace(q.Get("actor")), Workflow: q.Get("workflow"), After: q.Get("after")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return errInvalid("limit", "INVALID_LIMIT", "limit %q is invalid: use a whole number from 1 to 100", v)
		}
		opts.Limit = n
	}
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"from", &opts.From}, {"to", &opts.To}} {
		if v := q.Get(f.name); v != "" {
			at, err := crm.ParseDatetime(v)
			if err != nil {
				return errInvalid(f.name, "INVALID_TIME", "%s %q is not a time: use RFC 3339 (2026-03-01T12:00:00Z), a date (2026-03-01) or unix milliseconds", f.name, v)
			}
			*f.to = at
		}
	}
	ops, next, err := s.store.Operations(r.Context(), p.Tenant, &opts)
	if err != nil {
		return fmt.Errorf("list operations: %w", err)
	}
	out := pageJSON[Operation]{Results: make([]Operation, len(ops)), Paging: paging(r, next)}
	for i, op := range ops {
		out.Results[i] = toOperationJSON(op)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// operationsParams are the query parameters of GET /crm/v3/operations, in the order its
// refusals name them.
var operationsParams = []string{"kind", "actor", "workflow", "from", "to", "limit", "after"}

// checkParams refuses, with a 400 naming it, a query parameter of q that endpoint does not know
// (a misspelt filter would otherwise be ignored, and the page show what it meant to leave out) or
// one given more than once (only the first would count).
func checkParams(q url.Values, endpoint string, known []string) error {
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !slices.Contains(known, name) {
			return errInvalid(name, "UNKNOWN_PARAMETER", "%s is not a parameter of %s: use %s or %s",
				crm.Echo(name), endpoint, strings.Join(known[:len(known)-1], ", "), known[len(known)-1])
		}
		if n := len(q[name]); n > 1 {
			return errInvalid(name, "REPEATED_PARAMETER", "%s is given %d times: give it once", name, n)
		}
	}
	return nil
}

// getOperation serves GET /crm/v3/operations/{operationId}: one operation, or a 404 (an operation
// of another tenant is answered the same), with what an undo of it asked now would stop
// (undoStops: the job it would cancel, the workflow it would pause) and the permissions that undo
// needs (undoNeeds), so that a client can tell a user ahead whether an undo would be refused.
func (s *Server) getOperation(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	id := r.PathValue("operationId")
	op, err := s.store.Operation(r.Context(), p.Tenant, id)
	if err != nil {
		return fmt.Errorf("read operation %s: %w", id, err)
	}
	stops, err := s.store.UndoStops(r.Context(), p.Tenant, id)
	if err != nil {
		return fmt.Errorf("read what an undo of operation %s stops: %w", id, err)
	}
	out := toOperationJSON(op)
	out.UndoStops = &UndoStops{Job: stops.Job, Workflow: stops.Workflow}
	for _, perm := range crm.UndoNeeds(stops) {
		out.UndoNeeds = append(out.UndoNeeds, string(perm))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// undoOperation serves POST /crm/v3/operations/{operationId}/undo (needs restore): it starts a job
// that restores every record of the operation still in the bin, under the rules of a restore
// (SPEC S7, S26), and answers 202 with the job (JobAccepted; its progress and the records it could
// not restore, with the reason, at links.status). While an undo of the operation runs, it answers
// that job again and starts nothing. An operation whose bulk or list job still runs stops that job
// first (CANCELED), and a workflow still active at the operation's activation pauses, so the undo
// restores all it moved. Those are more than a restore, so the caller must then also hold what
// they need (delete and bulk_delete to cancel the job, workflows to pause the workflow, as its
// pause endpoint needs): without them it is a 403 MISSING_SCOPES naming what is missing and what
// to do instead, and nothing changes (no job, no cancel, no pause, no audit entry). An operation with no record left in the bin (and nothing to stop or
// pause) is a 409 NOTHING_TO_UNDO naming its latest undo job, and no job is started. An unknown
// operation is a 404 and nothing changes. The job is
// durable before it is enqueued: when the enqueue fails, the worker's sweep of unfinished jobs
// starts it.
func (s *Server) undoOperation(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	id := r.PathValue("operationId")
	job, err := s.store.CreateUndoJob(r.Context(), p.Tenant, crm.UndoParams{Operation: id, By: p.User.Email})
	if uf := (*crm.UndoForbiddenError)(nil); errors.As(err, &uf) && len(uf.Missing) > 0 {
		return errUndoScope(p, uf)
	}
	if err != nil {
		return fmt.Errorf("undo operation %s: %w", id, err)
	}
	if !job.State.Finished() {
		log := s.cfg.Logger.With(slog.String("tenant_id", string(p.Tenant)), slog.String("job_id", job.ID),
			slog.String("correlation_id", correlationID(r.Context())))
		if s.cfg.Tasks == nil {
			log.WarnContext(r.Context(), "no task queue configured: the undo job stays pending until the worker's sweep")
		} else {
			ctx, cancel := enqueueContext(r)
			err := s.cfg.Tasks.EnqueueDeleteJob(ctx, p.Tenant, job.ID)
			cancel()
			if err != nil {
				log.WarnContext(r.Context(), "enqueue the undo job failed: it stays pending until the worker's sweep",
					slog.String("error", err.Error()))
			}
		}
	}
	w.Header().Set("Location", jobPath(job.ID))
	writeJSON(w, http.StatusAccepted, JobAccepted{ID: job.ID, Status: jobStatus(job.State), Total: job.Total,
		ConfirmCount: job.ConfirmCount, Links: JobLinks{Status: jobPath(job.ID)}})
	return nil
}
