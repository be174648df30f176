package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

func testFlowRevisionsAndPlanGating(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	_, err := b.store.SetPlan(ctx, b.tenant, crm.PlanStarter)
	require.NoError(t, err)
	f, created, err := b.store.PutFlow(ctx, b.tenant, "bounced", crm.Contacts, flowSrc, "ops@x.example")
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, crm.FlowDraft, f.State)
	require.EqualValues(t, 1, f.Revision)
	_, created, err = b.store.PutFlow(ctx, b.tenant, "bounced", crm.Contacts, flowSrc, "ops@x.example")
	require.NoError(t, err)
	require.False(t, created, "an unchanged source adds no revision")
	f, _, err = b.store.PutFlow(ctx, b.tenant, "bounced", crm.Contacts, flowSrc+"# v2\n", "ops@x.example")
	require.NoError(t, err)
	require.EqualValues(t, 2, f.Revision)
	_, _, err = b.store.PutFlow(ctx, b.tenant, "bounced", crm.Companies, flowSrc, "ops@x.example")
	var ce *crm.ConflictError
	require.ErrorAs(t, err, &ce)
	rev, err := b.store.FlowRevision(ctx, b.tenant, "bounced", 1)
	require.NoError(t, err)
	require.Equal(t, flowSrc, rev.Source)

	// Starter: activation refused, nothing changes (S18).
	before := b.dump(t)
	_, err = b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "ops@example.com"})
	var pe *crm.PlanError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, crm.PlanStarter, pe.Plan)
	require.Contains(t, pe.Error(), "professional")
	require.Equal(t, before, b.dump(t))

	_, err = b.store.SetPlan(ctx, b.tenant, crm.PlanProfessional)
	require.NoError(t, err)
	f, err = b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "ops@example.com"})
	require.NoError(t, err)
	require.Equal(t, crm.FlowActive, f.State)
	require.EqualValues(t, 2, f.ActiveRevision)
	flows, revs, err := b.store.ActiveFlows(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.Len(t, flows, 1)
	require.EqualValues(t, 2, revs[0].Revision)

	// Dropping below Professional pauses, never deletes (S18).
	_, err = b.store.SetPlan(ctx, b.tenant, crm.PlanFree)
	require.NoError(t, err)
	f, err = b.store.Flow(ctx, b.tenant, "bounced")
	require.NoError(t, err)
	require.Equal(t, crm.FlowPaused, f.State)
	require.Contains(t, f.PausedReason, "free")
	require.Equal(t, crm.PausePlanDowngraded, f.PausedCode)
	require.Equal(t, map[string]string{"plan": "free"}, f.PausedParams)
	flows, _, err = b.store.ActiveFlows(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.Empty(t, flows)
	all, err := b.store.Flows(ctx, b.tenant)
	require.NoError(t, err)
	require.Len(t, all, 1)

	_, err = b.store.SetPlan(ctx, b.tenant, crm.PlanEnterprise)
	require.NoError(t, err)
	f, err = b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "ops@example.com"})
	require.NoError(t, err)
	require.Empty(t, f.PausedReason, "activating clears the reason")
	require.Empty(t, f.PausedCode)
	require.Empty(t, f.PausedParams)

	// A pause keeps its reason's code and params beside the sentence; a user's pause has none.
	f, err = b.store.PauseFlow(ctx, b.tenant, "bounced", &crm.PauseOpts{Reason: "paused: blast-radius limit of 3 deletions per 1h reached",
		Code: crm.PauseDeletionLimit, Params: map[string]string{"maxDeletions": "3", "per": "1h"}})
	require.NoError(t, err)
	require.Equal(t, crm.FlowPaused, f.State)
	require.Equal(t, "paused: blast-radius limit of 3 deletions per 1h reached", f.PausedReason)
	require.Equal(t, crm.PauseDeletionLimit, f.PausedCode)
	require.Equal(t, map[string]string{"maxDeletions": "3", "per": "1h"}, f.PausedParams)
	_, err = b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "ops@example.com"})
	require.NoError(t, err)
	f, err = b.store.PauseFlow(ctx, b.tenant, "bounced", nil)
	require.NoError(t, err)
	require.Equal(t, crm.FlowPaused, f.State)
	require.Empty(t, f.PausedReason)
	require.Empty(t, f.PausedCode)
	require.Empty(t, f.PausedParams)
	_, err = b.store.PauseFlow(ctx, b.tenant, "nope", nil)
	require.ErrorIs(t, err, crm.ErrNotFound)
}

func activeFlow(t *testing.T, b *bundle, reenroll bool) crm.FlowRef {
	t.Helper()
	_, _, err := b.store.PutFlow(b.ctx, b.tenant, "wf", crm.Contacts, flowSrc, "ops@x.example")
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(b.ctx, b.tenant, "wf", crm.ActivateFlowParams{By: "ops@example.com"})
	require.NoError(t, err)
	return crm.FlowRef{Name: "wf", Revision: f.ActiveRevision, ObjectType: crm.Contacts, Reenrollment: reenroll}
}

func verdicts(v crm.Verdict, ids ...crm.RecordID) []crm.FlowVerdict {
	out := make([]crm.FlowVerdict, len(ids))
	for i, id := range ids {
		out[i] = crm.FlowVerdict{ID: id, Verdict: v}
	}
	return out
}

func testEnrollOnlyOnceByDefault(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	f := activeFlow(t, b, false)
	c := b.contact(t, map[string]string{"firstname": "a"})
	got, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, c.ID))
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{c.ID}, got)
	// Never enrolled twice at once, and (without re-enrollment) never again (S19).
	for _, v := range []crm.Verdict{crm.VerdictMatch, crm.VerdictNoMatch, crm.VerdictMatch} {
		got, err = b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(v, c.ID))
		require.NoError(t, err)
		require.Empty(t, got)
	}
	enr, err := b.store.Enrollments(ctx, b.tenant, "wf", crm.Contacts, []crm.RecordID{c.ID})
	require.NoError(t, err)
	require.Equal(t, crm.Enrolled, enr[0].State)
	require.Equal(t, 1, enr[0].Count)

	// Steps advance once, however often the same results are applied.
	res := []crm.StepResult{{ID: c.ID, Outcome: "done", Detail: "moved to the bin", Due: b.clock.Now()}}
	adv, err := b.store.AdvanceSteps(ctx, b.tenant, f, 0, 1, "delete_contact", res)
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{c.ID}, adv)
	adv, err = b.store.AdvanceSteps(ctx, b.tenant, f, 0, 1, "delete_contact", res)
	require.NoError(t, err)
	require.Empty(t, adv)
	h, err := b.store.History(ctx, b.tenant, "wf", crm.Contacts, c.ID)
	require.NoError(t, err)
	kinds := []string{}
	for _, e := range h {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []string{"enrolled", "action", "completed"}, kinds)
	require.Equal(t, "done", h[1].Outcome)
	// Completed, without re-enrollment: a new match does not enroll.
	got, err = b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, c.ID))
	require.NoError(t, err)
	require.Empty(t, got)
}

func testReenrollmentNeedsATransition(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	f := activeFlow(t, b, true)
	c := b.contact(t, map[string]string{"firstname": "a"})
	_, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, c.ID))
	require.NoError(t, err)
	_, err = b.store.AdvanceSteps(ctx, b.tenant, f, 0, 1, "set_property", []crm.StepResult{{ID: c.ID, Outcome: "done", Due: b.clock.Now()}})
	require.NoError(t, err)
	got, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, c.ID))
	require.NoError(t, err)
	require.Empty(t, got, "still matching since the last enrollment")
	_, err = b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictNoMatch, c.ID))
	require.NoError(t, err)
	got, err = b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, c.ID))
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{c.ID}, got, "not matching -> matching enrolls again")
}

// testReenrollmentIsCappedPerWindow: the trigger enrolls a record at most crm.MaxReenrollments
// times within crm.ReenrollmentWindow, counted per record in the same batch that enrolls; the
// refusal is kept in the record's history, other records of the batch enroll, a manual enrollment
// is not refused, and the window slides.
func testReenrollmentIsCappedPerWindow(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	f := activeFlow(t, b, true)
	loop := b.contact(t, map[string]string{"firstname": "a"})
	calm := b.contact(t, map[string]string{"firstname": "b"})
	complete := func(ids ...crm.RecordID) {
		t.Helper()
		var rs []crm.StepResult
		for _, id := range ids {
			rs = append(rs, crm.StepResult{ID: id, Outcome: "done", Due: b.clock.Now()})
		}
		_, err := b.store.AdvanceSteps(ctx, b.tenant, f, 0, 1, "set_property", rs)
		require.NoError(t, err)
		_, err = b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictNoMatch, ids...))
		require.NoError(t, err)
	}
	first := b.clock.Now()
	for i := range crm.MaxReenrollments {
		got, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, loop.ID))
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{loop.ID}, got, "enrollment %d", i+1)
		complete(loop.ID)
		b.clock.Advance(time.Minute)
	}
	// One batch: the record at the cap is refused, the other enrolls.
	got, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, loop.ID, calm.ID))
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{calm.ID}, got)
	h, err := b.store.History(ctx, b.tenant, "wf", crm.Contacts, loop.ID)
	require.NoError(t, err)
	require.Equal(t, "reenroll_refused", h[len(h)-1].Kind)
	require.Contains(t, h[len(h)-1].Detail, "to stop a loop between workflows")
	enr, err := b.store.Enrollments(ctx, b.tenant, "wf", crm.Contacts, []crm.RecordID{loop.ID})
	require.NoError(t, err)
	require.Equal(t, crm.Completed, enr[0].State)
	require.Equal(t, crm.MaxReenrollments, enr[0].Count)

	// Once the first enrollment has left the window, one more is allowed, and then none again.
	complete(calm.ID)
	b.clock.Set(first.Add(crm.ReenrollmentWindow))
	_, err = b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictNoMatch, loop.ID))
	require.NoError(t, err)
	got, err = b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, loop.ID))
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{loop.ID}, got, "the window slid past the first enrollment")
	complete(loop.ID)
	got, err = b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, loop.ID))
	require.NoError(t, err)
	require.Empty(t, got, "the window holds the cap again")

	// A person may still enroll it.
	require.NoError(t, b.store.EnrollManually(ctx, b.tenant, f, loop.ID, "ops@example.com"))
}

func testRescheduleStepsMovesOnlyWaitingRecords(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	f := activeFlow(t, b, false)
	a := b.contact(t, map[string]string{"firstname": "a"})
	c := b.contact(t, map[string]string{"firstname": "c"})
	_, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, a.ID, c.ID))
	require.NoError(t, err)
	now := b.clock.Now()
	in10d := now.Add(10 * 24 * time.Hour)
	_, err = b.store.AdvanceSteps(ctx, b.tenant, f, 0, 3, "delay", []crm.StepResult{
		{ID: a.ID, Outcome: "wait", Due: in10d}, {ID: c.ID, Outcome: "wait", Due: in10d}})
	require.NoError(t, err)
	enrs, err := b.store.Enrollments(ctx, b.tenant, "wf", crm.Contacts, []crm.RecordID{a.ID, c.ID})
	require.NoError(t, err)
	require.Equal(t, in10d.UnixMilli(), enrs[0].Due.UnixMilli(), "Enrollments reads when the next step is due")
	require.Equal(t, 1, enrs[0].Step)

	in20d := now.Add(20 * 24 * time.Hour)
	moved, err := b.store.RescheduleSteps(ctx, b.tenant, f, []crm.StepDue{
		{ID: a.ID, Step: 1, Count: enrs[0].Count, Due: in20d},
		{ID: c.ID, Step: 2, Due: now},                           // not at that step
		{ID: c.ID, Step: 1, Count: enrs[1].Count + 1, Due: now}, // not in that enrollment
	})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{a.ID}, moved)
	enrs, err = b.store.Enrollments(ctx, b.tenant, "wf", crm.Contacts, []crm.RecordID{a.ID, c.ID})
	require.NoError(t, err)
	require.Equal(t, in20d.UnixMilli(), enrs[0].Due.UnixMilli())
	require.Equal(t, in10d.UnixMilli(), enrs[1].Due.UnixMilli())
	due, err := b.store.DueEnrollments(ctx, b.tenant, "wf", now.Add(15*24*time.Hour), 10)
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{c.ID}, due)

	// Another revision, or a record no longer enrolled, moves nothing.
	other := f
	other.Revision++
	moved, err = b.store.RescheduleSteps(ctx, b.tenant, other, []crm.StepDue{{ID: c.ID, Step: 1, Due: now}})
	require.NoError(t, err)
	require.Empty(t, moved)
	_, err = b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictDeleted, c.ID))
	require.NoError(t, err)
	moved, err = b.store.RescheduleSteps(ctx, b.tenant, f, []crm.StepDue{{ID: c.ID, Step: 1, Due: now}})
	require.NoError(t, err)
	require.Empty(t, moved)
	enrs, err = b.store.Enrollments(ctx, b.tenant, "wf", crm.Contacts, []crm.RecordID{c.ID})
	require.NoError(t, err)
	require.True(t, enrs[0].Due.IsZero(), "not enrolled: no due time")
	due, err = b.store.DueEnrollments(ctx, b.tenant, "wf", now.Add(30*24*time.Hour), 10)
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{a.ID}, due)
}

func testDeletedRecordUnenrollsAndNeedsManualEnrollment(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	f := activeFlow(t, b, true)
	c := b.contact(t, map[string]string{"firstname": "a"})
	_, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, c.ID))
	require.NoError(t, err)
	_, err = b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictDeleted, c.ID))
	require.NoError(t, err)
	due, err := b.store.DueEnrollments(ctx, b.tenant, "wf", b.clock.Now().Add(time.Hour), 10)
	require.NoError(t, err)
	require.Empty(t, due, "unenrolled at once (S8)")
	// Restored and matching again: no automatic enrollment (S8)...
	got, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, c.ID))
	require.NoError(t, err)
	require.Empty(t, got)
	// ...but a manual one, where re-enrollment is allowed.
	require.NoError(t, b.store.EnrollManually(ctx, b.tenant, f, c.ID, "ops@x.example"))
	err = b.store.EnrollManually(ctx, b.tenant, f, c.ID, "ops@x.example")
	var ce *crm.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Contains(t, ce.Message, "enrolled already")

	// Without re-enrollment, manual enrollment of a former enrollee is refused.
	g := crm.FlowRef{Name: "wf", Revision: f.Revision, ObjectType: crm.Contacts}
	d := b.contact(t, map[string]string{"firstname": "d"})
	_, err = b.store.EvaluateFlow(ctx, b.tenant, g, verdicts(crm.VerdictMatch, d.ID))
	require.NoError(t, err)
	_, err = b.store.EvaluateFlow(ctx, b.tenant, g, verdicts(crm.VerdictDeleted, d.ID))
	require.NoError(t, err)
	err = b.store.EnrollManually(ctx, b.tenant, g, d.ID, "ops@x.example")
	require.ErrorAs(t, err, &ce)
	require.True(t, strings.Contains(ce.Message, "re-enrollment"))
}

func testPausedFlowEnrollsNothingAndSuppression(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	f := activeFlow(t, b, false)
	c := b.contact(t, map[string]string{"firstname": "a"})
	s := b.contact(t, map[string]string{"firstname": "s"})
	_, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, s.ID))
	require.NoError(t, err)
	_, err = b.store.EvaluateFlow(ctx, b.tenant, f, []crm.FlowVerdict{{ID: s.ID, Verdict: crm.VerdictSuppressed, Detail: "member of list 3"}})
	require.NoError(t, err)
	enr, err := b.store.Enrollments(ctx, b.tenant, "wf", crm.Contacts, []crm.RecordID{s.ID})
	require.NoError(t, err)
	require.Equal(t, crm.Unenrolled, enr[0].State, "starting to match suppression unenrolls (S19)")

	_, err = b.store.PauseFlow(ctx, b.tenant, "wf", nil)
	require.NoError(t, err)
	got, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, c.ID))
	require.NoError(t, err)
	require.Empty(t, got, "a paused workflow enrolls nothing (S20)")
	err = b.store.EnrollManually(ctx, b.tenant, f, c.ID, "ops@x.example")
	require.Error(t, err)
}

func testChangesDrainWithoutLosingNewOnes(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	activeFlow(t, b, false)
	a := b.contact(t, map[string]string{"firstname": "a"})
	c := b.contact(t, map[string]string{"firstname": "c"})
	cs, err := b.store.PendingChanges(ctx, b.tenant, 10)
	require.NoError(t, err)
	require.Len(t, cs, 2)
	require.Equal(t, "c", cs[0].Events)
	// c changes again while the engine works on the batch, in the same millisecond: its new state
	// survives the ack.
	_, err = b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: c.ID, Properties: map[string]string{"lastname": "x"}}}, crm.Actor{})
	require.NoError(t, err)
	first := cs
	n, err := b.store.AckChanges(ctx, b.tenant, cs)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	cs, err = b.store.PendingChanges(ctx, b.tenant, 10)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, c.ID, cs[0].ID)
	require.Equal(t, "u", cs[0].Events, "the states drained are forgotten, the new one is kept")
	// Acknowledging the first batch again forgets nothing more.
	_, err = b.store.AckChanges(ctx, b.tenant, first)
	require.NoError(t, err)
	again, err := b.store.PendingChanges(ctx, b.tenant, 10)
	require.NoError(t, err)
	require.Equal(t, cs, again)
	with, err := b.store.TenantsWithChanges(ctx, []crm.TenantID{b.tenant, "t-nobody"})
	require.NoError(t, err)
	require.Equal(t, []crm.TenantID{b.tenant}, with)
	_ = a
}

func testDeleteUnenrollsAtOnceEvenWhenPaused(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	f := activeFlow(t, b, true)
	c := b.contact(t, map[string]string{"firstname": "a"})
	own := b.contact(t, map[string]string{"firstname": "own"})
	_, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, c.ID, own.ID))
	require.NoError(t, err)
	_, err = b.store.PauseFlow(ctx, b.tenant, "wf", nil)
	require.NoError(t, err)

	// Deleted while the workflow is paused: unenrolled in the same step as the delete (S8).
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{c.ID}, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	enr, err := b.store.Enrollments(ctx, b.tenant, "wf", crm.Contacts, []crm.RecordID{c.ID})
	require.NoError(t, err)
	require.Equal(t, crm.Unenrolled, enr[0].State)
	h, err := b.store.History(ctx, b.tenant, "wf", crm.Contacts, c.ID)
	require.NoError(t, err)
	require.Equal(t, "unenrolled", h[len(h)-1].Kind)
	require.Equal(t, "record deleted", h[len(h)-1].Detail)

	// Restored and reactivated: it does not resume, nor re-enroll by itself.
	_, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{c.ID}, crm.Actor{})
	require.NoError(t, err)
	_, err = b.store.ActivateFlow(ctx, b.tenant, "wf", crm.ActivateFlowParams{By: "ops@example.com"})
	require.NoError(t, err)
	due, err := b.store.DueEnrollments(ctx, b.tenant, "wf", b.clock.Now().Add(time.Hour), 10)
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{own.ID}, due)
	got, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictNoMatch, c.ID))
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, c.ID))
	require.NoError(t, err)
	require.Empty(t, got, "only a manual enrollment brings it back")

	// The workflow's own delete_contact leaves the enrollment for its step to complete.
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{own.ID}, crm.Actor{Via: crm.ViaWorkflow, Ref: "wf"})
	require.NoError(t, err)
	enr, err = b.store.Enrollments(ctx, b.tenant, "wf", crm.Contacts, []crm.RecordID{own.ID})
	require.NoError(t, err)
	require.Equal(t, crm.Enrolled, enr[0].State)
	adv, err := b.store.AdvanceSteps(ctx, b.tenant, f, 0, 1, "delete_contact", []crm.StepResult{{ID: own.ID, Outcome: "done", Due: b.clock.Now()}})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{own.ID}, adv)
}

func testBackfillProgress(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	_, ok, err := b.store.Backfill(ctx, b.tenant, "wf")
	require.NoError(t, err)
	require.False(t, ok)
	b.contact(t, map[string]string{"firstname": "a"})
	b.contact(t, map[string]string{"firstname": "b"})
	n, err := b.store.CountRecords(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	start := b.clock.Now()
	require.NoError(t, b.store.SetBackfill(ctx, b.tenant, "wf", crm.Backfill{Revision: 2, State: "running", Total: n, Done: 1, StartedAt: start}))
	b.clock.Advance(time.Second)
	require.NoError(t, b.store.SetBackfill(ctx, b.tenant, "wf", crm.Backfill{Revision: 2, State: "done", Total: n, Done: 2, Enrolled: 1, StartedAt: start}))
	got, ok, err := b.store.Backfill(ctx, b.tenant, "wf")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, crm.Backfill{Revision: 2, State: "done", Total: 2, Done: 2, Enrolled: 1, StartedAt: start, UpdatedAt: b.clock.Now()}, got)
}

func testFlowRevisions(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	_, err := b.store.FlowRevisions(b.ctx, b.tenant, "wf")
	require.ErrorIs(t, err, crm.ErrNotFound)
	for i, src := range []string{flowSrc, flowSrc + "# v2\n", flowSrc + "# v3\n"} {
		b.clock.Advance(time.Duration(i) * time.Minute)
		_, _, err := b.store.PutFlow(b.ctx, b.tenant, "wf", crm.Contacts, src, "ops@x.example")
		require.NoError(t, err)
	}
	revs, err := b.store.FlowRevisions(b.ctx, b.tenant, "wf")
	require.NoError(t, err)
	require.Len(t, revs, 3)
	for i, r := range revs {
		one, err := b.store.FlowRevision(b.ctx, b.tenant, "wf", int64(i+1))
		require.NoError(t, err)
		require.Empty(t, r.Source, "the revisions come without their sources")
		one.Source = ""
		require.Equal(t, one, r)
	}
	last, err := b.store.FlowRevision(b.ctx, b.tenant, "wf", 3)
	require.NoError(t, err)
	require.Equal(t, flowSrc+"# v3\n", last.Source)
}

func testEveryWriteKeepsWhatTheActiveTriggersRead(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	props := map[string]string{"email_bounced": "true", "firstname": "Ann", "lastname": "Lee"}
	none := b.contact(t, props)
	_, err := b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: none.ID,
		Properties: map[string]string{"lastname": "Li"}}}, crm.Actor{})
	require.NoError(t, err)
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{none.ID}, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	_, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{none.ID}, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	cs, err := b.store.PendingChanges(ctx, b.tenant, 10)
	require.NoError(t, err)
	require.Empty(t, cs, "no workflow active: no one would read a mark")

	_, _, err = b.store.PutFlow(ctx, b.tenant, "bounced", crm.Contacts, flowSrc, "ops@x.example")
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "ops@x.example",
		Reads: []string{"email_bounced", "lifecyclestage"}})
	require.NoError(t, err)
	some := b.contact(t, props)
	_, err = b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: some.ID,
		Properties: map[string]string{"email_bounced": "false", "lifecyclestage": "lead"}}}, crm.Actor{})
	require.NoError(t, err)
	c := b.pendingChange(t, some.ID)
	require.Equal(t, "cu", c.Events)
	require.Equal(t, map[string]string{"email_bounced": "true"}, c.States[0].Values)
	require.Equal(t, map[string]string{"email_bounced": "false", "lifecyclestage": "lead"}, c.States[1].Values)
	require.Greater(t, c.States[0].Seq, f.ActivatedSeq)
	require.Greater(t, c.States[1].Seq, c.States[0].Seq)

	_, _, err = b.store.PutFlow(ctx, b.tenant, "any", crm.Contacts, strings.Replace(flowSrc, "bounced", "any", 1), "ops@x.example")
	require.NoError(t, err)
	_, err = b.store.ActivateFlow(ctx, b.tenant, "any", crm.ActivateFlowParams{By: "ops@x.example", Reads: []string{"*"}})
	require.NoError(t, err)
	all := b.contact(t, props)
	require.Equal(t, props, b.pendingChange(t, all.ID).States[0].Values)

	for _, name := range []string{"bounced", "any"} {
		_, err = b.store.PauseFlow(ctx, b.tenant, name, nil)
		require.NoError(t, err)
	}
	after := b.contact(t, props)
	cs, err = b.store.PendingChanges(ctx, b.tenant, 1000)
	require.NoError(t, err)
	for _, c := range cs {
		require.NotEqual(t, after.ID, c.ID, "no workflow active any more: no mark")
	}
}

const flowSrc = "name: bounced\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n"

// testFlowLog reads a workflow's history as a whole: every record's entries, newest first, in pages,
// filtered by kind, including the unenrollment a delete writes; a bad cursor or limit is refused.
func testFlowLog(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	f := activeFlow(t, b, false)
	var ids []crm.RecordID
	for i := range 3 {
		ids = append(ids, b.contact(t, map[string]string{"firstname": fmt.Sprint("c", i)}).ID)
	}
	_, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, ids...))
	require.NoError(t, err)
	b.clock.Advance(time.Second)
	_, err = b.store.AdvanceSteps(ctx, b.tenant, f, 0, 1, "delete_contact", []crm.StepResult{{ID: ids[0], Outcome: "done", Detail: "moved to the bin", Due: b.clock.Now()}})
	require.NoError(t, err)
	b.clock.Advance(time.Second)
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{ids[1]}, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	// Another workflow's entries stay in its own log.
	empty, err := b.store.FlowLog(ctx, b.tenant, "other", crm.FlowLogQuery{})
	require.NoError(t, err)
	require.Empty(t, empty.Entries)
	require.Empty(t, empty.Next)

	type seen struct {
		ID   crm.RecordID
		Kind string
	}
	read := func(q crm.FlowLogQuery) ([]seen, crm.FlowLogPage) {
		t.Helper()
		page, err := b.store.FlowLog(ctx, b.tenant, "wf", q)
		require.NoError(t, err)
		var out []seen
		for _, e := range page.Entries {
			require.Equal(t, crm.Contacts, e.ObjectType)
			require.False(t, e.At.IsZero())
			out = append(out, seen{e.ID, e.Kind})
		}
		return out, page
	}
	all, page := read(crm.FlowLogQuery{})
	require.Equal(t, []seen{{ids[1], "unenrolled"}, {ids[0], "completed"}, {ids[0], "action"},
		{ids[2], "enrolled"}, {ids[1], "enrolled"}, {ids[0], "enrolled"}}, all, "newest first")
	require.Empty(t, page.Next)
	require.Equal(t, "moved to the bin", page.Entries[2].Detail)
	require.Equal(t, "record deleted", page.Entries[0].Detail)

	// Pages of two, each going on from the last.
	var paged []seen
	q := crm.FlowLogQuery{Limit: 2}
	for range 5 {
		got, page := read(q)
		require.NotEmpty(t, got, "no empty page at the end")
		paged = append(paged, got...)
		if page.Next == "" {
			break
		}
		q.Before = page.Next
	}
	require.Equal(t, all, paged)

	got, _ := read(crm.FlowLogQuery{Kinds: []string{"action", "unenrolled"}})
	require.Equal(t, []seen{{ids[1], "unenrolled"}, {ids[0], "action"}}, got)

	_, err = b.store.FlowLog(ctx, b.tenant, "wf", crm.FlowLogQuery{Before: "not-a-cursor"})
	var ve *crm.ValidationError
	require.ErrorAs(t, err, &ve)
	_, err = b.store.FlowLog(ctx, b.tenant, "wf", crm.FlowLogQuery{Limit: crm.MaxFlowLogLimit + 1})
	require.ErrorAs(t, err, &ve)
}

// testPermanentDeleteLeavesNoWorkflowLog erases an enrolled contact: its entries leave the
// workflow's log too, while another contact's stay.
func testPermanentDeleteLeavesNoWorkflowLog(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	f := activeFlow(t, b, false)
	gone := b.contact(t, map[string]string{"email": "gone@example.com"})
	kept := b.contact(t, map[string]string{"email": "kept@example.com"})
	_, err := b.store.EvaluateFlow(ctx, b.tenant, f, verdicts(crm.VerdictMatch, gone.ID, kept.ID))
	require.NoError(t, err)
	_, err = b.store.AdvanceSteps(ctx, b.tenant, f, 0, 1, "delete_contact", []crm.StepResult{{ID: gone.ID, Outcome: "done", Due: b.clock.Now()}})
	require.NoError(t, err)
	_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: gone.ID, By: "dpo@x.example"})
	require.NoError(t, err)
	page, err := b.store.FlowLog(ctx, b.tenant, "wf", crm.FlowLogQuery{})
	require.NoError(t, err)
	require.Len(t, page.Entries, 1)
	require.Equal(t, kept.ID, page.Entries[0].ID, "only the other contact's enrollment is left")
}
