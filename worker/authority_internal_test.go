package worker

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/workflows"
)

// Each way an activator loses the authority to run a workflow pauses it with its own code and the
// values its sentence names, beside the English sentence; an activator who may run it gives none.
func TestAuthorityOfGivesEachReasonItsCode(t *testing.T) {
	t.Parallel()
	wf, err := workflows.Parse("wf.yaml", []byte("name: wf\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n"), nil, nil)
	require.NoError(t, err)
	ann := crm.Flow{Name: "wf", ActivatedBy: "ann@example.com"}
	for _, tc := range []struct {
		name   string
		flow   crm.Flow
		user   crm.User
		err    error
		many   bool
		code   crm.PauseCode
		params map[string]string
		reason string
	}{
		{name: "NoneRecorded", flow: crm.Flow{Name: "wf"}, code: crm.PauseActivatorUnknown, reason: "no activating user is recorded"},
		{name: "Removed", flow: ann, err: &crm.NotFoundError{Kind: "user", ID: "ann@example.com"}, code: crm.PauseActivatorRemoved,
			params: map[string]string{"activator": "ann@example.com"}, reason: "ann@example.com is no longer a user"},
		{name: "Disabled", flow: ann, user: crm.User{Disabled: true, Permissions: crm.Permissions{crm.PermDelete}},
			code: crm.PauseActivatorDisabled, params: map[string]string{"activator": "ann@example.com"}, reason: "crmflow admin user enable acme ann@example.com"},
		{name: "LacksTwo", flow: ann, user: crm.User{Permissions: crm.Permissions{crm.PermRead}}, many: true,
			code: crm.PauseActivatorLacksPermission, params: map[string]string{"activator": "ann@example.com", "permissions": "delete,bulk_delete"},
			reason: "no longer holds the delete and bulk_delete permission"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			why, err := authorityOf("acme", tc.flow, wf, tc.many, tc.user, tc.err)
			require.NoError(t, err)
			require.NotNil(t, why)
			require.Equal(t, tc.code, why.Code)
			require.Equal(t, tc.params, why.Params)
			require.Contains(t, why.Reason, tc.reason)
		})
	}
	why, err := authorityOf("acme", ann, wf, true, crm.User{Permissions: crm.Permissions{crm.PermDelete, crm.PermBulkDelete}}, nil)
	require.NoError(t, err)
	require.Nil(t, why, "the activator may run it")
	_, err = authorityOf("acme", ann, wf, false, crm.User{}, errors.New("redis down"))
	require.ErrorContains(t, err, "redis down")
}
