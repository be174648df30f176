package crm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	const tn = TenantID("acme")
	tests := []struct {
		got, want string
	}{
		{TenantsKey(), "crm:tenants"},
		{TenantKey(tn), "crm:{acme}:tenant"},
		{UserKey(tn, "ops@acme.example"), "crm:{acme}:user:ops@acme.example"},
		{UsersKey(tn), "crm:{acme}:users"},
		{TokenKey(tn, "abc"), "crm:{acme}:token:abc"},
		{TokensKey(tn), "crm:{acme}:tokens"},
		{SaltFingerprintKey(), "crm:salt:fingerprint"},
		{ObjectTypesKey(tn), "crm:{acme}:objtypes"},
		{SchemaKey(tn, Contacts), "crm:{acme}:schema:contacts"},
		{SeqKey(tn, "contacts"), "crm:{acme}:seq:contacts"},
		{RecordKey(tn, Contacts, "7"), "crm:{acme}:obj:contacts:7"},
		{LiveKey(tn, Deals), "crm:{acme}:live:deals"},
		{EmailIndexKey(tn), "crm:{acme}:uniq:contacts:email"},
		{UniqueIndexKey(tn, "subscriptions", "sub_ref"), "crm:{acme}:uniq:subscriptions:sub_ref"},
		{AssocKey(tn, Companies, "3"), "crm:{acme}:assoc:companies:3"},
		{ListsKey(tn), "crm:{acme}:lists"},
		{ListKey(tn, "2"), "crm:{acme}:list:2"},
		{ListMembersKey(tn, "2"), "crm:{acme}:list:2:members"},
		{MemberOfKey(tn, Contacts, "7"), "crm:{acme}:memberof:contacts:7"},
		{ChangedKey(tn), "crm:{acme}:changed"},
		{ChangedEventsKey(tn), "crm:{acme}:changed:events"},
		{TriggerReadsKey(tn, Contacts), "crm:{acme}:trigreads:contacts"},
		{OutboxKey(tn), "crm:{acme}:outbox"},
		{OutboxExpiryKey(tn), "crm:{acme}:outbox:expiry"},
		{BinEmailDayKey(tn, 20428), "crm:{acme}:binemails:contacts:20428"},
		{BinEmailDaysKey(tn), "crm:{acme}:binemails:contacts:days"},
		{BlocklistKey(tn), "crm:{acme}:blocklist"},
		{SearchIndexKey(tn, Contacts, "email"), "crm:{acme}:ix:contacts:email"},
		{SearchValueKey(tn, Deals, "dealstage", "closedwon"), "crm:{acme}:ixv:deals:dealstage:closedwon"},
		{searchIndexKeyPrefix(tn, Contacts) + "num_notes", SearchIndexKey(tn, Contacts, "num_notes")},
		{searchValueKeyPrefix(tn, Contacts) + "lifecyclestage:lead", SearchValueKey(tn, Contacts, "lifecyclestage", "lead")},
		{AuditKey(tn), "crm:{acme}:audit"},
		{BinRecordKey(tn, Contacts, "7"), "crm:{acme}:bin:contacts:7"},
		{BinAssocKey(tn, Contacts, "7"), "crm:{acme}:binassoc:contacts:7"},
		{BinAssocIDsKey(tn, Contacts), "crm:{acme}:binassocs:contacts"},
		{TrashKey(tn, Contacts), "crm:{acme}:trash:contacts"},
		{BinIDsKey(tn, Contacts), "crm:{acme}:binids:contacts"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.got)
	}
}

// The scripts build keys from a prefix and a stored member; the result must be exactly the key the
// key builders make, or a script would touch the wrong key.
func TestKeyPrefixesMatchBuilders(t *testing.T) {
	t.Parallel()
	const tn = TenantID("acme")
	me := string(Contacts) + ":42"
	require.Equal(t, RecordKey(tn, Contacts, "42"), recordKeyPrefix(tn)+me)
	require.Equal(t, AssocKey(tn, Contacts, "42"), assocKeyPrefix(tn)+me)
	require.Equal(t, BinRecordKey(tn, Contacts, "42"), binRecordKeyPrefix(tn)+me)
	require.Equal(t, BinAssocKey(tn, Contacts, "42"), binAssocKeyPrefix(tn)+me)
	require.Equal(t, BinAssocIDsKey(tn, Contacts), binAssocIDsKeyPrefix(tn)+string(Contacts))
	require.Equal(t, MemberOfKey(tn, Contacts, "42"), memberOfKeyPrefix(tn, Contacts)+"42")
	require.Equal(t, ListMembersKey(tn, "9"), listKeyPrefix(tn)+"9"+listMembersKeySuffix)
	require.Equal(t, TokenKey(tn, "abc"), tokenKeyPrefix(tn)+"abc")
}

func TestFlowKeys(t *testing.T) {
	t.Parallel()
	const tn = TenantID("acme")
	require.Equal(t, "crm:{acme}:flows", FlowsKey(tn))
	require.Equal(t, "crm:{acme}:flow:bounced", FlowKey(tn, "bounced"))
	require.Equal(t, "crm:{acme}:flow:bounced:rev:3", FlowRevisionKey(tn, "bounced", 3))
	require.Equal(t, "crm:{acme}:flows:active:contacts", ActiveFlowsKey(tn, Contacts))
	require.Equal(t, "crm:{acme}:enr:bounced:contacts:7", EnrollmentKey(tn, "bounced", "contacts:7"))
	require.Equal(t, "crm:{acme}:flow:bounced:enrolled", FlowEnrolledKey(tn, "bounced"))
	require.Equal(t, "crm:{acme}:flow:bounced:matching", FlowMatchingKey(tn, "bounced"))
	require.Equal(t, "crm:{acme}:hist:bounced:contacts:7", HistoryKey(tn, "bounced", "contacts:7"))
	require.Equal(t, "crm:{acme}:job:4", JobKey(tn, "4"))
	require.Equal(t, "crm:{acme}:job:4:pending", JobPendingKey(tn, "4"))
	require.Equal(t, "crm:{acme}:jobstage:abc", JobStagingKey(tn, "abc"))
	require.Equal(t, JobKey(tn, "4"), jobKeyPrefix(tn)+"4")
	require.Equal(t, "crm:{acme}:job:4:lease", JobLeaseKey(tn, "4"))
	require.Equal(t, "crm:{acme}:job:4:selected", JobSelectedKey(tn, "4"))
	require.Equal(t, "crm:{acme}:jobs:selecting", JobsSelectingKey(tn))
	require.Equal(t, "crm:{acme}:jobs", JobsKey(tn))
	require.Equal(t, "crm:{acme}:flow:bounced:backfill", FlowBackfillKey(tn, "bounced"))
	require.Equal(t, "crm:{acme}:flow:bounced:backfill:lease", FlowBackfillLeaseKey(tn, "bounced"))
	require.Equal(t, "crm:{acme}:flows:type:contacts", FlowsOfTypeKey(tn, Contacts))
	require.Equal(t, "crm:{acme}:mail:pending", PendingMailKey(tn))
	// The prefixes the scripts extend.
	require.Equal(t, FlowEnrolledKey(tn, "bounced"), flowKeyPrefix(tn)+"bounced"+":enrolled")
	require.Equal(t, EnrollmentKey(tn, "bounced", "contacts:7"), prefix(tn)+"enr:"+"bounced"+":"+"contacts:7")
	require.Equal(t, HistoryKey(tn, "bounced", "contacts:7"), prefix(tn)+"hist:"+"bounced"+":"+"contacts:7")
	require.Equal(t, ActiveFlowsKey(tn, Contacts), activeFlowsKeyPrefix(tn)+"contacts")
	require.Equal(t, LiveKey(tn, Contacts), liveKeyPrefix(tn)+"contacts")
	require.Equal(t, TrashKey(tn, Contacts), trashKeyPrefix(tn)+"contacts")
	require.Equal(t, BinIDsKey(tn, Contacts), binIDsKeyPrefix(tn)+"contacts")
}
