package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// A permanent delete erases every call associated with the contact, whether or not other records
// (a live contact, a company, live or in the bin) are associated with it too, and those records
// lose their association with it (SPEC S9). It reads only the contact's association sets, its bin
// links and the calls' own (SPEC S27): a call moved to the bin while the contact was live, which
// the contact's side no longer names, is found by the contact's bin links and erased too.
func TestPermanentDeleteErasesSharedCalls(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		ann := b.contact(t, map[string]string{"email": "ann.erased@example.com", "additional_emails": "annie@home.example",
			"firstname": "Annabeth", "lastname": "Quillfeather", "phone": "+46-70-555-0101"})
		bob := b.contact(t, map[string]string{"email": "bob@example.com", "firstname": "Bob"})
		cid := b.contact(t, map[string]string{"email": "cid@example.com", "firstname": "Cid"})
		dee := b.contact(t, map[string]string{"email": "dee@example.com", "firstname": "Deidre"})
		co, err := b.store.CreateRecords(ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
		require.NoError(t, err)
		annRef := crm.AssociationRef{Type: crm.Contacts, ID: ann.ID}
		bobRef := crm.AssociationRef{Type: crm.Contacts, ID: bob.ID}
		cidRef := crm.AssociationRef{Type: crm.Contacts, ID: cid.ID}
		deeRef := crm.AssociationRef{Type: crm.Contacts, ID: dee.ID}
		coRef := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
		ref := func(id crm.RecordID) crm.AssociationRef { return crm.AssociationRef{Type: crm.Calls, ID: id} }
		archive := func(o crm.ObjectType, id crm.RecordID) {
			_, err := b.store.ArchiveRecords(ctx, b.tenant, o, []crm.RecordID{id}, crm.Actor{User: "ops@x.example"})
			require.NoError(t, err)
		}

		own := b.call(t, "Annabeth asked about her invoice")
		withBob := b.call(t, "Bob and Annabeth Quillfeather (ann.erased@example.com) planned the launch")
		withCo := b.call(t, "Acme's renewal: Annabeth on +46-70-555-0101")
		withCid := b.call(t, "Cid's renewal, annie@home.example listening")
		binned := b.call(t, "Acme's quarterly review with Annabeth")
		deeBinned := b.call(t, "Acme's audit with Deidre")
		b.link(t, annRef, ref(own))
		b.link(t, annRef, ref(withBob))
		b.link(t, bobRef, ref(withBob))
		b.link(t, annRef, ref(withCo))
		b.link(t, coRef, ref(withCo))
		b.link(t, annRef, ref(withCid))
		b.link(t, cidRef, ref(withCid))
		b.link(t, annRef, ref(binned))
		b.link(t, coRef, ref(binned))
		b.link(t, deeRef, ref(deeBinned))
		b.link(t, coRef, ref(deeBinned))
		// Cid goes to the bin: his side in the bin still names the call.
		archive(crm.Contacts, cid.ID)
		// A call in the bin names its associations on its side only: Ann's side no longer names it, her bin links do.
		archive(crm.Calls, binned)
		// Dee goes to the bin before her call: her side in the bin still names it.
		archive(crm.Contacts, dee.ID)
		archive(crm.Calls, deeBinned)

		res, err := b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: ann.ID, By: "dpo@x.example"})
		require.NoError(t, err)
		require.Equal(t, 5, res.CallsErased)
		require.Contains(t, res.Mail.Body, "Calls associated with it and erased with it, including calls also associated with other records: 5.\n")
		audit, _, err := b.store.Audit(ctx, b.tenant, &crm.AuditOpts{Newest: true, Limit: 2})
		require.NoError(t, err)
		require.Equal(t, crm.AuditPermanentDelete, audit[0].Action)
		require.Equal(t, 5, audit[0].CallsErased)
		require.Equal(t, "permanent_delete_cascade", audit[1].Action)
		require.ElementsMatch(t, []crm.RecordID{own, withBob, withCo, withCid, binned}, audit[1].RecordIDs)

		for _, id := range []crm.RecordID{own, withBob, withCo, withCid, binned} {
			_, err = b.callRecord(t, id)
			require.ErrorIs(t, err, crm.ErrNotFound, "call %s is erased with Ann, shared or not", id)
		}
		// Bob and the company no longer name the calls erased.
		assoc, err := b.store.Associations(ctx, b.tenant, bobRef, crm.Calls)
		require.NoError(t, err)
		require.Empty(t, assoc)
		assoc, err = b.store.Associations(ctx, b.tenant, coRef, crm.Calls)
		require.NoError(t, err)
		require.Empty(t, assoc)
		// Cid, in the bin, loses the call from his side in the bin too, and his restore brings back no call.
		for _, k := range []string{redisstore.AssocKey(b.tenant, crm.Contacts, bob.ID), redisstore.AssocKey(b.tenant, crm.Companies, co[0].ID),
			redisstore.BinAssocKey(b.tenant, crm.Contacts, cid.ID)} {
			members, err := b.rdb.SMembers(ctx, k).Result()
			require.NoError(t, err)
			for _, id := range []crm.RecordID{own, withBob, withCo, withCid, binned} {
				require.NotContains(t, members, "calls:"+string(id), "key %s", k)
			}
		}
		_, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{cid.ID}, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
		assoc, err = b.store.Associations(ctx, b.tenant, cidRef, crm.Calls)
		require.NoError(t, err)
		require.Empty(t, assoc)
		// No association names Ann, not one of a record in the bin either.
		require.Empty(t, b.linksNaming(t, crm.Contacts, ann.ID))

		// No trace of Ann anywhere, not in a search index either.
		for k, v := range b.tenantDump(t) {
			for _, val := range []string{"ann.erased", "annie@home", "quillfeather", "555-0101"} {
				require.NotContains(t, strings.ToLower(k), val, "key %s", k)
				require.NotContains(t, strings.ToLower(v), val, "value of %s", k)
			}
		}

		// Dee, in the bin, names her call in the bin on her side: it is found and erased, though the
		// company shares it, and the company's side loses it.
		res, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: dee.ID, By: "dpo@x.example"})
		require.NoError(t, err)
		require.Equal(t, 1, res.CallsErased)
		_, err = b.callRecord(t, deeBinned)
		require.ErrorIs(t, err, crm.ErrNotFound)
		for _, k := range []string{redisstore.AssocKey(b.tenant, crm.Companies, co[0].ID), redisstore.BinAssocKey(b.tenant, crm.Companies, co[0].ID)} {
			members, err := b.rdb.SMembers(ctx, k).Result()
			require.NoError(t, err)
			require.NotContains(t, members, "calls:"+string(deeBinned), "key %s", k)
		}
		for k, v := range b.tenantDump(t) {
			require.NotContains(t, strings.ToLower(k), "deidre", "key %s", k)
			require.NotContains(t, strings.ToLower(v), "deidre", "value of %s", k)
		}
	})
}

// A contact with 1,000 calls is erased in steps of Config.ErasureBatch calls, one script each; a
// crash between two steps loses nothing, and the retry erases what is left, those another contact
// shares too, and reports every call; a second erasure by email finds nothing more to do.
func TestPermanentDeleteErasesManyCallsInSteps(t *testing.T) {
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

	failAt = 3 // two steps erase 300 calls, then the process dies
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
	require.Equal(t, 1000, res.CallsErased, "the steps before the crash count too")
	// The confirmation says so, as written with the erasure and as answered.
	const said = "Calls associated with it and erased with it, including calls also associated with other records: 1000.\n"
	require.Contains(t, res.Mail.Body, said)
	mails, err := st.PendingMails(ctx, tn)
	require.NoError(t, err)
	require.Len(t, mails, 1)
	require.Equal(t, res.Mail.ID, mails[0].ID)
	require.Contains(t, mails[0].Body, said)
	require.NotContains(t, mails[0].Body, "{calls_")
	for _, id := range calls {
		_, err := st.Record(ctx, tn, crm.Calls, id, nil)
		require.ErrorIs(t, err, crm.ErrNotFound, "call %s (shared with Bob: %v)", id, shared[id])
	}
	assoc, err := st.Associations(ctx, tn, bobRef, crm.Calls)
	require.NoError(t, err)
	require.Empty(t, assoc, "Bob no longer names the calls he shared")
	audit, _, err := st.Audit(ctx, tn, &crm.AuditOpts{Newest: true, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, 1000, audit[0].CallsErased)
	for k, v := range b.tenantDump(t) {
		require.NotContains(t, strings.ToLower(k), "manyfold", "key %s", k)
		require.NotContains(t, strings.ToLower(v), "manyfold", "value of %s", k)
	}

	// Again: by id there is no contact; by email it only blocklists again.
	_, err = st.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{ID: ann.ID, By: "dpo@x.example"})
	require.ErrorIs(t, err, crm.ErrNotFound)
	res, err = st.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{Email: "many@example.com", By: "dpo@x.example"})
	require.NoError(t, err)
	require.Zero(t, res.CallsErased)
}

// stepHook calls onStep before each step of a permanent delete (the script whose arguments hold
// its confirmation's id, "pd-…"), and fails the step, unsent, with its error. It looks at EVALSHA only: a
// step whose script the server does not hold yet is sent again as an EVAL, which is the same step.
type stepHook struct{ onStep func() error }

func (stepHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h stepHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if strings.EqualFold(cmd.Name(), "evalsha") {
			for _, a := range cmd.Args() {
				if s, ok := a.(string); ok && strings.HasPrefix(s, "pd-") {
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

// A permanent delete reads only what the erased contact and its calls hold, never the other records
// of the bin (SPEC S27): with thousands of contacts in the bin, each with an association, the
// erasure's steps issue a handful of SMEMBERS, not one per binned record. The server is the test's
// own, so that its command counts are the erasure's alone.
func TestPermanentDeleteReadsNotTheBin(t *testing.T) {
	t.Parallel()
	srv, err := redistest.StartServer("")
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	opt, err := redis.ParseURL(srv.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	tn := crm.TenantID(redistest.Tenant(t))
	ctx := context.Background()
	_, err = st.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	b := &testBundle{store: st, rdb: rdb, tenant: tn, ctx: ctx}

	// 3,000 contacts associated with a company, then moved to the bin: each names the company on its
	// bin side, and the bin's index of records with associations holds them all.
	const binned = 3000
	co, err := st.CreateRecords(ctx, tn, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
	require.NoError(t, err)
	coRef := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
	for i := 0; i < binned; i += 100 {
		in := make([]crm.RecordInput, 100)
		for j := range in {
			in[j] = crm.RecordInput{Properties: map[string]string{"email": fmt.Sprintf("binned%d@example.com", i+j)}}
		}
		recs, err := st.CreateRecords(ctx, tn, crm.Contacts, in, crm.Actor{})
		require.NoError(t, err)
		pairs := make([]crm.AssociationPair, len(recs))
		ids := make([]crm.RecordID, len(recs))
		for j, r := range recs {
			pairs[j] = crm.AssociationPair{From: crm.AssociationRef{Type: crm.Contacts, ID: r.ID}, To: coRef}
			ids[j] = r.ID
		}
		errs, err := st.AssociatePairs(ctx, tn, pairs)
		require.NoError(t, err)
		for _, e := range errs {
			require.NoError(t, e)
		}
		_, err = st.ArchiveRecords(ctx, tn, crm.Contacts, ids, crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
	}
	n, err := rdb.SCard(ctx, redisstore.BinAssocIDsKey(tn, crm.Contacts)).Result()
	require.NoError(t, err)
	require.EqualValues(t, binned, n)

	ann := b.contact(t, map[string]string{"email": "ann@example.com", "firstname": "Annabeth"})
	bob := b.contact(t, map[string]string{"email": "bob@example.com"})
	own, withBob := b.call(t, "Annabeth's own call"), b.call(t, "Annabeth and Bob")
	annRef := crm.AssociationRef{Type: crm.Contacts, ID: ann.ID}
	b.link(t, annRef, crm.AssociationRef{Type: crm.Calls, ID: own})
	b.link(t, annRef, crm.AssociationRef{Type: crm.Calls, ID: withBob})
	b.link(t, crm.AssociationRef{Type: crm.Contacts, ID: bob.ID}, crm.AssociationRef{Type: crm.Calls, ID: withBob})

	before := smembersCalls(t, rdb)
	res, err := st.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{ID: ann.ID, By: "dpo@x.example"})
	require.NoError(t, err)
	used := smembersCalls(t, rdb) - before
	require.Equal(t, 2, res.CallsErased)
	require.Less(t, used, int64(100), "the erasure read the bin's records: %d SMEMBERS for %d binned contacts", used, binned)
}

// smembersCalls returns how many SMEMBERS the server has run, scripts' included (INFO
// commandstats).
func smembersCalls(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	require.NoError(t, err)
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_smembers:calls="); ok {
			calls, _, _ := strings.Cut(rest, ",")
			n, err := strconv.ParseInt(calls, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	return 0
}
