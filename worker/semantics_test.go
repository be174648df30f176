package worker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// flowOf is a contact workflow named wf on email_bounced with the given option lines, whose one
// action waits a day (so that an enrollment stays open).
func flowOf(options string) string {
	return "name: wf\nobject_type: contacts\ntrigger: email_bounced\n" + options +
		"actions:\n  - type: delay\n    duration: 1d\n  - type: set_property\n    property: hs_lead_status\n    value: new\n"
}

// setPropertyFlow is a contact workflow named name on trigger, with the given option lines, whose
// one action sets prop to value.
func setPropertyFlow(name, trigger, options, prop, value string) string {
	return "name: " + name + "\nobject_type: contacts\ntrigger: " + trigger + "\n" + options +
		"actions:\n  - type: set_property\n    property: " + prop + "\n    value: " + value + "\n"
}

// deleteBouncedAfterADay is a contact workflow named wf that deletes a bounced contact a day after
// it enrolls, with the given option lines.
func deleteBouncedAfterADay(options string) string {
	return "name: wf\nobject_type: contacts\ntrigger: email_bounced\n" + options +
		"actions:\n  - type: delay\n    duration: 1d\n  - type: delete_contact\n"
}

// afterTheDelay advances the clock past the workflows' one-day delay, and runs every task due.
func (b *flowBundle) afterTheDelay(t *testing.T) {
	t.Helper()
	b.clock.Advance(25 * time.Hour)
	b.runTasks(t)
}

// stepsAfterTheDelay advances the clock past the workflows' one-day delay, and runs the steps due
// only, not the drain of the writes made before.
func (b *flowBundle) stepsAfterTheDelay(t *testing.T) {
	t.Helper()
	b.clock.Advance(25 * time.Hour)
	b.runScheduledSteps(t)
}

// requireUnenrolled checks that contact id is live and unenrolled from wf, and returns its history
// there.
func (b *flowBundle) requireUnenrolled(t *testing.T, id crm.RecordID) []crm.HistoryEntry {
	t.Helper()
	b.live(t, id)
	require.Equal(t, crm.Unenrolled, b.enrollment(t, "wf", id).State)
	return b.history(t, "wf", id)
}

// TestEveryWriteIsJudgedOnWhatItLeft: two writes to a record before the drain runs are judged one
// after the other, each on the values it left, so that the outcome does not depend on how close
// together they came.
func TestEveryWriteIsJudgedOnWhatItLeft(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, options string
		first, second string // email_bounced of the create, then of the update
		enrolled      bool
	}{
		{name: "CreatedOnlyCreateMissesUpdateMatches", options: "events: [created]\n", first: "false", second: "true", enrolled: false},
		{name: "CreatedOnlyCreateMatchesUpdateMisses", options: "events: [created]\n", first: "true", second: "false", enrolled: true},
		{name: "UpdatedOnlyCreateMissesUpdateMatches", options: "events: [updated]\n", first: "false", second: "true", enrolled: true},
		{name: "UpdatedOnlyCreateMatchesUpdateMisses", options: "events: [updated]\n", first: "true", second: "false", enrolled: false},
		{name: "BothCreateMissesUpdateMatches", options: "events: [created, updated]\n", first: "false", second: "true", enrolled: true},
		{name: "BothCreateMatchesUpdateMisses", options: "events: [created, updated]\n", first: "true", second: "false", enrolled: true},
		{name: "BothUnenrollWhenNotMatching", options: "unenroll_when_not_matching: true\n", first: "true", second: "false", enrolled: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupFlows(t, 0)
			b.activate(t, "wf", flowOf(tc.options))
			id := b.contact(t, map[string]string{"email_bounced": tc.first})
			b.update(t, id, map[string]string{"email_bounced": tc.second}) // in the same millisecond: the clock is still
			b.drain(t)
			kinds := kinds(b.history(t, "wf", id))
			if !tc.enrolled {
				require.NotEqual(t, crm.Enrolled, b.enrollment(t, "wf", id).State, "history %v", kinds)
				if tc.options == "unenroll_when_not_matching: true\n" {
					require.Equal(t, []string{"enrolled", "unenrolled"}, kinds, "enrolled by the create, unenrolled by the update before its first step")
				}
				return
			}
			require.Equal(t, crm.Enrolled, b.enrollment(t, "wf", id).State, "history %v", kinds)
		})
	}
}

// TestUpdatedOnlyEnrollsAtTheFirstUpdateThatLeavesItMatching: with events [updated], a record
// created matching is not enrolled by its creation, but by its first update that changes a
// property and leaves it matching.
func TestUpdatedOnlyEnrollsAtTheFirstUpdateThatLeavesItMatching(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.activate(t, "wf", flowOf("events: [updated]\n"))
	id := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	require.Equal(t, crm.EnrollmentState(""), b.enrollment(t, "wf", id).State)
	b.update(t, id, map[string]string{"firstname": "Ann"})
	b.drain(t)
	require.Equal(t, crm.Enrolled, b.enrollment(t, "wf", id).State)
}

// TestRapidFlipsReenroll: with re-enrollment, a completed record that stops matching and matches
// again before the drain runs is enrolled again; without it, it is not.
func TestRapidFlipsReenroll(t *testing.T) {
	t.Parallel()
	for _, reenroll := range []bool{true, false} {
		t.Run(map[bool]string{true: "Reenrollment", false: "NoReenrollment"}[reenroll], func(t *testing.T) {
			t.Parallel()
			b := setupFlows(t, 0)
			opt := ""
			if reenroll {
				opt = "reenrollment: true\n"
			}
			b.activate(t, "wf", setPropertyFlow("wf", "email_bounced", opt, "hs_lead_status", "new"))
			id := b.contact(t, map[string]string{"email_bounced": "true"})
			b.drain(t)
			require.Equal(t, crm.Completed, b.enrollment(t, "wf", id).State)

			b.update(t, id, map[string]string{"email_bounced": "false"})
			b.update(t, id, map[string]string{"email_bounced": "true"})
			b.drain(t)
			enr := b.enrollment(t, "wf", id)
			if reenroll {
				require.Equal(t, 2, enr.Count, "the flip is a transition: enrolled again")
			} else {
				require.Equal(t, 1, enr.Count)
			}
		})
	}
}

// enrolledWithSuppressionList activates a workflow that deletes bounced contacts a day after they
// enroll, unless they are in list l, and returns it with a bounced contact enrolled and waiting.
func enrolledWithSuppressionList(t *testing.T) (*flowBundle, crm.ListDef, crm.RecordID) {
	t.Helper()
	b := setupFlows(t, 0)
	l, err := b.store.CreateList(b.ctx, b.tenant, "Do not delete", crm.Contacts)
	require.NoError(t, err)
	b.activate(t, "wf", deleteBouncedAfterADay("suppression:\n  lists: ["+string(l.ID)+"]\n"))
	id := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	return b, l, id
}

// TestJoiningASuppressionListUnenrolls: a record enrolled and waiting out a delay leaves the
// workflow when it is added to one of its suppression lists, before its next action.
func TestJoiningASuppressionListUnenrolls(t *testing.T) {
	t.Parallel()
	b, l, id := enrolledWithSuppressionList(t)
	require.Equal(t, crm.Enrolled, b.enrollment(t, "wf", id).State)

	_, _, err := b.store.AddListMembers(b.ctx, b.tenant, l.ID, []crm.RecordID{id})
	require.NoError(t, err)
	b.drain(t)
	require.Equal(t, crm.Unenrolled, b.enrollment(t, "wf", id).State)
	h := b.history(t, "wf", id)
	require.Equal(t, "unenrolled", h[len(h)-1].Kind)
	require.Contains(t, h[len(h)-1].Detail, "member of list "+string(l.ID))

	b.afterTheDelay(t)
	b.live(t, id) // its delete never ran
}

// TestJoiningASuppressionListUnenrollsEvenBeforeTheDrain: when the step comes due before the
// drain has seen the list join, the step itself finds the record suppressed and unenrolls it.
func TestJoiningASuppressionListUnenrollsEvenBeforeTheDrain(t *testing.T) {
	t.Parallel()
	b, l, id := enrolledWithSuppressionList(t)
	_, _, err := b.store.AddListMembers(b.ctx, b.tenant, l.ID, []crm.RecordID{id})
	require.NoError(t, err)
	b.stepsAfterTheDelay(t)
	b.requireUnenrolled(t, id)
}

// deleteBouncedUnlessCustomer is a workflow that deletes a bounced contact a day after it enrolls,
// unless it is a customer, with the given option lines.
func deleteBouncedUnlessCustomer(options string) string {
	return deleteBouncedAfterADay(options + "suppression:\n  trigger: lifecyclestage == \"customer\"\n")
}

// TestBecomingSuppressedUnenrollsWhateverTheEvents: a workflow that evaluates its trigger on
// creates only still unenrolls a record that an update leaves suppressed (S19), and its delete
// never runs.
func TestBecomingSuppressedUnenrollsWhateverTheEvents(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.activate(t, "wf", deleteBouncedUnlessCustomer("events: [created]\n"))
	id := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	require.Equal(t, crm.Enrolled, b.enrollment(t, "wf", id).State)

	b.update(t, id, map[string]string{"lifecyclestage": "customer"})
	b.drain(t)
	h := b.requireUnenrolled(t, id)
	require.Equal(t, []string{"enrolled", "action", "unenrolled"}, kinds(h))
	require.Contains(t, h[2].Detail, "suppression trigger")

	// An update that leaves a record not enrolled suppressed records nothing.
	other := b.contact(t, map[string]string{"firstname": "Bo"})
	b.update(t, other, map[string]string{"email_bounced": "true", "lifecyclestage": "customer"})
	b.drain(t)
	require.Empty(t, b.history(t, "wf", other))

	b.afterTheDelay(t)
	b.live(t, id) // its delete never ran
}

// TestMatchingTheSuppressionTriggerUnenrollsEvenBeforeTheDrain: when the step comes due before the
// drain has seen the write that made the record suppressed, the step itself finds it suppressed
// and unenrolls it.
func TestMatchingTheSuppressionTriggerUnenrollsEvenBeforeTheDrain(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.activate(t, "wf", deleteBouncedUnlessCustomer(""))
	id := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	b.update(t, id, map[string]string{"lifecyclestage": "customer"})
	b.stepsAfterTheDelay(t) // the step only, not the drain
	h := b.requireUnenrolled(t, id)
	require.Equal(t, []string{"enrolled", "action", "unenrolled"}, kinds(h))
	require.Contains(t, h[2].Detail, "suppression trigger")

	// The drain of the write keeps it out.
	b.drain(t)
	b.afterTheDelay(t)
	b.requireUnenrolled(t, id)
}

// TestStoppingToMatchUnenrollsEvenBeforeTheDrain: with unenroll_when_not_matching, a record written
// since it enrolled so that it no longer matches leaves the workflow before its next step, even
// when that step comes due before the drain has seen the write; one not written since (enrolled by
// hand, say) is left to run.
func TestStoppingToMatchUnenrollsEvenBeforeTheDrain(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	f := b.activate(t, "wf", deleteBouncedAfterADay("unenroll_when_not_matching: true\n"))
	id := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	byHand := b.contact(t, map[string]string{"firstname": "Bo"})
	b.drain(t)
	b.clock.Advance(time.Millisecond)
	require.NoError(t, b.store.EnrollManually(b.ctx, b.tenant, crm.FlowRef{Name: "wf", Revision: f.ActiveRevision,
		ObjectType: crm.Contacts}, byHand, "ops@example.com"))
	require.NoError(t, b.client.EnqueueWorkflowSteps(b.ctx, b.tenant, "wf", f.ActiveRevision, []crm.RecordID{byHand}))
	b.runTasks(t)

	b.clock.Advance(time.Minute)
	b.update(t, id, map[string]string{"email_bounced": "false"})
	b.stepsAfterTheDelay(t) // the steps only, not the drain
	h := b.requireUnenrolled(t, id)
	require.Equal(t, "record no longer matches the trigger", h[len(h)-1].Detail)
	require.Equal(t, crm.Completed, b.enrollment(t, "wf", byHand).State, "enrolled by hand, not written since: its steps ran")

	b.drain(t)
	b.requireUnenrolled(t, id)
}

// TestOwnSetPropertyThatStopsMatchingEndsTheEnrollment: with unenroll_when_not_matching, a
// workflow's own set_property that makes the record stop matching unenrolls it before the next
// step, also when that step is due at once, before any drain.
func TestOwnSetPropertyThatStopsMatchingEndsTheEnrollment(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.activate(t, "wf", "name: wf\nobject_type: contacts\ntrigger: lifecyclestage == \"lead\"\nunenroll_when_not_matching: true\n"+
		"actions:\n  - type: set_property\n    property: lifecyclestage\n    value: subscriber\n"+
		"  - type: set_property\n    property: hs_lead_status\n    value: new\n")
	id := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	b.drain(t)
	require.Equal(t, "subscriber", b.live(t, id).Properties["lifecyclestage"])
	require.Empty(t, b.live(t, id).Properties["hs_lead_status"], "the second step did not run")
	h := b.history(t, "wf", id)
	require.Equal(t, []string{"enrolled", "action", "unenrolled"}, kinds(h))
	require.Equal(t, "record no longer matches the trigger", h[2].Detail)
}

// TestBecomingSuppressedWhilePausedUnenrollsAtTheNextStep: a write made while the workflow was
// paused is not judged by it, but a record it left suppressed still leaves before its next step
// once the workflow is active again.
func TestBecomingSuppressedWhilePausedUnenrollsAtTheNextStep(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	f := b.activate(t, "wf", deleteBouncedUnlessCustomer(""))
	id := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	_, err := b.store.PauseFlow(b.ctx, b.tenant, "wf", nil)
	require.NoError(t, err)
	b.update(t, id, map[string]string{"lifecyclestage": "customer"})
	b.drain(t)
	_, err = b.store.ActivateFlow(b.ctx, b.tenant, "wf", crm.ActivateFlowParams{By: b.activator(t), Revision: f.Revision})
	require.NoError(t, err)
	b.afterTheDelay(t)
	b.requireUnenrolled(t, id)
}

// TestWritesWhilePausedAreNotEvaluatedLater: a workflow evaluates the writes made while it is
// active; those made while it was paused are not evaluated when it is activated again, even when
// the drain runs after the activation.
func TestWritesWhilePausedAreNotEvaluatedLater(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	f := b.activate(t, "wf", flowOf(""))
	_, err := b.store.PauseFlow(b.ctx, b.tenant, "wf", nil)
	require.NoError(t, err)
	id := b.contact(t, map[string]string{"email_bounced": "true"})
	_, err = b.store.ActivateFlow(b.ctx, b.tenant, "wf", crm.ActivateFlowParams{By: b.activator(t), Revision: f.Revision})
	require.NoError(t, err)
	b.drain(t)
	require.Equal(t, crm.EnrollmentState(""), b.enrollment(t, "wf", id).State, "written while paused")

	b.update(t, id, map[string]string{"firstname": "Ann"}) // still matches: an update while active
	b.drain(t)
	require.Equal(t, crm.Enrolled, b.enrollment(t, "wf", id).State)
}

// TestActivatingANewRevisionJudgesTheWritesNotYetJudged: a write made while the workflow was active
// and not yet judged when a new revision is activated is judged by that revision, as long as its
// triggers read no property the older revision's did not (the write kept no value of it).
func TestActivatingANewRevisionJudgesTheWritesNotYetJudged(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	activate := func(src string, reads ...string) {
		t.Helper()
		_, _, err := b.store.PutFlow(b.ctx, b.tenant, "wf", crm.Contacts, src, "ops@example.com")
		require.NoError(t, err)
		_, err = b.store.ActivateFlow(b.ctx, b.tenant, "wf", crm.ActivateFlowParams{By: b.activator(t), Reads: reads})
		require.NoError(t, err)
	}
	activate(flowOf(""), "email_bounced")
	id := b.contact(t, map[string]string{"email_bounced": "true"})
	activate(flowOf("reenrollment: true\n"), "email_bounced") // before the drain saw the create
	b.drain(t)
	require.Equal(t, crm.Enrolled, b.enrollment(t, "wf", id).State, "history %v", kinds(b.history(t, "wf", id)))

	// A revision that reads a property the writes before it did not keep judges the writes from
	// its activation on only.
	other := b.contact(t, map[string]string{"email_bounced": "true", "lifecyclestage": "lead"})
	activate("name: wf\nobject_type: contacts\ntrigger: email_bounced && lifecyclestage == \"lead\"\n"+
		"actions:\n  - type: delay\n    duration: 1d\n", "email_bounced", "lifecyclestage")
	b.drain(t)
	require.Equal(t, crm.EnrollmentState(""), b.enrollment(t, "wf", other).State)
	b.update(t, other, map[string]string{"firstname": "Ann"})
	b.drain(t)
	require.Equal(t, 1, b.enrollment(t, "wf", other).Count)
}

// TestActivatingANewRevisionMovesEnrolledRecordsOn: records enrolled at an older revision continue
// at their step in the revision activated since; where that revision has no such step, their
// enrollment ends there, with a history entry either way.
func TestActivatingANewRevisionMovesEnrolledRecordsOn(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	rev := func(status string) string {
		return "name: wf\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    duration: 1d\n" +
			"  - type: set_property\n    property: hs_lead_status\n    value: " + status + "\n"
	}
	f := b.activate(t, "wf", rev("open"))
	a := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	require.Equal(t, f.ActiveRevision, b.enrollment(t, "wf", a).Revision, "history %+v", b.history(t, "wf", a))

	f = b.activate(t, "wf", rev("new"))
	b.afterTheDelay(t)
	require.Equal(t, "new", b.live(t, a).Properties["hs_lead_status"], "the active revision's step ran")
	enr := b.enrollment(t, "wf", a)
	require.Equal(t, crm.Completed, enr.State)
	require.Equal(t, f.ActiveRevision, enr.Revision)
	require.Equal(t, []string{"enrolled", "action", "moved", "action", "completed"}, kinds(b.history(t, "wf", a)))

	// A revision with fewer steps: a record waiting at a step it does not have completes there.
	c := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	b.activate(t, "wf", "name: wf\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delay\n    duration: 1d\n")
	b.afterTheDelay(t)
	require.Empty(t, b.live(t, c).Properties["hs_lead_status"], "no step of an older revision ran")
	require.Equal(t, crm.Completed, b.enrollment(t, "wf", c).State)
	h := b.history(t, "wf", c)
	require.Equal(t, "completed", h[len(h)-1].Kind)
	require.Contains(t, h[len(h)-1].Detail, "has no step 1")
}

// TestTimePassingEnrollsNobodyUntilActivatedAgain: a trigger that reads the time is evaluated at
// writes and at activation, not as time passes; activating the workflow again with enroll-existing,
// while it is active, enrolls the records that aged into it, and none twice.
func TestTimePassingEnrollsNobodyUntilActivatedAgain(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	src := "name: wf\nobject_type: contacts\ntrigger: isSet(\"last_activity_date\") && daysSince(last_activity_date) > 730\nenroll_existing: true\nactions:\n  - type: delay\n    duration: 1d\n  - type: set_property\n    property: hs_lead_status\n    value: new\n"
	old := b.contact(t, map[string]string{"last_activity_date": b.clock.Now().Add(-729 * 24 * time.Hour).Format(time.RFC3339)})
	already := b.contact(t, map[string]string{"last_activity_date": b.clock.Now().Add(-800 * 24 * time.Hour).Format(time.RFC3339)})
	b.drain(t)
	f := b.activate(t, "wf", src)
	require.NoError(t, b.client.EnqueueWorkflowBackfill(b.ctx, b.tenant, f.Name, f.ActiveRevision))
	b.runTasks(t)
	require.Equal(t, crm.Enrolled, b.enrollment(t, "wf", already).State)
	require.Equal(t, crm.EnrollmentState(""), b.enrollment(t, "wf", old).State)
	b.clock.Advance(2 * 24 * time.Hour)
	b.drain(t)
	require.Equal(t, crm.EnrollmentState(""), b.enrollment(t, "wf", old).State, "time passing enrolls nobody")
	f, err := b.store.ActivateFlow(b.ctx, b.tenant, "wf", crm.ActivateFlowParams{By: b.activator(t)})
	require.NoError(t, err)
	require.NoError(t, b.client.EnqueueWorkflowBackfill(b.ctx, b.tenant, f.Name, f.ActiveRevision))
	b.runTasks(t)
	require.Equal(t, crm.Enrolled, b.enrollment(t, "wf", old).State)
	require.Equal(t, 1, b.enrollment(t, "wf", already).Count)
}

// TestDeletedAndRestoredDuringADelayDoesNotResume: a record deleted and restored while it waits
// out a delay before a delete_contact is unenrolled by the deletion itself, before any drain: the
// step that comes due finds it unenrolled and does not delete it (SPEC S7, S8), and the drain of
// both writes does not enroll it again.
func TestDeletedAndRestoredDuringADelayDoesNotResume(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.activate(t, "wf", deleteBouncedUnlessCustomer("reenrollment: true\n"))
	id := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	_, err := b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{id}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	_, err = b.store.RestoreRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{id}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	b.stepsAfterTheDelay(t) // the step first, then the drain
	b.drain(t)
	b.update(t, id, map[string]string{"firstname": "Back"})
	b.drain(t)
	b.afterTheDelay(t)
	b.requireUnenrolled(t, id)
	require.Equal(t, 1, b.enrollment(t, "wf", id).Count)
}

// TestSetPropertyIsAWriteEveryWorkflowJudges: a workflow's set_property is an update like any
// other: it enrolls the record in another workflow whose trigger it makes match.
func TestSetPropertyIsAWriteEveryWorkflowJudges(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.activate(t, "qualify", setPropertyFlow("qualify", "email_bounced", "", "lifecyclestage", "lead"))
	b.activate(t, "nurture", setPropertyFlow("nurture", `lifecyclestage == "lead"`, "", "hs_lead_status", "new"))
	id := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t) // enrolls in qualify, whose step sets lifecyclestage
	b.drain(t) // judges that write: enrolls in nurture
	require.Equal(t, "new", b.live(t, id).Properties["hs_lead_status"])
	require.Equal(t, []string{"enrolled", "action", "completed"}, kinds(b.history(t, "nurture", id)))
}

// TestStoppingToMatchUnenrollsWhateverEnrolledIt: unenroll_when_not_matching holds whatever
// events the workflow enrolls on. A workflow that enrolls on creation only still lets a record
// that an update leaves not matching go before its next step: by the drain of the update, or by
// the step itself when it comes due first. Its delete_contact never runs on it.
func TestStoppingToMatchUnenrollsWhateverEnrolledIt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		drainFirst bool
	}{
		{name: "DrainedBeforeTheStep", drainFirst: true},
		{name: "StepBeforeTheDrain", drainFirst: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupFlows(t, 0)
			b.activate(t, "wf", deleteBouncedAfterADay("events: [created]\nunenroll_when_not_matching: true\n"))
			id := b.contact(t, map[string]string{"email_bounced": "true"})
			still := b.contact(t, map[string]string{"email_bounced": "true"})
			b.drain(t)
			require.Equal(t, crm.Enrolled, b.enrollment(t, "wf", id).State)

			b.clock.Advance(time.Minute)
			b.update(t, id, map[string]string{"email_bounced": "false"})
			b.update(t, still, map[string]string{"firstname": "Bo"}) // still matching: stays enrolled
			if tc.drainFirst {
				b.drain(t)
				require.Equal(t, crm.Unenrolled, b.enrollment(t, "wf", id).State)
			}
			b.stepsAfterTheDelay(t)
			h := b.requireUnenrolled(t, id)
			require.Equal(t, []string{"enrolled", "action", "unenrolled"}, kinds(h))
			require.Equal(t, "record no longer matches the trigger", h[2].Detail)

			b.drain(t)
			b.requireUnenrolled(t, id)
			_, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, still, nil)
			require.ErrorIs(t, err, crm.ErrNotFound, "the record that still matched was deleted")
		})
	}
}

// TestReenrollmentLoopIsCut: two workflows with re-enrollment that set each other's trigger back
// and forth would hand a record between them without end. Each enrolls the record at most
// crm.MaxReenrollments times within crm.ReenrollmentWindow: the next enrollment is refused, kept in
// the workflow's history, the workflow stays active, and other records still enroll. Once the
// window has passed, the record enrolls again.
func TestReenrollmentLoopIsCut(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.activate(t, "promote", setPropertyFlow("promote", `lifecyclestage == "lead"`, "reenrollment: true\n", "lifecyclestage", "subscriber"))
	b.activate(t, "demote", setPropertyFlow("demote", `lifecyclestage == "subscriber"`, "reenrollment: true\n", "lifecyclestage", "lead"))
	id := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	for range 4 * crm.MaxReenrollments {
		b.clock.Advance(time.Second)
		b.drain(t) // judges the last write, whose enrollment's step writes again
	}
	require.Equal(t, crm.MaxReenrollments, b.enrollment(t, "promote", id).Count, "the loop went on")
	require.Equal(t, crm.MaxReenrollments, b.enrollment(t, "demote", id).Count)
	require.Equal(t, "lead", b.live(t, id).Properties["lifecyclestage"], "promote's enrollment was refused")

	h := b.history(t, "promote", id)
	last := h[len(h)-1]
	require.Equal(t, "reenroll_refused", last.Kind)
	require.Contains(t, last.Detail, fmt.Sprintf("enrolled %d times in 1d", crm.MaxReenrollments))
	require.Equal(t, 1, strings.Count(strings.Join(kinds(h), " "), "reenroll_refused"), "refused once: the loop stopped")
	page, err := b.store.FlowLog(b.ctx, b.tenant, "promote", crm.FlowLogQuery{Kinds: []string{"reenroll_refused"}})
	require.NoError(t, err)
	require.Len(t, page.Entries, 1, "the workflow's history shows the loop")
	require.Equal(t, id, page.Entries[0].ID)

	f, err := b.store.Flow(b.ctx, b.tenant, "promote")
	require.NoError(t, err)
	require.Equal(t, crm.FlowActive, f.State, "the workflow is not paused for one record")
	other := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	b.drain(t)
	require.Equal(t, 1, b.enrollment(t, "promote", other).Count, "other records enroll")

	// A day later the window has passed: a new write enrolls it again.
	b.clock.Advance(crm.ReenrollmentWindow)
	b.update(t, id, map[string]string{"lifecyclestage": "other"})
	b.update(t, id, map[string]string{"lifecyclestage": "lead"})
	b.drain(t)
	require.Greater(t, b.enrollment(t, "promote", id).Count, crm.MaxReenrollments)
}
