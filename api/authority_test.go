package api_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

const notifyWithProperties = `name: tell-sales
object_type: contacts
trigger: lifecyclestage == "lead"
actions:
  - type: notify_user
    to: ops@x.example
    subject: "New lead {{firstname}}"
    body: "Write to {{email}}."
`

const notifyWithIDOnly = `name: tell-sales
object_type: contacts
trigger: lifecyclestage == "lead"
actions:
  - type: notify_user
    to: ops@x.example
    subject: "New lead {{id}}"
    body: "See contact {{id}}."
`

const notifyAndDelete = `name: tell-and-delete
object_type: contacts
trigger: email_bounced
actions:
  - type: notify_user
    to: ops@x.example
    subject: "Bounced: {{email}}"
    body: "Deleting {{firstname}}."
  - type: delete_contact
`

const setStatus = `name: set-status
object_type: contacts
trigger: lifecyclestage == "lead"
actions:
  - type: set_property
    property: hs_lead_status
    value: new
`

// TestActivationNeedsWhatTheActionsNeed: a workflow acts with its activator's authority (SPEC
// S23), so activating it needs every permission its actions need, and bulk_delete too when it
// enrolls the existing records and deletes. A refusal is a 403 naming the permission and changes
// nothing.
func TestActivationNeedsWhatTheActionsNeed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name, flow, src, perms string
		enrollExisting         bool
		missing                string   // "" when the activation succeeds
		alsoMissing            []string // the other permissions lacking, named in the same answer
	}{
		{name: "DeleteWithWorkflowsOnly", flow: "wf", src: bouncedFlow("wf"), perms: "workflows", missing: "delete"},
		{name: "DeleteWithDelete", flow: "wf", src: bouncedFlow("wf"), perms: "workflows,delete"},
		{name: "EnrollExistingDeleteWithoutBulkDelete", flow: "wf", src: bouncedFlow("wf"), perms: "workflows,delete", enrollExisting: true, missing: "bulk_delete"},
		{name: "EnrollExistingDeleteWithBulkDelete", flow: "wf", src: bouncedFlow("wf"), perms: "workflows,delete,bulk_delete", enrollExisting: true},
		{name: "NotifyWithPropertiesWithoutRead", flow: "tell-sales", src: notifyWithProperties, perms: "workflows", missing: "read"},
		{name: "NotifyWithPropertiesWithRead", flow: "tell-sales", src: notifyWithProperties, perms: "workflows,read"},
		{name: "NotifyWithIDOnly", flow: "tell-sales", src: notifyWithIDOnly, perms: "workflows"},
		{name: "SetPropertyWithoutWrite", flow: "set-status", src: setStatus, perms: "workflows,read", missing: "write"},
		{name: "SetPropertyWithWrite", flow: "set-status", src: setStatus, perms: "workflows,write"},
		{name: "EveryMissingPermissionAtOnce", flow: "tell-and-delete", src: notifyAndDelete, perms: "workflows", enrollExisting: true,
			missing: "read", alsoMissing: []string{"delete", "bulk_delete"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn, admin := b.planTenant(t, crm.PlanProfessional)
			auth := "Bearer " + b.user(t, tn, "activator@x.example", tc.perms)
			b.create(t, tn, crm.Contacts, map[string]string{"email": "a@x.example", "email_bounced": "true", "lifecyclestage": "lead"})
			name := tc.flow
			require.Equal(t, 201, b.put(t, admin, name, tc.src).status)
			before := b.dump(t, tn)

			r := b.raw(t, "POST", "/automation/v4/flows/"+name+"/activate", auth, map[string]any{"enrollExisting": tc.enrollExisting})
			if tc.missing != "" {
				require.Equal(t, 403, r.status, "%s", r.body)
				e := decode[apiError](t, r)
				require.Equal(t, "MISSING_SCOPES", e.Category)
				require.Equal(t, append([]string{tc.missing}, tc.alsoMissing...), e.Context["requiredScopes"])
				require.Contains(t, e.Message, "--perms "+strings.Join(crmPermsOrder(tc.perms, tc.missing, tc.alsoMissing), ","))
				require.Contains(t, e.Message, "activating workflow "+name+" needs the \""+tc.missing+"\"")
				require.Equal(t, before, b.dump(t, tn), "a refused activation changes nothing")
				return
			}
			require.Equal(t, 200, r.status, "%s", r.body)
			got := decode[struct {
				State       string `json:"state"`
				ActivatedBy string `json:"activatedBy"`
			}](t, r)
			require.Equal(t, "ACTIVE", got.State)
			require.Equal(t, "activator@x.example", got.ActivatedBy)
		})
	}
}

// TestManualEnrollmentNeedsWhatTheActionsNeed: enrolling a record runs the workflow's actions on
// it, so the enrolling user needs what they need, as the activator does.
func TestManualEnrollmentNeedsWhatTheActionsNeed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tn, admin := b.planTenant(t, crm.PlanProfessional)
	id := b.create(t, tn, crm.Contacts, map[string]string{"email": "a@x.example"})
	require.Equal(t, 201, b.put(t, admin, "wf", bouncedFlow("wf")).status)
	require.Equal(t, 200, b.raw(t, "POST", "/automation/v4/flows/wf/activate", admin, nil).status)
	weak := "Bearer " + b.user(t, tn, "weak@x.example", "workflows,read")
	before := b.dump(t, tn)

	r := b.raw(t, "POST", "/automation/v4/flows/wf/enrollments", weak, map[string]any{"recordId": string(id)})
	require.Equal(t, 403, r.status, "%s", r.body)
	e := decode[apiError](t, r)
	require.Equal(t, []string{"delete"}, e.Context["requiredScopes"])
	require.Contains(t, e.Message, "enrolling a record in workflow wf needs the \"delete\" permission")
	require.Equal(t, before, b.dump(t, tn))

	require.Equal(t, 204, b.raw(t, "POST", "/automation/v4/flows/wf/enrollments", admin, map[string]any{"recordId": string(id)}).status)
}

// TestActivationOfARevisionNotCheckedIsRefused: the store activates only the revision whose
// actions were checked against the activator's permissions.
func TestActivationOfARevisionNotCheckedIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tn, admin := b.planTenant(t, crm.PlanProfessional)
	require.Equal(t, 201, b.put(t, admin, "wf", bouncedFlow("wf")).status)
	require.Equal(t, 201, b.put(t, admin, "wf", "# v2\n"+bouncedFlow("wf")).status)
	_, err := b.store.ActivateFlow(b.ctx, tn, "wf", crm.ActivateFlowParams{By: "ops@x.example", Revision: 1})
	var ce *crm.ConflictError
	require.ErrorAs(t, err, &ce)
	f, err := b.store.Flow(b.ctx, tn, "wf")
	require.NoError(t, err)
	require.Equal(t, crm.FlowDraft, f.State)
}

// TestRestoreAfterTheRetentionPeriodIsRefused: once the retention period has passed, restore is
// refused even though no purge ran (SPEC S6); the record stays in the bin for the purge.
func TestRestoreAfterTheRetentionPeriodIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	old := b.contact(t, map[string]string{"email": "old@a.example"})
	require.Equal(t, 204, b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(old), tokAll, nil).status)
	deletedAt := b.clock.Now()
	b.clock.Advance(crm.DefaultRetention - time.Minute)
	young := b.contact(t, map[string]string{"email": "young@a.example"})
	require.Equal(t, 204, b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(young), tokAll, nil).status)
	b.clock.Advance(time.Minute) // old's retention period ends now

	r := b.call(t, "POST", "/crm/v3/objects/contacts/batch/restore", tokAll, map[string]any{"inputs": []any{
		map[string]any{"id": string(old)}, map[string]any{"id": string(young)}}})
	require.Equal(t, 207, r.status, "%s", r.body)
	out := decode[struct {
		Results []record `json:"results"`
		Errors  []struct {
			Message string              `json:"message"`
			Context map[string][]string `json:"context"`
		} `json:"errors"`
	}](t, r)
	require.Len(t, out.Results, 1)
	require.Equal(t, string(young), out.Results[0].ID)
	require.Len(t, out.Errors, 1)
	require.Equal(t, []string{string(old)}, out.Errors[0].Context["id"])
	require.Equal(t, []string{crm.FormatDatetime(deletedAt.Add(crm.DefaultRetention))}, out.Errors[0].Context["restorableUntil"])
	require.Contains(t, out.Errors[0].Message, "can no longer be restored")
	b.archived(t, crm.Contacts, string(old)) // still in the bin, for the purge
}

// crmPermsOrder is the permission set a user of perms holds once granted the missing ones, in the
// order the API's grant command writes it.
func crmPermsOrder(perms, missing string, also []string) []string {
	have := strings.Split(perms+","+missing+","+strings.Join(also, ","), ",")
	var out []string
	for _, p := range crm.AllPermissions {
		if slices.Contains(have, string(p)) {
			out = append(out, string(p))
		}
	}
	return out
}
