package crm

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MailRef names the record a workflow notification is about. Such an email is kept (in its
// mail:send task and in the outbox) as a template plus this reference, never as rendered text, so
// that a permanent delete of the record leaves no copy of its data in a queued, retried or kept
// email: the text is rendered from the record when the email is delivered or the outbox is read.
type MailRef struct {
	// ObjectType and RecordID name the record.
	ObjectType ObjectType `json:"object_type,omitempty"`
	RecordID   RecordID   `json:"record_id,omitempty"`
	// Workflow is the name of the workflow whose step wrote the email.
	Workflow string `json:"workflow,omitempty"`
	// ActivatedAt is the workflow's activation the step ran under (Flow.ActivatedAt): the email is
	// delivered (or kept in the outbox) only while that activation is the workflow's current one,
	// so that an email queued before a pause never goes out, even once the workflow is activated
	// again. Zero for an email queued by a version that did not record it: it is taken to belong
	// to the current activation.
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	// Activation is the number of that activation (Flow.Activation), which tells apart two
	// activations of the same millisecond: with it, the email is delivered only while both
	// ActivatedAt and Activation are the workflow's current ones. 0 for an email queued by a
	// version that did not record it, or under an activation made by such a version: ActivatedAt
	// alone then names the activation.
	Activation int64 `json:"activation,omitempty"`
}

// IsZero reports whether the reference names no record (an email that is stored rendered, such as
// a permanent delete's confirmation).
func (r MailRef) IsZero() bool { return r.RecordID == "" }

// SingularType names one record of an object type: "company", "contact", ...; a custom type by its name.
func SingularType(o ObjectType) string {
	switch o {
	case Companies:
		return "company"
	case Contacts, Deals, Tickets, Calls:
		return strings.TrimSuffix(string(o), "s")
	}
	return string(o)
}

// RenderMailTemplate replaces each {{name}} of tpl with the record's property of that name (empty
// when unset), and {{id}} with its id. Spaces inside the braces are ignored; an unclosed "{{" is
// kept as text (notify_user's validation refuses it anyway).
// ShowsRecordData says whether a notification's subject or body shows a property of its record:
// a placeholder other than {{id}}. Sending it then needs the read permission of the workflow's
// activator, when the step runs and when the email is delivered.
func ShowsRecordData(subject, body string) bool {
	for _, text := range []string{subject, body} {
		for {
			i := strings.Index(text, "{{")
			if i < 0 {
				break
			}
			j := strings.Index(text[i+2:], "}}")
			if j < 0 {
				break
			}
			if strings.TrimSpace(text[i+2:i+2+j]) != "id" {
				return true
			}
			text = text[i+2+j+2:]
		}
	}
	return false
}

func RenderMailTemplate(tpl string, rec Record) string {
	s, _ := renderMailTemplate(tpl, rec, -1)
	return s
}

// renderMailTemplate is RenderMailTemplate that stops once the text passes limit bytes (a
// negative limit has none), reporting whether it did: the text is then limit bytes long or less,
// cut between characters.
func renderMailTemplate(tpl string, rec Record, limit int) (string, bool) {
	var b strings.Builder
	write := func(s string) bool {
		if limit >= 0 && b.Len()+len(s) > limit {
			b.WriteString(cutUTF8(s, limit-b.Len()))
			return false
		}
		b.WriteString(s)
		return true
	}
	for {
		i := strings.Index(tpl, "{{")
		j := -1
		if i >= 0 {
			j = strings.Index(tpl[i+2:], "}}")
		}
		if j < 0 {
			cut := !write(tpl)
			return b.String(), cut
		}
		if !write(tpl[:i]) {
			return b.String(), true
		}
		name := strings.TrimSpace(tpl[i+2 : i+2+j])
		v := rec.Properties[name]
		if name == "id" {
			v = string(rec.ID)
		}
		if !write(v) {
			return b.String(), true
		}
		tpl = tpl[i+2+j+2:]
	}
}

// MaxNotificationSubject is the longest subject RenderNotification gives, in characters: the
// record's values can make a subject far longer than its template (each up to MaxValueBytes), and
// mail servers refuse, or cut, very long headers.
const MaxNotificationSubject = 250

// MaxNotificationBody is the longest body RenderNotification gives, in bytes (64 KiB): a body
// template of notify_user is at most 16 KiB, but each of its placeholders may insert a value of up
// to MaxValueBytes, so that a template repeating one could render tens of megabytes, for each
// email sent and each outbox entry listed.
const MaxNotificationBody = 64 << 10

// notificationCut ends a body RenderNotification had to cut.
const notificationCut = "\n\n[This notification was cut: its text was longer than 64 KiB. Open the record to read it all.]\n"

// RenderNotification renders a workflow notification's subject and body templates from the
// record. The subject is made one line, cut at MaxNotificationSubject characters (ending in "…");
// when it comes out empty (its placeholders were all empty) it names the workflow and the record
// instead. The body is cut so that it stays within MaxNotificationBody bytes, with a last line that
// says so; rendering stops there, whatever the template and the values.
func RenderNotification(subject, body string, ref MailRef, rec Record) (string, string) {
	s := strings.Join(strings.Fields(RenderMailTemplate(subject, rec)), " ")
	if s == "" {
		s = fmt.Sprintf("Workflow %s: %s %s", ref.Workflow, SingularType(ref.ObjectType), ref.RecordID)
	}
	if utf8.RuneCountInString(s) > MaxNotificationSubject {
		r := []rune(s)[:MaxNotificationSubject-1]
		s = strings.TrimRight(string(r), " ") + "…"
	}
	b, cut := renderMailTemplate(body, rec, MaxNotificationBody)
	if cut {
		b = cutUTF8(b, MaxNotificationBody-len(notificationCut)) + notificationCut
	}
	return s, b
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not cut a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRuneInString(s[i:]) {
				s = s[:i]
			}
			break
		}
	}
	return s
}

// ErasedNotification is the text shown instead of a workflow notification whose record no longer
// exists (permanently deleted, or purged from the bin): it names the workflow and the record's id
// only.
func ErasedNotification(ref MailRef) (subject, body string) {
	what := SingularType(ref.ObjectType) + " " + string(ref.RecordID)
	return fmt.Sprintf("Workflow %s: %s (erased)", ref.Workflow, what),
		fmt.Sprintf("This notification of workflow %s was about %s, which was permanently deleted or purged from the bin; its data is no longer available.\n", ref.Workflow, what)
}
