package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// hashedEmails reports whether a script's argument carries emails' hashes, as the restore's second
// call does in a tenant with a blocklist: the store has computed the hashes, and the script has
// yet to check them.
func hashedEmails(arg string) bool {
	return strings.HasPrefix(arg, `{"`) && strings.Contains(arg, "@example.com")
}

// TestRestoreChecksTheBlocklistInItsStep erases a contact between the moment a restore computed
// the hashes of the emails it restores and the step that restores them: the binned contact that
// holds the same email is refused, as the erasure was first, and stays in the bin.
func TestRestoreChecksTheBlocklistInItsStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Client(t)
	other := redistest.Client(t)
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	eraser, err := redisstore.New(other, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	tn := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	create := func(email string) crm.RecordID {
		recs, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"email": email}}}, crm.Actor{})
		require.NoError(t, err)
		return recs[0].ID
	}
	// An earlier erasure: the tenant has a blocklist.
	_, err = st.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{Email: "earlier@example.com", By: "dpo@x.example"})
	require.NoError(t, err)
	a := create("shared@example.com")
	_, err = st.ArchiveRecords(ctx, tn, crm.Contacts, []crm.RecordID{a}, crm.Actor{})
	require.NoError(t, err)
	b := create("shared@example.com")

	rdb.AddHook(&beforeScriptWith{match: hashedEmails, fn: func() {
		_, err := eraser.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{ID: b, By: "dpo@x.example"})
		require.NoError(t, err)
	}})
	res, err := st.RestoreRecords(ctx, tn, crm.Contacts, []crm.RecordID{a}, crm.Actor{})
	require.NoError(t, err)
	require.Empty(t, res.Restored)
	require.Len(t, res.Failed, 1)
	var ee *crm.ErasedEmailError
	require.ErrorAs(t, res.Failed[0].Err, &ee)
	require.Equal(t, "shared@example.com", ee.Email)
	_, err = st.ContactByEmail(ctx, tn, "shared@example.com")
	require.ErrorIs(t, err, crm.ErrNotFound)
	_, err = st.Record(ctx, tn, crm.Contacts, a, &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
}

// TestRestoreInATenantWithErasuresRoundTrips checks that the blocklist check keeps a restore
// batched: in a tenant with erasures, restoring 10 or 100 contacts costs the same few round trips.
func TestRestoreInATenantWithErasuresRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, st, tn := professionalTenant(t)
	_, err := st.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{Email: "earlier@example.com", By: "dpo@x.example"})
	require.NoError(t, err)
	hook := &roundTrips{}
	rdb.AddHook(hook)
	restore := func(n int, run string) int64 {
		in := make([]crm.RecordInput, n)
		for i := range in {
			in[i] = crm.RecordInput{Properties: map[string]string{"email": fmt.Sprintf("%s%d@example.com", run, i),
				"additional_emails": fmt.Sprintf("%s%d.alt@example.com", run, i)}}
		}
		recs, err := st.CreateRecords(ctx, tn, crm.Contacts, in, crm.Actor{})
		require.NoError(t, err)
		ids := make([]crm.RecordID, n)
		for i, r := range recs {
			ids[i] = r.ID
		}
		_, err = st.ArchiveRecords(ctx, tn, crm.Contacts, ids, crm.Actor{})
		require.NoError(t, err)
		start := hook.n.Load()
		res, err := st.RestoreRecords(ctx, tn, crm.Contacts, ids, crm.Actor{})
		require.NoError(t, err)
		require.Len(t, res.Restored, n)
		return hook.n.Load() - start
	}
	restore(2, "warm") // loads the scripts
	small, large := restore(10, "small"), restore(100, "large")
	require.Equal(t, small, large, "a bigger batch must not cost more round trips")
	require.LessOrEqual(t, large, int64(4))
}

// TestRestoreOfManyEmailsInATenantWithErasures deletes and then restores, in a tenant with an
// erasure, a full script batch of contacts with ten emails each: more emails than a Lua call may
// return or take as arguments at once. All go to the bin in one call and come back in one, and a
// blocklisted one among them is still refused.
func TestRestoreOfManyEmailsInATenantWithErasures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, st, tn := professionalTenant(t)
	const n = crm.MaxScriptBatch
	var ids []crm.RecordID
	for start := 0; start < n; start += 100 {
		in := make([]crm.RecordInput, 100)
		for i := range in {
			alt := make([]string, 9)
			for k := range alt {
				alt[k] = fmt.Sprintf("c%d.alt%d@example.com", start+i, k)
			}
			in[i] = crm.RecordInput{Properties: map[string]string{"email": fmt.Sprintf("c%d@example.com", start+i),
				"additional_emails": strings.Join(alt, ";")}}
		}
		recs, err := st.CreateRecords(ctx, tn, crm.Contacts, in, crm.Actor{})
		require.NoError(t, err)
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
	}
	_, err := st.ArchiveRecords(ctx, tn, crm.Contacts, ids, crm.Actor{})
	require.NoError(t, err)
	// An erasure of one of the binned contacts' additional emails, by a live contact that holds it
	// now (the binned contact's emails are free to take).
	holder, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"email": "c7.alt3@example.com"}}}, crm.Actor{})
	require.NoError(t, err)
	_, err = st.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{ID: holder[0].ID, By: "dpo@x.example"})
	require.NoError(t, err)
	res, err := st.RestoreRecords(ctx, tn, crm.Contacts, ids, crm.Actor{})
	require.NoError(t, err)
	require.Len(t, res.Restored, n-1)
	require.Len(t, res.Failed, 1)
	require.Equal(t, ids[7], res.Failed[0].ID)
	var ee *crm.ErasedEmailError
	require.ErrorAs(t, res.Failed[0].Err, &ee)
	require.Equal(t, "c7.alt3@example.com", ee.Email)
}

// professionalTenant returns a Redis client of the test server, a store on it, and a new
// Professional tenant of that store.
func professionalTenant(t *testing.T) (*redis.Client, *redisstore.Store, crm.TenantID) {
	t.Helper()
	rdb := redistest.Client(t)
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	tn := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(context.Background(), tn, crm.PlanProfessional)
	require.NoError(t, err)
	return rdb, st, tn
}

// beforeScriptWith runs fn once, just before the first script call (sent alone, not in a
// pipeline) one of whose string arguments match reports.
type beforeScriptWith struct {
	match func(arg string) bool
	fired atomic.Bool
	fn    func()
}

// containing returns a match for beforeScriptWith: an argument that contains marker.
func containing(marker string) func(string) bool {
	return func(arg string) bool { return strings.Contains(arg, marker) }
}

func (h *beforeScriptWith) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *beforeScriptWith) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		name := strings.ToLower(cmd.Name())
		if (name == "evalsha" || name == "eval") && !h.fired.Load() {
			for _, a := range cmd.Args() {
				if s, ok := a.(string); ok && h.match(s) {
					h.fired.Store(true)
					h.fn()
					break
				}
			}
		}
		return next(ctx, cmd)
	}
}

func (h *beforeScriptWith) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestPermanentDeleteByEmailTakesAContactCreatedMeanwhile creates a contact with the email a
// permanent delete names after the delete looked the email up and before its step: the delete
// takes it too, rather than blocklisting the email under a live contact that holds it.
func TestPermanentDeleteByEmailTakesAContactCreatedMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, st, tn := professionalTenant(t)
	other, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	var late crm.RecordID
	rdb.AddHook(&beforeScriptWith{match: containing(crm.MailKindPermanentDelete), fn: func() {
		recs, err := other.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{
			"email": "meanwhile@example.com", "firstname": "Latecomer"}}}, crm.Actor{})
		require.NoError(t, err)
		late = recs[0].ID
	}})
	res, err := st.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{Email: "Meanwhile@example.com", By: "dpo@x.example"})
	require.NoError(t, err)
	require.NotEmpty(t, late)
	require.Equal(t, []crm.RecordID{late}, res.IDs)
	_, err = st.ContactByEmail(ctx, tn, "meanwhile@example.com")
	require.ErrorIs(t, err, crm.ErrNotFound)
	for k, v := range redistest.Dump(t, rdb, string(tn)) {
		require.NotContains(t, k+v, "meanwhile@", "the erased email is kept in %s", k)
		require.NotContains(t, k+v, "Latecomer", "the erased contact is kept in %s", k)
	}
}

// TestPermanentDeleteByIDOfAContactPurgedMeanwhile purges a contact from the bin after a permanent
// delete by its id read it and before the delete's step: its data is gone all the same, and its
// emails, which the delete read, are blocklisted as an erasure's are (SPEC S10), rather than the
// delete answering "not found" and leaving them free.
func TestPermanentDeleteByIDOfAContactPurgedMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, st, tn := professionalTenant(t)
	other, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	recs, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{
		"email": "purged-meanwhile@example.com", "additional_emails": "alias-meanwhile@example.com"}}}, crm.Actor{})
	require.NoError(t, err)
	id := recs[0].ID
	_, err = st.ArchiveRecords(ctx, tn, crm.Contacts, []crm.RecordID{id}, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	rdb.AddHook(&beforeScriptWith{match: containing(crm.MailKindPermanentDelete), fn: func() {
		n, err := other.PurgeExpired(ctx, tn, crm.Contacts, time.Now().Add(24*time.Hour), 10)
		require.NoError(t, err)
		require.Equal(t, 1, n)
	}})
	res, err := st.PermanentDeleteContact(ctx, tn, crm.PermanentDeleteParams{ID: id, By: "dpo@x.example"})
	require.NoError(t, err)
	require.Equal(t, 2, res.Blocklisted)
	for _, e := range []string{"purged-meanwhile@example.com", "alias-meanwhile@example.com"} {
		ok, err := st.IsBlocklisted(ctx, tn, e)
		require.NoError(t, err)
		require.True(t, ok, e)
	}
	pending, err := st.PendingMails(ctx, tn)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	for k, v := range redistest.Dump(t, rdb, string(tn)) {
		require.NotContains(t, k+v, "meanwhile@", "the erased email is kept in %s", k)
	}
}
