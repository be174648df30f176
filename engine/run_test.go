package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/engine"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/workflows"
)

func TestDueEnrollments(t *testing.T) {
	t.Parallel()
	enr := func(id string, state crm.EnrollmentState, rev int64, step, count int) crm.Enrollment {
		return crm.Enrollment{ID: crm.RecordID(id), State: state, Revision: rev, Step: step, Count: count}
	}
	enrs := []crm.Enrollment{
		enr("1", crm.Enrolled, 2, 1, 1),   // due
		enr("2", crm.Enrolled, 2, 2, 1),   // already advanced past the step
		enr("3", crm.Completed, 2, 1, 1),  // done
		enr("4", crm.Enrolled, 1, 1, 1),   // another revision
		enr("5", crm.Enrolled, 2, 1, 3),   // a later enrollment than the task's
		enr("1", crm.Enrolled, 2, 1, 1),   // the same record twice in one task
		enr("6", crm.Unenrolled, 2, 1, 1), // left
	}
	due, counts := engine.DueEnrollments(enrs, 2, 1, []int{1, 1, 1, 1, 2, 1, 1})
	require.Equal(t, []crm.RecordID{"1"}, due)
	require.Equal(t, map[crm.RecordID]int{"1": 1}, counts)

	// Without counts, any enrollment of the record at that step runs.
	due, counts = engine.DueEnrollments(enrs, 2, 1, nil)
	require.Equal(t, []crm.RecordID{"1", "5"}, due)
	require.Equal(t, 3, counts["5"])
}

func TestNotLive(t *testing.T) {
	t.Parallel()
	ref := crm.FlowRef{Name: "wf", Revision: 3, ObjectType: crm.Contacts}
	binned := []crm.Record{
		{ID: "1", Deletion: &crm.Deletion{Via: crm.ViaWorkflow, Ref: "wf"}},    // this workflow's delete
		{ID: "2", Deletion: &crm.Deletion{Via: crm.ViaWorkflow, Ref: "other"}}, // another workflow's
		{ID: "3", Deletion: &crm.Deletion{Via: crm.ViaAPI}},
	}
	ids := []crm.RecordID{"1", "2", "3", "4"} // 4: gone for good

	results, deleted := engine.NotLive(ref, "delete_contact", 3, ids, binned, now)
	require.Len(t, results, 1)
	require.Equal(t, crm.RecordID("1"), results[0].ID)
	require.Equal(t, string(actions.OutcomeDone), results[0].Outcome)
	require.True(t, results[0].Stop)
	var unenrolled []crm.RecordID
	for _, v := range deleted {
		require.Equal(t, crm.VerdictDeleted, v.Verdict)
		unenrolled = append(unenrolled, v.ID)
	}
	require.Equal(t, []crm.RecordID{"2", "3", "4"}, unenrolled)

	// Another step type never claims the delete as its own.
	results, deleted = engine.NotLive(ref, "set_property", 3, ids, binned, now)
	require.Empty(t, results)
	require.Len(t, deleted, 4)

	// Another revision is active: the old enrollments end as skipped, nobody is unenrolled.
	results, deleted = engine.NotLive(ref, "delete_contact", 4, ids, binned, now)
	require.Empty(t, deleted)
	require.Len(t, results, 4)
	for _, r := range results[1:] {
		require.Equal(t, string(actions.OutcomeSkipped), r.Outcome)
	}
}

func TestRunStep(t *testing.T) {
	t.Parallel()
	src := "name: wf\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    duration: 2h\n  - type: delete_contact\n"
	wf, err := workflows.Parse("wf.yaml", []byte(src), nil, nil)
	require.NoError(t, err)
	recs := []crm.Record{*contact("1", nil), *contact("2", nil)}
	clk := clock.NewSim(now)
	run := engine.StepRun{Counts: map[crm.RecordID]int{"1": 1, "2": 4}, Deps: actions.Deps{Clock: clk},
		Flow: crm.FlowRef{Name: "wf", Revision: 1, ObjectType: crm.Contacts}, Now: now, Records: recs, Step: 0, Tenant: "acme"}

	results, errs := engine.RunStep(context.Background(), wf, run)
	require.Empty(t, errs)
	require.Len(t, results, 2)
	for i, r := range results {
		require.Equal(t, recs[i].ID, r.ID)
		require.Equal(t, string(actions.OutcomeWait), r.Outcome)
		require.Equal(t, now.Add(2*time.Hour), r.Due)
	}

	// A record-by-record action stops at a cancelled context and reports the rest as errors.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	results, errs = engine.RunStep(ctx, wf, run)
	require.Empty(t, results)
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], context.Canceled)

}

func TestInvocationKey(t *testing.T) {
	t.Parallel()
	a := engine.InvocationKey("wf", 2, crm.Contacts, "7", 1, 0)
	require.Equal(t, a, engine.InvocationKey("wf", 2, crm.Contacts, "7", 1, 0))
	for _, other := range []string{
		engine.InvocationKey("wf", 2, crm.Contacts, "7", 2, 0), // a new enrollment
		engine.InvocationKey("wf", 2, crm.Contacts, "7", 1, 1), // the next step
		engine.InvocationKey("wf", 3, crm.Contacts, "7", 1, 0), // a new revision
		engine.InvocationKey("wf", 2, crm.Contacts, "8", 1, 0), // another record
	} {
		require.NotEqual(t, a, other)
	}
}
