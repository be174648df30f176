package storetest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

func testPermanentDeleteByEmail(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	c := b.contact(t, map[string]string{"email": "main@example.com", "additional_emails": "alias@example.com"})
	res, err := b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "ALIAS@example.com", By: "dpo@x.example"})
	require.NoError(t, err)
	require.Equal(t, c.ID, res.ID)
	for k, v := range b.dump(t) {
		for _, e := range []string{"alias@", "main@"} {
			require.NotContains(t, strings.ToLower(k+v), e, "the deleted contact's email is kept in %s", k)
		}
	}
	ok, err := b.store.IsBlocklisted(ctx, b.tenant, "main@example.com")
	require.NoError(t, err)
	require.True(t, ok)

	// An unknown email succeeds and is blocklisted.
	res, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "nobody@example.com", By: "dpo@x.example"})
	require.NoError(t, err)
	require.Empty(t, res.ID)
	ok, err = b.store.IsBlocklisted(ctx, b.tenant, "nobody@example.com")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = b.store.IsBlocklisted(ctx, b.tenant, "somebody@example.com")
	require.NoError(t, err)
	require.False(t, ok)
	for k := range b.dump(t) {
		require.NotContains(t, k, "nobody")
	}
	_, err = b.store.CreateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"email": "nobody@example.com"}}}, crm.Actor{})
	var be *crm.BlockedEmailError
	require.ErrorAs(t, err, &be)

	// Unknown id: not found, nothing changes.
	before := b.dump(t)
	_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: "99999", By: "dpo@x.example"})
	require.ErrorIs(t, err, crm.ErrNotFound)
	var ve *crm.ValidationError
	_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: "1", Email: "a@b.example", By: "dpo@x.example"})
	require.ErrorAs(t, err, &ve)
	require.Equal(t, before, b.dump(t))
}

// testPermanentDeleteFindsCallsInTheBin: a call moved to the bin while its contact was live, and
// one moved there after a contact in the bin, are erased with the contact (SPEC S9), the call's
// text with them; a company and a contact in the bin that were associated with the erased records
// come back from the bin without them.
func testPermanentDeleteFindsCallsInTheBin(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	by := crm.Actor{User: "ops@x.example"}
	ann := b.contact(t, map[string]string{"email": "ann@example.com"})
	bob := b.contact(t, map[string]string{"email": "bob@example.com"})
	recs, err := b.store.CreateRecords(ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, by)
	require.NoError(t, err)
	co := recs[0].ID
	recs, err = b.store.CreateRecords(ctx, b.tenant, crm.Calls, []crm.RecordInput{
		{Properties: map[string]string{"hs_call_body": "Annabeth Quillfeather on her invoice"}},
		{Properties: map[string]string{"hs_call_body": "Annabeth Quillfeather with Bob"}},
	}, by)
	require.NoError(t, err)
	early, late := recs[0].ID, recs[1].ID
	ref := func(o crm.ObjectType, id crm.RecordID) crm.AssociationRef { return crm.AssociationRef{Type: o, ID: id} }
	for _, p := range [][2]crm.AssociationRef{
		{ref(crm.Contacts, ann.ID), ref(crm.Calls, early)},
		{ref(crm.Companies, co), ref(crm.Calls, early)},
		{ref(crm.Contacts, ann.ID), ref(crm.Calls, late)},
		{ref(crm.Contacts, bob.ID), ref(crm.Calls, late)},
		{ref(crm.Contacts, ann.ID), ref(crm.Companies, co)},
	} {
		require.NoError(t, b.store.Associate(ctx, b.tenant, p[0], p[1]))
	}
	archive := func(o crm.ObjectType, ids ...crm.RecordID) {
		t.Helper()
		res, err := b.store.ArchiveRecords(ctx, b.tenant, o, ids, by)
		require.NoError(t, err)
		require.Len(t, res.Archived, len(ids))
	}
	archive(crm.Calls, early)
	archive(crm.Contacts, bob.ID)
	archive(crm.Calls, late)
	archive(crm.Companies, co)

	res, err := b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: ann.ID, By: "dpo@x.example"})
	require.NoError(t, err)
	require.Equal(t, 2, res.CallsErased)
	for _, id := range []crm.RecordID{early, late} {
		_, err = b.store.Record(ctx, b.tenant, crm.Calls, id, &crm.ReadOpts{Archived: true})
		require.ErrorIs(t, err, crm.ErrNotFound, "call %s", id)
	}
	for k, v := range b.dump(t) {
		require.NotContains(t, strings.ToLower(k+v), "quillfeather", "key %s", k)
	}
	rr, err := b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{bob.ID}, by)
	require.NoError(t, err)
	require.Empty(t, rr.Failed)
	rr, err = b.store.RestoreRecords(ctx, b.tenant, crm.Companies, []crm.RecordID{co}, by)
	require.NoError(t, err)
	require.Empty(t, rr.Failed)
	got, err := b.store.Associations(ctx, b.tenant, ref(crm.Contacts, bob.ID), crm.Calls)
	require.NoError(t, err)
	require.Empty(t, got)
	for _, o := range []crm.ObjectType{crm.Contacts, crm.Calls} {
		got, err = b.store.Associations(ctx, b.tenant, ref(crm.Companies, co), o)
		require.NoError(t, err)
		require.Empty(t, got)
	}
}

// testPendingMailFailure: only a pending email whose delivery failed may be retried or discarded;
// any other call says why and changes nothing. An acknowledged email leaves nothing behind.
func testPendingMailFailure(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx, st := b.ctx, b.store
	pendingMail := func() string {
		t.Helper()
		res, err := st.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "gone@example.com", By: "dpo@x.example"})
		require.NoError(t, err)
		return res.Mail.ID
	}
	one := func() crm.Mail {
		t.Helper()
		mails, err := st.PendingMails(ctx, b.tenant)
		require.NoError(t, err)
		require.Len(t, mails, 1)
		return mails[0]
	}
	id := pendingMail()

	before := b.dump(t)
	var nf *crm.NotFoundError
	_, err := st.RetryPendingMail(ctx, b.tenant, "pd-unknown", "ops@x.example")
	require.ErrorAs(t, err, &nf)
	require.ErrorAs(t, st.DiscardPendingMail(ctx, b.tenant, "pd-unknown", "ops@x.example"), &nf)
	var ce *crm.ConflictError
	_, err = st.RetryPendingMail(ctx, b.tenant, id, "ops@x.example")
	require.ErrorAs(t, err, &ce)
	require.Contains(t, ce.Message, "has not failed")
	require.ErrorAs(t, st.DiscardPendingMail(ctx, b.tenant, id, "ops@x.example"), &ce)
	var ve *crm.ValidationError
	require.ErrorAs(t, st.DiscardPendingMail(ctx, "Bad Tenant", id, "ops@x.example"), &ve)
	ok, err := st.FailPendingMail(ctx, b.tenant, "pd-unknown", crm.MailFailure{At: b.clock.Now(), Reason: "550"})
	require.NoError(t, err)
	require.False(t, ok, "an email no longer pending (delivered meanwhile) gets no failure")
	require.Equal(t, before, b.dump(t), "refused calls change nothing")
	require.Nil(t, one().Failure)

	// Failed (a long reason is cut), retried, failed again, discarded: each audited.
	ok, err = st.FailPendingMail(ctx, b.tenant, id, crm.MailFailure{At: b.clock.Now(), Reason: strings.Repeat("é", 400)})
	require.NoError(t, err)
	require.True(t, ok)
	m := one()
	require.NotNil(t, m.Failure)
	require.True(t, m.Failure.At.Equal(b.clock.Now()))
	require.Len(t, m.Failure.Reason, crm.MaxMailFailureReason)
	n, err := st.RetryPendingMail(ctx, b.tenant, id, "ops@x.example")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	m = one()
	require.Nil(t, m.Failure)
	require.Equal(t, 1, m.Retries)
	_, err = st.FailPendingMail(ctx, b.tenant, id, crm.MailFailure{At: b.clock.Now(), Reason: "550 again"})
	require.NoError(t, err)
	require.NoError(t, st.DiscardPendingMail(ctx, b.tenant, id, "ops@x.example"))
	mails, err := st.PendingMails(ctx, b.tenant)
	require.NoError(t, err)
	require.Empty(t, mails)
	entries, _, err := st.Audit(ctx, b.tenant, &crm.AuditOpts{Actions: []string{crm.AuditMailFailed, crm.AuditMailRetried, crm.AuditMailDiscarded}})
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		require.Equal(t, id, e.MailID)
		got = append(got, e.Action+" by "+e.By)
	}
	require.Equal(t, []string{"mail_failed by system", "mail_retried by ops@x.example", "mail_failed by system",
		"mail_discarded by ops@x.example"}, got)

	// An acknowledged email leaves no failure nor retry count behind.
	id = pendingMail()
	_, err = st.FailPendingMail(ctx, b.tenant, id, crm.MailFailure{At: b.clock.Now(), Reason: "550"})
	require.NoError(t, err)
	_, err = st.RetryPendingMail(ctx, b.tenant, id, "ops@x.example")
	require.NoError(t, err)
	require.NoError(t, st.AckPendingMail(ctx, b.tenant, id))
	for k, v := range b.dump(t) {
		require.NotContains(t, k+v, "failed:"+id)
		require.NotContains(t, k+v, "retries:"+id)
	}
}
