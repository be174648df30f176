package worker_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/engine"
	"github.com/crmflow/crmflow/internal/redistest"
	"github.com/crmflow/crmflow/internal/smtptest"
	"github.com/crmflow/crmflow/worker"
)

// secretContact is a contact whose every value must be gone after its permanent delete.
var secretContact = map[string]string{"email": "erin.erasure@privacy.example", "additional_emails": "erin.alias@privacy.example",
	"firstname": "Erinwyn", "lastname": "Erasmussen", "phone": "+46-555-0142-999"}

// notification is the mail:send payload notify_user's mailer enqueues about rec: templates and a
// reference, never the record's data.
func notification(tenant crm.TenantID, rec crm.RecordID, key string) worker.MailSendPayload {
	return worker.MailSendPayload{TenantID: tenant, To: "sales@example.com", Kind: "workflow_notification",
		Subject: "Call {{firstname}} {{lastname}} at {{phone}}", Body: "{{email}} / {{additional_emails}} ({{id}})",
		IdempotencyKey: key, ObjectType: crm.Contacts, RecordID: rec, Workflow: "nurture"}
}

// notifier makes sales@example.com, the recipient of notification's emails, a user of the tenant
// and activates workflow (which no test contact matches) on behalf of activatorEmail, who holds
// every permission: a notification is dropped at delivery unless its recipient is an enabled user
// and its workflow is active, with an activator who may read what it shows (and the outbox keeps
// one only while its workflow is active).
func (b *testBundle) notifier(t *testing.T, workflow string) {
	t.Helper()
	_, err := b.store.CreateUser(b.ctx, b.tenant, "sales@example.com", crm.Permissions{crm.PermRead}, "admin@example.com")
	require.NoError(t, err)
	_, err = b.store.CreateUser(b.ctx, b.tenant, activatorEmail, crm.AllPermissions, "admin@example.com")
	if !errors.Is(err, crm.ErrUserExists) {
		require.NoError(t, err)
	}
	_, _, err = b.store.PutFlow(b.ctx, b.tenant, workflow, crm.Contacts, "name: "+workflow+
		"\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: notify_user\n    to: sales@example.com\n    subject: \"Lead {{id}}\"\n", activatorEmail)
	require.NoError(t, err)
	_, err = b.store.ActivateFlow(b.ctx, b.tenant, workflow, crm.ActivateFlowParams{By: activatorEmail})
	require.NoError(t, err)
}

// retryingNotification starts a worker whose SMTP server is down, creates the secret contact and
// enqueues a notification about it to the recipient (a user) under key, and waits for its delivery
// to fail and wait for a retry. Restart the server to let the retry go on.
func (b *testBundle) retryingNotification(t *testing.T, key string) (*smtpServer, crm.RecordID, *asynq.TaskInfo) {
	t.Helper()
	b.notifier(t, "nurture")
	srv := startSMTP(t, smtptest.Options{})
	srv.Stop()
	cfg := b.config()
	cfg.Mail = srv.mailConfig()
	b.startWorker(t, cfg)
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: secretContact}}, crm.Actor{})
	require.NoError(t, err)
	info, err := b.client(t).EnqueueMailSend(b.ctx, notification(b.tenant, recs[0].ID, key))
	require.NoError(t, err)
	eventually(t, 10*time.Second, "the delivery to fail and wait for a retry", func() bool {
		return b.taskState(t, worker.QueueCritical, info.ID) == asynq.TaskStateRetry.String()
	})
	return srv, recs[0].ID, info
}

// retryDropped restarts srv, lets the retrying notification task info run until it is gone, and
// checks that it sent nothing and was counted as dropped; it returns the audit entry of the drop.
func (b *testBundle) retryDropped(t *testing.T, srv *smtpServer, info *asynq.TaskInfo) crm.AuditEntry {
	t.Helper()
	require.NoError(t, srv.Restart())
	eventually(t, 20*time.Second, "the retried task to finish", func() bool {
		_, _ = b.insp.RunAllRetryTasks(worker.QueueCritical)
		return b.taskState(t, worker.QueueCritical, info.ID) == "gone"
	})
	require.Empty(t, srv.Messages(), "no email sent")
	require.InDelta(t, 1, metricValue(t, b.reg, "crmflow_mail_dropped_total", "workflow_notification"), 0)
	return b.lastDrop(t)
}

// mailDrops counts the tenant's mail_dropped audit entries.
func (b *testBundle) mailDrops(t *testing.T) int {
	t.Helper()
	audit, _, err := b.store.Audit(b.ctx, b.tenant, nil)
	require.NoError(t, err)
	n := 0
	for _, e := range audit {
		if e.Action == "mail_dropped" {
			n++
		}
	}
	return n
}

// lastDrop returns the tenant's last audit entry, which must be a dropped email's.
func (b *testBundle) lastDrop(t *testing.T) crm.AuditEntry {
	t.Helper()
	audit, _, err := b.store.Audit(b.ctx, b.tenant, nil)
	require.NoError(t, err)
	last := audit[len(audit)-1]
	require.Equal(t, "mail_dropped", last.Action)
	return last
}

func requireNoTrace(t *testing.T, dump map[string]string) {
	t.Helper()
	for k, v := range dump {
		for _, s := range []string{"erin.erasure", "erin.alias", "Erinwyn", "Erasmussen", "555-0142"} {
			require.NotContains(t, strings.ToLower(k), strings.ToLower(s), "key %s", k)
			require.NotContains(t, strings.ToLower(v), strings.ToLower(s), "value of %s", k)
		}
	}
}

func TestNotificationRenderedAtDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.notifier(t, "nurture")
	srv := startSMTP(t, smtptest.Options{})
	cfg := b.config()
	cfg.Mail = srv.mailConfig()
	b.startWorker(t, cfg)
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: secretContact}}, crm.Actor{})
	require.NoError(t, err)
	id := recs[0].ID

	// The task holds the templates only.
	info, err := b.client(t).EnqueueMailSend(b.ctx, notification(b.tenant, id, "n-1"))
	require.NoError(t, err)
	require.NotContains(t, string(info.Payload), "Erinwyn")
	eventually(t, 10*time.Second, "the email to arrive", func() bool { return len(srv.Messages()) == 1 })
	m := srv.Messages()[0]
	require.Contains(t, m.Data, "Subject: Call Erinwyn Erasmussen at +46-555-0142-999\r\n")
	require.Contains(t, decodeQP(m.Data), "erin.erasure@privacy.example / erin.alias@privacy.example ("+string(id)+")")

	// A contact in the bin is still there to render from (the bin keeps it until the purge).
	_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{id}, crm.Actor{})
	require.NoError(t, err)
	_, err = b.client(t).EnqueueMailSend(b.ctx, notification(b.tenant, id, "n-2"))
	require.NoError(t, err)
	eventually(t, 10*time.Second, "the second email to arrive", func() bool { return len(srv.Messages()) == 2 })
	require.Contains(t, srv.Messages()[1].Data, "Subject: Call Erinwyn")
}

// A notification retrying against a down SMTP server when its contact is permanently deleted is
// dropped once the server is back: nothing names the contact, in Redis or in any email sent.
func TestRetryingNotificationOfErasedContactIsDropped(t *testing.T) {
	t.Parallel()
	for _, fromBin := range []bool{false, true} {
		name := "Live"
		if fromBin {
			name = "FromBinByAdditionalEmail"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			srv, id, info := b.retryingNotification(t, "n-retry")

			params := crm.PermanentDeleteParams{ID: id, By: "dpo@example.com"}
			if fromBin {
				_, err := b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{id}, crm.Actor{})
				require.NoError(t, err)
				params = crm.PermanentDeleteParams{Email: "Erin.Alias@privacy.example", By: "dpo@example.com"}
			}
			res, err := b.store.PermanentDeleteContact(b.ctx, b.tenant, params)
			require.NoError(t, err)
			require.Equal(t, []crm.RecordID{id}, res.IDs)
			requireNoTrace(t, redistest.DumpAll(t, b.rdb))

			last := b.retryDropped(t, srv, info)
			require.Equal(t, "n-retry", last.MailID)
			require.Equal(t, "nurture", last.Ref)
			require.Equal(t, []crm.RecordID{id}, last.RecordIDs)
			requireNoTrace(t, redistest.DumpAll(t, b.rdb))
			require.NotContains(t, b.logs.String(), "Erinwyn")
		})
	}
}

// A notification retrying against a down SMTP server when its recipient is disabled is dropped
// once the server is back: its text, rendered at delivery, would show the record to a user who no
// longer has access. The audit entry names the recipient.
func TestRetryingNotificationToDisabledRecipientIsDropped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv, id, info := b.retryingNotification(t, "n-left")
	_, err := b.store.SetUserDisabled(b.ctx, b.tenant, "sales@example.com", true, "admin@example.com")
	require.NoError(t, err)

	last := b.retryDropped(t, srv, info)
	require.Equal(t, "n-left", last.MailID)
	require.Equal(t, "sales@example.com", last.User)
	require.Equal(t, "recipient_gone", last.Reason)
	require.Equal(t, []crm.RecordID{id}, last.RecordIDs)

	// Enabled again, the same email stays dropped: a retry of its task sends nothing.
	_, err = b.store.SetUserDisabled(b.ctx, b.tenant, "sales@example.com", false, "admin@example.com")
	require.NoError(t, err)
	w := b.mailWorker(t, srv)
	task, err := worker.NewMailSendTask(notification(b.tenant, id, "n-left"))
	require.NoError(t, err)
	require.NoError(t, w.HandleMailSend(b.ctx, task))
	require.Empty(t, srv.Messages())

	// A recipient who was never a user gets nothing either.
	p := notification(b.tenant, id, "n-stranger")
	p.To = "stranger@example.com"
	task, err = worker.NewMailSendTask(p)
	require.NoError(t, err)
	require.NoError(t, w.HandleMailSend(b.ctx, task))
	require.Empty(t, srv.Messages())
	require.Equal(t, "stranger@example.com", b.lastDrop(t).User)
}

// A notification is checked against its workflow when it is delivered: paused, it sends no more
// emails; with an activator who lost read, no email that shows the record's data goes out, while
// one that shows only its id still does. Each drop is audited with its reason.
func TestNotificationOfStoppedWorkflowIsDropped(t *testing.T) {
	t.Parallel()
	send := func(t *testing.T, b *testBundle, srv *smtpServer, p worker.MailSendPayload) {
		t.Helper()
		task, err := worker.NewMailSendTask(p)
		require.NoError(t, err)
		require.NoError(t, b.mailWorker(t, srv).HandleMailSend(b.ctx, task))
	}
	contact := func(t *testing.T, b *testBundle) crm.RecordID {
		t.Helper()
		recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: secretContact}}, crm.Actor{})
		require.NoError(t, err)
		return recs[0].ID
	}

	t.Run("Paused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.notifier(t, "nurture")
		srv := startSMTP(t, smtptest.Options{})
		id := contact(t, b)
		_, err := b.store.PauseFlow(b.ctx, b.tenant, "nurture", nil)
		require.NoError(t, err)
		send(t, b, srv, notification(b.tenant, id, "n-paused"))
		require.Empty(t, srv.Messages(), "a paused workflow sends no more emails")
		drop := b.lastDrop(t)
		require.Equal(t, "workflow_inactive", drop.Reason)
		require.Equal(t, "nurture", drop.Ref)
		require.Equal(t, "n-paused", drop.MailID)
	})

	t.Run("ActivatorLostRead", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.notifier(t, "nurture")
		srv := startSMTP(t, smtptest.Options{})
		id := contact(t, b)
		_, err := b.store.SetUserPermissions(b.ctx, b.tenant, activatorEmail, crm.Permissions{crm.PermWorkflows}, "admin@example.com")
		require.NoError(t, err)
		send(t, b, srv, notification(b.tenant, id, "n-noread"))
		require.Empty(t, srv.Messages(), "no record data on the authority of an activator without read")
		require.Equal(t, "activator_lacks_read", b.lastDrop(t).Reason)

		idOnly := notification(b.tenant, id, "n-idonly")
		idOnly.Subject, idOnly.Body = "Contact {{id}} needs a call", "See contact {{ id }}."
		send(t, b, srv, idOnly)
		require.Len(t, srv.Messages(), 1, "an email that shows only the id needs no read")
		require.Contains(t, srv.Messages()[0].Data, "Subject: Contact "+string(id)+" needs a call")
	})

	t.Run("RecordGoneSaysSo", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.notifier(t, "nurture")
		srv := startSMTP(t, smtptest.Options{})
		id := contact(t, b)
		_, err := b.store.PermanentDeleteContact(b.ctx, b.tenant, crm.PermanentDeleteParams{ID: id, By: "dpo@example.com"})
		require.NoError(t, err)
		send(t, b, srv, notification(b.tenant, id, "n-gone"))
		require.Empty(t, srv.Messages())
		require.Equal(t, "record_gone", b.lastDrop(t).Reason)
	})
}

// leadsFlow notifies sales@example.com of each lead, naming only its id.
const leadsFlow = `name: leads
object_type: contacts
trigger: lifecyclestage == "lead"
actions:
  - type: notify_user
    to: sales@example.com
    subject: "Call lead {{id}}"
    body: "Lead {{id}} is waiting."
`

// leads makes sales@example.com a user of the tenant and activates leadsFlow.
func (fb *flowBundle) leads(t *testing.T) crm.Flow {
	t.Helper()
	_, err := fb.store.CreateUser(fb.ctx, fb.tenant, "sales@example.com", crm.Permissions{crm.PermRead}, "admin@example.com")
	require.NoError(t, err)
	return fb.activate(t, "leads", leadsFlow)
}

// pauseAndReactivate pauses the leads workflow, as ops do when it emails the wrong people, and
// activates it again a minute later; it returns the new activation.
func (fb *flowBundle) pauseAndReactivate(t *testing.T) crm.Flow {
	t.Helper()
	_, err := fb.store.PauseFlow(fb.ctx, fb.tenant, "leads", nil)
	require.NoError(t, err)
	fb.clock.Advance(time.Minute)
	f, err := fb.store.ActivateFlow(fb.ctx, fb.tenant, "leads", crm.ActivateFlowParams{By: activatorEmail})
	require.NoError(t, err)
	return f
}

// An email a workflow's step queued before the workflow was paused is never sent, even once the
// workflow is activated again: its retry drops it, with the reason workflow_reactivated, and it
// stays dropped. The emails the new activation's steps queue go out, and so does one whose task
// was queued by a version that did not record the activation.
func TestNotificationQueuedBeforePauseIsDroppedAfterReactivation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fb := &flowBundle{testBundle: b, client: b.client(t)}
	first := fb.leads(t)
	srv := startSMTP(t, smtptest.Options{})
	srv.Stop()
	cfg := b.config()
	cfg.Mail = srv.mailConfig()
	b.startWorker(t, cfg)

	// The step queues the email under the first activation; SMTP is down, so it waits for a retry.
	old := fb.contact(t, map[string]string{"lifecyclestage": "lead"})
	require.NoError(t, fb.client.EnqueueChangesDrain(b.ctx, b.tenant, b.clock.Now()))
	var info *asynq.TaskInfo
	eventually(t, 10*time.Second, "the step's email to fail and wait for a retry", func() bool {
		retry, err := b.insp.ListRetryTasks(worker.QueueCritical)
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return false
		}
		require.NoError(t, err)
		if len(retry) == 1 {
			info = retry[0]
		}
		return info != nil
	})
	var p worker.MailSendPayload
	require.NoError(t, json.Unmarshal(info.Payload, &p))
	require.Equal(t, old, p.RecordID)
	require.True(t, first.ActivatedAt.Equal(p.ActivatedAt), "the email names the activation its step ran under")

	second := fb.pauseAndReactivate(t)
	require.False(t, second.ActivatedAt.Equal(first.ActivatedAt))
	drop := b.retryDropped(t, srv, info)
	require.Equal(t, "workflow_reactivated", drop.Reason)
	require.Equal(t, p.IdempotencyKey, drop.MailID)
	require.Equal(t, "leads", drop.Ref)
	require.Equal(t, []crm.RecordID{old}, drop.RecordIDs)

	// The new activation's step emails as it should.
	fresh := fb.contact(t, map[string]string{"lifecyclestage": "lead"})
	require.NoError(t, fb.client.EnqueueChangesDrain(b.ctx, b.tenant, b.clock.Now()))
	eventually(t, 10*time.Second, "the new activation's email to arrive", func() bool { return len(srv.Messages()) == 1 })
	require.Contains(t, srv.Messages()[0].Data, "Subject: Call lead "+string(fresh)+"\r\n")

	// The dropped email stays dropped: its task run again sends nothing.
	w := b.mailWorker(t, srv)
	require.NoError(t, w.HandleMailSend(b.ctx, asynq.NewTask(info.Type, info.Payload)))
	require.Len(t, srv.Messages(), 1)

	// A task queued by a version that did not record the activation belongs to the current one.
	legacy := p
	legacy.IdempotencyKey, legacy.ActivatedAt = "n-legacy", time.Time{}
	task, err := worker.NewMailSendTask(legacy)
	require.NoError(t, err)
	require.NotContains(t, string(task.Payload()), "activated_at")
	require.NoError(t, w.HandleMailSend(b.ctx, task))
	require.Len(t, srv.Messages(), 2)
	require.Contains(t, srv.Messages()[1].Data, "Subject: Call lead "+string(old)+"\r\n")
}

// Without SMTP, an email a workflow's step queued before the workflow was paused is not kept in the
// outbox, even once the workflow is activated again: it is dropped as an SMTP delivery would drop
// it, and stays dropped. The new activation's emails are kept.
func TestOutboxDropsNotificationQueuedBeforePause(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	b.leads(t)
	// runQueue runs the pending tasks of queue q once each, as a server would.
	runQueue := func(q string) {
		t.Helper()
		pending, err := b.insp.ListPendingTasks(q)
		require.NoError(t, err)
		require.NotEmpty(t, pending)
		for _, ti := range pending {
			require.NoError(t, b.insp.DeleteTask(ti.Queue, ti.ID))
			require.NoError(t, b.w.ProcessTask(b.ctx, asynq.NewTask(ti.Type, ti.Payload)))
		}
	}
	outbox := func() []crm.Mail {
		t.Helper()
		out, err := b.store.Outbox(b.ctx, b.tenant, 0)
		require.NoError(t, err)
		return out
	}

	// The step runs and queues its email; the workflow is paused and activated again before a
	// worker takes the email.
	old := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	require.NoError(t, b.w.ProcessTask(b.ctx, worker.NewChangesDrainTask(b.tenant, b.clock.Now())))
	runQueue(worker.QueueDefault)
	pending, err := b.insp.ListPendingTasks(worker.QueueCritical)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	stale := pending[0]
	b.pauseAndReactivate(t)
	runQueue(worker.QueueCritical)
	require.Empty(t, outbox())
	drop := b.lastDrop(t)
	require.Equal(t, "workflow_reactivated", drop.Reason)
	require.Equal(t, []crm.RecordID{old}, drop.RecordIDs)
	require.InDelta(t, 1, metricValue(t, b.reg, "crmflow_mail_dropped_total", "workflow_notification"), 0)

	// Run again, it is not kept either.
	require.NoError(t, b.w.ProcessTask(b.ctx, asynq.NewTask(stale.Type, stale.Payload)))
	require.Empty(t, outbox())

	// The new activation's step's email is kept.
	fresh := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	b.clock.Advance(time.Second)
	b.drain(t)
	out := outbox()
	require.Len(t, out, 1)
	require.Equal(t, "Call lead "+string(fresh), out[0].Subject)

	// Paused, the workflow has its queued emails dropped from the outbox path too.
	_, err = b.store.PauseFlow(b.ctx, b.tenant, "leads", nil)
	require.NoError(t, err)
	var p worker.MailSendPayload
	require.NoError(t, json.Unmarshal(stale.Payload, &p))
	p.IdempotencyKey, p.ActivatedAt = "n-paused", time.Time{}
	task, err := worker.NewMailSendTask(p)
	require.NoError(t, err)
	require.NoError(t, b.w.ProcessTask(b.ctx, task))
	require.Len(t, outbox(), 1)
	require.Equal(t, "workflow_inactive", b.lastDrop(t).Reason)
}

// Without SMTP the outbox keeps the templates and the reference; reading it renders them, or says
// the contact was erased. An email about an erased contact is not kept at all.
func TestOutboxKeepsNotificationTemplates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.notifier(t, "nurture")
	w, err := worker.New(b.store, b.queue, b.config())
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: secretContact}}, crm.Actor{})
	require.NoError(t, err)
	id := recs[0].ID
	task, err := worker.NewMailSendTask(notification(b.tenant, id, "n-out"))
	require.NoError(t, err)
	require.NoError(t, w.ProcessTask(b.ctx, task))

	out, err := b.store.Outbox(b.ctx, b.tenant, 0)
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Equal(t, "Call Erinwyn Erasmussen at +46-555-0142-999", out[0].Subject)
	require.False(t, out[0].Erased)
	require.Equal(t, t0.Add(worker.DefaultOutboxRetention), out[0].ExpiresAt)
	raw, err := b.rdb.LRange(b.ctx, redisstore.OutboxKey(b.tenant), 0, -1).Result()
	require.NoError(t, err)
	require.Contains(t, raw[0], "{{firstname}}")
	require.NotContains(t, raw[0], "Erinwyn")

	_, err = b.store.PermanentDeleteContact(b.ctx, b.tenant, crm.PermanentDeleteParams{ID: id, By: "dpo@example.com"})
	require.NoError(t, err)
	out, err = b.store.Outbox(b.ctx, b.tenant, 0)
	require.NoError(t, err)
	require.True(t, out[0].Erased)
	require.Equal(t, "Workflow nurture: contact "+string(id)+" (erased)", out[0].Subject)

	// A notification queued before the erasure and run after it is dropped, not kept.
	late, err := worker.NewMailSendTask(notification(b.tenant, id, "n-late"))
	require.NoError(t, err)
	require.NoError(t, w.ProcessTask(b.ctx, late))
	out, err = b.store.Outbox(b.ctx, b.tenant, 0)
	require.NoError(t, err)
	require.Len(t, out, 1)
	requireNoTrace(t, redistest.DumpAll(t, b.rdb))
}

func TestOutboxNotificationsExpire(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.notifier(t, "nurture")
	cfg := b.config()
	cfg.OutboxRetention = 24 * time.Hour
	w, err := worker.New(b.store, b.queue, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "A"}}}, crm.Actor{})
	require.NoError(t, err)
	run := func(key string) {
		task, err := worker.NewMailSendTask(notification(b.tenant, recs[0].ID, key))
		require.NoError(t, err)
		require.NoError(t, w.ProcessTask(b.ctx, task))
	}
	ids := func() []string {
		out, err := b.store.Outbox(b.ctx, b.tenant, 0)
		require.NoError(t, err)
		var ids []string
		for _, m := range out {
			ids = append(ids, m.ID)
		}
		return ids
	}
	run("old")
	// A confirmation (no record reference) never expires.
	_, err = b.store.AppendOutbox(b.ctx, b.tenant, crm.Mail{ID: "confirm", To: "dpo@example.com", Subject: "done", Body: "b", Kind: "permanent_delete_confirmation"}, nil)
	require.NoError(t, err)
	b.clock.Advance(23 * time.Hour)
	run("young")
	require.Equal(t, []string{"old", "confirm", "young"}, ids())

	// Past its expiry the next append removes it.
	b.clock.Advance(time.Hour)
	run("new")
	require.Equal(t, []string{"confirm", "young", "new"}, ids())

	// Without appends, the mail sweep (ExpireOutbox) removes the expired ones.
	b.clock.Advance(48 * time.Hour)
	n, err := b.store.ExpireOutbox(b.ctx, b.tenant, b.clock.Now(), 100)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, []string{"confirm"}, ids())
	left, err := b.rdb.ZCard(b.ctx, redisstore.OutboxExpiryKey(b.tenant)).Result()
	require.NoError(t, err)
	require.Zero(t, left)
}

// A workflow that notifies on every record, on a deployment without SMTP, fills the tenant's outbox
// only up to Config.OutboxMax: the oldest notifications make room, counted in a metric, in the
// store, and in a warning that says what to do.
func TestOutboxFullDropsOldestNotifications(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.notifier(t, "nurture")
	cfg := b.config()
	cfg.OutboxMax = 2
	w, err := worker.New(b.store, b.queue, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	ids := b.records(t, b.tenant, crm.Contacts, 5, map[string]string{"firstname": "A"})
	for i, id := range ids {
		b.clock.Advance(time.Second)
		task, err := worker.NewMailSendTask(notification(b.tenant, id, fmt.Sprint("n", i)))
		require.NoError(t, err)
		require.NoError(t, w.ProcessTask(b.ctx, task))
	}
	out, err := b.store.Outbox(b.ctx, b.tenant, 0)
	require.NoError(t, err)
	require.Len(t, out, 2)
	require.Equal(t, "n3", out[0].ID)
	require.Equal(t, "n4", out[1].ID)

	drops, err := b.store.OutboxDropped(b.ctx, b.tenant)
	require.NoError(t, err)
	require.EqualValues(t, 3, drops.Count)
	require.InDelta(t, 3, metricValue(t, b.reg, "crmflow_mail_outbox_dropped_total", ""), 0)
	require.Contains(t, b.logs.String(), "raise --outbox-max")
	require.NotContains(t, b.logs.String(), "sales@example.com", "the log names no address")
}

// pauseAndReactivateAtOnce pauses the leads workflow and activates it again in the same
// millisecond, as a script calling the API may; it returns the new activation.
func (fb *flowBundle) pauseAndReactivateAtOnce(t *testing.T) crm.Flow {
	t.Helper()
	_, err := fb.store.PauseFlow(fb.ctx, fb.tenant, "leads", nil)
	require.NoError(t, err)
	f, err := fb.store.ActivateFlow(fb.ctx, fb.tenant, "leads", crm.ActivateFlowParams{By: activatorEmail})
	require.NoError(t, err)
	return f
}

// pendingTasks returns the tasks waiting in queue q.
func (fb *flowBundle) pendingTasks(t *testing.T, q string) []*asynq.TaskInfo {
	t.Helper()
	pending, err := fb.insp.ListPendingTasks(q)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	require.NoError(t, err)
	return pending
}

// runTask takes the task ti off its queue and runs it, as a server would.
func (fb *flowBundle) runTask(t *testing.T, ti *asynq.TaskInfo) {
	t.Helper()
	require.NoError(t, fb.insp.DeleteTask(ti.Queue, ti.ID))
	require.NoError(t, fb.w.ProcessTask(fb.ctx, asynq.NewTask(ti.Type, ti.Payload)))
}

// An email queued before a pause is dropped even when the workflow is activated again in the same
// millisecond: the two activations share their activated_at, and their numbers tell them apart,
// in the outbox and at an SMTP delivery alike.
func TestNotificationQueuedBeforePauseIsDroppedAfterReactivationInTheSameMillisecond(t *testing.T) {
	t.Parallel()
	b := setupFlows(t, 0)
	first := b.leads(t)
	old := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	require.NoError(t, b.w.ProcessTask(b.ctx, worker.NewChangesDrainTask(b.tenant, b.clock.Now())))
	steps := b.pendingTasks(t, worker.QueueDefault)
	require.Len(t, steps, 1)
	b.runTask(t, steps[0])
	mails := b.pendingTasks(t, worker.QueueCritical)
	require.Len(t, mails, 1)
	var p worker.MailSendPayload
	require.NoError(t, json.Unmarshal(mails[0].Payload, &p))
	require.Equal(t, first.Activation, p.Activation, "the email names the activation its step ran under")

	second := b.pauseAndReactivateAtOnce(t)
	require.True(t, second.ActivatedAt.Equal(first.ActivatedAt), "the clock did not move: both activations share a millisecond")
	require.NotEqual(t, first.Activation, second.Activation)

	// Over SMTP: the claim drops it.
	ref := crm.MailRef{ObjectType: p.ObjectType, RecordID: p.RecordID, Workflow: p.Workflow, ActivatedAt: p.ActivatedAt, Activation: p.Activation}
	c, err := b.store.ClaimRecordMail(b.ctx, b.tenant, "n-smtp", "token", time.Minute, crm.MailDelivery{Ref: ref, To: p.To})
	require.NoError(t, err)
	require.Equal(t, crm.MailWorkflowStopped, c)
	require.Equal(t, "workflow_reactivated", b.lastDrop(t).Reason)

	// In the outbox: the task drops it.
	b.runTask(t, mails[0])
	out, err := b.store.Outbox(b.ctx, b.tenant, 0)
	require.NoError(t, err)
	require.Empty(t, out)
	drop := b.lastDrop(t)
	require.Equal(t, "workflow_reactivated", drop.Reason)
	require.Equal(t, p.IdempotencyKey, drop.MailID)
	require.Equal(t, []crm.RecordID{old}, drop.RecordIDs)

	// The new activation's emails are kept, and one queued under the old activation by a version
	// that did not number activations still belongs to the current one.
	fresh := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	b.drain(t)
	out, err = b.store.Outbox(b.ctx, b.tenant, 0)
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Equal(t, "Call lead "+string(fresh), out[0].Subject)
	require.Equal(t, second.Activation, out[0].Ref.Activation)
	legacy := p
	legacy.IdempotencyKey, legacy.Activation = "n-legacy", 0
	task, err := worker.NewMailSendTask(legacy)
	require.NoError(t, err)
	require.NotContains(t, string(task.Payload()), `"activation"`)
	require.NoError(t, b.w.ProcessTask(b.ctx, task))
	out, err = b.store.Outbox(b.ctx, b.tenant, 0)
	require.NoError(t, err)
	require.Len(t, out, 2)
}

// A step that queued its email and died before recording its result runs again under the
// activation current then: its email goes out once, under that activation. The first
// activation's copy, queued before the pause, is dropped; the new activation's copy of the same
// email is kept, whether the first copy was dropped before the step ran again or is still queued
// then. Had the first copy been kept (or sent) before the pause, the step's run again keeps
// nothing more.
func TestStepRunAgainUnderNewActivationSendsItsEmailOnce(t *testing.T) {
	t.Parallel()
	// crashedStep runs the leads workflow's step on a new lead up to its email, queued as
	// notify_user queues it under the first activation, and returns the step's task (its result
	// not recorded) and the email's payload.
	crashedStep := func(t *testing.T, b *flowBundle) (*asynq.TaskInfo, worker.MailSendPayload) {
		t.Helper()
		first := b.leads(t)
		id := b.contact(t, map[string]string{"lifecyclestage": "lead"})
		require.NoError(t, b.w.ProcessTask(b.ctx, worker.NewChangesDrainTask(b.tenant, b.clock.Now())))
		steps := b.pendingTasks(t, worker.QueueDefault)
		require.Len(t, steps, 1)
		sum := sha256.Sum256([]byte(engine.InvocationKey("leads", first.ActiveRevision, crm.Contacts, id, 1, 0)))
		p := worker.MailSendPayload{TenantID: b.tenant, To: "sales@example.com", Subject: "Call lead {{id}}",
			Body: "Lead {{id}} is waiting.", Kind: "workflow_notification", IdempotencyKey: "workflow-" + hex.EncodeToString(sum[:16]),
			ObjectType: crm.Contacts, RecordID: id, Workflow: "leads", ActivatedAt: first.ActivatedAt, Activation: first.Activation}
		_, err := b.client.EnqueueMailSend(b.ctx, p)
		require.NoError(t, err)
		return steps[0], p
	}
	outbox := func(t *testing.T, b *flowBundle) []crm.Mail {
		t.Helper()
		out, err := b.store.Outbox(b.ctx, b.tenant, 0)
		require.NoError(t, err)
		return out
	}

	t.Run("FirstCopyDroppedBefore", func(t *testing.T) {
		t.Parallel()
		b := setupFlows(t, 0)
		step, p := crashedStep(t, b)
		second := b.pauseAndReactivate(t)
		copies := b.pendingTasks(t, worker.QueueCritical)
		require.Len(t, copies, 1)
		b.runTask(t, copies[0])
		require.Empty(t, outbox(t, b))
		require.Equal(t, "workflow_reactivated", b.lastDrop(t).Reason)

		b.runTask(t, step)
		copies = b.pendingTasks(t, worker.QueueCritical)
		require.Len(t, copies, 1, "the step queued its email under the new activation")
		var again worker.MailSendPayload
		require.NoError(t, json.Unmarshal(copies[0].Payload, &again))
		require.Equal(t, p.IdempotencyKey, again.IdempotencyKey, "the same email")
		require.True(t, second.ActivatedAt.Equal(again.ActivatedAt))
		b.runTask(t, copies[0])
		out := outbox(t, b)
		require.Len(t, out, 1, "kept under the activation that ran the step")
		require.Equal(t, "Call lead "+string(p.RecordID), out[0].Subject)
		require.Equal(t, 1, b.mailDrops(t))

		// Each copy run again does nothing more.
		for _, ti := range []*asynq.TaskInfo{copies[0]} {
			require.NoError(t, b.w.ProcessTask(b.ctx, asynq.NewTask(ti.Type, ti.Payload)))
		}
		pt, err := worker.NewMailSendTask(p)
		require.NoError(t, err)
		require.NoError(t, b.w.ProcessTask(b.ctx, pt))
		require.Len(t, outbox(t, b), 1)
		require.Equal(t, 1, b.mailDrops(t))
	})

	t.Run("FirstCopyStillQueued", func(t *testing.T) {
		t.Parallel()
		b := setupFlows(t, 0)
		step, _ := crashedStep(t, b)
		b.pauseAndReactivate(t)
		b.runTask(t, step)
		require.Len(t, b.pendingTasks(t, worker.QueueCritical), 2, "each activation's copy is a task of its own")
		b.runTasks(t)
		require.Len(t, outbox(t, b), 1)
		require.Equal(t, 1, b.mailDrops(t))
		require.Equal(t, "workflow_reactivated", b.lastDrop(t).Reason)
	})

	t.Run("FirstCopyKeptBefore", func(t *testing.T) {
		t.Parallel()
		b := setupFlows(t, 0)
		step, _ := crashedStep(t, b)
		copies := b.pendingTasks(t, worker.QueueCritical)
		require.Len(t, copies, 1)
		b.runTask(t, copies[0])
		require.Len(t, outbox(t, b), 1)
		b.pauseAndReactivate(t)
		b.runTask(t, step)
		b.runTasks(t)
		require.Len(t, outbox(t, b), 1, "the email went once")
		require.Zero(t, b.mailDrops(t))
	})
}

// A notification's task run again after its email was dropped (asynq delivers a task at least
// once) sends nothing and writes nothing: the drop is counted and audited once, over SMTP and in
// the outbox alike.
func TestDroppedNotificationRunAgainIsCountedOnce(t *testing.T) {
	t.Parallel()
	for _, smtp := range []bool{true, false} {
		t.Run(map[bool]string{true: "SMTP", false: "Outbox"}[smtp], func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.notifier(t, "nurture")
			srv := startSMTP(t, smtptest.Options{})
			w := b.mailWorker(t, srv)
			if !smtp {
				var err error
				w, err = worker.New(b.store, b.queue, b.config())
				require.NoError(t, err)
				t.Cleanup(func() { _ = w.Close() })
			}
			recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: secretContact}}, crm.Actor{})
			require.NoError(t, err)
			_, err = b.store.PauseFlow(b.ctx, b.tenant, "nurture", nil)
			require.NoError(t, err)
			task, err := worker.NewMailSendTask(notification(b.tenant, recs[0].ID, "n-twice"))
			require.NoError(t, err)
			for range 3 {
				require.NoError(t, w.ProcessTask(b.ctx, task))
			}
			require.Empty(t, srv.Messages())
			require.InDelta(t, 1, metricValue(t, b.reg, "crmflow_mail_dropped_total", "workflow_notification"), 0)
			require.Equal(t, 1, b.mailDrops(t))
		})
	}
}

// Without SMTP, a notification is checked against who may see it when the outbox keeps it, as at
// an SMTP delivery: reading the outbox renders it from the record, so one to a recipient who is no
// longer an enabled user, or showing the record's data on the authority of an activator who lost
// read, is dropped, not kept, audited and counted once however often its task runs.
func TestOutboxDropsNotificationNoLongerAllowed(t *testing.T) {
	t.Parallel()
	// run keeps notification key about a new secret contact through the outbox path, three times
	// (asynq delivers a task at least once), after revoke, and returns the contact's id.
	run := func(t *testing.T, b *testBundle, key string, revoke func()) crm.RecordID {
		t.Helper()
		b.notifier(t, "nurture")
		w, err := worker.New(b.store, b.queue, b.config())
		require.NoError(t, err)
		t.Cleanup(func() { _ = w.Close() })
		recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: secretContact}}, crm.Actor{})
		require.NoError(t, err)
		revoke()
		task, err := worker.NewMailSendTask(notification(b.tenant, recs[0].ID, key))
		require.NoError(t, err)
		for range 3 {
			require.NoError(t, w.ProcessTask(b.ctx, task))
		}
		return recs[0].ID
	}
	// dropped checks that nothing was kept and that the email was dropped, audited and counted once,
	// and returns the audit entry.
	dropped := func(t *testing.T, b *testBundle) crm.AuditEntry {
		t.Helper()
		out, err := b.store.Outbox(b.ctx, b.tenant, 0)
		require.NoError(t, err)
		require.Empty(t, out, "nothing kept for someone who may not see it")
		require.InDelta(t, 1, metricValue(t, b.reg, "crmflow_mail_dropped_total", "workflow_notification"), 0)
		require.InDelta(t, 0, metricValue(t, b.reg, "crmflow_mail_outbox_total", "workflow_notification"), 0)
		require.Equal(t, 1, b.mailDrops(t))
		return b.lastDrop(t)
	}

	t.Run("RecipientDisabled", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		id := run(t, b, "n-left", func() {
			_, err := b.store.SetUserDisabled(b.ctx, b.tenant, "sales@example.com", true, "admin@example.com")
			require.NoError(t, err)
		})
		drop := dropped(t, b)
		require.Equal(t, "recipient_gone", drop.Reason)
		require.Equal(t, "sales@example.com", drop.User)
		require.Equal(t, "n-left", drop.MailID)
		require.Equal(t, []crm.RecordID{id}, drop.RecordIDs)
		require.Contains(t, b.logs.String(), "recipient is no longer an enabled user")
	})

	t.Run("ActivatorLostRead", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		run(t, b, "n-noread", func() {
			_, err := b.store.SetUserPermissions(b.ctx, b.tenant, activatorEmail, crm.Permissions{crm.PermWorkflows}, "admin@example.com")
			require.NoError(t, err)
		})
		drop := dropped(t, b)
		require.Equal(t, "activator_lacks_read", drop.Reason)
		require.Equal(t, "n-noread", drop.MailID)
	})

	t.Run("AllowedIsKept", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		run(t, b, "n-ok", func() {})
		out, err := b.store.Outbox(b.ctx, b.tenant, 0)
		require.NoError(t, err)
		require.Len(t, out, 1)
		require.Equal(t, "Call Erinwyn Erasmussen at +46-555-0142-999", out[0].Subject)
		require.InDelta(t, 1, metricValue(t, b.reg, "crmflow_mail_outbox_total", "workflow_notification"), 0)
		require.InDelta(t, 0, metricValue(t, b.reg, "crmflow_mail_dropped_total", "workflow_notification"), 0)
	})
}
