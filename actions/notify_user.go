package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/crmflow/crmflow/crm"
)

// MaxSubjectLen bounds notify_user's subject, in characters.
const MaxSubjectLen = 200

// MaxBodyLen bounds notify_user's body, in bytes.
const MaxBodyLen = 16 * 1024

func notifyUserDef() Definition {
	return Definition{
		Name:    "notify_user",
		Summary: "Emails a user of the tenant (an internal notification); {{property}} in the subject or body inserts the record's value, {{id}} its id.",
		Params: []Param{
			{Name: "to", Required: true, Doc: "the email address of a user of the tenant"},
			{Name: "subject", Required: true, Doc: "one line of text, at most 200 characters; may use {{property}} and {{id}}"},
			{Name: "body", Required: true, Doc: "plain text; may use {{property}} and {{id}}"},
		},
		Configure: configureNotifyUser,
		Needs:     notifyUserNeeds,
	}
}

// notifyUserNeeds is read when the subject or the body shows a property of the record: the email
// shows record data to its recipient, with the activator's authority.
func notifyUserNeeds(p Params) []crm.Permission {
	if crm.ShowsRecordData(p["subject"], p["body"]) {
		return []crm.Permission{crm.PermRead}
	}
	return nil
}

func configureNotifyUser(p Params, schema crm.Schema) (Step, error) {
	var errs FieldErrors
	to, err := crm.NormalizeEmail(p["to"])
	if err != nil {
		errs = append(errs, &FieldError{Path: "to", Message: fmt.Sprintf("%q is not an email address: write the address of a user of the tenant, such as ops@example.com", p["to"])})
	}
	subject, body := p["subject"], p["body"]
	switch {
	case strings.TrimSpace(subject) == "":
		errs = append(errs, &FieldError{Path: "subject", Message: "the subject is empty: write one line of text"})
	case strings.ContainsAny(subject, "\r\n"):
		errs = append(errs, &FieldError{Path: "subject", Message: "the subject must be one line: remove the line breaks (use a plain or quoted scalar, not a block scalar |)"})
	case utf8.RuneCountInString(subject) > MaxSubjectLen:
		errs = append(errs, &FieldError{Path: "subject", Message: fmt.Sprintf("the subject is %d characters long: the limit is %d", utf8.RuneCountInString(subject), MaxSubjectLen)})
	}
	switch {
	case strings.TrimSpace(body) == "":
		errs = append(errs, &FieldError{Path: "body", Message: "the body is empty: write the text of the email"})
	case len(body) > MaxBodyLen:
		errs = append(errs, &FieldError{Path: "body", Message: fmt.Sprintf("the body is %d bytes long: the limit is %d", len(body), MaxBodyLen)})
	}
	// The templates are parsed here only to validate them: the worker renders them at delivery.
	if _, err := parseTemplate(subject, schema); err != nil {
		errs = append(errs, templateFieldError("subject", err))
	}
	if _, err := parseTemplate(body, schema); err != nil {
		errs = append(errs, templateFieldError("body", err))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return NotifyUser{To: to, subject: subject, body: body}, nil
}

// template is text with {{name}} placeholders: even elements are text, odd ones names.
type template []string

// templateError is a placeholder that is not closed or names no property, at Offset characters
// from the start of the text.
type templateError struct {
	Offset  int
	Message string
	// Unknown is the placeholder's property, when the schema lacks it.
	Unknown string
}

func (e *templateError) Error() string { return e.Message }

func templateFieldError(path string, err error) *FieldError {
	var te *templateError
	if errors.As(err, &te) {
		return &FieldError{Path: path, Message: te.Message, Offset: te.Offset, Unknown: te.Unknown}
	}
	return &FieldError{Path: path, Message: err.Error()}
}

// parseTemplate splits s into text and placeholders. An error is a *templateError at the "{{" of
// the placeholder at fault.
func parseTemplate(s string, schema crm.Schema) (template, error) {
	var out template
	done := 0 // the characters of the original text before s
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			return append(out, s), nil
		}
		at := done + utf8.RuneCountInString(s[:i])
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			return nil, &templateError{Offset: at, Message: `a "{{" is not closed: write {{property}}, or remove it`}
		}
		name := strings.TrimSpace(s[i+2 : i+2+j])
		if name != "id" {
			if _, ok := schema.Properties[name]; !ok {
				return nil, &templateError{Offset: at, Message: fmt.Sprintf("{{%s}}: %s", name, unknownPropertyMessage(name, schema)), Unknown: name}
			}
		}
		out = append(out, s[:i], name)
		done += utf8.RuneCountInString(s[:i+2+j+2])
		s = s[i+2+j+2:]
	}
}

// NotifyUser is the notify_user step: an email to To, a user of the tenant.
type NotifyUser struct {
	// To is the recipient's address, lowercased.
	To string
	// subject and body are the validated templates, handed to the Mailer as they are.
	subject, body string
}

// Bind implements Step. The email is handed to deps.Mailer with an idempotency key derived from
// inv.Key, so a retried step sends it once. It carries the subject and body templates and a
// reference to the record (Mail.Ref), never the record's data: the worker renders the text when it
// delivers the email (crm.RenderNotification makes the subject one line and, when its placeholders
// are all empty, names the workflow and the record instead), and drops it when the record was
// permanently deleted or purged in the meantime, or when the workflow's activation it names
// (inv.ActivatedAt) is no longer the current one. A recipient who is not (or no longer) a user of
// the tenant fails the run with an error wrapping ErrCannotRun.
func (s NotifyUser) Bind(deps Deps, inv Invocation) Action {
	return Func(func(ctx context.Context, tenant crm.TenantID, rec crm.Record) (Result, error) {
		switch {
		case deps.Store == nil:
			return Result{}, errNoStore
		case deps.Mailer == nil:
			return Result{}, errors.New("actions: notify_user: Deps.Mailer is nil: bind the step with a mailer")
		case inv.Key == "":
			return Result{}, errors.New("actions: notify_user: Invocation.Key is empty: it makes the email idempotent")
		}
		u, err := deps.Store.User(ctx, tenant, s.To)
		switch {
		case errors.Is(err, crm.ErrNotFound):
			return Result{}, fmt.Errorf("notify_user: the recipient (to:) is not a user of the tenant: %w", ErrCannotRun)
		case err != nil:
			return Result{}, fmt.Errorf("notify_user: read the recipient: %w", err)
		case u.Disabled:
			// A disabled user gets no record data, as they get no API access.
			return Result{}, fmt.Errorf("notify_user: the recipient (to:) is a disabled user: %w", ErrCannotRun)
		}
		sum := sha256.Sum256([]byte(inv.Key))
		m := Mail{
			IdempotencyKey: "workflow-" + hex.EncodeToString(sum[:16]),
			Kind:           KindWorkflowNotification,
			To:             s.To,
			Subject:        s.subject,
			Body:           s.body,
			Ref: crm.MailRef{ObjectType: rec.Type, RecordID: rec.ID, Workflow: inv.Workflow,
				ActivatedAt: inv.ActivatedAt, Activation: inv.Activation},
		}
		if err := deps.Mailer.SendMail(ctx, tenant, m); err != nil {
			return Result{}, fmt.Errorf("notify_user: send: %w", err)
		}
		return Result{Outcome: OutcomeDone, Detail: fmt.Sprintf("sent a notification about %s %s to a user", Singular(rec.Type), rec.ID)}, nil
	})
}
