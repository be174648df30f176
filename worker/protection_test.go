package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/worker"
)

// deleteWhenBounced, as clean-bounced, deletes a contact once its email bounces.
const deleteWhenBounced = `name: clean-bounced
object_type: contacts
trigger: email_bounced
actions:
  - type: delete_contact
`

// protectContacts writes the tenant's contact protection rule name, which protects the contacts
// that when matches.
func (b *testBundle) protectContacts(t *testing.T, name, when string) {
	t.Helper()
	_, _, err := b.store.PutProtectionRule(b.ctx, b.tenant, crm.ProtectionRule{Name: name, ObjectType: crm.Contacts, When: when},
		"ops@example.com")
	require.NoError(t, err)
}

// addContacts creates a contact of each input, 500 a call, and returns their ids in order.
func (b *testBundle) addContacts(t *testing.T, in []crm.RecordInput) []crm.RecordID {
	t.Helper()
	var ids []crm.RecordID
	for start := 0; start < len(in); start += 500 {
		recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, in[start:min(start+500, len(in))], crm.Actor{User: "ops@example.com"})
		require.NoError(t, err)
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// stages returns n contact inputs with a lifecyclestage each: customer for every i with
// i%every == 0, lead for the others; all leads for an every of 0.
func stages(n, every int) []crm.RecordInput {
	in := make([]crm.RecordInput, n)
	for i := range in {
		stage := "lead"
		if every > 0 && i%every == 0 {
			stage = "customer"
		}
		in[i] = crm.RecordInput{Properties: map[string]string{"lifecyclestage": stage}}
	}
	return in
}

// deleteJobOf creates a bulk delete job of the contacts ids, by a user who may run it, confirmed
// for all of them.
func (b *testBundle) deleteJobOf(t *testing.T, ids []crm.RecordID) crm.Job {
	t.Helper()
	jobCreator(t, b.store, b.tenant, "ops@example.com")
	job, err := b.store.CreateDeleteJob(b.ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids,
		ConfirmCount: int64(len(ids)), By: "ops@example.com", Selection: fmt.Sprintf("%d ids", len(ids))})
	require.NoError(t, err)
	return job
}

// bounce marks the contacts' emails bounced a minute on, and runs the drain that follows.
func (b *flowBundle) bounce(t *testing.T, ids ...crm.RecordID) {
	t.Helper()
	b.clock.Advance(time.Minute)
	for _, id := range ids {
		b.update(t, id, map[string]string{"email_bounced": "true"})
	}
	b.drain(t)
}

// requireDeleteSkipped checks that contact id is live, and that the delete_contact step of its
// run of flow was skipped with a detail that holds detail; it returns the run's history.
func (b *flowBundle) requireDeleteSkipped(t *testing.T, flow string, id crm.RecordID, detail string) []crm.HistoryEntry {
	t.Helper()
	require.False(t, b.live(t, id).Archived)
	h := b.history(t, flow, id)
	require.Equal(t, "delete_contact", h[1].Action)
	require.Equal(t, "skipped", h[1].Outcome)
	require.Contains(t, h[1].Detail, detail)
	return h
}

// racingFlows is setupFlows with a worker on a racingStore, whose write the test sets.
func racingFlows(t *testing.T) (*flowBundle, *racingStore) {
	t.Helper()
	b := setupFlows(t, 50)
	racer := &racingStore{Store: b.store}
	w, err := worker.New(racer, b.queue, b.config())
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	b.w = w
	return b, racer
}

// A workflow's delete_contact skips a contact a protection rule protects: its history names the
// rule, the enrollment completes, and the contact stays live; the others are deleted.
func TestWorkflowSkipsProtectedContact(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 50)
	vip := b.contact(t, map[string]string{"firstname": "Vip", "lifecyclestage": "evangelist"})
	plain := b.contact(t, map[string]string{"firstname": "Plain", "lifecyclestage": "lead"})
	b.drain(t)
	b.protectContacts(t, "evangelists", `lifecyclestage == "evangelist"`)
	f := b.activate(t, "clean-bounced", deleteWhenBounced)
	b.bounce(t, vip, plain)

	h := b.requireDeleteSkipped(t, f.Name, vip, `protected by rule "evangelists"`)
	require.Equal(t, []string{"enrolled", "action", "completed"}, kinds(h))
	require.Equal(t, crm.Completed, b.enrollment(t, f.Name, vip).State)

	_, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, plain, nil)
	require.ErrorIs(t, err, crm.ErrNotFound, "the unprotected contact is deleted")
	h = b.history(t, f.Name, plain)
	require.Equal(t, "done", h[1].Outcome)
}

// A bulk job over customers and leads, where a rule protects the customers: confirming every match
// is refused (naming the protected count by rule), confirming the leads deletes only them, and the
// job shows what it skipped. The selection reads in steps, and a step run again (a crash between
// the count and the stage) counts its protected records once.
func TestBulkJobSkipsProtectedRecords(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addContacts(t, stages(1200, 3)) // over two selection steps of worker.SelectBatchSize
	b.protectContacts(t, "customers", `lifecyclestage == "customer"`)
	filter := `lifecyclestage in ["customer", "lead"]`

	jobCreator(t, b.store, b.tenant, "ops@example.com")
	refused, err := b.store.CreateDeleteJob(b.ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, Filter: filter,
		ConfirmCount: 1200, By: "ops@example.com", Selection: "records matching a filter"})
	require.NoError(t, err)
	refused = b.runJob(t, b.store, refused.ID)
	require.Equal(t, crm.JobRefused, refused.State)
	require.Equal(t, crm.RefusedCountMismatch, refused.Refusal.Code)
	require.Contains(t, refused.Refusal.Message, "800 match now, not counting 400 (customers: 400) protected records")
	require.Equal(t, crm.ProtectedCounts{"customers": 400}, refused.Protected)

	jobCreator(t, b.store, b.tenant, "ops@example.com")
	job, err := b.store.CreateDeleteJob(b.ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, Filter: filter,
		ConfirmCount: 800, By: "ops@example.com", Selection: "records matching a filter"})
	require.NoError(t, err)
	// A first step's counts recorded twice (a run that crashed before staging) count once.
	require.NoError(t, b.store.AddJobProtected(b.ctx, b.tenant, job.ID, "", crm.ProtectedCounts{"customers": 167}))
	job = b.runJob(t, b.store, job.ID)
	require.Equal(t, crm.JobDone, job.State)
	require.EqualValues(t, 800, job.Done)
	require.EqualValues(t, 800, job.Matched)
	require.Equal(t, crm.ProtectedCounts{"customers": 400}, job.Protected)
	require.EqualValues(t, 400, b.liveCount(t, b.tenant, crm.Contacts), "the customers are all live")
}

// A rule written after a job's selection still protects: the records of each batch are checked as
// their batch comes, and the protected ones are skipped and counted by rule.
func TestBulkJobChecksRulesWrittenAfterItsSelection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.deleteJobOf(t, b.addContacts(t, stages(700, 7)))
	require.Equal(t, crm.JobPending, job.State)
	b.protectContacts(t, "customers", `lifecyclestage == "customer"`)
	job = b.runJob(t, b.store, job.ID)
	require.Equal(t, crm.JobDone, job.State)
	require.EqualValues(t, 600, job.Done)
	require.EqualValues(t, 100, job.Skipped)
	require.Equal(t, crm.ProtectedCounts{"customers": 100}, job.Protected)
	require.EqualValues(t, 100, b.liveCount(t, b.tenant, crm.Contacts))
}

// racingStore writes a record between a delete's protection check and its move: before the first
// checked move (of a job's batch, or of a workflow's delete_contact), it runs write once.
type racingStore struct {
	*redisstore.Store
	once  sync.Once
	write func()
}

func (s *racingStore) RunCheckedDeleteJobBatch(ctx context.Context, t crm.TenantID, id string, limit int, checked []crm.Record, rules int64) (crm.Job, error) {
	s.once.Do(s.write)
	return s.Store.RunCheckedDeleteJobBatch(ctx, t, id, limit, checked, rules)
}

func (s *racingStore) ArchiveChecked(ctx context.Context, t crm.TenantID, o crm.ObjectType, recs []crm.Record, by crm.Actor, opts crm.CheckedArchive) (crm.ArchiveResult, error) {
	s.once.Do(s.write)
	return s.Store.ArchiveChecked(ctx, t, o, recs, by, opts)
}

// A lead made a customer after its batch was checked against the rule over customers, and before
// the batch moves: it is not moved, and the next batch, checking it again, skips it as protected.
func TestBulkJobNeverMovesARecordProtectedAfterItsCheck(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.addContacts(t, stages(10, 0))
	b.protectContacts(t, "customers", `lifecyclestage == "customer"`)
	job := b.deleteJobOf(t, ids)
	racer := &racingStore{Store: b.store, write: func() {
		_, err := b.store.UpdateRecords(b.ctx, b.tenant, crm.Contacts,
			[]crm.RecordUpdate{{ID: ids[4], Properties: map[string]string{"lifecyclestage": "customer"}}}, crm.Actor{User: "sales@example.com"})
		require.NoError(t, err)
	}}
	job = b.runJob(t, racer, job.ID)
	require.Equal(t, crm.JobDone, job.State)
	require.EqualValues(t, 9, job.Done)
	require.Equal(t, crm.ProtectedCounts{"customers": 1}, job.Protected)
	r, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, ids[4], nil)
	require.NoError(t, err, "the customer is live")
	require.Equal(t, "customer", r.Properties["lifecyclestage"])
}

// The same race on a workflow's delete_contact: the contact made a customer after the step's check
// is not deleted, and its history says it is protected.
func TestWorkflowNeverDeletesAContactProtectedAfterItsCheck(t *testing.T) {
	t.Parallel()
	b, racer := racingFlows(t)
	id := b.contact(t, map[string]string{"firstname": "Soon", "lifecyclestage": "lead"})
	b.drain(t)
	b.protectContacts(t, "customers", `lifecyclestage == "customer"`)
	f := b.activate(t, "clean-bounced", deleteWhenBounced)
	racer.write = func() { b.update(t, id, map[string]string{"lifecyclestage": "customer"}) }
	b.bounce(t, id)

	b.requireDeleteSkipped(t, f.Name, id, `protected by rule "customers"`)
}

// runJob runs bulk delete job id of the bundle's tenant through a worker on store, and returns the
// job as it then is.
func (b *testBundle) runJob(t *testing.T, store crm.Store, id string) crm.Job {
	t.Helper()
	w, err := worker.New(store, b.queue, b.config())
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	require.NoError(t, w.ProcessTask(b.ctx, worker.NewBulkDeleteTask(b.tenant, id, "1")))
	job, err := b.store.Job(b.ctx, b.tenant, id)
	require.NoError(t, err)
	return job
}

// ruleAfterFirstBatchStore writes a protection rule once the first batch of a job moved.
type ruleAfterFirstBatchStore struct {
	*redisstore.Store
	once  sync.Once
	write func()
}

func (s *ruleAfterFirstBatchStore) RunCheckedDeleteJobBatch(ctx context.Context, t crm.TenantID, id string, limit int, checked []crm.Record, rules int64) (crm.Job, error) {
	j, err := s.Store.RunCheckedDeleteJobBatch(ctx, t, id, limit, checked, rules)
	if err == nil {
		s.once.Do(s.write)
	}
	return j, err
}

// A rule written while a job runs, between two of its batches, protects the records of the
// batches after it, although the run began with no rule at all.
func TestBulkJobChecksRulesWrittenWhileItRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.deleteJobOf(t, b.addContacts(t, stages(2*worker.BulkDeleteBatchSize, 5)))
	racer := &ruleAfterFirstBatchStore{Store: b.store, write: func() {
		b.protectContacts(t, "customers", `lifecyclestage == "customer"`)
	}}
	job = b.runJob(t, racer, job.ID)
	require.Equal(t, crm.JobDone, job.State)
	// The first batch went before the rule: its 100 customers with it. The second batch's 100 stay.
	require.EqualValues(t, 900, job.Done)
	require.Equal(t, crm.ProtectedCounts{"customers": 100}, job.Protected)
	require.EqualValues(t, 100, b.liveCount(t, b.tenant, crm.Contacts), "the customers of the second batch are live")
}

// A rule written after a job's batch was checked against the rules, and before the batch moves,
// protects its records all the same: the batch moves nothing, and the next one checks them
// against the rule.
func TestBulkJobNeverMovesARecordProtectedByARuleWrittenAfterItsCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		first bool // the tenant's first rule: the batch was not checked against any
	}{{name: "AnotherRule"}, {name: "FirstRule", first: true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			in := stages(10, 0)
			in[4].Properties["lifecyclestage"] = "customer"
			ids := b.addContacts(t, in)
			if !tc.first {
				b.protectContacts(t, "vips", `firstname == "Vip"`)
			}
			job := b.deleteJobOf(t, ids)
			racer := &racingStore{Store: b.store, write: func() {
				b.protectContacts(t, "customers", `lifecyclestage == "customer"`)
			}}
			job = b.runJob(t, racer, job.ID)
			require.Equal(t, crm.JobDone, job.State)
			require.EqualValues(t, 9, job.Done)
			require.Equal(t, crm.ProtectedCounts{"customers": 1}, job.Protected)
			_, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, ids[4], nil)
			require.NoError(t, err, "the customer is live")
		})
	}
}

// The same race on a workflow's delete_contact: a rule written between the step's check and the
// move protects the contact, and its history says so.
func TestWorkflowNeverDeletesAContactProtectedByARuleWrittenAfterItsCheck(t *testing.T) {
	t.Parallel()
	b, racer := racingFlows(t)
	id := b.contact(t, map[string]string{"firstname": "Soon", "lifecyclestage": "customer"})
	b.drain(t)
	f := b.activate(t, "clean-bounced", deleteWhenBounced)
	racer.write = func() { b.protectContacts(t, "customers", `lifecyclestage == "customer"`) }
	b.bounce(t, id)

	b.requireDeleteSkipped(t, f.Name, id, `protected by rule "customers"`)
}

// A rule that fails at run time on some records (here: an index past the end of a split, on the
// contacts without an email) protects them, fails closed, and says so: the job counts them by the
// rule, and the worker warns and counts them in crmflow_protection_rule_failures_total, so that
// someone fixes the rule rather than take those records for ones the rule matches.
func TestBulkJobCountsRecordsItsRuleFailsOn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var in []crm.RecordInput
	for i := range 6 {
		props := map[string]string{"firstname": fmt.Sprint(i), "lifecyclestage": "lead"}
		switch i % 3 {
		case 0:
			props["email"] = fmt.Sprintf("c%d@vip.example", i)
		case 1:
			props["email"] = fmt.Sprintf("c%d@plain.example", i)
		}
		in = append(in, crm.RecordInput{Properties: props})
	}
	_, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, in, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	b.protectContacts(t, "vip-domain", `split(email, "@")[1] == "vip.example"`)

	jobCreator(t, b.store, b.tenant, "ops@example.com")
	job, err := b.store.CreateDeleteJob(b.ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, Filter: `lifecyclestage == "lead"`,
		ConfirmCount: 2, By: "ops@example.com", Selection: "records matching a filter"})
	require.NoError(t, err)
	job = b.runJob(t, b.store, job.ID)
	require.Equal(t, crm.JobDone, job.State)
	require.EqualValues(t, 2, job.Done, "only the contacts at plain.example")
	require.Equal(t, crm.ProtectedCounts{"vip-domain": 4}, job.Protected)
	require.EqualValues(t, 4, b.liveCount(t, b.tenant, crm.Contacts), "the vip contacts and those the rule fails on are live")
	require.Equal(t, 2.0, metricValue(t, b.reg, "crmflow_protection_rule_failures_total", "contacts"))
	require.Contains(t, b.logs.String(), "protection rules cannot be evaluated on some records")
	require.Contains(t, b.logs.String(), `vip-domain: 2`)
	require.NotContains(t, b.logs.String(), "plain.example", "no record data in the logs")
}

// A workflow's delete_contact skips a contact its rule fails on, and its history says the rule
// cannot be evaluated on it, not that the rule matches it.
func TestWorkflowSkipsContactItsRuleFailsOn(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 50)
	noMail := b.contact(t, map[string]string{"firstname": "NoMail", "lifecyclestage": "lead"})
	b.drain(t)
	b.protectContacts(t, "vip-domain", `split(email, "@")[1] == "vip.example"`)
	f := b.activate(t, "clean-bounced", deleteWhenBounced)
	b.bounce(t, noMail)

	h := b.requireDeleteSkipped(t, f.Name, noMail, `protected by rule "vip-domain", which cannot be evaluated on it`)
	require.Equal(t, []string{"enrolled", "action", "completed"}, kinds(h))
}
