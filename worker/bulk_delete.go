package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
)

// TypeBulkDelete is the type of the task that runs a confirmed bulk delete job (see
// redisstore.Store.CreateDeleteJob): the selection moves to the bin in batches. It also runs undo
// jobs (crm.JobKindUndo, see runUndo), which the same sweep finds and re-enqueues.
const TypeBulkDelete = "bulk:delete"

// BulkDeleteBatchSize is how many records one store call moves to the bin.
const BulkDeleteBatchSize = 500

// DefaultBulkSlice is Config.BulkSlice's default: 40 batches, 20,000 records, a few seconds.
const DefaultBulkSlice = 40

// BulkDeletePayload is the payload of a bulk:delete task.
type BulkDeletePayload struct {
	// TenantID is the job's tenant.
	TenantID crm.TenantID `json:"tenant_id"`
	// JobID is the job to run.
	JobID string `json:"job_id"`
}

// NewBulkDeleteTask returns a bulk:delete task for queue bulk. Its task id is derived from the
// tenant, the job and attempt, so the API's enqueue and a sweep's re-enqueue of the same attempt
// collapse into one; a sweep passes a new attempt to hand a job whose runner died to a new one.
func NewBulkDeleteTask(tenant crm.TenantID, jobID, attempt string) *asynq.Task {
	raw, _ := json.Marshal(BulkDeletePayload{TenantID: tenant, JobID: jobID}) // strings always encode
	return asynq.NewTask(TypeBulkDelete, raw, asynq.Queue(QueueBulk), asynq.MaxRetry(25),
		asynq.TaskID(TypeBulkDelete+":"+string(tenant)+":"+jobID+":"+attempt), asynq.Retention(time.Hour))
}

// HandleBulkDelete handles a bulk:delete task. It takes the job's lease (or leaves the job alone
// while another runner holds it). A job selecting by filter or list first selects its records,
// SelectBatchSize at a time, each step one script that keeps the cursor (and that, like each batch,
// acts with the creator's authority as it is then: see below); after the last, the
// confirmed count is checked, and a mismatch ends the job as refused with nothing deleted. It then moves the job's pending records to the bin BulkDeleteBatchSize
// at a time, each batch one script that also records the progress, renewing the lease before each
// batch and checking ctx between them. Each batch acts with the job's creator's authority as it is
// then: a creator disabled, removed or without delete or bulk_delete ends the job as stopped
// (crm.JobStopped) in the step that would have moved the batch, which moves nothing. A crash, a SIGKILL or a handed-back task loses nothing and
// repeats nothing: the next runner continues from what is still pending.
func (w *Worker) HandleBulkDelete(ctx context.Context, t *asynq.Task) error {
	var p BulkDeletePayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode %s payload: %w: %w", TypeBulkDelete, asynq.SkipRetry, err)
	}
	if err := p.TenantID.Validate(); err != nil || p.JobID == "" {
		return fmt.Errorf("%s payload names no valid tenant and job: %w", TypeBulkDelete, asynq.SkipRetry)
	}
	log := w.taskLogger(ctx, t).With("job_id", p.JobID)
	owner := runnerID()
	defer func() { _ = w.store.ReleaseJob(context.WithoutCancel(ctx), p.TenantID, p.JobID, owner) }()
	var before crm.Job
	unacked := false            // a batch was not acknowledged by enough replicas (logged once per run)
	var sel *selector           // the job's selection, prepared at its first step in this run
	var protect protectionCache // the type's protection rules, read again before each batch
	for step := 0; ; step++ {
		first := step == 0
		if err := ctx.Err(); err != nil {
			return err
		}
		if step == w.cfg.BulkSlice {
			return w.handOn(ctx, log, p, owner)
		}
		ok, err := w.store.LeaseJob(ctx, p.TenantID, p.JobID, owner, w.cfg.JobLease)
		if err != nil {
			return err
		}
		if !ok {
			log.Info("bulk delete job is run by another worker; leaving it")
			return nil
		}
		if first {
			if before, err = w.store.Job(ctx, p.TenantID, p.JobID); err != nil {
				return err
			}
			if before.State.Finished() { // a task enqueued before the job ended: nothing to do
				return nil
			}
			if before.Kind == crm.JobKindUndo {
				return w.runUndo(ctx, p, before, owner, log)
			}
		}
		if before.State == crm.JobSelecting {
			if sel == nil {
				var refused crm.Job
				if sel, refused, err = w.startSelection(ctx, p.TenantID, before); err != nil {
					return err
				}
				if sel == nil {
					before = refused
				}
			}
			if sel != nil {
				if before, err = sel.step(ctx, w, p.TenantID, before); err != nil {
					return err
				}
			}
			switch before.State {
			case crm.JobSelecting:
				continue
			case crm.JobRefused:
				log.Warn("bulk delete job refused: nothing deleted", "code", before.Refusal.Code,
					"confirmed", before.ConfirmCount, "matched", before.Matched)
				return nil
			case crm.JobDone:
				log.Info("bulk delete job done: nothing selected", "scanned", before.Scanned)
				return nil
			case crm.JobCanceled:
				log.Info("bulk delete job canceled by an undo of its operation", "undo_job", before.CanceledBy)
				return nil
			case crm.JobStopped:
				// The reason names the user: it stays on the job, out of the logs.
				log.Warn("bulk delete job stopped while it selected its records: its creator may no longer delete (the job's status says why)",
					"scanned", before.Scanned)
				return nil
			}
			log.Info("bulk delete job selected its records", "scanned", before.Scanned, "total", before.Total)
			continue // renew the lease before the first batch
		}
		// The records of the next batch are checked against the rules as they are now: a rule written,
		// or a record changed, since the selection, or since the batch before, protects it still
		// (SPEC S25).
		rules, err := protect.load(ctx, w.store, p.TenantID, before.ObjectType)
		if err != nil {
			return err
		}
		// The batch then moves exactly the records checked (and not taken out): the first of the
		// pending set, as the check read them; none is moved unchecked, nor one written since the
		// check (it stays pending, and the next batch checks it again).
		checked, limit, err := w.skipProtected(ctx, p.TenantID, before, rules)
		if err != nil {
			return err
		}
		if limit == 0 { // every record checked was protected: check the next ones
			continue
		}
		// The batch moves only while the rules are still those it was checked against (a type
		// without rules included): a rule written meanwhile leaves it for the next step to check.
		job, err := w.store.RunCheckedDeleteJobBatch(ctx, p.TenantID, p.JobID, limit, checked, rules.Version())
		if errors.Is(err, crm.ErrRulesChanged) {
			before = job
			continue
		}
		if errors.Is(err, crm.ErrNotReplicated) {
			// The batch stands, with the job's progress in the same script: lost in a failover, both
			// go back together and the batch runs again. Go on rather than crawl while no replica
			// answers (a promoted replica has none until one rejoins).
			if !unacked {
				log.Warn("bulk delete batches are not acknowledged by enough replicas; going on", "error", err.Error())
			}
			unacked, err = true, nil
		}
		if err != nil {
			return err
		}
		// Count what this batch moved (the job's done count is the job's, across runners; while
		// this runner holds the lease, no other moves any).
		w.metrics.bulkDeleted.WithLabelValues(objectTypeLabel(job.ObjectType)).Add(float64(job.Done - before.Done))
		before = job
		if job.State == crm.JobStopped {
			// Its creator is disabled, gone or lost delete or bulk_delete (SPEC S2): the store moved
			// nothing of this batch and ended the job; what it moved before stays in the bin. The
			// reason names the user: it stays on the job, out of the logs (only ids are logged).
			log.Warn("bulk delete job stopped: its creator may no longer delete in bulk (the job's status says why)", "code", job.Stop.Code,
				"permission", string(job.Stop.Permission), "total", job.Total, "done", job.Done)
			return nil
		}
		if job.State.Finished() {
			log.Info("bulk delete job "+string(job.State), "total", job.Total, "done", job.Done, "skipped", job.Skipped)
			return nil
		}
	}
}

// handOn ends this run of job j after its slice (Config.BulkSlice): it gives up the lease and
// enqueues the job's next task, which joins the back of QueueBulk. The task's id names the job's
// progress, so a handler run again after a crash enqueues the same one (a duplicate, dropped); a
// crash between the two steps leaves the job to the jobs:sweep.
func (w *Worker) handOn(ctx context.Context, log *slog.Logger, p BulkDeletePayload, owner string) error {
	j, err := w.store.Job(ctx, p.TenantID, p.JobID) // its progress as it is, skips included
	if err != nil {
		return err
	}
	if err := w.store.ReleaseJob(ctx, p.TenantID, p.JobID, owner); err != nil {
		return err
	}
	if j.State.Finished() {
		return nil
	}
	attempt := fmt.Sprintf("slice-%d-%d-%d", j.Scanned, j.Done, j.Skipped)
	if _, err := w.enq.Enqueue(ctx, NewBulkDeleteTask(p.TenantID, p.JobID, attempt)); err != nil && !errors.Is(err, ErrDuplicate) {
		return fmt.Errorf("hand job %s on to its next task: %w", p.JobID, err)
	}
	log.Info("bulk job hands on to its next task after its slice", "batches", w.cfg.BulkSlice, "done", j.Done, "total", j.Total)
	return nil
}

// SelectBatchSize is how many records one step of a job's selection looks at.
const SelectBatchSize = 500

// selector runs the steps of one job's selection in one task run: the filter is compiled, the
// list checked and the type's protection rules compiled, once for the run rather than at every step.
type selector struct {
	list    crm.ListID              // the list whose members the job selects ("" for a filter)
	prog    *triggers.Program       // the compiled filter, for a job selecting by filter
	protect *triggers.ProtectionSet // the type's protection rules (SPEC S25): the records they protect are skipped
	props   []string                // what the filter and the rules read of each record (nil: all of it)
}

// startSelection prepares the selection of job j, which is selecting. A filter is compiled against
// the type's properties as they are now; one that no longer compiles, and a list deleted meanwhile,
// refuse the job: sel is then nil and refused is the job as it ended.
func (w *Worker) startSelection(ctx context.Context, t crm.TenantID, j crm.Job) (sel *selector, refused crm.Job, err error) {
	protect, err := triggers.LoadProtection(ctx, w.store, t, j.ObjectType)
	if err != nil {
		return nil, crm.Job{}, err
	}
	if j.By.Via == crm.ViaList {
		l, err := w.store.List(ctx, t, crm.ListID(j.By.Ref))
		var nf *crm.NotFoundError
		switch {
		case errors.As(err, &nf):
			refused, err = w.store.RefuseJob(ctx, t, j.ID, crm.RefusedListGone,
				fmt.Sprintf("list %s was deleted before its members were selected: nothing was deleted", j.By.Ref))
			return nil, refused, err
		case err != nil:
			return nil, crm.Job{}, err
		case l.ObjectType != j.ObjectType:
			refused, err = w.store.RefuseJob(ctx, t, j.ID, crm.RefusedListGone,
				fmt.Sprintf("list %s no longer holds %s: nothing was deleted", j.By.Ref, j.ObjectType))
			return nil, refused, err
		}
		return &selector{list: l.ID, protect: protect, props: protect.ReadProps(nil, false)}, crm.Job{}, nil
	}
	schema, err := w.store.Schema(ctx, t, j.ObjectType)
	if err != nil {
		return nil, crm.Job{}, err
	}
	prog, err := triggers.Compile(j.Filter, schema)
	if err != nil {
		// Not the compiler's message: it quotes the filter, which may name a contact's data, and a
		// refusal outlives the filter (S9). The log line has the position only.
		var te *triggers.Error
		if errors.As(err, &te) {
			w.log.Warn("bulk delete job's filter no longer compiles", "tenant_id", string(t), "job_id", j.ID,
				"line", te.Line, "column", te.Column)
		}
		refused, err = w.store.RefuseJob(ctx, t, j.ID, crm.RefusedInvalidFilter,
			fmt.Sprintf("the filter no longer compiles against the properties of %s (one was changed or deleted since the job was "+
				"created): nothing was deleted; check the filter against GET /crm/v3/properties/%s and send it again", j.ObjectType, j.ObjectType))
		return nil, refused, err
	}
	// Only what the filter and the rules read of each record (or all of it, when that is not known).
	props, all := prog.Reads()
	return &selector{prog: prog, protect: protect, props: protect.ReadProps(props, all)}, crm.Job{}, nil
}

// step runs the next step of the selection of job j and returns the job after it. A record on
// which the filter fails at run time is not selected. A record a protection rule protects is not
// selected either: it is counted by rule in the job (crm.Job.Protected), before the step is staged,
// so that a step run again after a crash replaces its counts. The members of a list are read here
// (not in a script) so that the rules can be evaluated on them: two round trips per step, never
// one per record.
func (sel *selector) step(ctx context.Context, w *Worker, t crm.TenantID, j crm.Job) (crm.Job, error) {
	var (
		recs    []crm.Record
		next    string
		scanned int
		err     error
	)
	if sel.list != "" {
		recs, scanned, next, err = w.store.NextListMembers(ctx, t, sel.list, j.ObjectType, j.Cursor, SelectBatchSize, sel.props)
	} else {
		recs, next, err = w.store.NextRecords(ctx, t, j.ObjectType, j.Cursor, SelectBatchSize, sel.props)
		scanned = len(recs)
	}
	if err != nil {
		return crm.Job{}, err
	}
	now := w.cfg.Clock.Now()
	step := crm.SelectionStep{After: j.Cursor, Next: next, Scanned: scanned}
	var counts, failed crm.ProtectedCounts
	for _, rec := range recs {
		if sel.prog != nil {
			if ok, err := sel.prog.Match(rec, now); err != nil || !ok {
				continue
			}
		}
		if rule, ok, ruleFailed := sel.protect.Evaluate(rec, now); ok {
			if counts == nil {
				counts = crm.ProtectedCounts{}
			}
			counts[rule]++
			if ruleFailed {
				if failed == nil {
					failed = crm.ProtectedCounts{}
				}
				failed[rule]++
			}
			continue
		}
		step.IDs = append(step.IDs, rec.ID)
	}
	w.noteFailedRules(t, j.ID, j.ObjectType, failed)
	if !sel.protect.Empty() { // even with none protected: a first run of this step may have counted some
		if err := w.store.AddJobProtected(ctx, t, j.ID, j.Cursor, counts); err != nil {
			return crm.Job{}, err
		}
	}
	return w.store.StageSelection(ctx, t, j.ID, j.ObjectType, step)
}

// skipProtected takes out of job j's next batch the records protection rules protect now, each
// counted as skipped and as protected by its rule, and returns the live records it checked and
// left in (for the batch to move only if they were not written since), and the size of the batch
// to run: the pending records it checked less those it took out. Without rules it reads nothing
// and returns no records and BulkDeleteBatchSize; so it does when nothing is pending, so that the
// batch ends the job. A size of 0 means that every record it checked was protected and taken out.
func (w *Worker) skipProtected(ctx context.Context, t crm.TenantID, j crm.Job, protect *triggers.ProtectionSet) ([]crm.Record, int, error) {
	if protect.Empty() {
		return nil, BulkDeleteBatchSize, nil
	}
	recs, pending, err := w.store.PendingJobRecords(ctx, t, j.ID, j.ObjectType, BulkDeleteBatchSize, protect.ReadProps(nil, false))
	if err != nil || pending == 0 {
		return nil, BulkDeleteBatchSize, err
	}
	prot, _ := protect.Protected(recs, w.cfg.Clock.Now())
	w.noteFailedRules(t, j.ID, j.ObjectType, crm.FailedRules(prot))
	if len(prot) > 0 {
		n, err := w.store.SkipProtectedPending(ctx, t, j.ID, prot)
		if err != nil {
			return nil, 0, err
		}
		if n > 0 {
			w.log.Info("bulk delete job skips records protected since its selection", "tenant_id", string(t), "job_id", j.ID, "skipped", n)
		}
		out := make(map[crm.RecordID]bool, len(prot))
		for _, p := range prot {
			out[p.ID] = true
		}
		recs = slices.DeleteFunc(recs, func(r crm.Record) bool { return out[r.ID] })
	}
	// Not pending - n: a protected record that was no longer pending leaves the batch smaller, never
	// larger than what was checked.
	if recs == nil {
		recs = []crm.Record{} // checked, none live: the batch moves none that turned live since
	}
	return recs, pending - len(prot), nil
}

// noteFailedRules records that the protection rules of failed (counts of records by rule) could
// not be evaluated on some records of job id, which they therefore protect (protection fails
// closed): a warning naming the rules and counts (no record data), and
// crmflow_protection_rule_failures_total. Nothing for none.
func (w *Worker) noteFailedRules(t crm.TenantID, id string, o crm.ObjectType, failed crm.ProtectedCounts) {
	if len(failed) == 0 {
		return
	}
	w.metrics.ruleFailures.WithLabelValues(objectTypeLabel(o)).Add(float64(failed.Total()))
	w.log.Warn("protection rules cannot be evaluated on some records of a bulk delete job: they protect them until fixed",
		"tenant_id", string(t), "job_id", id, "object_type", string(o), "rules", failed.String())
}

// runnerID names this process and one handler run, for leases.
func runnerID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), randomToken())
}

// protectionCache holds the protection rules of one object type as a job's run last read them,
// compiled: load reads the version of the tenant's rules (one round trip) and reads and compiles
// the rules again only when it moved on since.
type protectionCache struct {
	set *triggers.ProtectionSet
}

// load returns the rules of type o as they are now, with their version. It returns the store's
// errors.
func (c *protectionCache) load(ctx context.Context, store crm.Store, t crm.TenantID, o crm.ObjectType) (*triggers.ProtectionSet, error) {
	if c.set != nil {
		v, err := store.ProtectionVersion(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("read the version of the protection rules: %w", err)
		}
		if v == c.set.Version() {
			return c.set, nil
		}
	}
	set, err := triggers.LoadProtection(ctx, store, t, o)
	if err != nil {
		return nil, err
	}
	c.set = set
	return set, nil
}
