package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/redistest"
	"github.com/crmflow/crmflow/internal/smtptest"
)

// saltEnv is the extra environment of every process of the erasure tests: none, since the
// harness gives each the test Redis's email salt (redistest.EmailSalt), as the test's own store.
var saltEnv []string

// erasureSecrets are the contact's values that no key or value may hold after its permanent delete.
var erasureSecrets = []string{"erin.erasure@privacy.example", "erin.alias@privacy.example", "Erinwyn", "Erasmussen",
	"+46-555-0142-999", "Privacy Street 9"}

const erasureFlow = `name: nurture
object_type: contacts
trigger: lifecyclestage == "lead"
actions:
  - type: notify_user
    to: ops@example.com
    subject: "Call {{firstname}} {{lastname}} at {{phone}}"
    body: "{{email}} / {{additional_emails}} / {{city}}"
`

func requireNoErasedValue(t *testing.T, where string, dump map[string]string) {
	t.Helper()
	for k, v := range dump {
		for _, s := range erasureSecrets {
			require.NotContains(t, strings.ToLower(k), strings.ToLower(s), "%s: key %s", where, k)
			require.NotContains(t, strings.ToLower(v), strings.ToLower(s), "%s: value of %s", where, k)
		}
	}
}

// TestErasureLeavesNoTrace is the zero-trace check of a permanent delete, with real serve and
// worker processes on a redis-server of the test's own: a contact with two emails, a phone, a call,
// a list membership, a workflow enrollment whose notification names it, and a pending bulk job that
// includes it. After the erasure no key of the server (asynq's included) holds any of its values,
// and no email naming it is sent or kept.
func TestErasureLeavesNoTrace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		smtp    bool // else the worker keeps emails in the outbox
		fromBin bool // deleted to the bin first, then erased by its additional email
	}{
		{"SMTPDownLiveByID", true, false},
		{"SMTPDownFromBinByAdditionalEmail", true, true},
		{"OutboxFromBinByAdditionalEmail", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupBackground(t)
			tenant, token := b.opsTenant(t)
			var srv *smtptest.Server
			workerArgs := []string{"worker", "--redis", b.redisURL}
			if tc.smtp {
				srv = smtptest.Start(t, smtptest.Options{})
				srv.Stop() // down from the start
				workerArgs = append(workerArgs, "--smtp-host", "127.0.0.1", "--smtp-port", strconv.Itoa(srv.Port()),
					"--smtp-from", "crm@example.com", "--smtp-starttls", "never")
			}
			addr, workerAdmin := freeAddr(t), freeAddr(t)
			base := "http://" + addr
			api := start(t, saltEnv, "serve", "--addr", addr, "--redis", b.redisURL)
			wrk := start(t, saltEnv, append(workerArgs, "--admin-addr", workerAdmin)...)
			waitReady(t, api, base)
			waitReady(t, wrk, "http://"+workerAdmin)
			t.Cleanup(func() {
				require.Equal(t, 0, wrk.stop(t), "stderr:\n%s", wrk.stderr)
				require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr)
			})
			insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: b.rdb.Options().Addr})
			t.Cleanup(func() { _ = insp.Close() })

			_, _, err := b.store.PutFlow(b.ctx, tenant, "nurture", crm.Contacts, erasureFlow, opsUser)
			require.NoError(t, err)
			_, err = b.store.ActivateFlow(b.ctx, tenant, "nurture", crm.ActivateFlowParams{By: opsUser})
			require.NoError(t, err)

			status, body := call(t, "POST", base+"/crm/v3/objects/contacts", token, map[string]any{"properties": map[string]string{
				"email": "erin.erasure@privacy.example", "additional_emails": "erin.alias@privacy.example", "firstname": "Erinwyn",
				"lastname": "Erasmussen", "phone": "+46-555-0142-999", "city": "Privacy Street 9", "lifecyclestage": "lead"}})
			require.Equal(t, 201, status, "%v", body)
			id := crm.RecordID(body["id"].(string))
			other, err := b.store.CreateRecords(b.ctx, tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"email": "bystander@example.com"}}}, crm.Actor{User: opsUser})
			require.NoError(t, err)
			calls, err := b.store.CreateRecords(b.ctx, tenant, crm.Calls, []crm.RecordInput{{Properties: map[string]string{"hs_call_body": "Erinwyn asked to be forgotten"}}}, crm.Actor{User: opsUser})
			require.NoError(t, err)
			require.NoError(t, b.store.Associate(b.ctx, tenant, crm.AssociationRef{Type: crm.Contacts, ID: id}, crm.AssociationRef{Type: crm.Calls, ID: calls[0].ID}))
			l, err := b.store.CreateList(b.ctx, tenant, "leads", crm.Contacts)
			require.NoError(t, err)
			_, _, err = b.store.AddListMembers(b.ctx, tenant, l.ID, []crm.RecordID{id, other[0].ID})
			require.NoError(t, err)
			_, err = b.store.CreateDeleteJob(b.ctx, tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: []crm.RecordID{id, other[0].ID},
				ConfirmCount: 2, By: opsUser, Selection: "2 ids"})
			require.NoError(t, err)

			// The workflow enrolls the contact and its notification is queued: retrying against
			// the SMTP server that is down, or kept in the outbox.
			if tc.smtp {
				eventually(t, 30*time.Second, "the notification to fail and wait for a retry", func() bool {
					tasks, err := insp.ListRetryTasks("critical")
					return err == nil && len(tasks) == 1
				})
			} else {
				eventually(t, 30*time.Second, "the notification to be kept in the outbox", func() bool {
					out, err := b.store.Outbox(b.ctx, tenant, 0)
					return err == nil && len(out) == 1
				})
				listed, _, code := crmflow(t, saltEnv, "admin", "outbox", "list", string(tenant), "--redis", b.redisURL)
				require.Equal(t, 0, code)
				require.Contains(t, listed, "Call Erinwyn Erasmussen", "rendered when read")
			}

			erase := map[string]any{"objectId": string(id)}
			if tc.fromBin {
				status, body = call(t, "DELETE", base+"/crm/v3/objects/contacts/"+string(id), token, nil)
				require.Equal(t, 204, status, "%v", body)
				erase = map[string]any{"objectId": "Erin.Alias@privacy.example", "idProperty": "email"}
			}
			status, body = call(t, "POST", base+"/crm/v3/objects/contacts/gdpr-delete", token, erase)
			require.Equal(t, 204, status, "%v", body)

			// Give the worker the time to drain the change and deliver the confirmation (or keep
			// it): those tasks run after the erasure and must not bring anything back.
			eventually(t, 30*time.Second, "the confirmation to be handled", func() bool {
				pending, err := b.store.PendingMails(b.ctx, tenant)
				if !tc.smtp {
					return err == nil && len(pending) == 0
				}
				return err == nil // with SMTP down it stays pending until the server is back
			})
			requireNoErasedValue(t, "after the erasure", redistest.DumpAll(t, b.rdb))

			audit, _, err := b.store.Audit(b.ctx, tenant, nil)
			require.NoError(t, err)
			var erased, cascaded bool
			for _, e := range audit {
				if e.Action == "permanent_delete" {
					erased = true
					require.Equal(t, []crm.RecordID{id}, e.RecordIDs)
				}
				if e.Action == "permanent_delete_cascade" {
					cascaded = true
					require.Equal(t, []crm.RecordID{calls[0].ID}, e.RecordIDs)
				}
			}
			require.True(t, erased)
			require.True(t, cascaded)
			status, body = call(t, "POST", base+"/crm/v3/objects/contacts/batch/restore", token,
				map[string]any{"inputs": []map[string]string{{"id": string(id)}}})
			require.NotEqual(t, 200, status, "the erased contact cannot be restored: %v", body)

			if tc.smtp {
				require.NoError(t, srv.Restart())
				eventually(t, 60*time.Second, "the queued emails to be handled", func() bool {
					_, _ = insp.RunAllRetryTasks("critical")
					pending, err := b.store.PendingMails(b.ctx, tenant)
					q, qerr := insp.GetQueueInfo("critical")
					return err == nil && len(pending) == 0 && qerr == nil && q.Size == 0
				})
				// The server works again: the confirmation (which names no personal data) arrived.
				require.NotEmpty(t, srv.Messages())
				require.Contains(t, srv.Messages()[0].Data, "permanent")
				audit, _, err := b.store.Audit(b.ctx, tenant, &crm.AuditOpts{Limit: 1000})
				require.NoError(t, err)
				require.Equal(t, "mail_dropped", audit[len(audit)-1].Action)
				require.Equal(t, "nurture", audit[len(audit)-1].Ref)
				for _, m := range srv.Messages() {
					for _, s := range erasureSecrets {
						require.NotContains(t, strings.ToLower(m.Data), strings.ToLower(s), "an email named the erased contact")
					}
					require.NotContains(t, m.Data, "Call ", "the notification about the erased contact was sent")
				}
				requireNoErasedValue(t, "after SMTP came back", redistest.DumpAll(t, b.rdb))
			} else {
				listed, _, code := crmflow(t, saltEnv, "admin", "outbox", "list", string(tenant), "--redis", b.redisURL)
				require.Equal(t, 0, code)
				require.Contains(t, listed, "(erased)")
				for _, s := range erasureSecrets {
					require.NotContains(t, listed, s)
				}
			}
			for _, s := range erasureSecrets {
				require.NotContains(t, wrk.stderr.String(), s)
				require.NotContains(t, api.stderr.String(), s)
			}
		})
	}
}
