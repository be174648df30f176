package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

func (b *testBundle) call(t *testing.T, body string) crm.RecordID {
	t.Helper()
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Calls, []crm.RecordInput{{Properties: map[string]string{"hs_call_body": body}}}, crm.Actor{})
	require.NoError(t, err)
	return recs[0].ID
}

func (b *testBundle) link(t *testing.T, a, c crm.AssociationRef) {
	t.Helper()
	require.NoError(t, b.store.Associate(b.ctx, b.tenant, a, c))
}

func (b *testBundle) callRecord(t *testing.T, id crm.RecordID) (crm.Record, error) {
	t.Helper()
	r, err := b.store.Record(b.ctx, b.tenant, crm.Calls, id, nil)
	if errors.Is(err, crm.ErrNotFound) {
		r, err = b.store.Record(b.ctx, b.tenant, crm.Calls, id, &crm.ReadOpts{Archived: true})
	}
	return r, err
}

// A permanent delete erases the calls associated with the contact alone, and keeps those
// associated with another record too (a live contact, a contact in the bin, a company), live or
// in the bin: dissociated from it, with its values replaced in their text (SPEC S3, S9).
func TestPermanentDeleteKeepsCallsOfOthers(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		ann := b.contact(t, map[string]string{"email": "ann.erased@example.com", "additional_emails": "annie@home.example",
			"firstname": "Annabeth", "lastname": "Quillfeather", "phone": "+46-70-555-0101"})
		bob := b.contact(t, map[string]string{"email": "bob@example.com", "firstname": "Bob"})
		cid := b.contact(t, map[string]string{"email": "cid@example.com", "firstname": "Cid"})
		co, err := b.store.CreateRecords(ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
		require.NoError(t, err)
		annRef := crm.AssociationRef{Type: crm.Contacts, ID: ann.ID}
		bobRef := crm.AssociationRef{Type: crm.Contacts, ID: bob.ID}
		cidRef := crm.AssociationRef{Type: crm.Contacts, ID: cid.ID}
		coRef := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
		ref := func(id crm.RecordID) crm.AssociationRef { return crm.AssociationRef{Type: crm.Calls, ID: id} }

		own := b.call(t, "Annabeth asked about her invoice")
		withBob := b.call(t, "Bob and ANNABETH Quillfeather (ann.erased@example.com, annie@home.example) planned the launch; Annabethany stays")
		withCid := b.call(t, "Cid's renewal, Annabeth listening")
		binned := b.call(t, "Acme's quarterly review with Annabeth")
		b.link(t, annRef, ref(own))
		b.link(t, annRef, ref(withBob))
		b.link(t, bobRef, ref(withBob))
		b.link(t, annRef, ref(withCid))
		b.link(t, cidRef, ref(withCid))
		b.link(t, annRef, ref(binned))
		b.link(t, coRef, ref(binned))
		// Cid goes to the bin: the call no longer names him, only his side in the bin does.
		_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{cid.ID}, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
		// A call in the bin names its associations on its side only.
		_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Calls, []crm.RecordID{binned}, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)

		res, err := b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: ann.ID, By: "dpo@x.example"})
		require.NoError(t, err)
		require.Equal(t, 1, res.CallsErased)
		require.Equal(t, 3, res.CallsKept)
		audit, _, err := b.store.Audit(ctx, b.tenant, &crm.AuditOpts{Newest: true, Limit: 3})
		require.NoError(t, err)
		require.Equal(t, crm.AuditPermanentDelete, audit[0].Action)
		require.Equal(t, 1, audit[0].CallsErased)
		require.Equal(t, 3, audit[0].CallsKept)
		byAction := map[string][]crm.RecordID{}
		for _, e := range audit[1:] {
			byAction[e.Action] = e.RecordIDs
		}
		require.Equal(t, []crm.RecordID{own}, byAction["permanent_delete_cascade"])
		require.ElementsMatch(t, []crm.RecordID{withBob, withCid, binned}, byAction["permanent_delete_kept"])

		_, err = b.callRecord(t, own)
		require.ErrorIs(t, err, crm.ErrNotFound, "the call of the erased contact alone goes with it")
		r, err := b.store.Record(ctx, b.tenant, crm.Calls, withBob, nil)
		require.NoError(t, err, "the call Bob shares is kept")
		require.Equal(t, "Bob and [erased] [erased] ([erased], [erased]) planned the launch; Annabethany stays", r.Properties["hs_call_body"])
		assoc, err := b.store.Associations(ctx, b.tenant, ref(withBob), crm.Contacts)
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{bob.ID}, assoc)
		r, err = b.store.Record(ctx, b.tenant, crm.Calls, withCid, nil)
		require.NoError(t, err, "the call of a contact in the bin is kept")
		require.Equal(t, "Cid's renewal, [erased] listening", r.Properties["hs_call_body"])
		r, err = b.store.Record(ctx, b.tenant, crm.Calls, binned, &crm.ReadOpts{Archived: true})
		require.NoError(t, err, "the call in the bin that a company shares is kept there")
		require.Equal(t, "Acme's quarterly review with [erased]", r.Properties["hs_call_body"])
		// Restoring Cid brings back his call; restoring the call brings back its company, not Ann.
		_, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{cid.ID}, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
		assoc, err = b.store.Associations(ctx, b.tenant, cidRef, crm.Calls)
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{withCid}, assoc)
		_, err = b.store.RestoreRecords(ctx, b.tenant, crm.Calls, []crm.RecordID{binned}, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
		assoc, err = b.store.Associations(ctx, b.tenant, ref(binned), crm.Companies)
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{co[0].ID}, assoc)
		assoc, err = b.store.Associations(ctx, b.tenant, ref(binned), crm.Contacts)
		require.NoError(t, err)
		require.Empty(t, assoc)

		// No trace of Ann anywhere, not in a search index either.
		for k, v := range b.tenantDump(t) {
			for _, val := range []string{"ann.erased", "annie@home", "quillfeather", "555-0101"} {
				require.NotContains(t, strings.ToLower(k), val, "key %s", k)
				require.NotContains(t, strings.ToLower(v), val, "value of %s", k)
			}
		}

	})
}

// A contact with 1,000 calls is erased in steps of Config.ErasureBatch calls, one script each; a
// crash between two steps loses nothing, and the retry erases what is left and reports every
// call; a second erasure by email finds nothing more to do.
func TestPermanentDeleteSettlesManyCallsInSteps(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	var steps, failAt int
	rdb.AddHook(stepHook{onStep: func() error {
		steps++
		if steps == failAt {
			return errors.New("the process died here")
		}
		return nil
	}})
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, ErasureBatch: 150})
	require.NoError(t, err)
	tn := crm.TenantID(redistest.Tenant(t))
	ctx := context.Background()
	_, err = st.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	b := &testBundle{store: st, rdb: rdb, tenant: tn, ctx: ctx}

	ann := b.contact(t, map[string]string{"email": "many@example.com", "firstname": "Manyfold"})
	bob := b.contact(t, map[string]string{"email": "bob@example.com"})
	annRef := crm.AssociationRef{Type: crm.Contacts, ID: ann.ID}
	bobRef := crm.AssociationRef{Type: crm.Contacts, ID: bob.ID}
	inputs := make([]crm.RecordInput, 1000)
	for i := range inputs {
		inputs[i] = crm.RecordInput{Properties: map[string]string{"hs_call_title": fmt.Sprintf("Call %d with Manyfold", i)}}
	}
	var calls []crm.RecordID
	for i := 0; i < len(inputs); i += 100 {
		recs, err := st.CreateRecords(ctx, tn, crm.Calls, inputs[i:i+100], crm.Actor{})
		require.NoError(t, err)
		for _, r := range recs {
			calls = append(calls, r.ID)
		}
	}
	shared := map[crm.RecordID]bool{}
	for i, id := range calls {
		b.link(t, annRef, crm.AssociationRef{Type: crm.Calls, ID: id})
		if i%4 == 0 {
			b.link(t, bobRef, crm.AssociationRef{Type: crm.Calls, ID: id})
			shared[id] = true
		}
	}

	failAt = 3 // two steps settle 300 calls, then the process dies
	_, err = st.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{ID: ann.ID, By: "dpo@x.example"})
	require.Error(t, err)
	_, err = st.Record(ctx, tn, crm.Contacts, ann.ID, nil)
	require.NoError(t, err, "not erased yet: the retry finishes it")
	left, err := st.Associations(ctx, tn, annRef, crm.Calls)
	require.NoError(t, err)
	require.Len(t, left, 700)

	failAt = 0
	res, err := st.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{ID: ann.ID, By: "dpo@x.example"})
	require.NoError(t, err)
	require.Equal(t, 750, res.CallsErased, "the steps before the crash count too")
	require.Equal(t, 250, res.CallsKept)
	for _, id := range calls {
		r, err := st.Record(ctx, tn, crm.Calls, id, nil)
		if shared[id] {
			require.NoError(t, err)
			require.NotContains(t, r.Properties["hs_call_title"], "Manyfold")
		} else {
			require.ErrorIs(t, err, crm.ErrNotFound)
		}
	}
	assoc, err := st.Associations(ctx, tn, bobRef, crm.Calls)
	require.NoError(t, err)
	require.Len(t, assoc, 250)
	for k, v := range b.tenantDump(t) {
		require.NotContains(t, strings.ToLower(k), "manyfold", "key %s", k)
		require.NotContains(t, strings.ToLower(v), "manyfold", "value of %s", k)
	}

	// Again: by id there is no contact; by email it only blocklists again.
	_, err = st.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{ID: ann.ID, By: "dpo@x.example"})
	require.ErrorIs(t, err, crm.ErrNotFound)
	res, err = st.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{Email: "many@example.com", By: "dpo@x.example"})
	require.NoError(t, err)
	require.Zero(t, res.CallsErased+res.CallsKept)
	assoc, err = st.Associations(ctx, tn, bobRef, crm.Calls)
	require.NoError(t, err)
	require.Len(t, assoc, 250)
}

// stepHook calls onStep before each step of a permanent delete (the script whose arguments hold
// redisstore.ErasedValue), and fails the step, unsent, with its error.
type stepHook struct{ onStep func() error }

func (stepHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h stepHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := strings.ToLower(cmd.Name()); n == "evalsha" || n == "eval" {
			for _, a := range cmd.Args() {
				if a == redisstore.ErasedValue {
					if err := h.onStep(); err != nil {
						cmd.SetErr(err)
						return err
					}
				}
			}
		}
		return next(ctx, cmd)
	}
}

func (stepHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
