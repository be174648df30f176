package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// createSelectionJob stores a bulk delete job of p (a filter or a list) in JobSelecting, in one
// round trip.
func (s *Store) createSelectionJob(ctx context.Context, t crm.TenantID, p crm.DeleteJobParams) (crm.Job, error) {
	via, ref := crm.ViaBulk, "" // a bulk job's ref is its own id
	fields := jobFields{Type: p.ObjectType, By: p.By, Selection: p.Selection, ConfirmCount: p.ConfirmCount}
	if p.ListID != "" {
		if err := checkIDs([]crm.RecordID{crm.RecordID(p.ListID)}); err != nil {
			return crm.Job{}, &crm.NotFoundError{Kind: "list", ID: string(p.ListID)}
		}
		l, err := s.List(ctx, t, p.ListID)
		if err != nil {
			return crm.Job{}, err
		}
		if l.ObjectType != p.ObjectType {
			return crm.Job{}, &crm.ValidationError{Field: "listId", Code: "WRONG_LIST_TYPE",
				Message: fmt.Sprintf("list %s holds %s, not %s", p.ListID, l.ObjectType, p.ObjectType)}
		}
		via, ref = crm.ViaList, string(p.ListID)
	} else {
		fields.Filter = p.Filter
	}
	fields.Via = via
	now := s.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	id, err := createSelectionJobScript.run(ctx, s, createSelectionJobCall{
		Seq: SeqKey(t, "jobs"), Jobs: JobsKey(t), Selecting: JobsSelectingKey(t),
		At: now.UnixMilli(), JobPrefix: jobKeyPrefix(t), Ref: ref, Fields: fields,
	}).Text()
	if err != nil {
		return crm.Job{}, fmt.Errorf("create a bulk delete of %s: %w", p.ObjectType, err)
	}
	return s.Job(ctx, t, id)
}

// StageSelection records one step of the selection of a job selecting by filter, in one script:
// the live ones of step.IDs join the selection, the cursor moves to step.Next and the progress
// (Scanned, Matched) is counted. When step.Next is "", the same script ends the selection: when the
// number selected equals the confirmed count the job becomes pending (done when it is 0), otherwise
// it is refused (RefusedCountMismatch) and nothing is kept. A job not selecting, or whose cursor is
// not step.After, comes back unchanged: safe to call again after a crash or from a retried task.
// The step acts with the job's creator's authority as it is now: when the creator is no user, is
// disabled or lacks delete or bulk_delete, it selects nothing and ends the job stopped, dropping
// what was selected, in the same script (StageListSelection likewise). A *NotFoundError for an
// unknown job.
func (s *Store) StageSelection(ctx context.Context, t crm.TenantID, id string, o crm.ObjectType, step crm.SelectionStep) (crm.Job, error) {
	if len(step.IDs) > crm.MaxScriptBatch {
		return crm.Job{}, fmt.Errorf("crm: selection step of %d ids, over %d", len(step.IDs), crm.MaxScriptBatch)
	}
	// The job's creator, whose authority the step acts with: it never changes, so a job read
	// before (the cache) saves the round trip.
	by := ""
	if j, ok := s.jobs.get(t, id); ok {
		by = j.By.User
	} else {
		var err error
		if by, err = s.rdb.HGet(ctx, JobKey(t, id), "by").Result(); err != nil && !errors.Is(err, redis.Nil) {
			return crm.Job{}, fmt.Errorf("select records of job %s: %w", id, err)
		}
	}
	call := s.selectionStepCall(t, id, o, by, noList)
	call.After, call.Next, call.Scanned, call.IDs = step.After, step.Next, step.Scanned, step.IDs
	return s.runSelectionStep(ctx, t, call)
}

// StageListSelection runs the next step of the selection of a job selecting a list's members, in
// one script: the next at most limit members (by ascending id) that are live join the selection,
// with the progress; after the last member, the same script ends the selection as StageSelection
// does. Safe to call again after a crash or from a retried task. A *NotFoundError for an unknown job.
func (s *Store) StageListSelection(ctx context.Context, t crm.TenantID, j crm.Job, limit int) (crm.Job, error) {
	if limit <= 0 || limit > crm.MaxScriptBatch {
		return crm.Job{}, fmt.Errorf("crm: selection limit %d out of range 1..%d", limit, crm.MaxScriptBatch)
	}
	if j.By.Via != crm.ViaList || j.By.Ref == "" {
		return crm.Job{}, fmt.Errorf("crm: job %s does not select a list's members", j.ID)
	}
	call := s.selectionStepCall(t, j.ID, j.ObjectType, j.By.User, crm.ListID(j.By.Ref))
	call.ListBatch = limit
	return s.runSelectionStep(ctx, t, call)
}

// selectionStepCall is the call of selectionStepScript for job id of type o, created by by,
// selecting the members of list (noList for a selection by ids), with nothing selected yet.
func (s *Store) selectionStepCall(t crm.TenantID, id string, o crm.ObjectType, by string, list crm.ListID) selectionStepCall {
	return selectionStepCall{
		Job: JobKey(t, id), Selected: JobSelectedKey(t, id), Live: LiveKey(t, o), Selecting: JobsSelectingKey(t),
		Pending: JobPendingKey(t, id), ListMembers: ListMembersKey(t, list), User: UserKey(t, normalizeUserEmail(by)),
		At: s.cfg.Clock.Now().UnixMilli(), JobID: id,
	}
}

func (s *Store) runSelectionStep(ctx context.Context, t crm.TenantID, call selectionStepCall) (crm.Job, error) {
	id := call.JobID
	res, err := selectionStepScript.run(ctx, s, call).StringSlice()
	if err != nil {
		return crm.Job{}, fmt.Errorf("select records of job %s: %w", id, err)
	}
	if len(res) == 0 {
		return crm.Job{}, &crm.NotFoundError{Kind: "job", ID: id}
	}
	return jobFromHash(t, id, pairs(res)), nil
}

// RefuseJob ends a job that is still selecting as refused, with code (one of the Refused* codes)
// and message, keeping nothing of its selection and erasing its filter. A job in another state
// comes back unchanged. A *NotFoundError for an unknown job.
func (s *Store) RefuseJob(ctx context.Context, t crm.TenantID, id, code, message string) (crm.Job, error) {
	res, err := refuseJobScript.run(ctx, s, refuseJobCall{
		Job: JobKey(t, id), Selected: JobSelectedKey(t, id), Selecting: JobsSelectingKey(t),
		At: s.cfg.Clock.Now().UnixMilli(), Code: code, Message: message, JobID: id,
	}).StringSlice()
	if err != nil {
		return crm.Job{}, fmt.Errorf("refuse job %s: %w", id, err)
	}
	if len(res) == 0 {
		return crm.Job{}, &crm.NotFoundError{Kind: "job", ID: id}
	}
	return jobFromHash(t, id, pairs(res)), nil
}

// SelectingJobs implements Store: the set of selecting jobs (JobsSelectingKey), then their hashes
// in one pipeline; a job that ended meanwhile is left out.
func (s *Store) SelectingJobs(ctx context.Context, t crm.TenantID) ([]crm.Job, error) {
	ids, err := s.rdb.SMembers(ctx, JobsSelectingKey(t)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the selecting jobs: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	sort.Strings(ids)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, JobKey(t, id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read the selecting jobs: %w", err)
	}
	var out []crm.Job
	for i, id := range ids {
		if h := cmds[i].Val(); len(h) > 0 {
			if j := jobFromHash(t, id, h); j.State == crm.JobSelecting {
				out = append(out, j)
			}
		}
	}
	return out, nil
}

// refuseFiltersNaming refuses the jobs still selecting whose filter names one of emails (compared
// without case), erasing their filter's text: a permanent delete leaves no copy of the contact's
// email (SPEC S9). Two round trips, and one per job refused.
func (s *Store) refuseFiltersNaming(ctx context.Context, t crm.TenantID, emails []string) error {
	if len(emails) == 0 {
		return nil
	}
	ids, err := s.rdb.SMembers(ctx, JobsSelectingKey(t)).Result()
	if err != nil || len(ids) == 0 {
		return err
	}
	pipe := s.rdb.Pipeline()
	filters := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		filters[i] = pipe.HGet(ctx, JobKey(t, id), "filter")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read the filters of selecting jobs: %w", err)
	}
	for i, id := range ids {
		f := strings.ToLower(filters[i].Val())
		for _, e := range emails {
			if f != "" && strings.Contains(f, strings.ToLower(e)) {
				if _, err := s.RefuseJob(ctx, t, id, crm.RefusedFilterErased,
					"a contact whose email the filter named was deleted permanently, and the filter with it: nothing was deleted; start the bulk delete again without that email"); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// pairs turns a flat HGETALL reply into a map.
func pairs(res []string) map[string]string {
	h := make(map[string]string, len(res)/2)
	for k := 0; k+1 < len(res); k += 2 {
		h[res[k]] = res[k+1]
	}
	return h
}

// createSelectionJobScript stores a bulk delete job that selects its records in the worker.
// See lua/create_selection_job.lua for its KEYS and ARGV.
var createSelectionJobScript = newScript[createSelectionJobCall]("create_selection_job")

// createSelectionJobCall is a call of createSelectionJobScript (lua/create_selection_job.lua).
type createSelectionJobCall struct {
	Seq, Jobs, Selecting string

	At        int64 // unix ms
	JobPrefix string
	Ref       string // the job's ref, "" for the job's own id
	Fields    jobFields
}

func (c createSelectionJobCall) keys() []string { return []string{c.Seq, c.Jobs, c.Selecting} }
func (c createSelectionJobCall) argv() []any {
	return append([]any{c.At, c.JobPrefix, c.Ref}, c.Fields.pairs()...)
}

// selectionStepScript runs one step of a job's selection and, after the last, ends it.
// See lua/selection_step.lua for its KEYS and ARGV.
var selectionStepScript = newScript[selectionStepCall]("helpers", "selection_step")

// noList is the list id whose members key a selection step by ids names: list ids are drawn by INCR
// from 1, so no list has it, and the script does not read it when ListBatch is 0.
const noList crm.ListID = "0"

// selectionStepCall is a call of selectionStepScript (lua/selection_step.lua).
type selectionStepCall struct {
	Job, Selected, Live, Selecting, Pending string
	// ListMembers is the members of the list the job selects (ListMembersKey of noList by ids).
	ListMembers string
	// User is the UserKey of the job's creator, whose authority the selection acts with.
	User string

	At    int64 // unix ms
	JobID string
	// ListBatch is how many list members the step reads; 0 for a step by ids (the fields below).
	ListBatch int
	After     string // the cursor the step starts from
	Next      string // the cursor after the step, "" ending the selection
	Scanned   int
	IDs       []crm.RecordID // matched
}

func (c selectionStepCall) keys() []string {
	return []string{c.Job, c.Selected, c.Live, c.Selecting, c.Pending, c.ListMembers, c.User}
}

func (c selectionStepCall) argv() []any {
	return append([]any{c.At, c.JobID, c.ListBatch, c.After, c.Next, c.Scanned}, idArgs(c.IDs)...)
}

// refuseJobScript ends a selecting job as refused.
// See lua/refuse_job.lua for its KEYS and ARGV.
var refuseJobScript = newScript[refuseJobCall]("refuse_job")

// refuseJobCall is a call of refuseJobScript (lua/refuse_job.lua).
type refuseJobCall struct {
	Job, Selected, Selecting string

	At      int64 // unix ms
	Code    string
	Message string
	JobID   string
}

func (c refuseJobCall) keys() []string { return []string{c.Job, c.Selected, c.Selecting} }
func (c refuseJobCall) argv() []any    { return []any{c.At, c.Code, c.Message, c.JobID} }
