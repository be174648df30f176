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
