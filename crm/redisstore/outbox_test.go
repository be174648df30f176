package redisstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/redistest"
)

// notifyFlowSrc notifies sales@x.example of each bounced contact.
const notifyFlowSrc = "name: notify\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: notify_user\n    to: sales@x.example\n    subject: \"Lead {{id}}\"\n"

// TestOutboxChecksNotificationsAsDelivery checks that the outbox keeps a workflow's notification
// only when an SMTP delivery would send it (ClaimRecordMail): not to a recipient who is no longer
// an enabled user of the tenant, nor, with a text that shows the record's data, on the authority
// of an activator who no longer holds read. Each drop is audited with its reason, once.
func TestOutboxChecksNotificationsAsDelivery(t *testing.T) {
	t.Parallel()
	// notifier makes sales@x.example a user who may read, activates the notify workflow on behalf
	// of ops@x.example, who holds every permission, and returns a contact to notify about.
	notifier := func(t *testing.T, b *testBundle) crm.Record {
		t.Helper()
		_, err := b.store.CreateUser(b.ctx, b.tenant, "sales@x.example", crm.Permissions{crm.PermRead}, "root@x.example")
		require.NoError(t, err)
		_, err = b.store.CreateUser(b.ctx, b.tenant, "ops@x.example", crm.Permissions(crm.AllPermissions), "root@x.example")
		require.NoError(t, err)
		_, _, err = b.store.PutFlow(b.ctx, b.tenant, "notify", crm.Contacts, notifyFlowSrc, "ops@x.example")
		require.NoError(t, err)
		_, err = b.store.ActivateFlow(b.ctx, b.tenant, "notify", crm.ActivateFlowParams{By: "ops@x.example"})
		require.NoError(t, err)
		return b.contact(t, map[string]string{"firstname": "Secretia", "email": "secretia@y.example"})
	}
	mail := func(id string, rec crm.RecordID) crm.Mail {
		return crm.Mail{ID: id, To: "sales@x.example", Subject: "Call {{firstname}}", Body: "Contact {{id}}",
			Kind: "workflow_notification", Ref: crm.MailRef{ObjectType: crm.Contacts, RecordID: rec, Workflow: "notify"}}
	}
	// drops returns the tenant's "mail_dropped" audit entries.
	drops := func(t *testing.T, b *testBundle) []crm.AuditEntry {
		t.Helper()
		audit, _, err := b.store.Audit(b.ctx, b.tenant, nil)
		require.NoError(t, err)
		var out []crm.AuditEntry
		for _, e := range audit {
			if e.Action == "mail_dropped" {
				out = append(out, e)
			}
		}
		return out
	}
	outboxIDs := func(t *testing.T, b *testBundle) []string {
		t.Helper()
		out, err := b.store.Outbox(b.ctx, b.tenant, 0)
		require.NoError(t, err)
		var ids []string
		for _, m := range out {
			ids = append(ids, m.ID)
		}
		return ids
	}

	t.Run("RecipientDisabled", func(t *testing.T) {
		t.Parallel()
		eachBackend(t, func(t *testing.T, b *testBundle) {
			rec := notifier(t, b)
			_, err := b.store.SetUserDisabled(b.ctx, b.tenant, "sales@x.example", true, "root@x.example")
			require.NoError(t, err)
			_, err = b.store.AppendOutbox(b.ctx, b.tenant, mail("n-left", rec.ID), nil)
			require.ErrorIs(t, err, crm.ErrMailRecipientGone)
			require.Empty(t, outboxIDs(t, b))
			d := drops(t, b)
			require.Len(t, d, 1)
			require.Equal(t, "recipient_gone", d[0].Reason)
			require.Equal(t, "sales@x.example", d[0].User)
			require.Equal(t, "n-left", d[0].MailID)
			require.Equal(t, "notify", d[0].Ref)
			require.Equal(t, []crm.RecordID{rec.ID}, d[0].RecordIDs)

			// Appended again (its task run again), even once enabled again: not kept, not dropped twice.
			_, err = b.store.SetUserDisabled(b.ctx, b.tenant, "sales@x.example", false, "root@x.example")
			require.NoError(t, err)
			_, err = b.store.AppendOutbox(b.ctx, b.tenant, mail("n-left", rec.ID), nil)
			require.ErrorIs(t, err, crm.ErrMailDone)
			require.Empty(t, outboxIDs(t, b))
			require.Len(t, drops(t, b), 1)

			// A recipient who was never a user of the tenant is gone too.
			stranger := mail("n-stranger", rec.ID)
			stranger.To = "stranger@y.example"
			_, err = b.store.AppendOutbox(b.ctx, b.tenant, stranger, nil)
			require.ErrorIs(t, err, crm.ErrMailRecipientGone)
			require.Equal(t, "stranger@y.example", drops(t, b)[1].User)
			require.Empty(t, outboxIDs(t, b))
		})
	})

	t.Run("ActivatorLostRead", func(t *testing.T) {
		t.Parallel()
		eachBackend(t, func(t *testing.T, b *testBundle) {
			rec := notifier(t, b)
			_, err := b.store.SetUserPermissions(b.ctx, b.tenant, "ops@x.example", crm.Permissions{crm.PermWorkflows}, "root@x.example")
			require.NoError(t, err)
			_, err = b.store.AppendOutbox(b.ctx, b.tenant, mail("n-noread", rec.ID), nil)
			require.ErrorIs(t, err, crm.ErrMailWorkflowStopped)
			// Appended again (its task run again): not kept, not dropped twice.
			_, err = b.store.AppendOutbox(b.ctx, b.tenant, mail("n-noread", rec.ID), nil)
			require.ErrorIs(t, err, crm.ErrMailDone)
			require.Empty(t, outboxIDs(t, b))
			d := drops(t, b)
			require.Len(t, d, 1)
			require.Equal(t, "activator_lacks_read", d[0].Reason)
			require.Equal(t, "n-noread", d[0].MailID)

			// A text that shows only the record's id needs no read.
			idOnly := mail("n-idonly", rec.ID)
			idOnly.Subject = "Contact {{id}} needs a call"
			_, err = b.store.AppendOutbox(b.ctx, b.tenant, idOnly, nil)
			require.NoError(t, err)
			require.Equal(t, []string{"n-idonly"}, outboxIDs(t, b))
			require.Len(t, drops(t, b), 1)
		})
	})

	t.Run("RecipientAndActivatorFineIsKept", func(t *testing.T) {
		t.Parallel()
		eachBackend(t, func(t *testing.T, b *testBundle) {
			rec := notifier(t, b)
			_, err := b.store.AppendOutbox(b.ctx, b.tenant, mail("n-ok", rec.ID), nil)
			require.NoError(t, err)
			out, err := b.store.Outbox(b.ctx, b.tenant, 0)
			require.NoError(t, err)
			require.Len(t, out, 1)
			require.Equal(t, "Call Secretia", out[0].Subject)
			require.Empty(t, drops(t, b))

			// An email without a record (a confirmation) is kept whoever it is for.
			_, err = b.store.AppendOutbox(b.ctx, b.tenant, crm.Mail{ID: "confirm", To: "stranger@y.example",
				Subject: "done", Body: "b", Kind: "permanent_delete_confirmation"}, nil)
			require.NoError(t, err)
			require.Equal(t, []string{"n-ok", "confirm"}, outboxIDs(t, b))
		})
	})

	t.Run("RecordMailNeedsItsRecipient", func(t *testing.T) {
		t.Parallel()
		b := setup(t, "redis")
		rec := notifier(t, b)
		m := mail("n-noto", rec.ID)
		m.To = ""
		_, err := b.store.AppendOutbox(b.ctx, b.tenant, m, nil)
		var verr *crm.ValidationError
		require.ErrorAs(t, err, &verr)
		require.Equal(t, "to", verr.Field)
		require.Empty(t, outboxIDs(t, b))
		require.Empty(t, drops(t, b))
	})
}

// TestRecentOutboxShowsOnlyWhatDeliveryWouldSend checks that reading the outbox (RecentOutbox, as
// GET /crm/v3/outbox, the console and crmflow admin outbox list read it) applies the checks of a
// delivery to the workflow notifications kept there: one whose recipient was disabled or removed,
// whose workflow was paused or activated again, or whose activator lost the read its text needs
// since it was kept is dropped as a delivery would drop it (audit entry "mail_dropped" with the
// reason, once; its ledger marks it dropped, so its task run again does not keep it again) and
// is not listed; the others, and emails without a record, are listed as before. A page whose
// newest entries were dropped is filled from the older ones.
func TestRecentOutboxShowsOnlyWhatDeliveryWouldSend(t *testing.T) {
	t.Parallel()
	// kept makes sales@ and sup@ users who may read, activates the notify workflow on behalf of
	// ops@, who holds every permission, and keeps, oldest first, a notification to sales@, a
	// confirmation, and a notification to sup@.
	kept := func(t *testing.T, b *testBundle) crm.Record {
		t.Helper()
		for _, u := range []string{"sales@x.example", "sup@x.example"} {
			_, err := b.store.CreateUser(b.ctx, b.tenant, u, crm.Permissions{crm.PermRead}, "root@x.example")
			require.NoError(t, err)
		}
		_, err := b.store.CreateUser(b.ctx, b.tenant, "ops@x.example", crm.Permissions(crm.AllPermissions), "root@x.example")
		require.NoError(t, err)
		_, _, err = b.store.PutFlow(b.ctx, b.tenant, "notify", crm.Contacts, notifyFlowSrc, "ops@x.example")
		require.NoError(t, err)
		f, err := b.store.ActivateFlow(b.ctx, b.tenant, "notify", crm.ActivateFlowParams{By: "ops@x.example"})
		require.NoError(t, err)
		rec := b.contact(t, map[string]string{"firstname": "Secretia"})
		ref := crm.MailRef{ObjectType: crm.Contacts, RecordID: rec.ID, Workflow: "notify", ActivatedAt: f.ActivatedAt, Activation: f.Activation}
		for _, m := range []crm.Mail{
			{ID: "n-sales", To: "sales@x.example", Subject: "Call {{firstname}}", Body: "b", Kind: "workflow_notification", Ref: ref},
			{ID: "confirm", To: "sup@x.example", Subject: "done", Body: "b", Kind: "permanent_delete_confirmation"},
			{ID: "n-sup", To: "sup@x.example", Subject: "Call {{firstname}}", Body: "b", Kind: "workflow_notification", Ref: ref},
		} {
			_, err := b.store.AppendOutbox(b.ctx, b.tenant, m, nil)
			require.NoError(t, err)
		}
		return rec
	}
	recent := func(t *testing.T, b *testBundle, limit int) []string {
		t.Helper()
		out, err := b.store.RecentOutbox(b.ctx, b.tenant, limit)
		require.NoError(t, err)
		ids := []string{}
		for _, m := range out {
			ids = append(ids, m.ID)
		}
		return ids
	}
	// drops returns the reason of each "mail_dropped" audit entry, by mail id.
	drops := func(t *testing.T, b *testBundle) map[string]string {
		t.Helper()
		audit, _, err := b.store.Audit(b.ctx, b.tenant, nil)
		require.NoError(t, err)
		out := map[string]string{}
		for _, e := range audit {
			if e.Action == "mail_dropped" {
				require.NotContains(t, out, e.MailID, "a drop is audited once")
				out[e.MailID] = e.Reason
			}
		}
		return out
	}

	t.Run("RecipientDisabled", func(t *testing.T) {
		t.Parallel()
		eachBackend(t, func(t *testing.T, b *testBundle) {
			kept(t, b)
			require.Equal(t, []string{"n-sup", "confirm", "n-sales"}, recent(t, b, 0))
			_, err := b.store.SetUserDisabled(b.ctx, b.tenant, "sup@x.example", true, "root@x.example")
			require.NoError(t, err)
			// The newest entry is dropped: a page of one is filled with the next one.
			require.Equal(t, []string{"confirm"}, recent(t, b, 1))
			require.Equal(t, map[string]string{"n-sup": "recipient_gone"}, drops(t, b))
			require.Equal(t, []string{"confirm", "n-sales"}, recent(t, b, 0), "the confirmation is kept, whoever it is for")
			require.Len(t, drops(t, b), 1, "read again: not dropped twice")

			// Enabled again, the user does not get it back, nor does its task keep it again.
			_, err = b.store.SetUserDisabled(b.ctx, b.tenant, "sup@x.example", false, "root@x.example")
			require.NoError(t, err)
			require.Equal(t, []string{"confirm", "n-sales"}, recent(t, b, 0))
			_, err = b.store.AppendOutbox(b.ctx, b.tenant, crm.Mail{ID: "n-sup", To: "sup@x.example", Subject: "s", Body: "b",
				Kind: "workflow_notification", Ref: crm.MailRef{ObjectType: crm.Contacts, RecordID: "1", Workflow: "notify"}}, nil)
			require.ErrorIs(t, err, crm.ErrMailDone)
		})
	})

	t.Run("WorkflowPaused", func(t *testing.T) {
		t.Parallel()
		eachBackend(t, func(t *testing.T, b *testBundle) {
			kept(t, b)
			_, err := b.store.PauseFlow(b.ctx, b.tenant, "notify", nil)
			require.NoError(t, err)
			require.Equal(t, []string{"confirm"}, recent(t, b, 20))
			require.Equal(t, map[string]string{"n-sup": "workflow_inactive", "n-sales": "workflow_inactive"}, drops(t, b))
			// Activated again, the workflow sends only what it queues from then on.
			_, err = b.store.ActivateFlow(b.ctx, b.tenant, "notify", crm.ActivateFlowParams{By: "ops@x.example"})
			require.NoError(t, err)
			require.Equal(t, []string{"confirm"}, recent(t, b, 20))
		})
	})

	t.Run("ActivatorLostReadOrRemoved", func(t *testing.T) {
		t.Parallel()
		eachBackend(t, func(t *testing.T, b *testBundle) {
			kept(t, b)
			_, err := b.store.SetUserPermissions(b.ctx, b.tenant, "ops@x.example", crm.Permissions{crm.PermWorkflows}, "root@x.example")
			require.NoError(t, err)
			require.Equal(t, []string{"confirm"}, recent(t, b, 0))
			require.Equal(t, map[string]string{"n-sup": "activator_lacks_read", "n-sales": "activator_lacks_read"}, drops(t, b))
		})
	})

	t.Run("AllFineIsListedAndNothingWritten", func(t *testing.T) {
		t.Parallel()
		eachBackend(t, func(t *testing.T, b *testBundle) {
			kept(t, b)
			before := redistest.Dump(t, b.rdb, string(b.tenant))
			out, err := b.store.RecentOutbox(b.ctx, b.tenant, 2)
			require.NoError(t, err)
			require.Len(t, out, 2)
			require.Equal(t, "Call Secretia", out[0].Subject, "rendered from the record")
			require.Equal(t, before, redistest.Dump(t, b.rdb, string(b.tenant)), "a read that drops nothing writes nothing")
		})
	})
}
