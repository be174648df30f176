package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/engine"
	"github.com/crmflow/crmflow/workflows"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// parse parses a contact workflow whose trigger and options are given as YAML lines.
func parse(t *testing.T, lines ...string) *workflows.Workflow {
	t.Helper()
	src := "name: wf\nobject_type: contacts\n" + strings.Join(lines, "\n") + "\nactions:\n  - type: delete_contact\n"
	wf, err := workflows.Parse("wf.yaml", []byte(src), nil, nil)
	require.NoError(t, err)
	return wf
}

func contact(id string, props map[string]string) *crm.Record {
	return &crm.Record{ID: crm.RecordID(id), Type: crm.Contacts, Properties: props}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	bounced := map[string]string{"email_bounced": "true", "firstname": "Johnny"}
	fine := map[string]string{"email_bounced": "false"}
	customer := map[string]string{"email_bounced": "true", "lifecyclestage": "customer"}

	plain := parse(t, "trigger: email_bounced")
	unenroll := parse(t, "trigger: email_bounced", "unenroll_when_not_matching: true")
	createdOnly := parse(t, "trigger: email_bounced", "events: [created]")
	createdOnlyUnenroll := parse(t, "trigger: email_bounced", "events: [created]", "unenroll_when_not_matching: true")
	createdOnlyUnenrollBad := parse(t, "trigger: int(firstname) > 3", "events: [created]", "unenroll_when_not_matching: true")
	updatedOnly := parse(t, "trigger: email_bounced", "events: [updated]")
	suppressed := parse(t, "trigger: email_bounced", "suppression:", `  trigger: lifecyclestage == "customer"`, "  lists: [7]")
	createdOnlySuppressed := parse(t, "trigger: email_bounced", "events: [created]", "suppression:", `  trigger: lifecyclestage == "customer"`, "  lists: [7]")
	badTrigger := parse(t, "trigger: int(firstname) > 3")
	badSuppression := parse(t, "trigger: email_bounced", "suppression:", "  trigger: int(firstname) > 3")
	lists := engine.ListSets{"7": {"40": true}}
	byWF := &crm.Deletion{Via: crm.ViaWorkflow, Ref: "wf"}
	byOther := &crm.Deletion{Via: crm.ViaWorkflow, Ref: "other"}

	for _, tc := range []struct {
		name   string
		wf     *workflows.Workflow
		change engine.Change
		want   crm.Verdict // "" means no verdict
		detail string      // a substring of the detail
	}{
		{"CreatedMatching", plain, engine.Change{ID: "1", Events: "c", Record: contact("1", bounced)}, crm.VerdictMatch, ""},
		{"UpdatedMatching", plain, engine.Change{ID: "1", Events: "u", Record: contact("1", bounced)}, crm.VerdictMatch, ""},
		{"NotMatching", plain, engine.Change{ID: "1", Events: "u", Record: contact("1", fine)}, crm.VerdictNoMatch, ""},
		{"NotMatchingUnenrolls", unenroll, engine.Change{ID: "1", Events: "u", Record: contact("1", fine)}, crm.VerdictUnmatch, ""},
		{"Deleted", plain, engine.Change{ID: "1", Events: "ud"}, crm.VerdictDeleted, "record deleted"},
		{"DeletedByAnotherWorkflow", plain, engine.Change{ID: "1", Events: "d", Deletion: byOther}, crm.VerdictDeleted, "record deleted"},
		{"DeletedByThisWorkflowsStep", plain, engine.Change{ID: "1", Events: "d", Deletion: byWF}, "", ""},
		{"PermanentlyDeleted", plain, engine.Change{ID: "1", Events: "cp"}, crm.VerdictDeleted, "permanently"},
		{"DeletedThenRestoredStillUnenrolls", plain, engine.Change{ID: "1", Events: "dr", Record: contact("1", bounced)}, crm.VerdictDeleted, ""},
		{"DeletedEvenWhereNotListened", createdOnly, engine.Change{ID: "1", Events: "ud"}, crm.VerdictDeleted, ""},
		{"RestoredOnly", plain, engine.Change{ID: "1", Events: "r", Record: contact("1", bounced)}, "", ""},
		{"RestoredThenUpdated", plain, engine.Change{ID: "1", Events: "ru", Record: contact("1", bounced)}, crm.VerdictMatch, ""},
		{"NotLiveWithoutDeletionYet", plain, engine.Change{ID: "1", Events: "u"}, "", ""},
		{"UpdateNotListened", createdOnly, engine.Change{ID: "1", Events: "u", Record: contact("1", bounced)}, "", ""},
		// An event the workflow does not listen to still unenrolls a record it leaves suppressed (S19).
		{"UpdateNotListenedSuppressed", createdOnlySuppressed, engine.Change{ID: "1", Events: "u", Record: contact("1", customer)}, crm.VerdictSuppressedNoMatch, "suppression trigger"},
		{"UpdateNotListenedSuppressedByList", createdOnlySuppressed, engine.Change{ID: "40", Events: "u", Record: contact("40", bounced)}, crm.VerdictSuppressedNoMatch, "list 7"},
		{"UpdateNotListenedNotSuppressed", createdOnlySuppressed, engine.Change{ID: "1", Events: "u", Record: contact("1", bounced)}, "", ""},
		// unenroll_when_not_matching holds whatever events the workflow enrolls on.
		{"UpdateNotListenedNotMatchingUnenrolls", createdOnlyUnenroll, engine.Change{ID: "1", Events: "u", Record: contact("1", fine)}, crm.VerdictUnmatch, ""},
		{"UpdateNotListenedStillMatching", createdOnlyUnenroll, engine.Change{ID: "1", Events: "u", Record: contact("1", bounced)}, "", ""},
		{"UpdateNotListenedTriggerErrorNoVerdict", createdOnlyUnenrollBad, engine.Change{ID: "1", Events: "u", Record: contact("1", bounced)}, "", ""},
		{"RestoredOnlyNotMatchingUnenrollsNot", createdOnlyUnenroll, engine.Change{ID: "1", Events: "r", Record: contact("1", fine)}, "", ""},
		{"RestoredOnlySuppressed", suppressed, engine.Change{ID: "1", Events: "r", Record: contact("1", customer)}, "", ""},
		{"CreateNotListened", updatedOnly, engine.Change{ID: "1", Events: "c", Record: contact("1", bounced)}, "", ""},
		{"CreatedAndUpdatedListenedOnce", updatedOnly, engine.Change{ID: "1", Events: "cu", Record: contact("1", bounced)}, crm.VerdictMatch, ""},
		{"ExistingEvaluatedWhateverTheEvents", createdOnly, engine.Change{ID: "1", Existing: true, Record: contact("1", bounced)}, crm.VerdictMatch, ""},
		{"SuppressedByTrigger", suppressed, engine.Change{ID: "1", Events: "u", Record: contact("1", customer)}, crm.VerdictSuppressed, "suppression trigger"},
		{"SuppressedByList", suppressed, engine.Change{ID: "40", Events: "u", Record: contact("40", bounced)}, crm.VerdictSuppressed, "list 7"},
		// Suppressed all the same (unenrolled if enrolled), but without a history entry otherwise.
		{"SuppressedEvenWhenNotMatching", suppressed, engine.Change{ID: "40", Events: "u", Record: contact("40", fine)}, crm.VerdictSuppressedNoMatch, "list 7"},
		{"JoinedASuppressionList", suppressed, engine.Change{ID: "40", Events: "l", Record: contact("40", bounced)}, crm.VerdictSuppressed, "list 7"},
		{"JoinedASuppressionListNotMatching", suppressed, engine.Change{ID: "40", Events: "l", Record: contact("40", fine)}, crm.VerdictSuppressedNoMatch, "list 7"},
		{"JoinedAnotherList", suppressed, engine.Change{ID: "41", Events: "l", Record: contact("41", bounced)}, "", ""},
		{"JoinedAListNoSuppression", plain, engine.Change{ID: "40", Events: "l", Record: contact("40", bounced)}, "", ""},
		{"NotSuppressed", suppressed, engine.Change{ID: "41", Events: "u", Record: contact("41", bounced)}, crm.VerdictMatch, ""},
		{"TriggerRunTimeError", badTrigger, engine.Change{ID: "1", Events: "u", Record: contact("1", bounced)}, crm.VerdictError, "int(<firstname>)"},
		{"TriggerRunsFine", badTrigger, engine.Change{ID: "1", Events: "u", Record: contact("1", map[string]string{"firstname": "5"})}, crm.VerdictMatch, ""},
		{"SuppressionRunTimeErrorNeverEnrolls", badSuppression, engine.Change{ID: "1", Events: "u", Record: contact("1", bounced)}, crm.VerdictError, "suppression trigger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, ok := engine.DecideOne(tc.wf, tc.change, lists, now)
			if tc.want == "" {
				require.False(t, ok, "want no verdict, got %+v", v)
				return
			}
			require.True(t, ok)
			require.Equal(t, tc.change.ID, v.ID)
			require.Equal(t, tc.want, v.Verdict)
			require.Contains(t, v.Detail, tc.detail)
		})
	}
}

func TestDecideBatchKeepsOrderAndSkips(t *testing.T) {
	t.Parallel()
	wf := parse(t, "trigger: email_bounced")
	got := engine.Decide(wf, []engine.Change{
		{ID: "3", Events: "u", Record: contact("3", map[string]string{"email_bounced": "true"})},
		{ID: "1", Events: "r", Record: contact("1", nil)},
		{ID: "2", Events: "d"},
	}, nil, now)
	require.Equal(t, []crm.FlowVerdict{
		{ID: "3", Verdict: crm.VerdictMatch},
		{ID: "2", Verdict: crm.VerdictDeleted, Detail: "record deleted"},
	}, got)
}

func TestTriggerErrorNamesNoValues(t *testing.T) {
	t.Parallel()
	wf := parse(t, "trigger: int(firstname) > 3")
	secret := "Jeanne-Marie"
	v, ok := engine.DecideOne(wf, engine.Change{ID: "9", Events: "c",
		Record: contact("9", map[string]string{"firstname": secret, "lastname": strings.Repeat("x", 2000)})}, nil, now)
	require.True(t, ok)
	require.Equal(t, crm.VerdictError, v.Verdict)
	require.NotContains(t, v.Detail, secret)
	require.Contains(t, v.Detail, `trigger "int(firstname) > 3"`, "the trigger's source is kept")
	require.LessOrEqual(t, len(v.Detail), engine.MaxDetail)
}

func TestStepResult(t *testing.T) {
	t.Parallel()
	later := now.Add(72 * time.Hour)
	boom := errors.New("redis down")
	for _, tc := range []struct {
		name    string
		res     actions.Result
		err     error
		want    crm.StepResult
		wantErr error
	}{
		{"Done", actions.Result{Outcome: actions.OutcomeDone, Detail: "moved"}, nil,
			crm.StepResult{ID: "1", Outcome: "done", Detail: "moved", Due: now}, nil},
		{"EmptyOutcomeIsDone", actions.Result{}, nil, crm.StepResult{ID: "1", Outcome: "done", Due: now}, nil},
		{"Unchanged", actions.Result{Outcome: actions.OutcomeUnchanged}, nil, crm.StepResult{ID: "1", Outcome: "unchanged", Due: now}, nil},
		{"SkippedStops", actions.Result{Outcome: actions.OutcomeSkipped}, nil, crm.StepResult{ID: "1", Outcome: "skipped", Due: now, Stop: true}, nil},
		{"WaitIsDueAtUntil", actions.Result{Outcome: actions.OutcomeWait, Until: later}, nil,
			crm.StepResult{ID: "1", Outcome: "wait", Due: later}, nil},
		{"WaitInThePastIsDueNow", actions.Result{Outcome: actions.OutcomeWait, Until: now.Add(-time.Hour)}, nil,
			crm.StepResult{ID: "1", Outcome: "wait", Due: now}, nil},
		{"CannotRunFailsAndStops", actions.Result{}, fmt.Errorf("add_to_list: %w", actions.ErrCannotRun), crm.StepResult{ID: "1", Outcome: engine.OutcomeFailed,
			Detail: "add_to_list: actions: this step cannot succeed", Due: now, Stop: true}, nil},
		{"OtherErrorsAreRetried", actions.Result{}, boom, crm.StepResult{}, boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := engine.StepResult("1", tc.res, tc.err, now)
			require.ErrorIs(t, err, tc.wantErr)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestNextRuns(t *testing.T) {
	t.Parallel()
	d1 := now.Add(3 * 24 * time.Hour)
	results := []crm.StepResult{
		{ID: "1", Due: now},
		{ID: "2", Due: d1.Add(300 * time.Millisecond)},
		{ID: "3", Due: now, Stop: true},
		{ID: "4", Due: now.Add(time.Hour)},
		{ID: "5", Due: d1.Add(700 * time.Millisecond)},
		{ID: "6", Due: now}, // not advanced: an earlier run moved it on
		{ID: "7", Due: now.Add(-time.Minute)},
	}
	advanced := []crm.RecordID{"1", "2", "3", "4", "5", "7"}

	t.Run("GroupsByDue", func(t *testing.T) {
		t.Parallel()
		dueNow, later := engine.NextRuns(results, advanced, 0, 3, now, time.Second)
		require.Equal(t, []crm.RecordID{"1", "7"}, dueNow)
		require.Equal(t, []engine.Run{
			{Step: 1, Due: now.Add(time.Hour), IDs: []crm.RecordID{"4"}},
			{Step: 1, Due: d1.Add(time.Second), IDs: []crm.RecordID{"2", "5"}},
		}, later)
	})
	t.Run("NoRounding", func(t *testing.T) {
		t.Parallel()
		_, later := engine.NextRuns(results, advanced, 0, 3, now, 0)
		require.Len(t, later, 3)
	})
	t.Run("LastStepHasNoNext", func(t *testing.T) {
		t.Parallel()
		dueNow, later := engine.NextRuns(results, advanced, 2, 3, now, time.Second)
		require.Empty(t, dueNow)
		require.Empty(t, later)
	})
}

// fakeStore serves revisions and the standard schemas, counting reads.
type fakeStore struct {
	mu        sync.Mutex
	sources   map[string]string // "<tenant>/<flow>@<rev>" -> YAML
	reads     atomic.Int64
	failReads atomic.Int64 // how many FlowRevision calls fail before they succeed
}

func (f *fakeStore) FlowRevision(_ context.Context, t crm.TenantID, name string, rev int64) (crm.FlowRevision, error) {
	f.reads.Add(1)
	if f.failReads.Add(-1) >= 0 {
		return crm.FlowRevision{}, errors.New("connection refused")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	src, ok := f.sources[fmt.Sprintf("%s/%s@%d", t, name, rev)]
	if !ok {
		return crm.FlowRevision{}, &crm.NotFoundError{Kind: "workflow revision", ID: name}
	}
	return crm.FlowRevision{Flow: name, Revision: rev, Source: src}, nil
}

func (f *fakeStore) Schema(_ context.Context, _ crm.TenantID, o crm.ObjectType) (crm.Schema, error) {
	return workflows.StandardSchemas().Schema(o)
}

func src(name, trigger string) string {
	return "name: " + name + "\nobject_type: contacts\ntrigger: " + trigger + "\nactions:\n  - type: delete_contact\n"
}

func TestCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ParsesOncePerRevision", func(t *testing.T) {
		t.Parallel()
		st := &fakeStore{sources: map[string]string{"a/wf@1": src("wf", "email_bounced"), "a/wf@2": src("wf", "not email_bounced")}}
		c, err := engine.NewCache(nil)
		require.NoError(t, err)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				wf, err := c.Workflow(ctx, st, "a", crm.FlowRevision{Flow: "wf", Revision: 1})
				require.NoError(t, err)
				require.Equal(t, "email_bounced", wf.Trigger.Source)
			})
		}
		wg.Wait()
		require.EqualValues(t, 1, st.reads.Load())
		wf2, err := c.Workflow(ctx, st, "a", crm.FlowRevision{Flow: "wf", Revision: 2})
		require.NoError(t, err)
		require.Equal(t, "not email_bounced", wf2.Trigger.Source)
		// Another tenant's workflow of the same name and revision is its own entry.
		_, err = c.Workflow(ctx, st, "b", crm.FlowRevision{Flow: "wf", Revision: 1})
		require.ErrorIs(t, err, crm.ErrNotFound)
		require.Equal(t, 2, c.Len(), "the read error is not kept")
	})

	t.Run("GivenSourceIsNotRead", func(t *testing.T) {
		t.Parallel()
		st := &fakeStore{}
		c, err := engine.NewCache(nil)
		require.NoError(t, err)
		wf, err := c.Workflow(ctx, st, "a", crm.FlowRevision{Flow: "wf", Revision: 3, Source: src("wf", "email_bounced")})
		require.NoError(t, err)
		require.Equal(t, "wf", wf.Name)
		require.Zero(t, st.reads.Load())
	})

	t.Run("BoundedLRU", func(t *testing.T) {
		t.Parallel()
		st := &fakeStore{sources: map[string]string{}}
		for i := 1; i <= 3; i++ {
			st.sources[fmt.Sprintf("a/wf@%d", i)] = src("wf", "email_bounced")
		}
		c, err := engine.NewCache(&engine.CacheConfig{Size: 2})
		require.NoError(t, err)
		get := func(rev int64) {
			_, err := c.Workflow(ctx, st, "a", crm.FlowRevision{Flow: "wf", Revision: rev})
			require.NoError(t, err)
		}
		get(1)
		get(2)
		get(1) // 1 is now the most recently used
		get(3) // evicts 2
		require.Equal(t, 2, c.Len())
		require.EqualValues(t, 3, st.reads.Load())
		get(1)
		require.EqualValues(t, 3, st.reads.Load(), "1 was kept")
		get(2)
		require.EqualValues(t, 4, st.reads.Load(), "2 was evicted")
	})

	t.Run("InvalidRevisionIsKept", func(t *testing.T) {
		t.Parallel()
		st := &fakeStore{sources: map[string]string{"a/wf@1": src("wf", `lifecyclestage > 3`)}}
		c, err := engine.NewCache(nil)
		require.NoError(t, err)
		for range 2 {
			_, err := c.Workflow(ctx, st, "a", crm.FlowRevision{Flow: "wf", Revision: 1})
			var ve *workflows.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Contains(t, err.Error(), "wf@1.yaml:3:")
		}
		require.EqualValues(t, 1, st.reads.Load())
	})

	t.Run("ReadErrorsAreRetried", func(t *testing.T) {
		t.Parallel()
		st := &fakeStore{sources: map[string]string{"a/wf@1": src("wf", "email_bounced")}}
		st.failReads.Store(1)
		c, err := engine.NewCache(nil)
		require.NoError(t, err)
		_, err = c.Workflow(ctx, st, "a", crm.FlowRevision{Flow: "wf", Revision: 1})
		require.ErrorContains(t, err, "connection refused")
		_, err = c.Workflow(ctx, st, "a", crm.FlowRevision{Flow: "wf", Revision: 1})
		require.NoError(t, err)
	})

	t.Run("NegativeSize", func(t *testing.T) {
		t.Parallel()
		_, err := engine.NewCache(&engine.CacheConfig{Size: -1})
		require.ErrorContains(t, err, "CacheConfig.Size")
	})
}
