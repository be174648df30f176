package engine

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/workflows"
)

// DueEnrollments picks, from enrs (as the store returned them for the ids of a step's task), the
// records that step `step` of revision rev runs on: those still enrolled at that revision and step,
// each once, and, when counts is not nil, only in the enrollment the task was made for (counts[i]
// is the enrollment count of enrs[i]). A record an earlier run advanced, unenrolled or completed
// is left out. It returns them in order, with the enrollment count of each. DueEnrollments is pure.
func DueEnrollments(enrs []crm.Enrollment, rev int64, step int, counts []int) ([]crm.RecordID, map[crm.RecordID]int) {
	var due []crm.RecordID
	countOf := make(map[crm.RecordID]int, len(enrs))
	for i, e := range enrs {
		if e.State != crm.Enrolled || e.Revision != rev || e.Step != step || (len(counts) > 0 && e.Count != counts[i]) {
			continue
		}
		if _, dup := countOf[e.ID]; dup {
			continue
		}
		due = append(due, e.ID)
		countOf[e.ID] = e.Count
	}
	return due, countOf
}

// NotLive decides about the enrolled records ids of ref whose step `action` is due while they are
// no longer live. binned are those of them in the bin (with their Deletion); activeRev is the
// workflow's active revision now.
//
//   - A record this workflow's delete_contact moved to the bin, in a run that crashed before it
//     recorded its result: the step is recorded as done.
//   - Otherwise, when ref's revision is still active: a deleted verdict, which unenrolls it at once
//     (SPEC S8), as the drain of its deletion would.
//   - Otherwise (another revision is active): the enrollment ends as skipped.
//
// NotLive is pure.
func NotLive(ref crm.FlowRef, action string, activeRev int64, ids []crm.RecordID, binned []crm.Record, now time.Time) (results []crm.StepResult, deleted []crm.FlowVerdict) {
	byUs := map[crm.RecordID]bool{}
	for _, r := range binned {
		if d := r.Deletion; d != nil && d.Via == crm.ViaWorkflow && d.Ref == ref.Name && action == "delete_contact" {
			byUs[r.ID] = true
		}
	}
	for _, id := range ids {
		switch {
		case byUs[id]:
			results = append(results, crm.StepResult{ID: id, Outcome: string(actions.OutcomeDone),
				Detail: fmt.Sprintf("moved %s %s to the recycle bin", actions.Singular(ref.ObjectType), id), Due: now, Stop: true})
		case activeRev == ref.Revision:
			deleted = append(deleted, crm.FlowVerdict{ID: id, Verdict: crm.VerdictDeleted, Detail: "record deleted"})
		default:
			results = append(results, crm.StepResult{ID: id, Outcome: string(actions.OutcomeSkipped),
				Detail: fmt.Sprintf("%s %s is not live", actions.Singular(ref.ObjectType), id), Due: now, Stop: true})
		}
	}
	return results, deleted
}

// StepRun is one run of a workflow step on a batch of live records.
type StepRun struct {
	// Counts are the enrollment counts of the records (see DueEnrollments): they make each
	// record's invocation key, so that an action with an effect outside crmflow (an email) runs
	// once per enrollment, however often the step is retried.
	Counts map[crm.RecordID]int
	// Deps are what the actions use: the store, the mailer, the clock.
	Deps actions.Deps
	// Flow is the workflow, at the revision that runs.
	Flow crm.FlowRef
	// Limit is the blast-radius limit of the workflow's activation (SPEC S24): its deletions run
	// under it, and a record it refuses gets an error wrapping crm.ErrLimitReached, its step left
	// due. nil deletes without a limit.
	Limit *crm.ArchiveLimit
	// Now is the time of the run.
	Now time.Time
	// Records are the live records the step runs on.
	Records []crm.Record
	// Step is the index of the step in the workflow's actions.
	Step int
	// Tenant is the workflow's tenant.
	Tenant crm.TenantID
}

// RunStep runs step r.Step of wf on r.Records, with the authority of the workflow's activator
// (r.Flow.By): at once for an action that runs batches (delete_contact), otherwise record by
// record until ctx ends. It returns the result to record for each record it ran on (see
// StepResult), and the errors of the others, which are left for a retry to run again; the results
// must be recorded even then, since the actions they report have run.
func RunStep(ctx context.Context, wf *workflows.Workflow, r StepRun) ([]crm.StepResult, []error) {
	st := wf.Actions[r.Step]
	name, rev := r.Flow.Name, r.Flow.Revision
	outs, batched, runErr := st.Action.RunBatch(ctx, r.Deps, actions.Invocation{Workflow: name, By: r.Flow.By, Revision: rev,
		ActivatedAt: r.Flow.ActivatedAt, Activation: r.Flow.Activation, Limit: r.Limit}, r.Tenant, r.Records)
	if batched && runErr == nil && len(outs) != len(r.Records) {
		runErr = fmt.Errorf("step %d (%s) gave %d results for %d records", r.Step, st.Type, len(outs), len(r.Records))
	}
	var results []crm.StepResult
	var errs []error
	for i, rec := range r.Records {
		if err := ctx.Err(); err != nil && !batched {
			errs = append(errs, err)
			break
		}
		var res actions.Result
		var err error
		switch {
		case batched && runErr != nil:
			err = runErr
		case batched:
			res = outs[i]
		default:
			inv := actions.Invocation{Key: InvocationKey(name, rev, r.Flow.ObjectType, rec.ID, r.Counts[rec.ID], r.Step),
				Workflow: name, By: r.Flow.By, Revision: rev, ActivatedAt: r.Flow.ActivatedAt,
				Activation: r.Flow.Activation, Limit: r.Limit}
			res, err = st.Action.Bind(r.Deps, inv).Run(ctx, r.Tenant, rec)
		}
		sr, err := StepResult(rec.ID, res, err, r.Now)
		if err != nil {
			errs = append(errs, fmt.Errorf("step %d (%s) on %s %s: %w", r.Step, st.Type, r.Flow.ObjectType, rec.ID, err))
			continue
		}
		results = append(results, sr)
	}
	return results, errs
}

// InvocationKey names one run of one step for one enrollment of one record: stable across
// retries, new for each enrollment (so notify_user sends once per enrollment).
func InvocationKey(flow string, rev int64, o crm.ObjectType, id crm.RecordID, count, step int) string {
	return flow + ":" + strconv.FormatInt(rev, 10) + ":" + string(o) + ":" + string(id) + ":" +
		strconv.Itoa(count) + ":" + strconv.Itoa(step)
}
