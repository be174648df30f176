package worker_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/worker"
)

// limitedDelete deletes bounced contacts at once, at most 3 per hour.
const limitedDelete = `name: limited-delete
object_type: contacts
trigger: email_bounced
limits:
  max_deletions: 3
  per: 1h
actions:
  - type: delete_contact
`

// unlimitedDelete is limitedDelete without a limit of its own, nor the tenant's.
var unlimitedDelete = strings.Replace(limitedDelete, "  max_deletions: 3\n  per: 1h\n", "  max_deletions: unlimited\n", 1)

// raisedDelete is limitedDelete with its limit raised to 50 per hour.
var raisedDelete = strings.Replace(limitedDelete, "max_deletions: 3", "max_deletions: 50", 1)

// bouncedContacts creates n contacts whose email bounced, and returns their ids.
func (b *flowBundle) bouncedContacts(t *testing.T, n int) []crm.RecordID {
	t.Helper()
	var ids []crm.RecordID
	for range n {
		ids = append(ids, b.contact(t, map[string]string{"email_bounced": "true"}))
	}
	return ids
}

// pausedAtLimit activates limitedDelete on behalf of the activator it returns, over ten bounced
// contacts in step tasks of four: three go to the bin and the workflow pauses, with seven waiting.
func pausedAtLimit(t *testing.T) (b *flowBundle, who string, ids []crm.RecordID) {
	t.Helper()
	b = setupFlows(t, 4) // several step tasks, so that the limit is reached across tasks
	who = b.activator(t)
	b.activateAs(t, who, "limited-delete", limitedDelete)
	ids = b.bouncedContacts(t, 10)
	b.drain(t)
	binned, waiting := b.limitOutcome(t, "limited-delete", ids)
	require.Len(t, binned, 3)
	require.Len(t, waiting, 7)
	return b, who, ids
}

// sweepAfter advances the clock by d and runs a workflow:sweep, and every task it leads to.
func (b *flowBundle) sweepAfter(t *testing.T, d time.Duration) {
	t.Helper()
	b.clock.Advance(d)
	_, err := b.client.Enqueue(b.ctx, worker.NewWorkflowSweepTask(b.clock.Now()))
	require.NoError(t, err)
	b.runTasks(t)
}

// flow returns the tenant's workflow name.
func (b *flowBundle) flow(t *testing.T, name string) crm.Flow {
	t.Helper()
	f, err := b.store.Flow(b.ctx, b.tenant, name)
	require.NoError(t, err)
	return f
}

// limitOutcome counts where the contacts ids are: in the bin, and still enrolled (live, waiting).
func (b *flowBundle) limitOutcome(t *testing.T, flow string, ids []crm.RecordID) (binned, waiting []crm.RecordID) {
	t.Helper()
	for _, id := range ids {
		enr := b.enrollment(t, flow, id)
		if _, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, id, nil); err == nil {
			require.Equal(t, crm.Enrolled, enr.State, "live contact %s waits enrolled", id)
			require.Equal(t, 0, enr.Step, "its step is not consumed")
			waiting = append(waiting, id)
			continue
		}
		rec, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, id, &crm.ReadOpts{Archived: true})
		require.NoError(t, err)
		require.Equal(t, flow, rec.Deletion.Ref)
		require.Equal(t, crm.Completed, enr.State)
		binned = append(binned, id)
	}
	return binned, waiting
}

// limitMails returns the outbox's emails about a workflow's limit.
func (b *flowBundle) limitMails(t *testing.T) []crm.Mail {
	t.Helper()
	out, err := b.store.Outbox(b.ctx, b.tenant, 0)
	require.NoError(t, err)
	var mails []crm.Mail
	for _, m := range out {
		if m.Kind == worker.KindWorkflowLimitReached {
			mails = append(mails, m)
		}
	}
	return mails
}

func TestWorkflowPausesAtItsLimitAndResumesWhereItStopped(t *testing.T) {
	t.Parallel()
	b, who, ids := pausedAtLimit(t)
	f := b.flow(t, "limited-delete")
	_, waiting := b.limitOutcome(t, "limited-delete", ids)
	got := b.flow(t, "limited-delete")
	require.Equal(t, crm.FlowPaused, got.State)
	require.Contains(t, got.PausedReason, "paused: blast-radius limit of 3 deletions per 1h reached")
	require.Equal(t, crm.PauseDeletionLimit, got.PausedCode)
	require.Equal(t, map[string]string{"maxDeletions": "3", "per": "1h"}, got.PausedParams)
	for _, id := range waiting {
		require.Equal(t, []string{"enrolled"}, kinds(b.history(t, "limited-delete", id)), "no action recorded for a refused record")
	}

	mails := b.limitMails(t)
	require.Len(t, mails, 1, "the activator is emailed once")
	require.Equal(t, who, mails[0].To)
	require.Contains(t, mails[0].Subject, "limited-delete")
	require.Contains(t, mails[0].Body, "3 deletions per 1h")

	// Paused, a sweep runs nothing.
	b.sweepAfter(t, time.Hour)
	_, still := b.limitOutcome(t, "limited-delete", ids)
	require.Len(t, still, 7)

	// The limit raised and the workflow activated again: the waiting records carry on, each
	// deleted once.
	again := b.activateAs(t, who, "limited-delete", raisedDelete)
	require.Greater(t, again.ActiveRevision, f.ActiveRevision)
	b.sweepAfter(t, time.Hour)
	binned, waiting := b.limitOutcome(t, "limited-delete", ids)
	require.Len(t, binned, 10)
	require.Empty(t, waiting)
	require.EqualValues(t, 10, b.binSize(t, b.tenant, crm.Contacts))
	require.Equal(t, crm.FlowActive, b.flow(t, "limited-delete").State)
	require.Len(t, b.limitMails(t), 1)
}

// TestWorkflowActivatedAgainWithinItsWindowPausesAgain: the limit counts the workflow's
// deletions, not one activation's (SPEC S24). Paused at its limit and activated again without
// raising it, inside the window, it deletes nothing more: it pauses again at the first deletion
// over the limit, with the reason, and the activator is emailed again. Once the window has passed,
// the limit's number more go.
func TestWorkflowActivatedAgainWithinItsWindowPausesAgain(t *testing.T) {
	t.Parallel()
	b, who, ids := pausedAtLimit(t)
	require.Len(t, b.limitMails(t), 1)

	resume := func() {
		t.Helper()
		_, err := b.store.ActivateFlow(b.ctx, b.tenant, "limited-delete", crm.ActivateFlowParams{By: who})
		require.NoError(t, err)
		b.sweepAfter(t, 2*time.Minute) // past the sweep's grace
	}
	paused := func() {
		t.Helper()
		got := b.flow(t, "limited-delete")
		require.Equal(t, crm.FlowPaused, got.State)
		require.Contains(t, got.PausedReason, "paused: blast-radius limit of 3 deletions per 1h reached")
	}

	// Ten minutes later, activated again as it was: the window still holds the three.
	b.clock.Advance(10 * time.Minute)
	resume()
	binned, waiting := b.limitOutcome(t, "limited-delete", ids)
	require.Len(t, binned, 3, "activating again gives no new allowance")
	require.Len(t, waiting, 7)
	paused()
	mails := b.limitMails(t)
	require.Len(t, mails, 2, "the activator is emailed about the new pause")
	require.Equal(t, who, mails[1].To)
	require.Contains(t, mails[1].Body, "3 deletions per 1h")

	// An hour after the first three, the window has passed: three more go, then it pauses again.
	b.clock.Advance(time.Hour)
	resume()
	binned, waiting = b.limitOutcome(t, "limited-delete", ids)
	require.Len(t, binned, 6)
	require.Len(t, waiting, 4)
	paused()
	require.Len(t, b.limitMails(t), 3)
}

func TestWorkflowWithoutLimitsRunsUnderTheTenantsLimit(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	who := b.activator(t)
	_, err := b.store.SetDeletionLimit(b.ctx, b.tenant, crm.DeletionLimit{Max: 2, Per: 10 * time.Minute})
	require.NoError(t, err)
	b.activateAs(t, who, "wait-then-delete", waitThenDelete)
	ids := b.bouncedContacts(t, 5)
	b.drain(t)
	b.clock.Advance(24 * time.Hour)
	b.runTasks(t)

	var binned int
	for _, id := range ids {
		enr := b.enrollment(t, "wait-then-delete", id)
		if enr.State == crm.Completed {
			binned++
			continue
		}
		require.Equal(t, crm.Enrolled, enr.State)
		require.Equal(t, 1, enr.Step, "still waiting at delete_contact")
		b.live(t, id)
	}
	require.Equal(t, 2, binned)
	got := b.flow(t, "wait-then-delete")
	require.Equal(t, crm.FlowPaused, got.State)
	require.Contains(t, got.PausedReason, "blast-radius limit of 2 deletions per 10m reached")
	require.Equal(t, crm.PauseDeletionLimit, got.PausedCode)
	require.Equal(t, map[string]string{"maxDeletions": "2", "per": "10m"}, got.PausedParams, "the tenant's limit")
	require.Len(t, b.limitMails(t), 1)

	// The tenant's limit raised, the same revision activated again: the rest go, once each.
	_, err = b.store.SetDeletionLimit(b.ctx, b.tenant, crm.DeletionLimit{Max: 10, Per: 10 * time.Minute})
	require.NoError(t, err)
	_, err = b.store.ActivateFlow(b.ctx, b.tenant, "wait-then-delete", crm.ActivateFlowParams{By: who, Revision: got.Revision})
	require.NoError(t, err)
	b.sweepAfter(t, time.Hour)
	for _, id := range ids {
		require.Equal(t, crm.Completed, b.enrollment(t, "wait-then-delete", id).State)
		require.Equal(t, []string{"enrolled", "action", "action", "completed"}, kinds(b.history(t, "wait-then-delete", id)), "the delay and one delete")
	}
	require.EqualValues(t, 5, b.binSize(t, b.tenant, crm.Contacts))
}

func TestUnlimitedWorkflowIsNotLimited(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	who := b.activator(t)
	_, err := b.store.SetDeletionLimit(b.ctx, b.tenant, crm.DeletionLimit{Max: 1, Per: time.Hour})
	require.NoError(t, err)
	b.activateAs(t, who, "limited-delete", unlimitedDelete)
	ids := b.bouncedContacts(t, 4)
	b.drain(t)
	binned, waiting := b.limitOutcome(t, "limited-delete", ids)
	require.Len(t, binned, 4)
	require.Empty(t, waiting)
	require.Empty(t, b.limitMails(t))
}

// TestLimitHoldsWithConcurrentStepTasks runs the step tasks of 40 enrolled contacts (ten tasks of
// four) at once, as ten workers would: exactly the limit's number of contacts go to the bin.
func TestLimitHoldsWithConcurrentStepTasks(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 4)
	who := b.activator(t)
	b.activateAs(t, who, "limited-delete", strings.Replace(limitedDelete, "max_deletions: 3", "max_deletions: 10", 1))
	ids := b.bouncedContacts(t, 40)
	require.NoError(t, b.client.EnqueueChangesDrain(b.ctx, b.tenant, b.clock.Now()))
	// The drains run one by one; the step tasks they enqueue are kept for later.
	var steps []*asynq.TaskInfo
	for round := 0; ; round++ {
		require.Less(t, round, 100)
		pending, err := b.insp.ListPendingTasks(worker.QueueDefault, asynq.PageSize(1000))
		require.NoError(t, err)
		var drains []*asynq.TaskInfo
		for _, ti := range pending {
			if ti.Type == worker.TypeWorkflowSteps {
				if !slices.ContainsFunc(steps, func(s *asynq.TaskInfo) bool { return s.ID == ti.ID }) {
					steps = append(steps, ti)
				}
				continue
			}
			drains = append(drains, ti)
		}
		if len(drains) == 0 {
			break
		}
		for _, ti := range drains {
			require.NoError(t, b.insp.DeleteTask(ti.Queue, ti.ID))
			require.NoError(t, b.w.ProcessTask(b.ctx, asynq.NewTask(ti.Type, ti.Payload)))
		}
	}
	require.Len(t, steps, 10)
	var wg sync.WaitGroup
	for _, ti := range steps {
		require.NoError(t, b.insp.DeleteTask(ti.Queue, ti.ID))
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, b.w.ProcessTask(b.ctx, asynq.NewTask(ti.Type, ti.Payload)))
		}()
	}
	wg.Wait()
	b.runTasks(t) // the email

	binned, waiting := b.limitOutcome(t, "limited-delete", ids)
	require.Len(t, binned, 10)
	require.Len(t, waiting, 30)
	require.Equal(t, crm.FlowPaused, b.flow(t, "limited-delete").State)
	require.Len(t, b.limitMails(t), 1, "one email, however many tasks hit the limit")
}

// TestALongerWindowCountsTheDeletionsMadeUnderAShorterOne: the count keeps every deletion for the
// longest window a limit may have, so that a workflow whose per is made longer counts, against its
// new limit, the deletions it made within the new window under the shorter one.
func TestALongerWindowCountsTheDeletionsMadeUnderAShorterOne(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	perMinute := strings.NewReplacer("max_deletions: 3", "max_deletions: 1", "per: 1h", "per: 1m").Replace(limitedDelete)
	b.activate(t, "limited-delete", perMinute)
	first := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	b.clock.Advance(2 * time.Minute) // the first deletion's minute has passed
	second := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	binned, _ := b.limitOutcome(t, "limited-delete", []crm.RecordID{first, second})
	require.Len(t, binned, 2, "one per minute")

	// Now at most 2 an hour: the two of the last three minutes count, and the third waits.
	b.clock.Advance(time.Minute)
	b.activate(t, "limited-delete", strings.Replace(limitedDelete, "max_deletions: 3", "max_deletions: 2", 1))
	third := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	_, waiting := b.limitOutcome(t, "limited-delete", []crm.RecordID{third})
	require.Equal(t, []crm.RecordID{third}, waiting)
	require.Equal(t, crm.FlowPaused, b.flow(t, "limited-delete").State)
	n, err := b.store.FlowDeletionsInWindow(b.ctx, b.tenant, "limited-delete", time.Hour)
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "what preview shows as deleted in the window")
}

// TestALimitCountsTheDeletionsOfAnUnlimitedRevision: the deletions a workflow made while
// unlimited count against the limit one of its later revisions sets, as those of any of its
// revisions do.
func TestALimitCountsTheDeletionsOfAnUnlimitedRevision(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.activate(t, "limited-delete", unlimitedDelete)
	ids := b.bouncedContacts(t, 3)
	b.drain(t)
	binned, _ := b.limitOutcome(t, "limited-delete", ids)
	require.Len(t, binned, 3)
	n, err := b.store.FlowDeletionsInWindow(b.ctx, b.tenant, "limited-delete", time.Hour)
	require.NoError(t, err)
	require.EqualValues(t, 3, n, "what preview shows as deleted in the window")

	// Limited to 3 an hour ten minutes later: the three count, and the next contact waits.
	b.clock.Advance(10 * time.Minute)
	b.activate(t, "limited-delete", limitedDelete)
	next := b.contact(t, map[string]string{"email_bounced": "true"})
	b.drain(t)
	_, waiting := b.limitOutcome(t, "limited-delete", []crm.RecordID{next})
	require.Equal(t, []crm.RecordID{next}, waiting)
}

// count returns how many of ks are k.
func count(ks []string, k string) int {
	n := 0
	for _, x := range ks {
		if x == k {
			n++
		}
	}
	return n
}

// pendingOf returns the pending tasks of type typ in queue q.
func (b *flowBundle) pendingOf(t *testing.T, q, typ string) []*asynq.TaskInfo {
	t.Helper()
	tasks, err := b.insp.ListPendingTasks(q, asynq.PageSize(1000))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	require.NoError(t, err)
	return slices.DeleteFunc(tasks, func(ti *asynq.TaskInfo) bool { return ti.Type != typ })
}

// runPending runs the pending tasks of type typ in queue q, each once and taken off the queue, and
// returns how many it ran.
func (b *flowBundle) runPending(t *testing.T, q, typ string) int {
	t.Helper()
	tasks := b.pendingOf(t, q, typ)
	for _, ti := range tasks {
		require.NoError(t, b.insp.DeleteTask(ti.Queue, ti.ID))
		require.NoError(t, b.w.ProcessTask(b.ctx, asynq.NewTask(ti.Type, ti.Payload)), "%s %s", ti.Type, ti.Payload)
	}
	return len(tasks)
}

// TestResumeRunsTheWaitingStepsAtOnce: a workflow paused at its limit and activated again with the
// limit raised carries on at once: the workflow:resume of the activation enqueues the waiting
// records' steps in batches, and they run, with no workflow:sweep and the clock not moved past the
// sweep's grace. A second activation before those steps ran, and a third after, delete nobody twice.
func TestResumeRunsTheWaitingStepsAtOnce(t *testing.T) {
	t.Parallel()
	b, who, ids := pausedAtLimit(t)

	_, _, err := b.store.PutFlow(b.ctx, b.tenant, "limited-delete", crm.Contacts, raisedDelete, who)
	require.NoError(t, err)
	resume := func() {
		t.Helper()
		b.clock.Advance(time.Second) // each activation its own time: its own resume
		f, err := b.store.ActivateFlow(b.ctx, b.tenant, "limited-delete", crm.ActivateFlowParams{By: who})
		require.NoError(t, err)
		require.NoError(t, b.client.EnqueueWorkflowResume(b.ctx, b.tenant, f.Name, f.ActivatedAt))
		require.NoError(t, b.client.EnqueueWorkflowResume(b.ctx, b.tenant, f.Name, f.ActivatedAt), "a second enqueue is harmless")
		require.Equal(t, 1, b.runPending(t, worker.QueueDefault, worker.TypeWorkflowResume))
	}

	// The resume enqueues the seven waiting records' step in batches of 4, not one task each.
	resume()
	steps := b.pendingOf(t, worker.QueueBulk, worker.TypeWorkflowSteps)
	require.Len(t, steps, 2)
	// Activated again before those ran: the records are still due, and enqueued again, but each
	// step runs once.
	resume()
	require.Len(t, b.pendingOf(t, worker.QueueBulk, worker.TypeWorkflowSteps), 4)
	b.runTasks(t)
	binned, waiting := b.limitOutcome(t, "limited-delete", ids)
	require.Len(t, binned, 10)
	require.Empty(t, waiting)
	for _, id := range ids {
		h := kinds(b.history(t, "limited-delete", id))
		require.Equal(t, 1, count(h, "action"), "contact %s deleted once: %v", id, h)
		require.Equal(t, 1, count(h, "completed"), "contact %s: %v", id, h)
	}
	require.EqualValues(t, 10, b.binSize(t, b.tenant, crm.Contacts))

	// Once they have run, a resume finds nothing due and enqueues nothing.
	resume()
	require.Empty(t, b.pendingOf(t, worker.QueueBulk, worker.TypeWorkflowSteps))
	require.Equal(t, crm.FlowActive, b.flow(t, "limited-delete").State)
}

// limitedDelayedDelete deletes bounced contacts an hour after they enroll, at most 3 per hour.
const limitedDelayedDelete = `name: limited-delayed
object_type: contacts
trigger: email_bounced
limits:
  max_deletions: 3
  per: 1h
actions:
  - type: delay
    duration: 1h
  - type: delete_contact
`

// TestResumeLeavesDelayedStepsScheduled: the resume enqueues only the steps that are due. A record
// still in its delay when the workflow is activated again stays scheduled as it was, and is deleted
// when its delay ends, once. A resume of an earlier activation, or of a workflow paused again,
// enqueues nothing.
func TestResumeLeavesDelayedStepsScheduled(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 4)
	who := b.activator(t)
	b.activateAs(t, who, "limited-delayed", limitedDelayedDelete)
	early := b.bouncedContacts(t, 5)
	b.drain(t)
	b.clock.Advance(30 * time.Minute)
	late := b.bouncedContacts(t, 3)
	b.drain(t)

	// An hour on, the early five's delay ends: three are deleted and the workflow pauses.
	b.clock.Advance(30 * time.Minute)
	b.runTasks(t)
	deleted := func(ids []crm.RecordID) (n int) {
		t.Helper()
		for _, id := range ids {
			enr := b.enrollment(t, "limited-delayed", id)
			if enr.State == crm.Completed {
				n++
				continue
			}
			require.Equal(t, crm.Enrolled, enr.State, "contact %s", id)
			require.Equal(t, 1, enr.Step, "contact %s waits at its delete step", id)
		}
		return n
	}
	require.Equal(t, 3, deleted(early))
	require.Zero(t, deleted(late))
	paused := b.flow(t, "limited-delayed")
	require.Equal(t, crm.FlowPaused, paused.State)
	lateTasks := b.scheduledSteps(t)
	require.Len(t, lateTasks, 1, "the late three's step is scheduled at the end of their delay")

	// Raised and activated again: the two early ones waiting are deleted at once; the late three
	// stay in their delay, their task scheduled as it was.
	raised := strings.Replace(limitedDelayedDelete, "max_deletions: 3", "max_deletions: 50", 1)
	_, _, err := b.store.PutFlow(b.ctx, b.tenant, "limited-delayed", crm.Contacts, raised, who)
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(b.ctx, b.tenant, "limited-delayed", crm.ActivateFlowParams{By: who})
	require.NoError(t, err)
	require.NoError(t, b.client.EnqueueWorkflowResume(b.ctx, b.tenant, f.Name, f.ActivatedAt))
	// A resume of the activation before this one does nothing.
	require.NoError(t, b.client.EnqueueWorkflowResume(b.ctx, b.tenant, f.Name, paused.ActivatedAt))
	b.runTasks(t)
	require.Equal(t, 5, deleted(early))
	require.Zero(t, deleted(late))
	again := b.scheduledSteps(t)
	require.Len(t, again, 1)
	require.Equal(t, lateTasks[0].ID, again[0].ID)
	require.Equal(t, lateTasks[0].NextProcessAt, again[0].NextProcessAt)

	// Paused by a user, a resume of the activation before enqueues nothing.
	_, err = b.store.PauseFlow(b.ctx, b.tenant, "limited-delayed", nil)
	require.NoError(t, err)
	b.clock.Advance(30 * time.Minute)
	b.runTasks(t) // the late three's task finds the workflow paused
	require.NoError(t, b.client.EnqueueWorkflowResume(b.ctx, b.tenant, f.Name, f.ActivatedAt))
	b.runTasks(t)
	require.Zero(t, deleted(late))

	// Activated again, the late three, due by now, are deleted at once, each once.
	f, err = b.store.ActivateFlow(b.ctx, b.tenant, "limited-delayed", crm.ActivateFlowParams{By: who})
	require.NoError(t, err)
	require.NoError(t, b.client.EnqueueWorkflowResume(b.ctx, b.tenant, f.Name, f.ActivatedAt))
	b.runTasks(t)
	require.Equal(t, 3, deleted(late))
	for _, id := range append(early, late...) {
		n := 0
		for _, e := range b.history(t, "limited-delayed", id) {
			if e.Kind == "action" && e.Step != nil && *e.Step == 1 {
				n++
			}
		}
		require.Equal(t, 1, n, "contact %s deleted once", id)
	}
	require.EqualValues(t, 8, b.binSize(t, b.tenant, crm.Contacts))
}
