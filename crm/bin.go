package crm

// ArchiveResult tells what ArchiveRecords did.
type ArchiveResult struct {
	// Archived are the ids moved into the bin by this call.
	Archived []RecordID
	// Missing are the ids that were not live (unknown, or already in the bin).
	Missing []RecordID
	// OverLimit are the live ids ArchiveWithLimit left untouched: moving them would have exceeded
	// the workflow's blast-radius limit (SPEC S24). Always empty from ArchiveRecords.
	OverLimit []RecordID
	// Changed are the live ids ArchiveChecked left untouched because they were written since the
	// caller read them. Always empty from ArchiveRecords and ArchiveWithLimit.
	Changed []RecordID
	// Stopped are the live ids a workflow's archive left untouched because the workflow was no
	// longer active at its activation, or its activator no longer had the authority (see
	// ArchiveLimit.Needs). Always empty from ArchiveRecords.
	Stopped []RecordID
}

// CheckedArchive are the options of BinStore.ArchiveChecked.
type CheckedArchive struct {
	// Limit is a workflow's blast-radius limit, as for ArchiveWithLimit; nil for none.
	Limit *ArchiveLimit
	// All moves the records all or none: when one was written since it was read, none moves and
	// ArchiveResult.Changed names those written.
	All bool
	// RulesVersion is the version of the protection rules the records were checked against
	// (ProtectionStore.ProtectionVersion), 0 for none: when a rule was written or removed since,
	// nothing moves and ArchiveResult.Changed names every id, for the caller to check against the
	// rules as they are now. A caller whose type has no rule may pass its records with only their
	// ids, to be moved unchecked but for the rules.
	RulesVersion int64
}

// RestoreResult tells what RestoreRecords did.
type RestoreResult struct {
	// Restored are the ids brought back by this call.
	Restored []RecordID
	// Failed are the ids that could not be restored, each with its reason.
	Failed []RestoreFailure
}

// RestoreFailure is one record that could not be restored.
type RestoreFailure struct {
	ID RecordID
	// Err is a *NotFoundError (not in the bin), an *EmailConflictError (email taken by a live contact),
	// an *ErasedEmailError (an email blocklisted by a permanent delete since), a
	// *RetentionExpiredError or a *UniqueConflictError (a value of a unique property taken by a
	// live record).
	Err error
}
