package actions_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
)

func schemaOf(t *testing.T, o crm.ObjectType) crm.Schema {
	t.Helper()
	s, ok := crm.StandardSchema(o)
	require.True(t, ok)
	return s
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	t.Run("Default", func(t *testing.T) {
		t.Parallel()
		reg := actions.Default()
		require.Equal(t, []string{"add_to_list", "delay", "delete_contact", "notify_user", "remove_from_list", "set_property"}, reg.Names())
		d, ok := reg.Lookup("delete_contact")
		require.True(t, ok)
		require.Equal(t, []crm.ObjectType{crm.Contacts}, d.ObjectTypes)
		require.True(t, d.AppliesTo(crm.Contacts))
		require.False(t, d.AppliesTo(crm.Companies))
		_, ok = reg.Lookup("permanent_delete_contact")
		require.False(t, ok, "workflows never delete permanently")
	})
	t.Run("DefaultIsFresh", func(t *testing.T) {
		t.Parallel()
		a, b := actions.Default(), actions.Default()
		a.Register(actions.Definition{Name: "extra", Configure: func(actions.Params, crm.Schema) (actions.Step, error) { return actions.DeleteContact{}, nil }})
		_, ok := b.Lookup("extra")
		require.False(t, ok)
	})
	t.Run("Duplicate", func(t *testing.T) {
		t.Parallel()
		reg := actions.Default()
		def := actions.Definition{Name: "delay", Configure: func(actions.Params, crm.Schema) (actions.Step, error) { return actions.Delay{}, nil }}
		require.ErrorIs(t, reg.TryRegister(def), actions.ErrDuplicate)
		require.Panics(t, func() { reg.Register(def) })
	})
	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		var reg actions.Registry // the zero value is usable
		cfg := func(actions.Params, crm.Schema) (actions.Step, error) { return actions.Delay{}, nil }
		require.ErrorContains(t, reg.TryRegister(actions.Definition{Name: "Bad Name", Configure: cfg}), "is invalid")
		require.ErrorContains(t, reg.TryRegister(actions.Definition{Name: "no_configure"}), "no Configure")
		require.ErrorContains(t, reg.TryRegister(actions.Definition{Name: "typed", Configure: cfg, Params: []actions.Param{{Name: "type"}}}), "type is reserved")
		require.ErrorContains(t, reg.TryRegister(actions.Definition{Name: "twice", Configure: cfg, Params: []actions.Param{{Name: "a"}, {Name: "a"}}}), "taken")
		require.NoError(t, reg.TryRegister(actions.Definition{Name: "fine", Configure: cfg}))
		require.Equal(t, []string{"fine"}, reg.Names())
	})
	t.Run("UnknownAction", func(t *testing.T) {
		t.Parallel()
		_, err := actions.Default().Configure("archive_everything", nil, schemaOf(t, crm.Contacts))
		require.ErrorIs(t, err, actions.ErrUnknownAction)
	})
}

func TestConfigure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		action string
		params actions.Params
		object crm.ObjectType
		want   actions.Step
		path   string // of the expected FieldError
		msg    string
	}{
		{"DeleteContact", "delete_contact", nil, crm.Contacts, actions.DeleteContact{}, "", ""},
		{"DeleteContactOnCompanies", "delete_contact", nil, crm.Companies, nil, "", "delete_contact exists only for contact workflows: this workflow's object_type is companies"},
		{"DeleteContactOnTickets", "delete_contact", nil, crm.Tickets, nil, "", "exists only for contact workflows"},
		{"DeleteContactTakesNothing", "delete_contact", actions.Params{"permanent": "true"}, crm.Contacts, nil, "permanent", "delete_contact takes no parameters"},
		{"SetProperty", "set_property", actions.Params{"property": "lifecyclestage", "value": "lead"}, crm.Contacts, actions.SetProperty{Property: "lifecyclestage", Value: "lead"}, "", ""},
		{"SetPropertyNormalizes", "set_property", actions.Params{"property": "last_activity_date", "value": "2026-01-31"}, crm.Contacts, actions.SetProperty{Property: "last_activity_date", Value: "2026-01-31T00:00:00.000Z"}, "", ""},
		{"SetPropertyNumber", "set_property", actions.Params{"property": "amount", "value": "1000.50"}, crm.Deals, actions.SetProperty{Property: "amount", Value: "1000.5"}, "", ""},
		{"SetPropertyClears", "set_property", actions.Params{"property": "phone", "value": ""}, crm.Contacts, actions.SetProperty{Property: "phone"}, "", ""},
		{"SetPropertyUnknown", "set_property", actions.Params{"property": "lifecycle_stage", "value": "lead"}, crm.Contacts, nil, "property", `did you mean "lifecyclestage"?`},
		{"SetPropertyOtherTypesProperty", "set_property", actions.Params{"property": "dealstage", "value": "closedwon"}, crm.Contacts, nil, "property", `unknown property "dealstage" of contacts`},
		{"SetPropertyBadOption", "set_property", actions.Params{"property": "lifecyclestage", "value": "vip"}, crm.Contacts, nil, "value", "use one of subscriber"},
		{"SetPropertyBadBool", "set_property", actions.Params{"property": "email_bounced", "value": "maybe"}, crm.Contacts, nil, "value", "use true or false"},
		{"SetPropertyBadEmail", "set_property", actions.Params{"property": "email", "value": "nope"}, crm.Contacts, nil, "value", "is not a valid string"},
		{"SetPropertyMissingValue", "set_property", actions.Params{"property": "phone"}, crm.Contacts, nil, "", "set_property needs value"},
		{"AddToList", "add_to_list", actions.Params{"list": "12"}, crm.Companies, actions.ListMembership{List: "12"}, "", ""},
		{"RemoveFromList", "remove_from_list", actions.Params{"list": "3"}, crm.Contacts, actions.ListMembership{List: "3", Remove: true}, "", ""},
		{"ListBadID", "add_to_list", actions.Params{"list": "01"}, crm.Contacts, nil, "list", `list id "01" is invalid`},
		{"ListOnDeals", "add_to_list", actions.Params{"list": "1"}, crm.Deals, nil, "", "add_to_list exists only for contact or company workflows"},
		{"DelayDuration", "delay", actions.Params{"duration": "3d"}, crm.Deals, actions.Delay{Duration: 72 * time.Hour}, "", ""},
		{"DelayUntil", "delay", actions.Params{"until": "closedate"}, crm.Deals, actions.Delay{Until: "closedate"}, "", ""},
		{"DelayNeither", "delay", actions.Params{}, crm.Deals, nil, "", "delay needs duration"},
		{"DelayBoth", "delay", actions.Params{"duration": "1d", "until": "closedate"}, crm.Deals, nil, "until", "not both"},
		{"DelayBadDuration", "delay", actions.Params{"duration": "soon"}, crm.Deals, nil, "duration", `duration "soon" is invalid`},
		{"DelayUntilUnknown", "delay", actions.Params{"until": "close_date"}, crm.Deals, nil, "until", `did you mean "closedate"?`},
		{"DelayUntilNotDatetime", "delay", actions.Params{"until": "amount"}, crm.Deals, nil, "until", "is a number: delay until needs a datetime or date property"},
		{"DelayUntilEnumeration", "delay", actions.Params{"until": "dealstage"}, crm.Deals, nil, "until", "is an enumeration: delay until needs a datetime or date property"},
		{"NotifyUser", "notify_user", actions.Params{"to": "Ops@Example.com", "subject": "s", "body": "b"}, crm.Tickets, nil, "", ""},
		{"NotifyUserBadTo", "notify_user", actions.Params{"to": "Ops <ops@example.com>", "subject": "s", "body": "b"}, crm.Tickets, nil, "to", "is not an email address"},
		{"NotifyUserEmptySubject", "notify_user", actions.Params{"to": "a@example.com", "subject": " ", "body": "b"}, crm.Tickets, nil, "subject", "the subject is empty"},
		{"NotifyUserLongSubject", "notify_user", actions.Params{"to": "a@example.com", "subject": fmt.Sprintf("%0201d", 0), "body": "b"}, crm.Tickets, nil, "subject", "the limit is 200"},
		{"NotifyUserEmptyBody", "notify_user", actions.Params{"to": "a@example.com", "subject": "s", "body": ""}, crm.Tickets, nil, "body", "the body is empty"},
		{"NotifyUserUnclosed", "notify_user", actions.Params{"to": "a@example.com", "subject": "s", "body": "hi {{subject"}, crm.Tickets, nil, "body", "is not closed"},
		{"NotifyUserUnknownPlaceholder", "notify_user", actions.Params{"to": "a@example.com", "subject": "{{ subjet }}", "body": "b"}, crm.Tickets, nil, "subject", `did you mean "subject"?`},
		{"NotifyUserMissing", "notify_user", actions.Params{"to": "a@example.com"}, crm.Tickets, nil, "", "notify_user needs subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := actions.Default().Configure(tt.action, tt.params, schemaOf(t, tt.object))
			if tt.msg == "" {
				require.NoError(t, err)
				require.Equal(t, tt.action, cfg.Type)
				if tt.want != nil {
					require.Equal(t, tt.want, cfg.Step)
				}
				return
			}
			require.Nil(t, cfg)
			var fes actions.FieldErrors
			require.ErrorAs(t, err, &fes)
			for _, fe := range fes {
				if fe.Path == tt.path && strings.Contains(fe.Message, tt.msg) {
					return
				}
			}
			require.Failf(t, "field error not found", "want %s: ...%s...; got %v", tt.path, tt.msg, err)
		})
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"3d", 72 * time.Hour, ""},
		{"12h", 12 * time.Hour, ""},
		{"90m", 90 * time.Minute, ""},
		{"45s", 45 * time.Second, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"1.5d", 36 * time.Hour, ""},
		{"2h30m", 150 * time.Minute, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{" 7d ", 7 * 24 * time.Hour, ""},
		{"1098d", actions.MaxDelay, ""},
		{"", 0, "it is empty"},
		{"3", 0, "the unit is missing"},
		{"3w", 0, `"3w" is not a number with a unit`},
		{"3 d", 0, "is not a number with a unit"},
		{"-1d", 0, "cannot be negative"},
		{"+1d", 0, "cannot be negative"},
		{"0d", 0, "longer than zero"},
		{"1099d", 0, "longer than the 1098-day maximum"},
		{"99999999999999999999d", 0, "maximum"},
		{"d", 0, "is not a number with a unit"},
	}
	for _, tt := range tests {
		got, err := actions.ParseDuration(tt.in)
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
}

func TestDelayDue(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	rec := crm.Record{ID: "1", Properties: map[string]string{"closedate": "2026-06-10T00:00:00.000Z", "old": "2020-01-01"}}
	require.Equal(t, now.Add(72*time.Hour), actions.Delay{Duration: 72 * time.Hour}.Due(rec, now))
	require.Equal(t, time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC), actions.Delay{Until: "closedate"}.Due(rec, now))
	require.Equal(t, now, actions.Delay{Until: "old"}.Due(rec, now), "a past date does not wait")
	require.Equal(t, now, actions.Delay{Until: "unset"}.Due(rec, now), "an unset date does not wait")
}

// TestDelayUntilDate checks that delay until takes a date property, and waits until its day's
// midnight UTC.
func TestDelayUntilDate(t *testing.T) {
	t.Parallel()
	schema := schemaOf(t, crm.Deals)
	schema.Properties["renewal"] = crm.Property{Name: "renewal", Label: "Renewal", Type: crm.TypeDate}
	cfg, err := actions.Default().Configure("delay", actions.Params{"until": "renewal"}, schema)
	require.NoError(t, err)
	require.Equal(t, actions.Delay{Until: "renewal"}, cfg.Step)
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	rec := crm.Record{ID: "1", Properties: map[string]string{"renewal": "2026-06-10"}}
	require.Equal(t, time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC), actions.Delay{Until: "renewal"}.Due(rec, now))
	rec.Properties["renewal"] = "2026-06-01"
	require.Equal(t, now, actions.Delay{Until: "renewal"}.Due(rec, now), "a day whose midnight is past does not wait")
}

func TestChain(t *testing.T) {
	t.Parallel()
	var order []string
	mw := func(name string) actions.Middleware {
		return func(next actions.Action) actions.Action {
			return actions.Func(func(ctx context.Context, tenant crm.TenantID, rec crm.Record) (actions.Result, error) {
				order = append(order, name)
				return next.Run(ctx, tenant, rec)
			})
		}
	}
	inner := actions.Func(func(context.Context, crm.TenantID, crm.Record) (actions.Result, error) {
		order = append(order, "action")
		return actions.Result{Outcome: actions.OutcomeDone}, nil
	})
	res, err := actions.Chain(inner, mw("outer"), mw("inner")).Run(t.Context(), "acme", crm.Record{})
	require.NoError(t, err)
	require.Equal(t, actions.OutcomeDone, res.Outcome)
	require.Equal(t, []string{"outer", "inner", "action"}, order)
}

func ExampleParseDuration() {
	for _, s := range []string{"3d", "1d12h", "90m", "3 weeks"} {
		d, err := actions.ParseDuration(s)
		fmt.Println(d, err)
	}
	// Output:
	// 72h0m0s <nil>
	// 36h0m0s <nil>
	// 1h30m0s <nil>
	// 0s duration "3 weeks" is invalid: "3 weeks" is not a number with a unit; write a number and a unit (d, h, m or s), such as 3d, 12h, 90m or 1d12h
}
