package actions_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/redistest"
)

type testBundle struct {
	ctx    context.Context
	store  *redisstore.Store
	tenant crm.TenantID
	clock  *clock.Sim
	mailer *fakeMailer
	deps   actions.Deps
	reg    *actions.Registry
}

// setup gives a test a real store (redis-server) with a fresh tenant of its own.
func setup(t *testing.T) *testBundle {
	t.Helper()
	clk := clock.NewSim(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: clk})
	require.NoError(t, err)
	tn := crm.TenantID(redistest.Tenant(t))
	ctx := t.Context()
	_, err = st.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	m := &fakeMailer{}
	return &testBundle{ctx: ctx, store: st, tenant: tn, clock: clk, mailer: m,
		deps: actions.Deps{Clock: clk, Mailer: m, Store: st}, reg: actions.Default()}
}

func (b *testBundle) create(t *testing.T, o crm.ObjectType, props map[string]string) crm.Record {
	t.Helper()
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, o, []crm.RecordInput{{Properties: props}}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	return recs[0]
}

func (b *testBundle) fresh(t *testing.T, rec crm.Record) crm.Record {
	t.Helper()
	got, err := b.store.Record(b.ctx, b.tenant, rec.Type, rec.ID, nil)
	require.NoError(t, err)
	return got
}

// action configures an action for a workflow of object type o and binds it to the bundle's deps.
func (b *testBundle) action(t *testing.T, name string, params actions.Params, o crm.ObjectType, inv actions.Invocation) actions.Action {
	t.Helper()
	cfg, err := b.reg.Configure(name, params, schemaOf(t, o))
	require.NoError(t, err)
	return cfg.Bind(b.deps, inv)
}

type fakeMailer struct {
	mu   sync.Mutex
	sent []actions.Mail
	err  error
}

func (m *fakeMailer) SendMail(_ context.Context, _ crm.TenantID, mail actions.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.sent = append(m.sent, mail)
	return nil
}

func TestDeleteContactRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.create(t, crm.Contacts, map[string]string{"email": "gone@example.com", "email_bounced": "true"})
	keep := b.create(t, crm.Contacts, map[string]string{"email": "kept@example.com"})
	a := b.action(t, "delete_contact", nil, crm.Contacts, actions.Invocation{Workflow: "clean-bounced-contacts", Key: "k1"})

	res, err := a.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, actions.OutcomeDone, res.Outcome)
	require.Equal(t, "moved contact "+string(rec.ID)+" to the recycle bin", res.Detail)

	// The contact is in the bin (restorable), recorded as deleted by the workflow.
	_, err = b.store.Record(b.ctx, b.tenant, crm.Contacts, rec.ID, nil)
	require.ErrorIs(t, err, crm.ErrNotFound)
	binned, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, rec.ID, &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	require.True(t, binned.Archived)
	require.Equal(t, crm.ViaWorkflow, binned.Deletion.Via)
	require.Equal(t, "clean-bounced-contacts", binned.Deletion.Ref)
	require.Equal(t, b.clock.Now().UTC(), binned.Deletion.At.UTC())
	_, err = b.store.Record(b.ctx, b.tenant, crm.Contacts, keep.ID, nil)
	require.NoError(t, err, "only the enrolled contact is deleted")

	// Running the step again (a retried task) changes nothing.
	res, err = a.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, actions.OutcomeSkipped, res.Outcome)
	n, err := b.store.BinSize(b.ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	// It is restorable: restore works.
	rr, err := b.store.RestoreRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{rec.ID}, crm.Actor{User: "admin@example.com"})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{rec.ID}, rr.Restored)

	// A record of another type is never deleted by it.
	company := b.create(t, crm.Companies, map[string]string{"name": "Acme"})
	_, err = a.Run(b.ctx, b.tenant, company)
	require.ErrorIs(t, err, actions.ErrCannotRun)
	_, err = b.store.Record(b.ctx, b.tenant, crm.Companies, company.ID, nil)
	require.NoError(t, err)
}

// TestDeleteContactRunBatch runs delete_contact on many contacts at once, as a workflow:steps task
// does: the live ones go to the bin recorded as deleted by the workflow, in one audit entry; one
// already gone is skipped; running the batch again moves nothing more; a record of another type
// makes the whole batch fail without deleting anything.
func TestDeleteContactRunBatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg, err := b.reg.Configure("delete_contact", nil, schemaOf(t, crm.Contacts))
	require.NoError(t, err)
	recs := []crm.Record{
		b.create(t, crm.Contacts, map[string]string{"email": "a@example.com"}),
		b.create(t, crm.Contacts, map[string]string{"email": "b@example.com"}),
		b.create(t, crm.Contacts, map[string]string{"email": "c@example.com"}),
	}
	keep := b.create(t, crm.Contacts, map[string]string{"email": "kept@example.com"})
	_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{recs[1].ID}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	inv := actions.Invocation{Workflow: "clean-bounced-contacts"}

	res, ok, err := cfg.RunBatch(b.ctx, b.deps, inv, b.tenant, recs)
	require.True(t, ok, "delete_contact runs in batches")
	require.NoError(t, err)
	require.Equal(t, []actions.Outcome{actions.OutcomeDone, actions.OutcomeSkipped, actions.OutcomeDone},
		[]actions.Outcome{res[0].Outcome, res[1].Outcome, res[2].Outcome})
	require.Equal(t, "moved contact "+string(recs[2].ID)+" to the recycle bin", res[2].Detail)
	for _, r := range []crm.Record{recs[0], recs[2]} {
		binned, err := b.store.Record(b.ctx, b.tenant, crm.Contacts, r.ID, &crm.ReadOpts{Archived: true})
		require.NoError(t, err)
		require.Equal(t, crm.ViaWorkflow, binned.Deletion.Via)
		require.Equal(t, "clean-bounced-contacts", binned.Deletion.Ref)
	}
	_, err = b.store.Record(b.ctx, b.tenant, crm.Contacts, keep.ID, nil)
	require.NoError(t, err, "only the enrolled contacts are deleted")
	audit, _, err := b.store.Audit(b.ctx, b.tenant, nil)
	require.NoError(t, err)
	byWorkflow := 0
	for _, e := range audit {
		if e.Via == crm.ViaWorkflow {
			byWorkflow++
			require.ElementsMatch(t, []crm.RecordID{recs[0].ID, recs[2].ID}, e.RecordIDs)
		}
	}
	require.Equal(t, 1, byWorkflow, "one audit entry for the batch")

	res, _, err = cfg.RunBatch(b.ctx, b.deps, inv, b.tenant, recs)
	require.NoError(t, err)
	for _, r := range res {
		require.Equal(t, actions.OutcomeSkipped, r.Outcome)
	}
	n, err := b.store.BinSize(b.ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)

	company := b.create(t, crm.Companies, map[string]string{"name": "Acme"})
	_, _, err = cfg.RunBatch(b.ctx, b.deps, inv, b.tenant, []crm.Record{keep, company})
	require.ErrorIs(t, err, actions.ErrCannotRun)
	_, err = b.store.Record(b.ctx, b.tenant, crm.Contacts, keep.ID, nil)
	require.NoError(t, err)

	// Steps that do not run in batches say so, and run nothing.
	sp, err := b.reg.Configure("set_property", actions.Params{"property": "lifecyclestage", "value": "lead"}, schemaOf(t, crm.Contacts))
	require.NoError(t, err)
	_, ok, err = sp.RunBatch(b.ctx, b.deps, inv, b.tenant, []crm.Record{keep})
	require.False(t, ok)
	require.NoError(t, err)
	require.Empty(t, b.fresh(t, keep).Properties["lifecyclestage"])
}

func TestSetPropertyRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.create(t, crm.Contacts, map[string]string{"email": "lead@example.com", "lifecyclestage": "subscriber", "phone": "123"})
	inv := actions.Invocation{Workflow: "nurture", Key: "k"}
	a := b.action(t, "set_property", actions.Params{"property": "lifecyclestage", "value": "lead"}, crm.Contacts, inv)

	res, err := a.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, actions.Result{Outcome: actions.OutcomeDone, Detail: "set lifecyclestage"}, res)
	rec = b.fresh(t, rec)
	require.Equal(t, "lead", rec.Properties["lifecyclestage"])

	// Again, on the record as it now is: nothing to do.
	res, err = a.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, actions.OutcomeUnchanged, res.Outcome)

	// The value is normalized once, when the workflow is validated.
	date := b.action(t, "set_property", actions.Params{"property": "last_activity_date", "value": "2026-02-01"}, crm.Contacts, inv)
	_, err = date.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, "2026-02-01T00:00:00.000Z", b.fresh(t, rec).Properties["last_activity_date"])

	// "" clears a property.
	clear := b.action(t, "set_property", actions.Params{"property": "phone", "value": ""}, crm.Contacts, inv)
	res, err = clear.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, "cleared phone", res.Detail)
	require.NotContains(t, b.fresh(t, rec).Properties, "phone")

	// A record deleted meanwhile is skipped, not an error.
	_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{rec.ID}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	other := b.action(t, "set_property", actions.Params{"property": "city", "value": "Lyon"}, crm.Contacts, inv)
	res, err = other.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, actions.OutcomeSkipped, res.Outcome)

	// Companies too.
	co := b.create(t, crm.Companies, map[string]string{"name": "Acme", "numberofemployees": "5000"})
	sq := b.action(t, "set_property", actions.Params{"property": "lifecyclestage", "value": "salesqualifiedlead"}, crm.Companies, inv)
	_, err = sq.Run(b.ctx, b.tenant, co)
	require.NoError(t, err)
	require.Equal(t, "salesqualifiedlead", b.fresh(t, co).Properties["lifecyclestage"])
}

func TestListRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.create(t, crm.Contacts, map[string]string{"email": "member@example.com"})
	list, err := b.store.CreateList(b.ctx, b.tenant, "Nurtured", crm.Contacts)
	require.NoError(t, err)
	inv := actions.Invocation{Workflow: "nurture", Key: "k"}
	add := b.action(t, "add_to_list", actions.Params{"list": string(list.ID)}, crm.Contacts, inv)
	remove := b.action(t, "remove_from_list", actions.Params{"list": string(list.ID)}, crm.Contacts, inv)

	res, err := add.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, actions.OutcomeDone, res.Outcome)
	res, err = add.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, actions.OutcomeUnchanged, res.Outcome, "adding twice changes nothing")
	ids, _, err := b.store.ListMembers(b.ctx, b.tenant, list.ID, nil)
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{rec.ID}, ids)

	res, err = remove.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, actions.OutcomeDone, res.Outcome)
	res, err = remove.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, actions.OutcomeUnchanged, res.Outcome, "removing a non-member changes nothing")
	ids, _, err = b.store.ListMembers(b.ctx, b.tenant, list.ID, nil)
	require.NoError(t, err)
	require.Empty(t, ids)

	// A list of another object type, or one that does not exist, can never work.
	companies, err := b.store.CreateList(b.ctx, b.tenant, "Accounts", crm.Companies)
	require.NoError(t, err)
	wrong := b.action(t, "add_to_list", actions.Params{"list": string(companies.ID)}, crm.Contacts, inv)
	_, err = wrong.Run(b.ctx, b.tenant, rec)
	require.ErrorIs(t, err, actions.ErrCannotRun)
	require.ErrorContains(t, err, "holds companies, not contacts")
	missing := b.action(t, "remove_from_list", actions.Params{"list": "999"}, crm.Contacts, inv)
	_, err = missing.Run(b.ctx, b.tenant, rec)
	require.ErrorIs(t, err, actions.ErrCannotRun)

	// A deleted record is skipped.
	_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{rec.ID}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	res, err = add.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, actions.OutcomeSkipped, res.Outcome)
}

func TestNotifyUserRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.CreateUser(b.ctx, b.tenant, "sales-desk@example.com", crm.Permissions{crm.PermRead}, "test")
	require.NoError(t, err)
	rec := b.create(t, crm.Contacts, map[string]string{"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace"})
	params := actions.Params{"to": "Sales-Desk@example.com", "subject": "Call {{firstname}}\t{{ lastname }}", "body": "Contact {{id}}: {{firstname}} ({{company}})"}
	a := b.action(t, "notify_user", params, crm.Contacts, actions.Invocation{Workflow: "nurture", Key: "nurture:1:42:2"})

	res, err := a.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, actions.OutcomeDone, res.Outcome)
	require.NotContains(t, res.Detail, "sales-desk", "the history names no address")
	require.Len(t, b.mailer.sent, 1)
	m := b.mailer.sent[0]
	require.Equal(t, "sales-desk@example.com", m.To)
	// The email carries the templates and the record's reference, never its data: the worker
	// renders it at delivery.
	require.Equal(t, "Call {{firstname}}\t{{ lastname }}", m.Subject)
	require.Equal(t, "Contact {{id}}: {{firstname}} ({{company}})", m.Body)
	require.Equal(t, crm.MailRef{ObjectType: crm.Contacts, RecordID: rec.ID, Workflow: "nurture"}, m.Ref)
	subject, body := crm.RenderNotification(m.Subject, m.Body, m.Ref, rec)
	require.Equal(t, "Call Ada Lovelace", subject)
	require.Equal(t, "Contact "+string(rec.ID)+": Ada ()", body)
	require.Equal(t, actions.KindWorkflowNotification, m.Kind)

	// A retry of the same step hands over the same idempotency key; another step another key.
	_, err = a.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.Equal(t, m.IdempotencyKey, b.mailer.sent[1].IdempotencyKey)
	other := b.action(t, "notify_user", params, crm.Contacts, actions.Invocation{Workflow: "nurture", Key: "nurture:1:43:2"})
	_, err = other.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	require.NotEqual(t, m.IdempotencyKey, b.mailer.sent[2].IdempotencyKey)

	// A subject whose placeholders are all empty still says something (the mail path refuses an
	// empty subject).
	empty := b.action(t, "notify_user", actions.Params{"to": "sales-desk@example.com", "subject": "{{city}}", "body": "b"}, crm.Contacts, actions.Invocation{Workflow: "nurture", Key: "k2"})
	_, err = empty.Run(b.ctx, b.tenant, rec)
	require.NoError(t, err)
	subject, _ = crm.RenderNotification(b.mailer.sent[3].Subject, b.mailer.sent[3].Body, b.mailer.sent[3].Ref, rec)
	require.Equal(t, "Workflow nurture: contact "+string(rec.ID), subject)

	// A recipient who is not a user of the tenant can never be mailed.
	stranger := b.action(t, "notify_user", actions.Params{"to": "someone@elsewhere.example", "subject": "s", "body": "b"}, crm.Contacts, actions.Invocation{Workflow: "nurture", Key: "k"})
	_, err = stranger.Run(b.ctx, b.tenant, rec)
	require.ErrorIs(t, err, actions.ErrCannotRun)
	require.Len(t, b.mailer.sent, 4)

	// Nor is a disabled user: record data goes to no one who has lost access.
	_, err = b.store.SetUserDisabled(b.ctx, b.tenant, "sales-desk@example.com", true, "test")
	require.NoError(t, err)
	_, err = a.Run(b.ctx, b.tenant, rec)
	require.ErrorIs(t, err, actions.ErrCannotRun)
	require.ErrorContains(t, err, "disabled")
	require.Len(t, b.mailer.sent, 4)
	_, err = b.store.SetUserDisabled(b.ctx, b.tenant, "sales-desk@example.com", false, "test")
	require.NoError(t, err)

	// A mailer failure is returned for a retry.
	b.mailer.err = errors.New("queue down")
	_, err = a.Run(b.ctx, b.tenant, rec)
	require.ErrorContains(t, err, "queue down")
	require.False(t, errors.Is(err, actions.ErrCannotRun))

	// Programmer errors: no mailer, no key.
	cfg, err := b.reg.Configure("notify_user", params, schemaOf(t, crm.Contacts))
	require.NoError(t, err)
	_, err = cfg.Bind(actions.Deps{Store: b.store}, actions.Invocation{Key: "k"}).Run(b.ctx, b.tenant, rec)
	require.ErrorContains(t, err, "Deps.Mailer is nil")
	_, err = cfg.Bind(b.deps, actions.Invocation{}).Run(b.ctx, b.tenant, rec)
	require.ErrorContains(t, err, "Invocation.Key is empty")
}

func TestDelayRun(t *testing.T) {
	t.Parallel()
	clk := clock.NewSim(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	deps := actions.Deps{Clock: clk} // delay needs no store
	rec := crm.Record{ID: "5", Type: crm.Deals, Properties: map[string]string{"closedate": "2026-04-01T00:00:00.000Z"}}
	reg := actions.Default()

	cfg, err := reg.Configure("delay", actions.Params{"duration": "3d"}, schemaOf(t, crm.Deals))
	require.NoError(t, err)
	res, err := cfg.Bind(deps, actions.Invocation{}).Run(t.Context(), "acme", rec)
	require.NoError(t, err)
	require.Equal(t, actions.Result{Outcome: actions.OutcomeWait, Detail: "wait 3d", Until: clk.Now().Add(72 * time.Hour)}, res)

	cfg, err = reg.Configure("delay", actions.Params{"until": "closedate"}, schemaOf(t, crm.Deals))
	require.NoError(t, err)
	res, err = cfg.Bind(deps, actions.Invocation{}).Run(t.Context(), "acme", rec)
	require.NoError(t, err)
	require.Equal(t, actions.Result{Outcome: actions.OutcomeWait, Detail: "wait until closedate", Until: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}, res)

	clk.Set(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	res, err = cfg.Bind(deps, actions.Invocation{}).Run(t.Context(), "acme", rec)
	require.NoError(t, err)
	require.Equal(t, clk.Now(), res.Until)
	require.Equal(t, "closedate is unset or past: no wait", res.Detail)
}

// TestNoPermanentDelete checks that a workflow action cannot delete permanently, even one that
// tries: the store it is bound to refuses.
func TestNoPermanentDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.create(t, crm.Contacts, map[string]string{"email": "keep@example.com"})
	b.reg.Register(actions.Definition{
		Name: "rogue_erase",
		Configure: func(actions.Params, crm.Schema) (actions.Step, error) {
			return rogueStep{}, nil
		},
	})
	a := b.action(t, "rogue_erase", nil, crm.Contacts, actions.Invocation{Workflow: "rogue", Key: "k"})
	_, err := a.Run(b.ctx, b.tenant, rec)
	require.ErrorIs(t, err, actions.ErrPermanentDelete)
	require.ErrorIs(t, err, actions.ErrCannotRun)
	_, err = b.store.Record(b.ctx, b.tenant, crm.Contacts, rec.ID, nil)
	require.NoError(t, err, "the contact is still there")
	blocked, err := b.store.IsBlocklisted(b.ctx, b.tenant, "keep@example.com")
	require.NoError(t, err)
	require.False(t, blocked)
}

type rogueStep struct{}

func (rogueStep) Bind(deps actions.Deps, _ actions.Invocation) actions.Action {
	return actions.Func(func(ctx context.Context, tenant crm.TenantID, rec crm.Record) (actions.Result, error) {
		_, err := deps.Store.PermanentDeleteContact(ctx, tenant, crm.PermanentDeleteParams{ID: rec.ID, By: "rogue@example.com"})
		return actions.Result{}, err
	})
}

func TestMissingStore(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		params actions.Params
	}{
		{"delete_contact", nil},
		{"set_property", actions.Params{"property": "city", "value": "Lyon"}},
		{"add_to_list", actions.Params{"list": "1"}},
		{"notify_user", actions.Params{"to": "a@example.com", "subject": "s", "body": "b"}},
	} {
		cfg, err := actions.Default().Configure(tt.name, tt.params, schemaOf(t, crm.Contacts))
		require.NoError(t, err)
		_, err = cfg.Bind(actions.Deps{}, actions.Invocation{Key: "k"}).Run(t.Context(), "acme", crm.Record{ID: "1", Type: crm.Contacts})
		require.ErrorContains(t, err, "Deps.Store is nil", tt.name)
	}
}
