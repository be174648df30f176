package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// CreateDeleteJob stores a bulk delete job of p. A selection by IDs is checked now: when the number
// of those live equals ConfirmCount the job is stored as pending, else a *CountMismatchError is
// returned and nothing is kept. A selection by Filter or ListID costs the same whatever the tenant's
// size: the job is stored in JobSelecting, and a worker selects the records and checks the count
// (see StageSelection, StageListSelection, SealSelection). A *ValidationError for a bad selection,
// a *NotFoundError for an unknown type or list. The job does nothing until a worker runs it.
func (s *Store) CreateDeleteJob(ctx context.Context, t crm.TenantID, p crm.DeleteJobParams) (crm.Job, error) {
	if _, err := s.Schema(ctx, t, p.ObjectType); err != nil {
		return crm.Job{}, err
	}
	if p.ConfirmCount < 0 {
		return crm.Job{}, &crm.ValidationError{Field: "confirmCount", Code: "INVALID_COUNT", Message: "confirmCount must be the number of records to delete (0 or more)"}
	}
	given := 0
	for _, set := range []bool{p.IDs != nil, p.Filter != "", p.ListID != ""} {
		if set {
			given++
		}
	}
	if given != 1 {
		return crm.Job{}, &crm.ValidationError{Field: "selection", Code: "INVALID_SELECTION",
			Message: "select the records to delete by exactly one of ids, a filter or a list"}
	}
	if p.IDs == nil {
		return s.createSelectionJob(ctx, t, p)
	}
	token := opID()
	pending := JobStagingKey(t, token)
	// Stage the live ones of the ids in chunks, each a short script (one long intersection would
	// hold Redis for every tenant), in a key of this request's until the job is sealed.
	for start := 0; start < len(p.IDs); start += 1000 {
		end := min(start+1000, len(p.IDs))
		for _, rid := range p.IDs[start:end] {
			if _, err := strconv.ParseUint(string(rid), 10, 64); err != nil {
				s.rdb.Del(ctx, pending)
				return crm.Job{}, &crm.ValidationError{Field: "ids", Code: "INVALID_ID", Message: fmt.Sprintf("record id %q is not a number", rid)}
			}
		}
		call := stageLiveCall{Staged: pending, Live: LiveKey(t, p.ObjectType), IDs: p.IDs[start:end]}
		if err := stageLiveScript.run(ctx, s, call).Err(); err != nil {
			s.rdb.Del(ctx, pending)
			return crm.Job{}, fmt.Errorf("stage a bulk delete of %s: %w", p.ObjectType, err)
		}
	}
	now := s.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	res, err := sealDeleteJobScript.run(ctx, s, sealDeleteJobCall{
		Staged: pending, Seq: SeqKey(t, "jobs"), Jobs: JobsKey(t),
		ConfirmCount: p.ConfirmCount, At: now.UnixMilli(), JobPrefix: jobKeyPrefix(t),
		Ref:    "", // a bulk job's ref is its own id, drawn when it is sealed
		Fields: jobFields{Type: p.ObjectType, By: p.By, Via: crm.ViaBulk, Selection: p.Selection, ConfirmCount: p.ConfirmCount},
	}).Slice()
	if err != nil {
		return crm.Job{}, fmt.Errorf("seal a bulk delete of %s: %w", p.ObjectType, err)
	}
	if res[0] == "mismatch" {
		matched, _ := res[1].(int64)
		return crm.Job{}, &crm.CountMismatchError{Confirmed: p.ConfirmCount, Matched: matched}
	}
	id, _ := res[1].(string)
	return s.Job(ctx, t, id)
}

// Job returns a bulk job, or a *NotFoundError.
func (s *Store) Job(ctx context.Context, t crm.TenantID, id string) (crm.Job, error) {
	h, err := s.rdb.HGetAll(ctx, JobKey(t, id)).Result()
	if err != nil {
		return crm.Job{}, fmt.Errorf("read job %s: %w", id, err)
	}
	if len(h) == 0 {
		return crm.Job{}, &crm.NotFoundError{Kind: "job", ID: id}
	}
	j := jobFromHash(t, id, h)
	s.jobs.put(t, j)
	return j, nil
}

// RecentJobs implements Store: the job index (JobsKey) newest first, then each job's hash, in one
// pipeline.
func (s *Store) RecentJobs(ctx context.Context, t crm.TenantID, before string, limit int) ([]crm.Job, string, error) {
	if limit < 1 || limit > crm.MaxJobsLimit {
		return nil, "", &crm.ValidationError{Field: "limit", Code: "INVALID_LIMIT", Message: fmt.Sprintf("limit %d is out of range: use 1 to %d", limit, crm.MaxJobsLimit)}
	}
	top := "+inf"
	var err error
	if before != "" {
		score, err := s.rdb.ZScore(ctx, JobsKey(t), before).Result()
		if errors.Is(err, redis.Nil) {
			return nil, "", &crm.ValidationError{Field: "after", Code: "INVALID_CURSOR", Message: fmt.Sprintf("cursor %q names no job: start again without it", before)}
		}
		if err != nil {
			return nil, "", fmt.Errorf("list jobs: %w", err)
		}
		top = strconv.FormatFloat(score, 'f', -1, 64)
	}
	// Jobs created in the same millisecond share a score: read them all, and skip up to the cursor.
	ties := int64(0)
	if before != "" {
		if ties, err = s.rdb.ZCount(ctx, JobsKey(t), top, top).Result(); err != nil {
			return nil, "", fmt.Errorf("list jobs: %w", err)
		}
	}
	zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, JobsKey(t), &redis.ZRangeBy{Max: top, Min: "-inf", Count: int64(limit+1) + ties}).Result()
	if err != nil {
		return nil, "", fmt.Errorf("list jobs: %w", err)
	}
	var ids []string
	skipping := before != ""
	for _, z := range zs {
		id := z.Member.(string)
		if skipping {
			if id == before {
				skipping = false
			}
			continue
		}
		ids = append(ids, id)
	}
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, JobKey(t, id))
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, "", fmt.Errorf("read jobs: %w", err)
		}
	}
	out := make([]crm.Job, 0, len(ids))
	for i, id := range ids {
		if h := cmds[i].Val(); len(h) > 0 {
			out = append(out, jobFromHash(t, id, h))
		}
	}
	return out, next, nil
}

func jobFromHash(t crm.TenantID, id string, h map[string]string) crm.Job {
	num := func(k string) int64 { n, _ := strconv.ParseInt(h[k], 10, 64); return n }
	j := crm.Job{ID: id, Kind: h["kind"], ObjectType: crm.ObjectType(h["object_type"]), State: crm.JobState(h["state"]),
		Total: num("total"), Done: num("done"), Skipped: num("skipped"), Gone: num("gone"), ConfirmCount: num("confirm_count"),
		Scanned: num("scanned"), Matched: num("matched"), Filter: h["filter"], Cursor: h["select_after"],
		By: crm.Actor{User: h["by"], Via: crm.Via(h["via"]), Ref: h["ref"]}, Selection: h["selection"],
		CreatedAt: parseMS(h["created_at"]), UpdatedAt: parseMS(h["updated_at"]), Protected: jobProtected(h)}
	if h["finished_at"] != "" {
		j.FinishedAt = parseMS(h["finished_at"])
	}
	if j.State == crm.JobCanceled {
		j.CanceledBy = h["canceled_by"]
	}
	if j.State == crm.JobStopped {
		code := crm.StoppedPermission
		switch h["stop_code"] {
		case "missing":
			code = crm.StoppedUserMissing
		case "disabled":
			code = crm.StoppedUserDisabled
		}
		j.Stop = crm.NewJobStop(t, j, code, h["stop_user"], crm.Permission(h["stop_perm"]))
	}
	if j.State == crm.JobRefused {
		j.Refusal = &crm.JobRefusal{Code: h["refusal_code"], Message: h["refusal"]}
		if j.Refusal.Code == crm.RefusedCountMismatch {
			j.Refusal.Message = (&crm.CountMismatchError{Confirmed: j.ConfirmCount, Matched: j.Matched, Protected: j.Protected}).Error()
		}
	}
	return j
}

// jobCache keeps what never changes of the jobs a store has read (their type and who started
// them), so that running a batch of a job costs one round trip. Safe for concurrent use.
type jobCache struct {
	mu sync.Mutex
	m  map[string]crm.Job
}

// jobCacheMax bounds the cache; it starts over when full.
const jobCacheMax = 4096

func (c *jobCache) put(t crm.TenantID, j crm.Job) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= jobCacheMax {
		c.m = make(map[string]crm.Job)
	}
	c.m[string(t)+"\x00"+j.ID] = crm.Job{ID: j.ID, Kind: j.Kind, ObjectType: j.ObjectType, By: j.By}
}

func (c *jobCache) get(t crm.TenantID, id string) (crm.Job, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j, ok := c.m[string(t)+"\x00"+id]
	return j, ok
}

// RunDeleteJobBatch moves the next at most limit pending records of a job into the bin, in one
// script that also takes them from the job's pending set, records the progress and returns the job
// as it is after. With Config.WaitReplicas, a batch not acknowledged by enough replicas returns the
// job as it is after together with ErrNotReplicated: the batch stands. A job that is finished, or
// still selecting, comes back unchanged; a job with nothing pending is marked done. A job whose
// creator is no longer a user, is disabled or lacks delete or bulk_delete moves nothing and ends
// stopped (crm.JobStopped, with Job.Stop saying why), in the same step. Safe to call again after
// a crash or from a retried task.
func (s *Store) RunDeleteJobBatch(ctx context.Context, t crm.TenantID, id string, limit int) (crm.Job, error) {
	return s.runDeleteJobBatch(ctx, t, id, limit, nil, 0)
}

func (s *Store) runDeleteJobBatch(ctx context.Context, t crm.TenantID, id string, limit int, expect map[crm.RecordID]string, rules int64) (crm.Job, error) {
	if limit <= 0 || limit > crm.MaxScriptBatch {
		return crm.Job{}, fmt.Errorf("crm: job batch limit %d out of range 1..%d", limit, crm.MaxScriptBatch)
	}
	meta, cached := s.jobs.get(t, id)
	var (
		res   []string
		acked error
	)
	for {
		if !cached {
			j, err := s.Job(ctx, t, id)
			if err != nil || j.State.Finished() || j.State == crm.JobSelecting {
				return j, err
			}
			meta = j
		}
		if meta.Kind == crm.JobKindUndo {
			return crm.Job{}, fmt.Errorf("crm: job %s is an undo job: run it with RunUndoBatch, not as a bulk delete", id)
		}
		sch, err := s.Schema(ctx, t, meta.ObjectType)
		if err != nil {
			return crm.Job{}, fmt.Errorf("run job %s: %w", id, err)
		}
		call := s.archiveCall(t, meta.ObjectType, meta.By, sch)
		call.Job, call.JobPending, call.Batch = JobKey(t, id), JobPendingKey(t, id), limit
		call.Operation = crm.JobOperationID(id)
		// The job acts with its creator's authority as it is now: archive.lua stops it otherwise.
		call.User, call.Needs = UserKey(t, normalizeUserEmail(meta.By.User)), crm.Permissions(crm.JobNeeds).String()
		call.Expect = expect
		if rules != 0 {
			call.RulesVersion = strconv.FormatInt(rules, 10)
		}
		var reply *redis.Cmd
		reply, acked = archiveScript.runAcked(ctx, s, call)
		if res, err = reply.StringSlice(); err != nil {
			return crm.Job{}, fmt.Errorf("run job %s: %w", id, err)
		}
		if len(res) == 0 {
			return crm.Job{}, &crm.NotFoundError{Kind: "job", ID: id}
		}
		if res[0] == "rules" {
			j, err := s.Job(ctx, t, id)
			if err != nil {
				return crm.Job{}, err
			}
			return j, fmt.Errorf("run job %s: %w", id, crm.ErrRulesChanged)
		}
		if res[0] != "stale" {
			break
		}
		if !cached {
			return crm.Job{}, fmt.Errorf("crm: job %s changed while it was read", id)
		}
		cached = false // the cache knew another job of that id: read this one
	}
	j := jobFromHash(t, id, pairs(res))
	if acked != nil {
		return j, fmt.Errorf("run job %s: %w", id, acked)
	}
	return j, nil
}

// RunCheckedDeleteJobBatch implements Store: RunDeleteJobBatch with the last modifications of the
// records checked, as read, for archive.lua to compare (archiveCall.Expect), and the version of
// the rules they were checked against.
func (s *Store) RunCheckedDeleteJobBatch(ctx context.Context, t crm.TenantID, id string, limit int, checked []crm.Record, rulesVersion int64) (crm.Job, error) {
	var expect map[crm.RecordID]string
	if checked != nil {
		expect = expectations(checked)
	}
	return s.runDeleteJobBatch(ctx, t, id, limit, expect, rulesVersion)
}

// ScanRecords calls fn with every live record of a type, in batches of at most batch records read in
// two round trips each (NextRecords), by ascending id. It stops at the first error fn returns.
func (s *Store) ScanRecords(ctx context.Context, t crm.TenantID, o crm.ObjectType, batch int, fn func([]crm.Record) error) error {
	if batch <= 0 || batch > crm.MaxScriptBatch {
		batch = 500
	}
	if _, err := s.Schema(ctx, t, o); err != nil {
		return err
	}
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		recs, next, err := s.NextRecords(ctx, t, o, after, batch, nil)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			if err := fn(recs); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// LeaseJob takes, or renews, the lease of a job for owner for ttl, and reports whether owner holds
// it. A runner renews it before each batch; while another owner holds it, a runner leaves the job alone.
func (s *Store) LeaseJob(ctx context.Context, t crm.TenantID, id, owner string, ttl time.Duration) (bool, error) {
	n, err := leaseScript.run(ctx, s, leaseCall{Lease: JobLeaseKey(t, id), Owner: owner, TTL: ttl.Milliseconds()}).Int()
	if err != nil {
		return false, fmt.Errorf("lease job %s: %w", id, err)
	}
	return n == 1, nil
}

// ReleaseJob gives up the lease of a job if owner holds it.
func (s *Store) ReleaseJob(ctx context.Context, t crm.TenantID, id, owner string) error {
	if err := releaseScript.run(ctx, s, releaseCall{Lease: JobLeaseKey(t, id), Owner: owner}).Err(); err != nil {
		return fmt.Errorf("release job %s: %w", id, err)
	}
	return nil
}

// UnfinishedJobs lists the ids of a tenant's jobs created since `since` that are not finished, oldest
// first: the jobs a sweep makes sure a worker is running.
func (s *Store) UnfinishedJobs(ctx context.Context, t crm.TenantID, since time.Time) ([]string, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, JobsKey(t), &redis.ZRangeBy{Min: ms(since), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	pipe := s.rdb.Pipeline()
	states := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		states[i] = pipe.HGet(ctx, JobKey(t, id), "state")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read job states: %w", err)
	}
	var out []string
	for i, id := range ids {
		if st := states[i].Val(); st != "" && !crm.JobState(st).Finished() {
			out = append(out, id)
		}
	}
	return out, nil
}
