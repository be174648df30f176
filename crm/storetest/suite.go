// Package storetest is the conformance suite of crm.Store: the behaviour every implementation must
// have, whatever it keeps its data in. An implementation's tests call [Run] with a [Harness] that
// makes fresh stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, &storetest.Harness{
//			NewStore: func(t *testing.T, clk clock.Clock) crm.Store { ... },
//			Dump:     func(t *testing.T, tenant crm.TenantID) map[string]string { ... },
//		})
//	}
//
// Each test of the suite runs in parallel, in a tenant of its own (NewTenant) created on the
// Professional plan, with a simulated clock starting on 2026-03-01 12:00 UTC, so implementations
// may share one server between all of them. crm/redisstore runs the suite on a redis-server, on
// the embedded server of the zero-setup mode and on a three-master Redis Cluster.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/clock"
)

// Harness makes the stores the suite tests.
type Harness struct {
	// Dump returns everything the store keeps for tenant, as text keyed by item (for Redis: every
	// key of the tenant with its content). The suite compares dumps to check that a refused call
	// changed nothing and that a permanent delete leaves no trace. Required.
	Dump func(t *testing.T, tenant crm.TenantID) map[string]string
	// NewStore returns a store whose every change is timed by clk. Stores of one Harness may share
	// their data: each test works in a tenant of its own. Required.
	NewStore func(t *testing.T, clk clock.Clock) crm.Store
}

// tests are the suite's tests, by name.
var tests = []struct {
	name string
	fn   func(t *testing.T, hn *Harness)
}{
	{"BackfillLease", testBackfillLease},
	{"BackfillBatch", testBackfillBatch},
	{"LeaseBackfillFlow", testLeaseBackfillFlow},
	{"Restore", testRestore},
	{"RestoreRefusedWhenEmailTaken", testRestoreRefusedWhenEmailTaken},
	{"RestoreRefusedWhenEmailErased", testRestoreRefusedWhenEmailErased},
	{"RestoreInOneCallKeepsEmailsAndIndexes", testRestoreInOneCallKeepsEmailsAndIndexes},
	{"RestoreTogetherKeepsTheirAssociation", testRestoreTogetherKeepsTheirAssociation},
	{"AssociatePairs", testAssociatePairs},
	{"DissociatePairs", testDissociatePairs},
	{"ReadAssociations", testReadAssociations},
	{"AssociationsOf", testAssociationsOf},
	{"AuditNewestFirstAndFiltered", testAuditNewestFirstAndFiltered},
	{"BinFilters", testBinFilters},
	{"ArchiveCheckedMovesOnlyWhatWasNotWritten", testArchiveCheckedMovesOnlyWhatWasNotWritten},
	{"CheckedDeletesMoveOnlyUnderTheRulesChecked", testCheckedDeletesMoveOnlyUnderTheRulesChecked},
	{"FlowRevisionsAndPlanGating", testFlowRevisionsAndPlanGating},
	{"EnrollOnlyOnceByDefault", testEnrollOnlyOnceByDefault},
	{"ReenrollmentNeedsATransition", testReenrollmentNeedsATransition},
	{"ReenrollmentIsCappedPerWindow", testReenrollmentIsCappedPerWindow},
	{"RescheduleStepsMovesOnlyWaitingRecords", testRescheduleStepsMovesOnlyWaitingRecords},
	{"DeletedRecordUnenrollsAndNeedsManualEnrollment", testDeletedRecordUnenrollsAndNeedsManualEnrollment},
	{"PausedFlowEnrollsNothingAndSuppression", testPausedFlowEnrollsNothingAndSuppression},
	{"ChangesDrainWithoutLosingNewOnes", testChangesDrainWithoutLosingNewOnes},
	{"DeleteUnenrollsAtOnceEvenWhenPaused", testDeleteUnenrollsAtOnceEvenWhenPaused},
	{"BackfillProgress", testBackfillProgress},
	{"FlowRevisions", testFlowRevisions},
	{"FlowLog", testFlowLog},
	{"PermanentDeleteLeavesNoWorkflowLog", testPermanentDeleteLeavesNoWorkflowLog},
	{"RecentJobs", testRecentJobs},
	{"EveryWriteKeepsWhatTheActiveTriggersRead", testEveryWriteKeepsWhatTheActiveTriggersRead},
	{"UpsertContacts", testUpsertContacts},
	{"DeleteListMembersJob", testDeleteListMembersJob},
	{"JobLeaseAndUnfinished", testJobLeaseAndUnfinished},
	{"JobActsWithItsCreatorsAuthority", testJobActsWithItsCreatorsAuthority},
	{"JobSelectionActsWithItsCreatorsAuthority", testJobSelectionActsWithItsCreatorsAuthority},
	{"PermanentDeleteByEmail", testPermanentDeleteByEmail},
	{"PermanentDeleteFindsCallsInTheBin", testPermanentDeleteFindsCallsInTheBin},
	{"PendingMailFailure", testPendingMailFailure},
	{"SearchOnEveryBackend", testSearchOnEveryBackend},
	{"SearchDatesOnEveryBackend", testSearchDatesOnEveryBackend},
	{"SearchFindsAnEmailAsTyped", testSearchFindsAnEmailAsTyped},
	{"SearchFindsNamesAsStored", testSearchFindsNamesAsStored},
	{"TenantsUsersTokens", testTenantsUsersTokens},
	{"ActiveTenantsAndFullSweeps", testActiveTenantsAndFullSweeps},
	{"ValidationChangesNothing", testValidationChangesNothing},
	{"Paging", testPaging},
	{"NextRecords", testNextRecords},
	{"CustomObjectsAndProperties", testCustomObjectsAndProperties},
	{"UpdateProperty", testUpdateProperty},
	{"ArchiveProperty", testArchiveProperty},
	{"PropertyBatches", testPropertyBatches},
	{"SchemaChangesAudited", testSchemaChangesAudited},
	{"TenantIsolation", testTenantIsolation},
	{"AllListMembersAndIsListMember", testAllListMembersAndIsListMember},
	{"ListMembersAnswerWhatChanged", testListMembersAnswerWhatChanged},
	{"UpsertRecordsByUniqueProperty", testUpsertRecordsByUniqueProperty},
	{"UsersAndPermissions", testUsersAndPermissions},
	{"OperationsOfEveryDelete", testOperationsOfEveryDelete},
	{"UndoOperation", testUndoOperation},
	{"UndoCountsWhatLeftTheBinMeanwhile", testUndoCountsWhatLeftTheBinMeanwhile},
	{"UndoStopsTheOperationsJob", testUndoStopsTheOperationsJob},
	{"UndoPausesTheOperationsWorkflow", testUndoPausesTheOperationsWorkflow},
	{"UndoNeedsTheAuthorityOfWhatItStops", testUndoNeedsTheAuthorityOfWhatItStops},
	{"ConcurrentUndosStartOneJob", testConcurrentUndosStartOneJob},
	{"UndoStopsWhenItsCreatorMayNoLongerRestore", testUndoStopsWhenItsCreatorMayNoLongerRestore},
	{"ForgetOperationsThatAreOver", testForgetOperationsThatAreOver},
	{"DeletionLimitCountsPerWorkflowAndWindow", testDeletionLimitCountsPerWorkflowAndWindow},
	{"DeletionLimitHoldsUnderConcurrentCalls", testDeletionLimitHoldsUnderConcurrentCalls},
	{"TenantDeletionLimit", testTenantDeletionLimit},
	{"DeletionGuardChecksTheWorkflowAndItsActivator", testDeletionGuardChecksTheWorkflowAndItsActivator},
	{"SameMillisecondActivationsAreToldApart", testSameMillisecondActivationsAreToldApart},
}

// Run runs the suite on the stores h makes, each test as a parallel subtest of t.
func Run(t *testing.T, h *Harness) {
	t.Helper()
	require.NotNil(t, h.NewStore, "storetest: Harness.NewStore is required")
	require.NotNil(t, h.Dump, "storetest: Harness.Dump is required")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// NewTenant returns a random tenant id that no other test uses.
func NewTenant(t testing.TB) crm.TenantID {
	t.Helper()
	var b [6]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return crm.TenantID("t-" + hex.EncodeToString(b[:]))
}

// bundle is what one test of the suite works with.
type bundle struct {
	ctx    context.Context
	clock  *clock.Sim
	h      *Harness
	store  crm.Store
	tenant crm.TenantID
}

// setup makes a store and a fresh Professional tenant in it.
func setup(t *testing.T, h *Harness) *bundle {
	t.Helper()
	clk := clock.NewSim(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st := h.NewStore(t, clk)
	tn := NewTenant(t)
	ctx := context.Background()
	_, err := st.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	return &bundle{ctx: ctx, clock: clk, h: h, store: st, tenant: tn}
}

// jobCreator makes email a user who may create and run bulk delete jobs (delete and bulk_delete):
// a job acts with its creator's authority at each of its batches.
func (b *bundle) jobCreator(t *testing.T, email string) {
	t.Helper()
	_, err := b.store.CreateUser(b.ctx, b.tenant, email, crm.Permissions{crm.PermDelete, crm.PermBulkDelete}, "admin@x.example")
	require.NoError(t, err)
}

// dump returns everything the store keeps for the bundle's tenant (Harness.Dump).
func (b *bundle) dump(t *testing.T) map[string]string {
	t.Helper()
	return b.h.Dump(t, b.tenant)
}

// undoer is the user who asks for the suite's undo jobs.
const undoer = "admin@x.example"

// addUndoer makes undoer a user with restore, and also, when given, more: an undo job acts with
// its creator's authority, and an undo that cancels a job or pauses a workflow needs what that
// needs.
func (b *bundle) addUndoer(t *testing.T, more ...crm.Permission) {
	t.Helper()
	_, err := b.store.CreateUser(b.ctx, b.tenant, undoer, append(crm.Permissions{crm.PermRestore}, more...), "root@x.example")
	require.NoError(t, err)
}

// contact creates a contact with props.
func (b *bundle) contact(t *testing.T, props map[string]string) crm.Record {
	t.Helper()
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: props}}, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	return recs[0]
}

// pendingChange returns the change the engine has still to look at for contact id.
func (b *bundle) pendingChange(t *testing.T, id crm.RecordID) crm.Change {
	t.Helper()
	cs, err := b.store.PendingChanges(b.ctx, b.tenant, 1000)
	require.NoError(t, err)
	for _, c := range cs {
		if c.Type == crm.Contacts && c.ID == id {
			return c
		}
	}
	t.Fatalf("no change pending for contact %s", id)
	return crm.Change{}
}
