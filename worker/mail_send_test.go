package worker_test

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
	"github.com/crmflow/crmflow/internal/smtptest"
	"github.com/crmflow/crmflow/worker"
)

func TestMailSend(t *testing.T) {
	t.Parallel()

	t.Run("DeliveredOnceEvenWhenRunAgain", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := startSMTP(t, smtptest.Options{})
		cfg := b.config()
		cfg.Mail = srv.mailConfig()
		w := b.startWorker(t, cfg)

		task, err := worker.NewPermanentDeleteConfirmation(b.tenant, "admin@example.com", "1234", t0)
		require.NoError(t, err)
		info, err := b.client(t).Enqueue(b.ctx, task)
		require.NoError(t, err)
		require.Equal(t, worker.QueueCritical, info.Queue)

		eventually(t, 10*time.Second, "the email to arrive", func() bool { return len(srv.Messages()) == 1 })
		eventually(t, 10*time.Second, "the task to finish", func() bool {
			return b.taskState(t, worker.QueueCritical, info.ID) == "gone"
		})

		// asynq delivers at least once: the same task run again (a redelivery after the send) does
		// not send again.
		require.NoError(t, w.ProcessTask(b.ctx, task))
		msgs := srv.Messages()
		require.Len(t, msgs, 1)
		m := msgs[0]
		require.Equal(t, "crm@example.com", m.From)
		require.Equal(t, []string{"admin@example.com"}, m.To)
		require.Contains(t, m.Data, "To: <admin@example.com>\r\n")
		require.Contains(t, m.Data, "Subject: crmflow: your permanent delete is done\r\n")
		require.Contains(t, m.Data, "Message-ID: <")
		body := decodeQP(m.Data)
		require.Contains(t, body, "Deleted: contact 1234")
		require.Contains(t, body, "At: 2026-03-01 12:00:00 UTC")
		require.Contains(t, body, string(b.tenant))

		require.InDelta(t, 1, metricValue(t, b.reg, "crmflow_mail_sent_total", worker.KindPermanentDeleteConfirmation), 0)
		require.InDelta(t, 2, metricValue(t, b.reg, "crmflow_worker_tasks_processed_total", worker.TypeMailSend), 0)
		// Nothing went to the outbox.
		out, err := b.store.Outbox(b.ctx, b.tenant, 0)
		require.NoError(t, err)
		require.Empty(t, out)
		// One log line per task, with its id, type and tenant.
		require.Contains(t, b.logs.String(), `"task_id":"`+info.ID+`"`)
		require.Contains(t, b.logs.String(), `"type":"mail:send"`)
		require.Contains(t, b.logs.String(), `"tenant_id":"`+string(b.tenant)+`"`)
		require.NotContains(t, b.logs.String(), "admin@example.com", "the address is personal data: it stays out of the logs")
	})

	t.Run("RetriedOnTemporaryFailureAndDeliveredOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := startSMTP(t, smtptest.Options{FailData: 2})
		cfg := b.config()
		cfg.Mail = srv.mailConfig()
		b.startWorker(t, cfg)

		info, err := b.client(t).EnqueueMailSend(b.ctx, worker.MailSendPayload{
			TenantID: b.tenant, To: "admin@example.com", Subject: "Hello", Body: "Hi there", Kind: "test",
		})
		require.NoError(t, err)
		require.Equal(t, worker.MailMaxRetry, info.MaxRetry)
		eventually(t, 20*time.Second, "the email to arrive after two 451s", func() bool {
			// The retry's delay is a millisecond, but asynq moves due retries only every few
			// seconds: run them at once instead.
			_, _ = b.insp.RunAllRetryTasks(worker.QueueCritical)
			return len(srv.Messages()) == 1
		})
		eventually(t, 10*time.Second, "the task to finish", func() bool {
			return b.taskState(t, worker.QueueCritical, info.ID) == "gone"
		})
		require.Equal(t, 3, srv.DataAttempts())
		require.Len(t, srv.Messages(), 1)
		require.InDelta(t, 2, metricValue(t, b.reg, "crmflow_mail_failed_total", "other"), 0) // a kind crmflow does not send
		require.InDelta(t, 1, metricValue(t, b.reg, "crmflow_mail_sent_total", "other"), 0)
		require.InDelta(t, 2, metricValue(t, b.reg, "crmflow_worker_tasks_failed_total", worker.TypeMailSend), 0)
	})

	t.Run("PermanentRefusalIsArchivedNotDropped", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := startSMTP(t, smtptest.Options{RejectRcpt: true})
		cfg := b.config()
		cfg.Mail = srv.mailConfig()
		b.startWorker(t, cfg)

		info, err := b.client(t).EnqueueMailSend(b.ctx, worker.MailSendPayload{
			TenantID: b.tenant, To: "nobody@example.com", Subject: "Hello", Body: "Hi", Kind: "test",
		})
		require.NoError(t, err)
		eventually(t, 10*time.Second, "the task to be archived", func() bool {
			return b.taskState(t, worker.QueueCritical, info.ID) == "archived"
		})
		archived, err := b.insp.GetTaskInfo(worker.QueueCritical, info.ID)
		require.NoError(t, err)
		require.Contains(t, archived.LastErr, "550")
		require.Equal(t, 0, archived.Retried, "a 5xx is not retried")
		require.Empty(t, srv.Messages())
		// The server's reply named the address; neither the task's error nor the logs do.
		require.Contains(t, archived.LastErr, "<recipient>: Recipient address rejected")
		require.NotContains(t, archived.LastErr, "nobody@example.com")
		require.NotContains(t, b.logs.String(), "nobody@example.com")
	})

	t.Run("RefusalNamingTheAddressInOtherCapitalsIsRedacted", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, tc := range []struct{ to, spelt string }{
			{"nobody@example.com", "NoBody@Example.COM"},
			{"åsa@exempel.se", "ÅSA@EXEMPEL.SE"},
		} {
			srv := startSMTP(t, smtptest.Options{RejectRcpt: true, SMTPUTF8: true, RejectRcptAs: func(string) string { return tc.spelt }})
			task, err := worker.NewMailSendTask(worker.MailSendPayload{
				TenantID: b.tenant, To: tc.to, Subject: "Hello", Body: "Hi", Kind: "test",
			})
			require.NoError(t, err)
			err = b.mailWorker(t, srv).ProcessTask(b.ctx, task)
			require.ErrorIs(t, err, asynq.SkipRetry)
			require.ErrorContains(t, err, "<recipient>: Recipient address rejected")
			require.NotContains(t, err.Error(), tc.spelt)
			require.NotContains(t, b.logs.String(), tc.spelt)
		}
	})

	t.Run("ConnectionDroppedAfterDataIsRetriedWithTheSameMessageID", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := startSMTP(t, smtptest.Options{DropAfterData: 1})
		w := b.mailWorker(t, srv)

		task, err := worker.NewMailSendTask(worker.MailSendPayload{
			TenantID: b.tenant, To: "admin@example.com", Subject: "Hello", Body: "Hi", Kind: "test",
		})
		require.NoError(t, err)
		// The server kept the message but its reply never came: the worker cannot know, and retries.
		err = w.ProcessTask(b.ctx, task)
		require.Error(t, err)
		require.NotErrorIs(t, err, asynq.SkipRetry)
		require.NoError(t, w.ProcessTask(b.ctx, task))
		require.NoError(t, w.ProcessTask(b.ctx, task), "delivered: a third run sends nothing")
		msgs := srv.Messages()
		require.Len(t, msgs, 2, "at least once: the copy the server kept, then the retry")
		id := func(m smtptest.Message) string {
			parsed, err := mail.ReadMessage(strings.NewReader(m.Data))
			require.NoError(t, err)
			return parsed.Header.Get("Message-Id")
		}
		require.NotEmpty(t, id(msgs[0]))
		require.Equal(t, id(msgs[0]), id(msgs[1]), "the copies share a Message-ID, so a mail system can tell them apart")
	})

	t.Run("RefusedCredentialsAreRetried", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := startSMTP(t, smtptest.Options{TLS: true, Auth: true})
		cfg := b.config()
		cfg.Mail = srv.mailConfig()
		cfg.Mail.Password = "wrong"
		w, err := worker.New(b.store, b.queue, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, w.Close()) })

		task, err := worker.NewMailSendTask(worker.MailSendPayload{
			TenantID: b.tenant, To: "admin@example.com", Subject: "Hello", Body: "Hi", Kind: "test",
		})
		require.NoError(t, err)
		err = w.ProcessTask(b.ctx, task)
		require.ErrorContains(t, err, "535")
		require.ErrorContains(t, err, "SMTP_PASSWORD")
		require.NotErrorIs(t, err, asynq.SkipRetry, "refused credentials are the configuration's fault: retried once fixed")
		require.Empty(t, srv.Messages())

		// The password fixed, the retry delivers.
		cfg.Mail.Password = smtptest.Password
		fixed, err := worker.New(b.store, b.queue, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, fixed.Close()) })
		require.NoError(t, fixed.ProcessTask(b.ctx, task))
		require.Len(t, srv.Messages(), 1)
	})

	t.Run("AddressOutsideASCII", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		plain := startSMTP(t, smtptest.Options{})
		utf8 := startSMTP(t, smtptest.Options{SMTPUTF8: true})
		task, err := worker.NewMailSendTask(worker.MailSendPayload{
			TenantID: b.tenant, To: "åsa@exempel.se", Subject: "Hej Åsa", Body: "Hej", Kind: "test",
		})
		require.NoError(t, err)
		for _, srv := range []*smtpServer{plain, utf8} {
			cfg := b.config()
			cfg.Mail = srv.mailConfig()
			w, err := worker.New(b.store, b.queue, cfg)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, w.Close()) })
			err = w.ProcessTask(b.ctx, task)
			if srv == plain {
				// It never can go through this server: archived at once, not retried for a day.
				require.ErrorIs(t, err, asynq.SkipRetry)
				require.ErrorContains(t, err, "SMTPUTF8")
				continue
			}
			require.NoError(t, err)
		}
		require.Empty(t, plain.Messages())
		msgs := utf8.Messages()
		require.Len(t, msgs, 1)
		require.Equal(t, []string{"åsa@exempel.se"}, msgs[0].To)
		require.Contains(t, msgs[0].Data, "To: <åsa@exempel.se>\r\n")
	})

	// An address kept with its domain in Unicode (crm.NormalizeEmail) goes with the domain's
	// ASCII form, so that a server without SMTPUTF8 takes it.
	t.Run("DomainOutsideASCII", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		plain := startSMTP(t, smtptest.Options{})
		task, err := worker.NewMailSendTask(worker.MailSendPayload{
			TenantID: b.tenant, To: "ops@bücher.example", Subject: "Hello", Body: "Hello", Kind: "test",
		})
		require.NoError(t, err)
		require.NoError(t, b.mailWorker(t, plain).ProcessTask(b.ctx, task))
		msgs := plain.Messages()
		require.Len(t, msgs, 1)
		require.Equal(t, []string{"ops@xn--bcher-kva.example"}, msgs[0].To)
		require.Contains(t, msgs[0].Data, "To: <ops@xn--bcher-kva.example>\r\n")
	})

	t.Run("StartTLSWithAuth", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := startSMTP(t, smtptest.Options{TLS: true, Auth: true})
		w := b.mailWorker(t, srv)

		task, err := worker.NewMailSendTask(worker.MailSendPayload{
			TenantID: b.tenant, To: "admin@example.com", Subject: "Grüße", Body: "Ünïcödé body", Kind: "test",
		})
		require.NoError(t, err)
		require.NoError(t, w.ProcessTask(b.ctx, task))
		msgs := srv.Messages()
		require.Len(t, msgs, 1)
		require.True(t, msgs[0].TLS, "the message went over STARTTLS")
		require.Equal(t, "mailer", msgs[0].User)
		require.Contains(t, msgs[0].Data, "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n")
	})

	t.Run("OpportunisticStartTLS", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tlsSrv := startSMTP(t, smtptest.Options{TLS: true})
		plainSrv := startSMTP(t, smtptest.Options{})
		for _, srv := range []*smtpServer{tlsSrv, plainSrv} {
			cfg := b.config()
			cfg.Mail = srv.mailConfig()
			cfg.Mail.StartTLS = worker.StartTLSOpportunistic
			w, err := worker.New(b.store, b.queue, cfg)
			require.NoError(t, err)
			task, err := worker.NewMailSendTask(worker.MailSendPayload{
				TenantID: b.tenant, To: "admin@example.com", Subject: "Hello", Body: "Hi", Kind: "test",
			})
			require.NoError(t, err)
			require.NoError(t, w.ProcessTask(b.ctx, task))
			require.NoError(t, w.Close())
		}
		require.Len(t, tlsSrv.Messages(), 1)
		require.True(t, tlsSrv.Messages()[0].TLS, "upgraded when the server offers STARTTLS")
		require.Len(t, plainSrv.Messages(), 1)
		require.False(t, plainSrv.Messages()[0].TLS, "clear text when it does not")
	})

	t.Run("MandatoryStartTLSRefusesAPlainServer", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := startSMTP(t, smtptest.Options{})
		cfg := b.config()
		cfg.Mail = srv.mailConfig()
		cfg.Mail.StartTLS = worker.StartTLSMandatory
		w, err := worker.New(b.store, b.queue, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, w.Close()) })

		task, err := worker.NewMailSendTask(worker.MailSendPayload{
			TenantID: b.tenant, To: "admin@example.com", Subject: "Hello", Body: "Hi", Kind: "test",
		})
		require.NoError(t, err)
		err = w.ProcessTask(b.ctx, task)
		require.ErrorContains(t, err, "STARTTLS")
		require.NotErrorIs(t, err, asynq.SkipRetry, "a configuration problem is retried once fixed")
		require.Empty(t, srv.Messages())
		// The failed attempt released its lease: a retry may deliver at once.
		claim, err := b.store.ClaimMail(b.ctx, b.tenant, mailID(t, task), "next-attempt", time.Minute)
		require.NoError(t, err)
		require.Equal(t, crm.MailClaimed, claim)
	})

	t.Run("SubjectsAreFoldedAndDecodeBack", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := startSMTP(t, smtptest.Options{})
		w := b.mailWorker(t, srv)

		subjects := []string{
			strings.Repeat("Åsa Öberg 😀 ", 30),
			strings.Repeat("plainword ", 150),
			strings.Repeat("y", 1500),
			"two  spaces " + strings.Repeat("and more  ", 40),
			"a\u2028Bcc: evil@example.com",
			"a\u0085Bcc: evil@example.com",
			"=?utf-8?q?not_an_encoded_word?=",
			"Short and plain",
		}
		for _, subject := range subjects {
			task, err := worker.NewMailSendTask(worker.MailSendPayload{
				TenantID: b.tenant, To: "admin@example.com", Subject: subject, Body: "Hi", Kind: "test",
			})
			require.NoError(t, err)
			require.NoError(t, w.ProcessTask(b.ctx, task))
		}
		msgs := srv.Messages()
		require.Len(t, msgs, len(subjects))
		for i, m := range msgs {
			head, _, ok := strings.Cut(m.Data, "\r\n\r\n")
			require.True(t, ok)
			for _, line := range strings.Split(head, "\r\n") {
				require.LessOrEqual(t, len(line), 78, "subject %d: header line %q", i, line)
			}
			parsed, err := mail.ReadMessage(strings.NewReader(m.Data))
			require.NoError(t, err)
			keys := make([]string, 0, len(parsed.Header))
			for k := range parsed.Header {
				keys = append(keys, k)
			}
			require.ElementsMatch(t, []string{"From", "To", "Subject", "Date", "Message-Id", "Mime-Version",
				"Content-Type", "Content-Transfer-Encoding"}, keys, "no header added")
			got, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
			require.NoError(t, err)
			require.Equal(t, strings.TrimSpace(subjects[i]), strings.TrimSpace(got), "subject %d decodes back", i)
			_, err = mail.ParseDate(parsed.Header.Get("Date"))
			require.NoError(t, err)
			require.Regexp(t, `^<[0-9a-f]{32}@crmflow>$`, parsed.Header.Get("Message-Id"))
		}
	})

	t.Run("HostileRecordValuesStayInTheSubjectAndBody", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.notifier(t, "leads")
		srv := startSMTP(t, smtptest.Options{})
		w := b.mailWorker(t, srv)
		recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{
			"email":     "eve@example.com",
			"firstname": "Eve\r\nBcc: evil@example.com",
			"lastname":  "\u2028X-Evil: 1\u0085Cc: evil@example.com",
			"city":      "Umeå\n.\nRCPT TO:<evil@example.com>\r\n.\r\nDATA\n..\n.",
		}}}, crm.Actor{})
		require.NoError(t, err)

		task, err := worker.NewMailSendTask(worker.MailSendPayload{TenantID: b.tenant, To: "sales@example.com",
			Kind: "workflow_notification", Subject: "New lead {{firstname}} {{lastname}}", Body: "City: {{city}}\nend",
			IdempotencyKey: "hostile", ObjectType: crm.Contacts, RecordID: recs[0].ID, Workflow: "leads"})
		require.NoError(t, err)
		require.NoError(t, w.ProcessTask(b.ctx, task))
		msgs := srv.Messages()
		require.Len(t, msgs, 1, "one message: nothing in the body ended it early")
		require.Equal(t, []string{"sales@example.com"}, msgs[0].To, "no recipient smuggled")
		parsed, err := mail.ReadMessage(strings.NewReader(msgs[0].Data))
		require.NoError(t, err)
		require.Empty(t, parsed.Header.Get("Bcc"))
		require.Empty(t, parsed.Header.Get("Cc"))
		require.Empty(t, parsed.Header.Get("X-Evil"))
		subject, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
		require.NoError(t, err)
		require.Equal(t, "New lead Eve Bcc: evil@example.com X-Evil: 1 Cc: evil@example.com", subject, "one line")
		body, err := io.ReadAll(quotedprintable.NewReader(parsed.Body))
		require.NoError(t, err)
		require.Equal(t, "City: Umeå\r\n.\r\nRCPT TO:<evil@example.com>\r\n.\r\nDATA\r\n..\r\n.\r\nend\r\n", string(body))
	})

	// A body template that repeats a placeholder of a long value renders at most
	// crm.MaxNotificationBody bytes, sent or listed from the outbox.
	t.Run("LongRenderedBodyIsCut", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.notifier(t, "leads")
		srv := startSMTP(t, smtptest.Options{})
		w := b.mailWorker(t, srv)
		recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{
			"email": "eve@example.com", "city": strings.Repeat("x", crm.MaxValueBytes),
		}}}, crm.Actor{})
		require.NoError(t, err)
		p := worker.MailSendPayload{TenantID: b.tenant, To: "sales@example.com", Kind: "workflow_notification",
			Subject: "Lead", Body: strings.Repeat("{{city}}", 20), IdempotencyKey: "long",
			ObjectType: crm.Contacts, RecordID: recs[0].ID, Workflow: "leads"}
		task, err := worker.NewMailSendTask(p)
		require.NoError(t, err)
		require.NoError(t, w.ProcessTask(b.ctx, task))
		msgs := srv.Messages()
		require.Len(t, msgs, 1)
		parsed, err := mail.ReadMessage(strings.NewReader(msgs[0].Data))
		require.NoError(t, err)
		body, err := io.ReadAll(quotedprintable.NewReader(parsed.Body))
		require.NoError(t, err)
		require.LessOrEqual(t, len(body), crm.MaxNotificationBody+100, "CRLF line ends aside")
		require.Contains(t, string(body), "[This notification was cut")

		// The same notification kept in an outbox is listed cut too.
		p.IdempotencyKey = "long-kept"
		task, err = worker.NewMailSendTask(p)
		require.NoError(t, err)
		outboxWorker, err := worker.New(b.store, b.queue, b.config())
		require.NoError(t, err)
		t.Cleanup(func() { _ = outboxWorker.Close() })
		require.NoError(t, outboxWorker.ProcessTask(b.ctx, task))
		out, err := b.store.RecentOutbox(b.ctx, b.tenant, 1)
		require.NoError(t, err)
		require.Len(t, out, 1)
		require.LessOrEqual(t, len(out[0].Body), crm.MaxNotificationBody)
	})

	t.Run("NoSMTPKeepsTheEmailInTheOutbox", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		w := b.startWorker(t, b.config()) // zero MailConfig: no SMTP host

		task, err := worker.NewPermanentDeleteConfirmation(b.tenant, "admin@example.com", "77", t0)
		require.NoError(t, err)
		info, err := b.client(t).Enqueue(b.ctx, task)
		require.NoError(t, err)
		var out []crm.Mail
		eventually(t, 10*time.Second, "the email to reach the outbox", func() bool {
			out, err = b.store.Outbox(b.ctx, b.tenant, 0)
			require.NoError(t, err)
			return len(out) == 1
		})
		eventually(t, 10*time.Second, "the task to finish", func() bool {
			return b.taskState(t, worker.QueueCritical, info.ID) == "gone"
		})
		// Run again (a redelivery): still one message.
		require.NoError(t, w.ProcessTask(b.ctx, task))
		out, err = b.store.Outbox(b.ctx, b.tenant, 0)
		require.NoError(t, err)
		require.Len(t, out, 1)
		require.Equal(t, "admin@example.com", out[0].To)
		require.Equal(t, worker.KindPermanentDeleteConfirmation, out[0].Kind)
		require.Equal(t, mailID(t, task), out[0].ID)
		require.Equal(t, t0, out[0].CreatedAt)
		require.Contains(t, out[0].Body, "Deleted: contact 77")
		require.InDelta(t, 1, metricValue(t, b.reg, "crmflow_mail_outbox_total", worker.KindPermanentDeleteConfirmation), 0)
	})
}

func TestNewPermanentDeleteConfirmation(t *testing.T) {
	t.Parallel()
	tenant := crm.TenantID("acme")

	t.Run("AnEmailTheUserTypedIsNotEchoed", func(t *testing.T) {
		t.Parallel()
		task, err := worker.NewPermanentDeleteConfirmation(tenant, "admin@example.com", "Jane.Doe@Example.com", t0)
		require.NoError(t, err)
		var p worker.MailSendPayload
		require.NoError(t, json.Unmarshal(task.Payload(), &p))
		require.NotContains(t, strings.ToLower(string(task.Payload())), "jane.doe@example.com")
		require.Contains(t, p.Body, "the contact with the email address you entered")
		require.Equal(t, "admin@example.com", p.To)
		require.Equal(t, tenant, p.TenantID)
		require.NotEmpty(t, p.IdempotencyKey)
	})

	t.Run("EachCallHasItsOwnKey", func(t *testing.T) {
		t.Parallel()
		a, err := worker.NewPermanentDeleteConfirmation(tenant, "admin@example.com", "1", t0)
		require.NoError(t, err)
		b, err := worker.NewPermanentDeleteConfirmation(tenant, "admin@example.com", "1", t0)
		require.NoError(t, err)
		require.NotEqual(t, mailID(t, a), mailID(t, b))
	})

	t.Run("ControlCharactersAreDropped", func(t *testing.T) {
		t.Parallel()
		task, err := worker.NewPermanentDeleteConfirmation(tenant, "admin@example.com", "12\r\nBcc: x", t0)
		require.NoError(t, err)
		var p worker.MailSendPayload
		require.NoError(t, json.Unmarshal(task.Payload(), &p))
		require.Contains(t, p.Body, "Deleted: contact 12Bcc: x\n")
	})

	t.Run("LongInputIsCutBetweenCharacters", func(t *testing.T) {
		t.Parallel()
		task, err := worker.NewPermanentDeleteConfirmation(tenant, "admin@example.com", "\u2028a"+strings.Repeat("ö", 80), t0)
		require.NoError(t, err)
		var p worker.MailSendPayload
		require.NoError(t, json.Unmarshal(task.Payload(), &p))
		require.Contains(t, p.Body, "Deleted: contact a"+strings.Repeat("ö", 49)+"\n")
		require.NotContains(t, p.Body, "\uFFFD", "no character cut in half")
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		for name, tc := range map[string]struct {
			tenant crm.TenantID
			to     string
			at     time.Time
			field  string
		}{
			"BadTenant":   {tenant: "Not A Tenant", to: "a@example.com", at: t0, field: "tenant"},
			"BadAddress":  {tenant: tenant, to: "not-an-address", at: t0, field: "to"},
			"NamedAddr":   {tenant: tenant, to: "Jane <a@example.com>", at: t0, field: "to"},
			"HeaderSplit": {tenant: tenant, to: "a@example.com\r\nBcc: b@example.com", at: t0, field: "to"},
			"NoTime":      {tenant: tenant, to: "a@example.com", field: "at"},
		} {
			_, err := worker.NewPermanentDeleteConfirmation(tc.tenant, tc.to, "1", tc.at)
			var ve *crm.ValidationError
			require.ErrorAs(t, err, &ve, name)
			require.Equal(t, tc.field, ve.Field, name)
		}
	})
}

func TestNewMailSendTask(t *testing.T) {
	t.Parallel()
	ok := worker.MailSendPayload{TenantID: "acme", To: "a@example.com", Subject: "S", Body: "B", Kind: "k"}
	for name, tc := range map[string]struct {
		edit  func(p *worker.MailSendPayload)
		field string
	}{
		"SubjectWithNewline": {func(p *worker.MailSendPayload) { p.Subject = "a\nBcc: x" }, "subject"},
		"EmptySubject":       {func(p *worker.MailSendPayload) { p.Subject = "" }, "subject"},
		"BadKind":            {func(p *worker.MailSendPayload) { p.Kind = "Bad Kind" }, "kind"},
		"KeyWithSpace":       {func(p *worker.MailSendPayload) { p.IdempotencyKey = "a b" }, "idempotency_key"},
	} {
		p := ok
		tc.edit(&p)
		_, err := worker.NewMailSendTask(p)
		var ve *crm.ValidationError
		require.ErrorAs(t, err, &ve, name)
		require.Equal(t, tc.field, ve.Field, name)
	}

	t.Run("SameKeyTwiceIsADuplicate", func(t *testing.T) {
		t.Parallel()
		srv, err := redistest.StartServer("")
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Kill() })
		opt, err := asynq.ParseRedisURI(srv.URL)
		require.NoError(t, err)
		c := worker.NewClient(opt)
		t.Cleanup(func() { _ = c.Close() })
		p := ok
		p.IdempotencyKey = "order-42"
		_, err = c.EnqueueMailSend(context.Background(), p)
		require.NoError(t, err)
		_, err = c.EnqueueMailSend(context.Background(), p)
		require.ErrorIs(t, err, worker.ErrDuplicate)
		require.ErrorIs(t, err, asynq.ErrTaskIDConflict)
	})
}

// mailID returns the idempotency key of a mail:send task.
func mailID(t *testing.T, task *asynq.Task) string {
	t.Helper()
	var p worker.MailSendPayload
	require.NoError(t, json.Unmarshal(task.Payload(), &p))
	return p.IdempotencyKey
}

// runAndStop runs a worker that a test drove through ProcessTask with an already cancelled
// context, which closes its connections.
func runAndStop(t *testing.T, w *worker.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, w.Run(ctx))
}

// The confirmation of a permanent delete, written by the store with the delete (a pending email),
// is delivered once however often it is enqueued, then acknowledged; one whose enqueue was lost is
// picked up by the mail sweep.
func TestPendingMail(t *testing.T) {
	t.Parallel()

	permanentDelete := func(t *testing.T, b *testBundle, email string) crm.Mail {
		t.Helper()
		recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts,
			[]crm.RecordInput{{Properties: map[string]string{"email": email}}}, crm.Actor{})
		require.NoError(t, err)
		res, err := b.store.PermanentDeleteContact(b.ctx, b.tenant, crm.PermanentDeleteParams{ID: recs[0].ID, By: "dpo@example.com"})
		require.NoError(t, err)
		require.NotEmpty(t, res.Mail.ID)
		return res.Mail
	}
	pending := func(t *testing.T, b *testBundle) []crm.Mail {
		t.Helper()
		m, err := b.store.PendingMails(b.ctx, b.tenant)
		require.NoError(t, err)
		return m
	}

	t.Run("EnqueuedTwiceDeliveredOnceThenAcknowledged", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := startSMTP(t, smtptest.Options{})
		cfg := b.config()
		cfg.Mail = srv.mailConfig()
		w := b.startWorker(t, cfg)
		m := permanentDelete(t, b, "jane@example.com")

		c := b.client(t)
		require.NoError(t, c.EnqueueMail(b.ctx, b.tenant, m))
		require.NoError(t, c.EnqueueMail(b.ctx, b.tenant, m), "a second enqueue is harmless")
		eventually(t, 10*time.Second, "the pending email to be delivered and acknowledged", func() bool {
			return len(srv.Messages()) == 1 && len(pending(t, b)) == 0
		})
		// Once more, after it was delivered (the task id is free again): not sent twice.
		task, err := worker.NewPendingMailTask(b.tenant, m)
		require.NoError(t, err)
		require.NoError(t, w.ProcessTask(b.ctx, task))
		msgs := srv.Messages()
		require.Len(t, msgs, 1)
		require.Equal(t, []string{"dpo@example.com"}, msgs[0].To)
		require.Contains(t, msgs[0].Data, "Subject: "+m.Subject+"\r\n")
	})

	mailAudit := func(t *testing.T, b *testBundle, id string) []string {
		t.Helper()
		entries, _, err := b.store.Audit(b.ctx, b.tenant, &crm.AuditOpts{
			Actions: []string{crm.AuditMailFailed, crm.AuditMailRetried, crm.AuditMailDiscarded}})
		require.NoError(t, err)
		var out []string
		for _, e := range entries {
			require.Equal(t, id, e.MailID)
			out = append(out, e.Action+" by "+e.By)
		}
		return out
	}

	// A confirmation the SMTP server refuses for good (5xx) is recorded as failed: the sweep no
	// longer enqueues it, a metric, an error line and the audit trail say so, without the address.
	// Once the cause is fixed, an operator's retry gets it delivered.
	t.Run("RefusedForGoodWaitsForAnOperator", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		refusing := b.mailWorker(t, startSMTP(t, smtptest.Options{RejectRcpt: true}))
		m := permanentDelete(t, b, "jane@example.com")

		task, err := worker.NewPendingMailTask(b.tenant, m)
		require.NoError(t, err)
		err = refusing.ProcessTask(b.ctx, task)
		require.ErrorIs(t, err, asynq.SkipRetry)
		p := pending(t, b)
		require.Len(t, p, 1)
		require.NotNil(t, p[0].Failure, "the failure is recorded")
		require.Equal(t, t0, p[0].Failure.At)
		require.Contains(t, p[0].Failure.Reason, "550")
		require.Contains(t, p[0].Failure.Reason, "<recipient>: Recipient address rejected")
		require.NotContains(t, p[0].Failure.Reason, "dpo@example.com")
		require.NotContains(t, p[0].Failure.Reason, "skip retry", "the operator reads the server's answer, not the queue's")
		require.Contains(t, p[0].Failure.Reason, "smtp: send: server refused for good: ")
		require.InDelta(t, 1, metricValue(t, b.reg, "crmflow_mail_pending_failed_total", worker.KindPermanentDeleteConfirmation), 0)
		require.Contains(t, b.logs.String(), "crmflow admin outbox retry "+string(b.tenant)+" "+m.ID)
		require.Equal(t, []string{"mail_failed by system"}, mailAudit(t, b, m.ID))

		// The sweep leaves it to an operator, and says so.
		b.clock.Set(t0.Add(worker.MailSweepGrace))
		require.NoError(t, refusing.ProcessTask(b.ctx, worker.NewMailSweepTask(time.Time{})))
		_, err = b.insp.ListPendingTasks(worker.QueueCritical)
		require.ErrorIs(t, err, asynq.ErrQueueNotFound, "nothing enqueued")
		require.Contains(t, b.logs.String(), "crmflow admin outbox pending "+string(b.tenant))

		// Fixed: the operator retries it; the next sweep enqueues it under a task id of its own
		// (the failed task stays in the queue's archive), and it is delivered and acknowledged.
		n, err := b.store.RetryPendingMail(b.ctx, b.tenant, m.ID, "ops@example.com")
		require.NoError(t, err)
		require.Equal(t, 1, n)
		srv := startSMTP(t, smtptest.Options{})
		w := b.mailWorker(t, srv)
		require.NoError(t, w.ProcessTask(b.ctx, worker.NewMailSweepTask(time.Time{})))
		tasks, err := b.insp.ListPendingTasks(worker.QueueCritical)
		require.NoError(t, err)
		require.Len(t, tasks, 1)
		require.True(t, strings.HasSuffix(tasks[0].ID, ":retry-1"), tasks[0].ID)
		require.NoError(t, w.ProcessTask(b.ctx, asynq.NewTask(tasks[0].Type, tasks[0].Payload)))
		require.Len(t, srv.Messages(), 1)
		require.Empty(t, pending(t, b))
		state, err := b.rdb.Exists(b.ctx, redisstore.PendingMailStateKey(b.tenant)).Result()
		require.NoError(t, err)
		require.Zero(t, state, "the email's failure and retries went with it")
		require.Equal(t, []string{"mail_failed by system", "mail_retried by ops@example.com"}, mailAudit(t, b, m.ID))
		require.NotContains(t, b.logs.String(), "dpo@example.com", "the address is personal data: it stays out of the logs")
	})

	// A confirmation whose temporary failures outlast its retries is recorded as failed too.
	t.Run("LastRetryFailedWaitsForAnOperator", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := startSMTP(t, smtptest.Options{FailData: 1000})
		cfg := b.config()
		cfg.Mail = srv.mailConfig()
		b.startWorker(t, cfg)
		m := permanentDelete(t, b, "jane@example.com")
		task, err := worker.NewPendingMailTask(b.tenant, m)
		require.NoError(t, err)
		info, err := b.client(t).Enqueue(b.ctx, task, asynq.MaxRetry(1))
		require.NoError(t, err)
		eventually(t, 20*time.Second, "the task to be archived after its last retry", func() bool {
			_, _ = b.insp.RunAllRetryTasks(worker.QueueCritical)
			return b.taskState(t, worker.QueueCritical, info.ID) == "archived"
		})
		p := pending(t, b)
		require.Len(t, p, 1)
		require.NotNil(t, p[0].Failure)
		require.Contains(t, p[0].Failure.Reason, "451")
		require.Equal(t, 2, srv.DataAttempts(), "tried, retried once, then left")
	})

	// A pending email whose task the queue archived without its failure being recorded (a worker
	// stopped first, or one of an older version) is found by the sweep and recorded then.
	t.Run("ArchivedTaskFoundBySweep", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		w := b.mailWorker(t, startSMTP(t, smtptest.Options{}))
		m := permanentDelete(t, b, "jane@example.com")
		require.NoError(t, b.client(t).EnqueueMail(b.ctx, b.tenant, m))
		tasks, err := b.insp.ListPendingTasks(worker.QueueCritical)
		require.NoError(t, err)
		require.Len(t, tasks, 1)
		require.NoError(t, b.insp.ArchiveTask(worker.QueueCritical, tasks[0].ID))

		b.clock.Set(t0.Add(worker.MailSweepGrace))
		require.NoError(t, w.ProcessTask(b.ctx, worker.NewMailSweepTask(time.Time{})))
		p := pending(t, b)
		require.Len(t, p, 1)
		require.NotNil(t, p[0].Failure)
		require.Contains(t, p[0].Failure.Reason, "its task failed for good")
		require.Equal(t, []string{"mail_failed by system"}, mailAudit(t, b, m.ID))

		// An operator may give up on it: it goes, with an audit entry.
		require.NoError(t, b.store.DiscardPendingMail(b.ctx, b.tenant, m.ID, "ops@example.com"))
		require.Empty(t, pending(t, b))
		require.Equal(t, []string{"mail_failed by system", "mail_discarded by ops@example.com"}, mailAudit(t, b, m.ID))
	})

	t.Run("TheSweepPicksUpWhatWasNeverEnqueued", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := startSMTP(t, smtptest.Options{})
		m := permanentDelete(t, b, "jane@example.com") // written at t0; its enqueue is "lost"
		w := b.mailWorker(t, srv)

		// Within the grace period the sweep leaves it to the request that wrote it.
		b.clock.Set(t0.Add(worker.MailSweepGrace - time.Second))
		require.NoError(t, w.ProcessTask(b.ctx, worker.NewMailSweepTask(time.Time{})))
		_, err := b.insp.ListPendingTasks(worker.QueueCritical)
		require.ErrorIs(t, err, asynq.ErrQueueNotFound, "nothing enqueued yet")

		// After it, the sweep enqueues it, once however often it runs.
		b.clock.Set(t0.Add(worker.MailSweepGrace))
		require.NoError(t, w.ProcessTask(b.ctx, worker.NewMailSweepTask(time.Time{})))
		require.NoError(t, w.ProcessTask(b.ctx, worker.NewMailSweepTask(time.Time{})))
		tasks, err := b.insp.ListPendingTasks(worker.QueueCritical)
		require.NoError(t, err)
		require.Len(t, tasks, 1)
		require.Equal(t, worker.TypeMailSend, tasks[0].Type)

		// A worker delivers it and acknowledges it.
		require.NoError(t, w.ProcessTask(b.ctx, asynq.NewTask(tasks[0].Type, tasks[0].Payload)))
		require.Len(t, srv.Messages(), 1)
		require.Empty(t, pending(t, b))
		require.Equal(t, m.To, srv.Messages()[0].To[0])
	})
}
