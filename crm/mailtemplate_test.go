package crm_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// TestRenderNotificationSubject: the subject is one line, cut at crm.MaxNotificationSubject
// characters however long the record's values are.
func TestRenderNotificationSubject(t *testing.T) {
	t.Parallel()
	ref := crm.MailRef{ObjectType: crm.Contacts, RecordID: "7", Workflow: "leads"}
	rec := crm.Record{ID: "7", Type: crm.Contacts, Properties: map[string]string{
		"firstname": strings.Repeat("Åsa😀 ", crm.MaxValueBytes/8),
		"lastname":  "Öberg\r\nBcc: evil@example.com\u2028X",
	}}
	subject, body := crm.RenderNotification("Lead {{lastname}}", "{{lastname}}", ref, rec)
	require.Equal(t, "Lead Öberg Bcc: evil@example.com X", subject)
	require.Equal(t, rec.Properties["lastname"], body, "the body keeps the value as it is")

	subject, _ = crm.RenderNotification("Lead {{firstname}} {{firstname}}", "b", ref, rec)
	require.LessOrEqual(t, utf8.RuneCountInString(subject), crm.MaxNotificationSubject)
	require.Greater(t, utf8.RuneCountInString(subject), crm.MaxNotificationSubject-6)
	require.True(t, strings.HasPrefix(subject, "Lead Åsa😀 Åsa😀"))
	require.True(t, strings.HasSuffix(subject, "…"))

	subject, _ = crm.RenderNotification("{{city}}", "b", ref, rec)
	require.Equal(t, "Workflow leads: contact 7", subject)
}

// TestRenderNotificationBody: however many placeholders a body repeats and however long the
// record's values, the rendered body stays within crm.MaxNotificationBody bytes, cut between
// characters, and says it was cut.
func TestRenderNotificationBody(t *testing.T) {
	t.Parallel()
	ref := crm.MailRef{ObjectType: crm.Contacts, RecordID: "7", Workflow: "leads"}
	rec := crm.Record{ID: "7", Type: crm.Contacts, Properties: map[string]string{
		"message": strings.Repeat("é", crm.MaxValueBytes/2),
	}}
	// A 16 KiB template (notify_user's limit) of one placeholder repeated: ~76 MiB rendered unbounded.
	tpl := strings.Repeat("{{message}}", 16*1024/len("{{message}}"))
	_, body := crm.RenderNotification("s", tpl, ref, rec)
	require.LessOrEqual(t, len(body), crm.MaxNotificationBody)
	require.True(t, utf8.ValidString(body))
	require.True(t, strings.HasPrefix(body, "éé"))
	require.True(t, strings.HasSuffix(body, "[This notification was cut: its text was longer than 64 KiB. Open the record to read it all.]\n"), body[len(body)-200:])

	// A body within the limit is left as it is, to its last byte.
	rec.Properties["message"] = strings.Repeat("é", (crm.MaxNotificationBody-len("Hi  {{x"))/2) + "!"
	_, body = crm.RenderNotification("s", "Hi {{message}} {{x", ref, rec)
	require.Equal(t, crm.MaxNotificationBody, len(body))
	require.True(t, body == "Hi "+rec.Properties["message"]+" {{x", "the body is the template rendered")
}
