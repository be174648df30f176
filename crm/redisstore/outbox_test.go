package redisstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
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
