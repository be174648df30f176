package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
)

// maxBulkIDs is the most ids a bulk delete by ids may name; a filter or a list has no such limit.
const maxBulkIDs = 10_000

// confirmCount is the count of records the user confirmed in a bulk delete: a JSON whole number of
// 0 or more. Anything else is a *crm.ValidationError naming the field.
type confirmCount struct {
	n   int64
	set bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *confirmCount) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return &crm.ValidationError{Field: "confirmCount", Code: "INVALID_CONFIRM_COUNT",
			Message: fmt.Sprintf("confirmCount %s is invalid: send the number of records the user confirmed, a whole number of 0 or more", b)}
	}
	*c = confirmCount{n: n, set: true}
	return nil
}

// require returns the count, or the 400 of a request that did not send one.
func (c confirmCount) require() (int64, error) {
	if !c.set {
		return 0, errInvalid("confirmCount", "REQUIRED",
			"confirmCount is required: send the number of records the user confirmed deleting")
	}
	return c.n, nil
}

// bulkDeleteInput is the body of bulk-delete: exactly one of IDs, Filter and ListID, and the count.
type bulkDeleteInput struct {
	IDs          []flexID     `json:"ids"`
	Filter       *string      `json:"filter"`
	ListID       *flexID      `json:"listId"`
	ConfirmCount confirmCount `json:"confirmCount"`
	// DryRun asks what the bulk delete would do, with no side effect (see BulkDryRun).
	DryRun bool `json:"dryRun"`
	// SampleLimit and SampleAfter page through a dry run's sample (see sampleOf).
	SampleLimit *int    `json:"sampleLimit"`
	SampleAfter *string `json:"sampleAfter"`
}

// JobAccepted is the 202 of a request that started a bulk job. Clients of the API decode it.
type JobAccepted struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Total is the number of records to delete; 0 while the job is SELECTING.
	Total        int64    `json:"total"`
	ConfirmCount int64    `json:"confirmCount"`
	Links        JobLinks `json:"links"`
}

// JobLinks are the links of a JobAccepted: where the job's status is read.
type JobLinks struct {
	Status string `json:"status"`
}

// bulkDelete serves POST /crm/v3/objects/{objectType}/bulk-delete ("all N in this view", SPEC
// S13-S14, S27). The selection is exactly one of "ids" (at most 10,000), "filter" (an expression of
// the trigger language over the type's properties) or "listId" (the members of a static list of
// that type), and "confirmCount" is the number the user confirmed. Ids are checked in the request:
// an empty one or one that is not a record id is a 400 naming each by its position (ids[i]), as in
// batch/archive; an id given twice counts once, and ids of records that are not live are not
// counted. When the number of live records they name differs from confirmCount, the answer is a
// 409 giving both numbers. Either way nothing is stored and nothing is deleted. A
// filter or a list answers 202 at once with a job in SELECTING, whatever the tenant's size: the
// worker selects, checks the count (a mismatch ends the job as REFUSED with both numbers, nothing
// deleted) and deletes (see startDeleteJob). Records are moved to the bin by the workers.
//
// Records that protection rules protect are never selected (SPEC S25): confirmCount is the number
// of records that would be deleted, the matched ones less the protected ones, and the job counts
// the protected ones by rule. With "dryRun": true the answer is a 200 BulkDryRun (the counts and a
// sample) and nothing is stored; confirmCount is then optional, and read is the only right needed.
func (s *Server) bulkDelete(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	var in bulkDeleteInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	if err := requireDeleteUnlessDryRun(p, in.DryRun); err != nil {
		return err
	}
	sample, err := sampleOf(in.DryRun, in.SampleLimit, in.SampleAfter)
	if err != nil {
		return err
	}
	given := 0
	for _, set := range []bool{in.IDs != nil, in.Filter != nil, in.ListID != nil} {
		if set {
			given++
		}
	}
	if given != 1 {
		return errInvalid("ids,filter,listId", "INVALID_SELECTION",
			"send exactly one of \"ids\", \"filter\" or \"listId\" to select the records to delete (this request has %d)", given)
	}
	var n int64
	if !in.DryRun {
		if n, err = in.ConfirmCount.require(); err != nil {
			return err
		}
	}
	params := crm.DeleteJobParams{ObjectType: o, ConfirmCount: n, By: p.User.Email}
	switch {
	case in.IDs != nil:
		if params.IDs, err = bulkIDs(o, in.IDs); err != nil {
			return err
		}
		params.Selection = fmt.Sprintf("%d ids", len(in.IDs))
	case in.Filter != nil:
		// Compiled now, so that a bad filter is a 400 with its position; evaluated by the worker.
		if err := s.checkFilter(r, p.Tenant, o, *in.Filter); err != nil {
			return err
		}
		params.Filter = *in.Filter
		// Not the filter's text: it may name an email or a name, and job records outlive a
		// permanent delete of the contact (SPEC S9). The job keeps the text while it selects only.
		params.Selection = "records matching a filter"
	default:
		id := strings.TrimSpace(string(*in.ListID))
		if !numericID.MatchString(id) {
			return errNotFound("list", id)
		}
		params.ListID = crm.ListID(id)
		params.Selection = "members of list " + id
		if in.DryRun {
			l, err := s.store.List(r.Context(), p.Tenant, params.ListID)
			if err != nil {
				return fmt.Errorf("read list %s: %w", id, err)
			}
			if l.ObjectType != o {
				return errInvalid("listId", "WRONG_LIST_TYPE", "list %s holds %s, not %s: send it to /crm/v3/objects/%s/bulk-delete", id, l.ObjectType, o, l.ObjectType)
			}
		}
	}
	if in.DryRun {
		out, err := s.dryRun(r.Context(), p.Tenant, params, in.ConfirmCount, sample)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	return s.startDeleteJob(w, r, p, params)
}

// requireDeleteUnlessDryRun checks the rights of a bulk or list delete. A dry run changes nothing and
// tells only what a reader may read (how many records match, how many are protected, a sample), so
// it needs read alone, which the route checks; a delete needs delete and bulk_delete, a right in
// addition to delete (SPEC S2).
func requireDeleteUnlessDryRun(p crm.Principal, dryRun bool) error {
	if dryRun {
		return nil
	}
	return requirePerms(p, crm.PermDelete, crm.PermBulkDelete)
}

// bulkIDs checks the ids of a bulk delete of type o and returns them without duplicates, in their
// first order. An empty entry or one that is not a record id is a 400 naming each such entry by its
// position (ids[i]), as batch/archive's inputs are (see checkDeleteIDs), and nothing is stored. An
// id given twice counts once. Well-formed ids of records that are not live are kept: the store
// leaves them out of the job, and confirmCount does not count them.
func bulkIDs(o crm.ObjectType, in []flexID) ([]crm.RecordID, error) {
	switch {
	case len(in) == 0:
		return nil, errInvalid("ids", "EMPTY_SELECTION", "ids is empty: name from 1 to %d records to delete", maxBulkIDs)
	case len(in) > maxBulkIDs:
		return nil, errInvalid("ids", "TOO_MANY_IDS",
			"ids has %d entries, over the limit of %d: select the records with a filter or a list instead", len(in), maxBulkIDs)
	}
	if err := checkDeleteIDs(o, in, bulkDeleteIDs); err != nil {
		return nil, err
	}
	out := make([]crm.RecordID, 0, len(in))
	seen := make(map[flexID]bool, len(in))
	for _, id := range in {
		if !seen[id] {
			out = append(out, crm.RecordID(id))
		}
		seen[id] = true
	}
	return out, nil
}

// checkFilter compiles src against the type's schema: a *triggers.Error, a 400 with the position,
// when it does not compile. Nothing is evaluated in the request: the job's worker selects.
func (s *Server) checkFilter(r *http.Request, t crm.TenantID, o crm.ObjectType, src string) error {
	if strings.TrimSpace(src) == "" {
		return errInvalid("filter", "EMPTY_FILTER",
			"filter is empty: write an expression over the properties of %s, e.g. lifecyclestage == \"lead\"", o)
	}
	schema, err := s.store.Schema(r.Context(), t, o)
	if err != nil {
		return fmt.Errorf("read schema of %s: %w", o, err)
	}
	if _, err := triggers.Compile(src, schema); err != nil {
		return err
	}
	return nil
}

// listRecordsDeleteInput is the body of POST /crm/v3/lists/{listId}/records/delete.
type listRecordsDeleteInput struct {
	ConfirmCount confirmCount `json:"confirmCount"`
	// DryRun asks what the delete would do, with no side effect (see BulkDryRun).
	DryRun bool `json:"dryRun"`
	// SampleLimit and SampleAfter page through a dry run's sample (see sampleOf).
	SampleLimit *int    `json:"sampleLimit"`
	SampleAfter *string `json:"sampleAfter"`
}

// deleteListRecords serves POST /crm/v3/lists/{listId}/records/delete: it deletes the list's member
// contacts or companies, restorably, and never the list (SPEC S15). The answer is a 202 with a job in
// SELECTING: as with bulk-delete by listId, the worker selects the live members and refuses the job
// (nothing deleted) when their number is not confirmCount. Members that protection rules protect
// are skipped and counted, as in bulk-delete, and "dryRun": true answers a 200 BulkDryRun.
func (s *Server) deleteListRecords(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	id, err := pathListID(r)
	if err != nil {
		return err
	}
	var in listRecordsDeleteInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	if err := requireDeleteUnlessDryRun(p, in.DryRun); err != nil {
		return err
	}
	sample, err := sampleOf(in.DryRun, in.SampleLimit, in.SampleAfter)
	if err != nil {
		return err
	}
	var n int64
	if !in.DryRun {
		if n, err = in.ConfirmCount.require(); err != nil {
			return err
		}
	}
	l, err := s.store.List(r.Context(), p.Tenant, id)
	if err != nil {
		return fmt.Errorf("read list %s: %w", id, err)
	}
	params := crm.DeleteJobParams{ObjectType: l.ObjectType, ListID: id, ConfirmCount: n,
		By: p.User.Email, Selection: "members of list " + string(id)}
	if in.DryRun {
		out, err := s.dryRun(r.Context(), p.Tenant, params, in.ConfirmCount, sample)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	return s.startDeleteJob(w, r, p, params)
}

// startDeleteJob stores a bulk delete job of params (a *crm.CountMismatchError when the confirmed
// count is not the count selected now: nothing is kept), enqueues it with Config.Tasks and answers
// 202. The job is durable before it is enqueued: when Tasks is nil or the enqueue fails, the answer
// is still 202, a warning is logged, and the worker's sweep of pending jobs starts it later.
//
// A selection by ids leaves out, in the request, the records protection rules protect: the
// confirmed count is checked against the others, and the job records the protected ones by rule.
func (s *Server) startDeleteJob(w http.ResponseWriter, r *http.Request, p crm.Principal, params crm.DeleteJobParams) error {
	var protected crm.ProtectedCounts
	if params.IDs != nil {
		var err error
		if params.IDs, protected, err = s.leaveOutProtected(r.Context(), p.Tenant, params.ObjectType, params.IDs); err != nil {
			return err
		}
	}
	job, err := s.store.CreateDeleteJob(r.Context(), p.Tenant, params)
	var cm *crm.CountMismatchError
	if errors.As(err, &cm) && len(protected) > 0 {
		cm.Protected = protected
	}
	if err != nil {
		return fmt.Errorf("create delete job of %s: %w", params.ObjectType, err)
	}
	if len(protected) > 0 {
		if err := s.store.AddJobProtected(r.Context(), p.Tenant, job.ID, "", protected); err != nil {
			return fmt.Errorf("record the protected records of job %s: %w", job.ID, err)
		}
	}
	if !job.State.Finished() { // an empty selection of ids is done at once: nothing to run
		log := s.cfg.Logger.With(slog.String("tenant_id", string(p.Tenant)), slog.String("job_id", job.ID),
			slog.String("correlation_id", correlationID(r.Context())))
		if s.cfg.Tasks == nil {
			log.WarnContext(r.Context(), "no task queue configured: the bulk delete job stays pending until the worker's sweep")
		} else {
			ctx, cancel := enqueueContext(r)
			err := s.cfg.Tasks.EnqueueDeleteJob(ctx, p.Tenant, job.ID)
			cancel()
			if err != nil {
				log.WarnContext(r.Context(), "enqueue the bulk delete job failed: it stays pending until the worker's sweep",
					slog.String("error", err.Error()))
			}
		}
	}
	writeJSON(w, http.StatusAccepted, JobAccepted{ID: job.ID, Status: jobStatus(job.State), Total: job.Total,
		ConfirmCount: params.ConfirmCount, Links: JobLinks{Status: jobPath(job.ID)}})
	return nil
}

// leaveOutProtected returns the ids of type o that no protection rule protects, and the protected
// ones counted by rule; ids that are not live are kept (the store drops them). The records are read
// only when the type has rules, crm.MaxScriptBatch per round trip.
func (s *Server) leaveOutProtected(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID) ([]crm.RecordID, crm.ProtectedCounts, error) {
	set, err := triggers.LoadProtection(ctx, s.store, t, o)
	if err != nil || set.Empty() {
		return ids, nil, err
	}
	skip := map[crm.RecordID]bool{}
	var counts, failed crm.ProtectedCounts
	props := set.ReadProps(nil, false)
	now := s.clock.Now()
	for start := 0; start < len(ids); start += crm.MaxScriptBatch {
		recs, err := s.store.Records(ctx, t, o, ids[start:min(start+crm.MaxScriptBatch, len(ids))], &crm.ReadOpts{Properties: props})
		if err != nil {
			return nil, nil, fmt.Errorf("read %s for their protection rules: %w", o, err)
		}
		prot, c := set.Protected(recs, now)
		for _, pr := range prot {
			skip[pr.ID] = true
		}
		for k, v := range crm.FailedRules(prot) {
			if failed == nil {
				failed = crm.ProtectedCounts{}
			}
			failed[k] += v
		}
		for k, v := range c {
			if counts == nil {
				counts = crm.ProtectedCounts{}
			}
			counts[k] += v
		}
	}
	if len(skip) == 0 {
		return ids, nil, nil
	}
	s.logFailedRules(ctx, t, o, failed)
	out := make([]crm.RecordID, 0, len(ids)-len(skip))
	for _, id := range ids {
		if !skip[id] {
			out = append(out, id)
		}
	}
	return out, counts, nil
}
