package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// outboxBundle is a bundle on a Redis of its own with its tenant created.
func outboxBundle(t *testing.T) (*bgBundle, crm.TenantID) {
	t.Helper()
	b := bundleOn(t, setup(t).redisURL)
	tenant := crm.TenantID(b.tenant)
	_, err := b.store.CreateTenant(b.ctx, tenant, crm.PlanProfessional)
	require.NoError(t, err)
	return b, tenant
}

// TestOutboxListNewestFirstWithBodies: `crmflow admin outbox list` shows the newest emails first,
// each with its body; --limit keeps the newest N and says so; --brief prints one line each.
func TestOutboxListNewestFirstWithBodies(t *testing.T) {
	t.Parallel()
	b, tenant := outboxBundle(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		_, err := b.store.AppendOutbox(b.ctx, tenant, crm.Mail{ID: fmt.Sprint("m", i), To: "ops@example.com",
			Subject: fmt.Sprint("Mail ", i), Body: fmt.Sprintf("Body of mail %d.\nSecond line.\n", i), Kind: "test",
			CreatedAt: at.Add(time.Duration(i) * time.Minute)}, nil)
		require.NoError(t, err)
	}

	stdout, stderr := b.admin(t, "outbox", "list", b.tenant)
	require.Equal(t, "Date: 2026-03-01T12:02:00Z\nTo: ops@example.com\nSubject: Mail 2\nKind: test\n\nBody of mail 2.\nSecond line.\n\n"+
		"Date: 2026-03-01T12:01:00Z\nTo: ops@example.com\nSubject: Mail 1\nKind: test\n\nBody of mail 1.\nSecond line.\n\n"+
		"Date: 2026-03-01T12:00:00Z\nTo: ops@example.com\nSubject: Mail 0\nKind: test\n\nBody of mail 0.\nSecond line.\n", stdout)
	require.Contains(t, stderr, "3 emails in the outbox of tenant "+b.tenant+", newest first")

	stdout, stderr = b.admin(t, "outbox", "list", b.tenant, "--limit", "2", "--brief")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3)
	require.Regexp(t, `^TIME\s+TO\s+SUBJECT\s+KIND$`, lines[0])
	require.Regexp(t, `^2026-03-01T12:02:00Z\s+ops@example\.com\s+Mail 2\s+test$`, lines[1])
	require.Regexp(t, `^2026-03-01T12:01:00Z\s+ops@example\.com\s+Mail 1\s+test$`, lines[2])
	require.Contains(t, stderr, "(the newest 2; --limit 0 lists them all)")
}

// TestOutboxListSaysWhatWasDropped: when the outbox was full and dropped older workflow
// notifications, `crmflow admin outbox list` says how many and what to do.
func TestOutboxListSaysWhatWasDropped(t *testing.T) {
	t.Parallel()
	b, tenant := outboxBundle(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	far := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC) // not expired when appended: this store runs on the wall clock
	for i := range 3 {
		_, err := b.store.AppendOutbox(b.ctx, tenant, crm.Mail{ID: fmt.Sprint("n", i), To: "ops@example.com",
			Subject: fmt.Sprint("Mail ", i), Body: "Body", Kind: "workflow_notification",
			CreatedAt: at.Add(time.Duration(i) * time.Minute), ExpiresAt: far.Add(time.Duration(i) * time.Hour)},
			&crm.AppendOutboxOpts{Max: 1})
		require.NoError(t, err)
	}

	stdout, stderr := b.admin(t, "outbox", "list", b.tenant, "--brief")
	require.Contains(t, stdout, "Mail 2")
	require.NotContains(t, stdout, "Mail 1")
	require.Contains(t, stderr, "1 email in the outbox of tenant "+b.tenant)
	require.Regexp(t, `2 older workflow notifications dropped from this outbox when it was full, the last at \S+Z: `+
		`configure SMTP on the workers \(--smtp-host\) to send emails, or raise their --outbox-max`, stderr)
}

// TestOutboxPendingRetryDiscard: `crmflow admin outbox pending` lists the confirmations not yet
// delivered and why a failed one failed; `retry` and `discard` act on failed ones only, and say
// what to do otherwise.
func TestOutboxPendingRetryDiscard(t *testing.T) {
	t.Parallel()
	b, tenant := outboxBundle(t)
	res, err := b.store.PermanentDeleteContact(b.ctx, tenant, crm.PermanentDeleteParams{Email: "gone@example.com", By: "dpo@example.com"})
	require.NoError(t, err)
	id := res.Mail.ID
	admin := func(args ...string) (string, string, int) {
		return crmflow(t, nil, append(append([]string{"admin", "outbox"}, args...), "--redis", b.redisURL, "--by", "ops")...)
	}

	stdout, stderr := b.admin(t, "outbox", "pending", b.tenant)
	require.Regexp(t, `(?m)^ID\s+CREATED\s+KIND\s+TO\s+STATUS\s+RETRIES\s+REASON$`, stdout)
	require.Regexp(t, `(?m)^`+id+`\s+\S+Z\s+permanent_delete_confirmation\s+dpo@example\.com\s+waiting\s+0\s*$`, stdout)
	require.Contains(t, stderr, "1 email pending in tenant "+b.tenant+", 0 failed for good")

	// Not failed: nothing to retry or discard.
	_, stderr, code := admin("retry", b.tenant, id)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "has not failed: the workers are still trying it; `crmflow admin outbox pending "+b.tenant+"` shows its status")
	_, stderr, code = admin("discard", b.tenant, "pd-nope")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "no pending email pd-nope in tenant "+b.tenant)

	_, err = b.store.FailPendingMail(b.ctx, tenant, id, crm.MailFailure{At: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Reason: "smtp: send: server refused for good: 550 5.1.1 <recipient>: Recipient address rejected"})
	require.NoError(t, err)
	stdout, stderr = b.admin(t, "outbox", "pending", b.tenant)
	require.Regexp(t, `(?m)^`+id+`\s.*\sFAILED 2026-03-01T12:00:00Z\s+0\s+smtp: send: server refused for good: 550 5\.1\.1 <recipient>: Recipient address rejected$`, stdout)
	require.Contains(t, stderr, "1 failed for good")
	require.Contains(t, stderr, "`crmflow admin outbox retry "+b.tenant+" ID`")

	_, stderr, code = admin("retry", b.tenant, id)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "will be tried again at the next mail sweep (retry 1)")
	stdout, _ = b.admin(t, "outbox", "pending", b.tenant)
	require.Regexp(t, `(?m)^`+id+`\s.*\swaiting\s+1\s*$`, stdout)

	_, err = b.store.FailPendingMail(b.ctx, tenant, id, crm.MailFailure{At: time.Now(), Reason: "550 again"})
	require.NoError(t, err)
	_, stderr, code = admin("discard", b.tenant, id)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "discarded pending email "+id)
	_, stderr = b.admin(t, "outbox", "pending", b.tenant)
	require.Contains(t, stderr, "0 emails pending")

	entries, _, err := b.store.Audit(b.ctx, tenant, &crm.AuditOpts{Actions: []string{crm.AuditMailRetried, crm.AuditMailDiscarded}})
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, "ops", entries[0].By)
	require.Equal(t, crm.AuditMailDiscarded, entries[1].Action)
}
