package redisstore

import (
	"testing"

	"github.com/crmflow/crmflow/crm"
	"github.com/stretchr/testify/require"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	const tn = crm.TenantID("acme")
	tests := []struct {
		got, want string
	}{
		{TenantsKey(), "crm:tenants"},
		{TenantKey(tn), "crm:{acme}:tenant"},
		{UserKey(tn, "ops@acme.example"), "crm:{acme}:user:ops@acme.example"},
		{UsersKey(tn), "crm:{acme}:users"},
		{TokenKey(tn, "abc"), "crm:{acme}:token:abc"},
		{TokensKey(tn), "crm:{acme}:tokens"},
		{SessionKey(tn, "f00d"), "crm:{acme}:session:f00d"},
		{SessionTraceKey(tn, "f00d"), "crm:{acme}:session-trace:f00d"},
		{SaltFingerprintKey(), "crm:salt:fingerprint"},
		{RetentionKey(), "crm:retention"},
		{SignInKey("192.0.2.7"), "crm:signin:192.0.2.7"},
		{SignInKey("2001:db8:1:2::/64"), "crm:signin:2001:db8:1:2::/64"},
		{ObjectTypesKey(tn), "crm:{acme}:objtypes"},
		{SchemaKey(tn, crm.Contacts), "crm:{acme}:schema:contacts"},
		{ArchivedPropertiesKey(tn, crm.Contacts), "crm:{acme}:archivedprops:contacts"},
		{SeqKey(tn, "contacts"), "crm:{acme}:seq:contacts"},
		{RecordKey(tn, crm.Contacts, "7"), "crm:{acme}:obj:contacts:7"},
		{LiveKey(tn, crm.Deals), "crm:{acme}:live:deals"},
		{EmailIndexKey(tn), "crm:{acme}:uniq:contacts:email"},
		{UniqueIndexKey(tn, "subscriptions", "sub_ref"), "crm:{acme}:uniq:subscriptions:sub_ref"},
		{AssocKey(tn, crm.Companies, "3"), "crm:{acme}:assoc:companies:3"},
		{ListsKey(tn), "crm:{acme}:lists"},
		{ListKey(tn, "2"), "crm:{acme}:list:2"},
		{ListMembersKey(tn, "2"), "crm:{acme}:list:2:members"},
		{MemberOfKey(tn, crm.Contacts, "7"), "crm:{acme}:memberof:contacts:7"},
		{ChangedKey(tn), "crm:{acme}:changed"},
		{ChangedEventsKey(tn), "crm:{acme}:changed:events"},
		{TriggerReadsKey(tn, crm.Contacts), "crm:{acme}:trigreads:contacts"},
		{OutboxKey(tn), "crm:{acme}:outbox"},
		{OutboxExpiryKey(tn), "crm:{acme}:outbox:expiry"},
		{OutboxDroppedKey(tn), "crm:{acme}:outbox:dropped"},
		{PendingMailStateKey(tn), "crm:{acme}:mail:pending:state"},
		{BinEmailDayKey(tn, 20428), "crm:{acme}:binemails:contacts:20428"},
		{BinEmailDaysKey(tn), "crm:{acme}:binemails:contacts:days"},
		{BlocklistKey(tn), "crm:{acme}:blocklist"},
		{SearchIndexKey(tn, crm.Contacts, "email"), "crm:{acme}:ix:contacts:email"},
		{SearchValueKey(tn, crm.Deals, "dealstage", "closedwon"), "crm:{acme}:ixv:deals:dealstage:closedwon"},
		{searchIndexKeyPrefix(tn, crm.Contacts) + "num_notes", SearchIndexKey(tn, crm.Contacts, "num_notes")},
		{searchValueKeyPrefix(tn, crm.Contacts) + "lifecyclestage:lead", SearchValueKey(tn, crm.Contacts, "lifecyclestage", "lead")},
		{AuditKey(tn), "crm:{acme}:audit"},
		{BinRecordKey(tn, crm.Contacts, "7"), "crm:{acme}:bin:contacts:7"},
		{BinAssocKey(tn, crm.Contacts, "7"), "crm:{acme}:binassoc:contacts:7"},
		{BinAssocIDsKey(tn, crm.Contacts), "crm:{acme}:binassocs:contacts"},
		{BinLinksKey(tn, crm.Calls, "7"), "crm:{acme}:binlinks:calls:7"},
		{TrashKey(tn, crm.Contacts), "crm:{acme}:trash:contacts"},
		{BinIDsKey(tn, crm.Contacts), "crm:{acme}:binids:contacts"},
		{ProtectionKey(tn), "crm:{acme}:protection"},
		{ProtectionVersionKey(tn), "crm:{acme}:protection:version"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.got)
	}
}

// The scripts build keys from a prefix and a stored member; the result must be exactly the key the
// key builders make, or a script would touch the wrong key.
func TestKeyPrefixesMatchBuilders(t *testing.T) {
	t.Parallel()
	const tn = crm.TenantID("acme")
	me := string(crm.Contacts) + ":42"
	require.Equal(t, RecordKey(tn, crm.Contacts, "42"), recordKeyPrefix(tn)+me)
	require.Equal(t, AssocKey(tn, crm.Contacts, "42"), assocKeyPrefix(tn)+me)
	require.Equal(t, BinRecordKey(tn, crm.Contacts, "42"), binRecordKeyPrefix(tn)+me)
	require.Equal(t, BinAssocKey(tn, crm.Contacts, "42"), binAssocKeyPrefix(tn)+me)
	require.Equal(t, BinAssocIDsKey(tn, crm.Contacts), binAssocIDsKeyPrefix(tn)+string(crm.Contacts))
	require.Equal(t, BinLinksKey(tn, crm.Contacts, "42"), binLinksKeyPrefix(tn)+me)
	require.Equal(t, MemberOfKey(tn, crm.Contacts, "42"), memberOfKeyPrefix(tn, crm.Contacts)+"42")
	require.Equal(t, ListMembersKey(tn, "9"), listKeyPrefix(tn)+"9"+listMembersKeySuffix)
	require.Equal(t, TokenKey(tn, "abc"), tokenKeyPrefix(tn)+"abc")
}

func TestFlowKeys(t *testing.T) {
	t.Parallel()
	const tn = crm.TenantID("acme")
	require.Equal(t, "crm:{acme}:flows", FlowsKey(tn))
	require.Equal(t, "crm:{acme}:flow:bounced", FlowKey(tn, "bounced"))
	require.Equal(t, "crm:{acme}:flow:bounced:rev:3", FlowRevisionKey(tn, "bounced", 3))
	require.Equal(t, "crm:{acme}:flow:bounced:deletions", FlowDeletionsKey(tn, "bounced"))
	require.Equal(t, "crm:{acme}:flows:active:contacts", ActiveFlowsKey(tn, crm.Contacts))
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
	require.Equal(t, "crm:{acme}:job:4:failures", JobFailuresKey(tn, "4"))
	require.Equal(t, "crm:{acme}:ops", OperationsKey(tn))
	require.Equal(t, "crm:{acme}:op:job-4", OperationKey(tn, "job-4"))
	require.Equal(t, "crm:{acme}:op:job-4:bin", OperationBinKey(tn, "job-4"))
	require.Equal(t, OperationBinKey(tn, "job-4"), operationKeyPrefix(tn)+"job-4"+operationBinSuffix)
	require.Equal(t, "crm:{acme}:flow:bounced:backfill", FlowBackfillKey(tn, "bounced"))
	require.Equal(t, "crm:{acme}:flow:bounced:backfill:lease", FlowBackfillLeaseKey(tn, "bounced"))
	require.Equal(t, "crm:{acme}:flows:type:contacts", FlowsOfTypeKey(tn, crm.Contacts))
	require.Equal(t, "crm:{acme}:mail:pending", PendingMailKey(tn))
	// The prefixes the scripts extend.
	require.Equal(t, FlowEnrolledKey(tn, "bounced"), flowKeyPrefix(tn)+"bounced"+":enrolled")
	require.Equal(t, EnrollmentKey(tn, "bounced", "contacts:7"), prefix(tn)+"enr:"+"bounced"+":"+"contacts:7")
	require.Equal(t, HistoryKey(tn, "bounced", "contacts:7"), prefix(tn)+"hist:"+"bounced"+":"+"contacts:7")
	require.Equal(t, ActiveFlowsKey(tn, crm.Contacts), activeFlowsKeyPrefix(tn)+"contacts")
	require.Equal(t, LiveKey(tn, crm.Contacts), liveKeyPrefix(tn)+"contacts")
	require.Equal(t, TrashKey(tn, crm.Contacts), trashKeyPrefix(tn)+"contacts")
	require.Equal(t, BinIDsKey(tn, crm.Contacts), binIDsKeyPrefix(tn)+"contacts")
}
