package crm

import (
	"context"
	"strings"
	"time"
)

// Store is the CRM's persistence: tenants, users, schemas, records, associations, lists and the
// recycle bin. Every method takes the tenant explicitly; nothing of one tenant is reachable through
// another's id. Implementations are safe for concurrent use. It is made of one interface per
// concern, so that a component can ask for only what it uses. crm/redisstore implements it on Redis
// and Redis Cluster; crm/storetest is the conformance suite every implementation passes.
type Store interface {
	TenantStore
	UserStore
	SchemaStore
	RecordStore
	AssociationStore
	ListStore
	BinStore
	ErasureStore
	AuditStore
	JobStore
	FlowStore
	EnrollmentStore
	BackfillStore
	SearchStore
	ProtectionStore
	OperationStore
}

// TenantStore keeps the tenants and their plans.
type TenantStore interface {
	// CreateTenant creates a tenant on a plan. ErrTenantExists if it exists; *ValidationError for a bad id or plan.
	CreateTenant(ctx context.Context, t TenantID, plan Plan) (Tenant, error)
	// Tenant returns a tenant, or a *NotFoundError.
	Tenant(ctx context.Context, t TenantID) (Tenant, error)
	// SetPlan changes a tenant's plan and returns the tenant as it was before.
	SetPlan(ctx context.Context, t TenantID, plan Plan) (previous Tenant, err error)
	// Tenants lists every tenant id, sorted.
	Tenants(ctx context.Context) ([]TenantID, error)
	// ActiveTenants lists the tenants that changed something since since (a write of any kind, as
	// the store saw it: to the second, and best effort, so that a routine sweep walks these and
	// the others only in a full walk now and then; see ClaimFullSweep).
	ActiveTenants(ctx context.Context, since time.Time) ([]TenantID, error)
	// ClaimFullSweep says whether the sweep of kind at time at is to walk every tenant: true for
	// one sweep of that kind per period every, however many workers sweep, and for the first one
	// after the clock was set back.
	ClaimFullSweep(ctx context.Context, kind string, at time.Time, every time.Duration) (bool, error)
	// SetDeletionLimit sets the blast-radius limit of the tenant's workflows that set none of
	// their own (SPEC S24) and returns the tenant. A *ValidationError for a limit out of range
	// (DeletionLimit.Validate), a *NotFoundError for an unknown tenant.
	SetDeletionLimit(ctx context.Context, t TenantID, l DeletionLimit) (Tenant, error)
}

// UserStore keeps a tenant's users, their permissions and their API tokens.
type UserStore interface {
	// CreateUser adds a user to a tenant and records it in the audit trail as done by by (the acting
	// admin), in the same step. ErrUserExists if the email is taken in that tenant; a *NotFoundError
	// for an unknown tenant; a *ValidationError for an email that is not one.
	CreateUser(ctx context.Context, t TenantID, email string, perms Permissions, by string) (User, error)
	// User returns a user of a tenant, or a *NotFoundError.
	User(ctx context.Context, t TenantID, email string) (User, error)
	// CreateToken issues a new API token for a user and returns it. Only its hash is stored: the
	// token cannot be shown again; TokenID(token) is its public id. opts.TTL limits its life (nil or
	// 0: no expiry; negative: a *ValidationError) and opts.By names the issuer in the audit trail,
	// written in the same step. A *NotFoundError for an unknown tenant or user; ErrUserDisabled
	// (wrapped) for a disabled user.
	CreateToken(ctx context.Context, t TenantID, email string, opts *TokenOpts) (string, error)
	// Authenticate resolves a token to its tenant and user. ErrUnauthenticated for any bad token:
	// malformed, unknown, revoked or expired (by the store's clock), or of a disabled user; the
	// last two as an *UnauthenticatedError that says what to do. Nothing is cached: a change counts from the next call.
	Authenticate(ctx context.Context, token string) (Principal, error)
	// Users lists a tenant's users, sorted by email. A *NotFoundError for an unknown tenant.
	Users(ctx context.Context, t TenantID) ([]User, error)
	// SetUserPermissions replaces the permissions of a user with perms and returns the user as it
	// is now; the audit trail records the old and the new set, by by, in the same step. A
	// *NotFoundError for an unknown user. Tokens of the user carry the new set from their next request.
	SetUserPermissions(ctx context.Context, t TenantID, email string, perms Permissions, by string) (User, error)
	// SetUserDisabled disables (or enables) a user and returns the user as it is now. Every token of
	// a disabled user is refused from the next request on, and accepted again once the user is
	// enabled (unless revoked or expired meanwhile). A change is recorded in the audit trail, by by,
	// in the same step; setting the state the user already has changes nothing. A *NotFoundError
	// for an unknown user.
	SetUserDisabled(ctx context.Context, t TenantID, email string, disabled bool, by string) (User, error)
	// Tokens lists the tokens of a user (email "": of every user of the tenant), oldest first, without
	// their secrets. Expired tokens that Redis has not dropped yet are listed (see
	// TokenInfo.Expired). A *NotFoundError for an unknown tenant or user. It reads an index, not a SCAN.
	Tokens(ctx context.Context, t TenantID, email string) ([]TokenInfo, error)
	// RevokeToken deletes the token of public id id for good; it is refused from the next request
	// on, and the audit trail records it, by by, in the same step. A *NotFoundError for an id
	// that names no token of the tenant (or one already revoked or expired and dropped).
	RevokeToken(ctx context.Context, t TenantID, id, by string) error
}

// SchemaStore keeps a tenant's object types and their property schemas.
type SchemaStore interface {
	// ObjectTypes lists a tenant's custom object types.
	ObjectTypes(ctx context.Context, t TenantID) ([]ObjectTypeDef, error)
	// ObjectType returns one of a tenant's custom object types, or a *NotFoundError.
	ObjectType(ctx context.Context, t TenantID, o ObjectType) (ObjectTypeDef, error)
	// CreateObjectType defines a custom object type, as done by by (a user's email), and writes
	// its audit entry (AuditObjectTypeCreate) in the same step. *ConflictError if the name is
	// taken; a *ValidationError (code TOO_MANY_OBJECT_TYPES) when the tenant has
	// MaxCustomObjectTypes. A refusal changes nothing and writes no entry.
	CreateObjectType(ctx context.Context, t TenantID, def ObjectTypeDef, by string) (ObjectTypeDef, error)
	// Schema returns the properties of an object type (standard ones included), with its archived
	// ones apart (Schema.Archived), or a *NotFoundError for a type the tenant does not have.
	Schema(ctx context.Context, t TenantID, o ObjectType) (Schema, error)
	// CreateProperty adds a property to an object type, as done by by (a user's email), and writes
	// its audit entry (AuditPropertyCreate) in the same step. *ConflictError if the name is taken,
	// by a live property or an archived one (code PROPERTY_ARCHIVED: restore that one instead). A
	// refusal changes nothing and writes no entry.
	CreateProperty(ctx context.Context, t TenantID, o ObjectType, p Property, by string) (Property, error)
	// CreateProperties adds properties to an object type, all or none, in one step, as
	// CreateProperty adds one, and writes the audit entry of each, in their order: it returns them
	// as created. Refused, creating nothing and writing no entry: no property, a property that does
	// not validate, a name given twice (a *ValidationError, code DUPLICATE_NAME), a name the type
	// has (a *ConflictError, as CreateProperty's), and definitions that would take more than
	// MaxSchemaBytes with the type's (a *ValidationError, code SCHEMA_TOO_LARGE).
	CreateProperties(ctx context.Context, t TenantID, o ObjectType, ps []Property, by string) ([]Property, error)
	// ArchiveProperty archives property p of an object type (as the caller read it with Schema),
	// as done by by (a user's email), and returns it as archived (ArchivedAt, ArchivedBy). It
	// moves the definition alone, and writes its audit entry (AuditPropertyArchive), in one step:
	// every record, live or in the bin, keeps its value, and the search indexes keep following
	// them (see RestoreProperty). While archived, the property is in Schema.Archived only: Records
	// leaves its values out, and writes and searches refuse it. Refused, changing nothing and
	// writing no entry: what ValidatePropertyArchive refuses (a *ConflictError), and a definition
	// that is no longer p (a *ConflictError: another change came first). A
	// property archived already is returned as it is, with no new entry. A *NotFoundError for an
	// unknown type or property. What uses the property is the caller's to check.
	ArchiveProperty(ctx context.Context, t TenantID, o ObjectType, p Property, by string) (Property, error)
	// ArchiveProperties archives properties ps of an object type (as the caller read them with
	// Schema), all or none, in one step, as ArchiveProperty archives one, writing the audit entry of
	// each, and returns them as archived, in their order. One archived already is returned as it
	// is, with no new entry. Refused, changing nothing and writing no entry: what ArchiveProperty
	// refuses for any of them, and a name given twice (a *ValidationError, code DUPLICATE_NAME).
	ArchiveProperties(ctx context.Context, t TenantID, o ObjectType, ps []Property, by string) ([]Property, error)
	// RestoreProperty brings archived property name of an object type back, as done by by (a
	// user's email), and writes its audit entry (AuditPropertyRestore), in one step, and returns
	// it: the values its records kept are read, written and searched again as they were, its
	// search indexes exact (they followed the records while it was archived). A live property is
	// returned as it is, with no entry. A *NotFoundError for an unknown type, or a name that is
	// neither.
	RestoreProperty(ctx context.Context, t TenantID, o ObjectType, name, by string) (Property, error)
	// UpdateProperty replaces the definition old (as the caller read it with Schema) of a
	// property of an object type with next, as done by by (a user's email), writes its audit entry
	// (AuditPropertyUpdate, with what changed: PropertyChangeOf) in the same step, and returns
	// next; a next that changes no field writes nothing. It refuses, changing nothing and writing
	// no entry: what ValidatePropertyChange refuses (ValidationErrors); a definition that is no
	// longer old (a *ConflictError: another change came first); a change that stored values would
	// no longer fit (a *PropertyInUseError): an option removed while live records hold it, or a
	// type changed to another than string while any record, live or in the bin, holds a value
	// (checked for at most MaxTypeChangeRecords records, else a *ConflictError); and definitions
	// past MaxSchemaBytes (a *ValidationError). A type change drops, in the same step, the search indexes of the old type.
	// A *NotFoundError for an unknown type or property.
	UpdateProperty(ctx context.Context, t TenantID, o ObjectType, old, next Property, by string) (Property, error)
	// AllObjectTypes lists the standard and the tenant's custom object types.
	AllObjectTypes(ctx context.Context, t TenantID) ([]ObjectType, error)
}

// RecordStore keeps live records: writes, reads, pages and upserts.
type RecordStore interface {
	// CreateRecords creates records atomically: all or none. Values are validated against the
	// schema (ValidationErrors naming each property); a contact email that belongs to a live contact
	// is an *EmailConflictError; a blocklisted email is a *BlockedEmailError. Two inputs that give
	// the same email, or the same value of a unique property, are ValidationErrors naming both.
	CreateRecords(ctx context.Context, t TenantID, o ObjectType, in []RecordInput, by Actor) ([]Record, error)
	// UpdateRecords changes properties of live records atomically: all or none. A missing record is a
	// *NotFoundError; other errors as CreateRecords.
	UpdateRecords(ctx context.Context, t TenantID, o ObjectType, in []RecordUpdate, by Actor) ([]Record, error)
	// Records reads records by id in one round trip; ids that are not found are left out.
	// With opts.Archived it reads the bin instead of the live records. The values of archived
	// properties (Schema.Archived) are left out, named or not; they stay stored.
	Records(ctx context.Context, t TenantID, o ObjectType, ids []RecordID, opts *ReadOpts) ([]Record, error)
	// Record reads one record, or a *NotFoundError.
	Record(ctx context.Context, t TenantID, o ObjectType, id RecordID, opts *ReadOpts) (Record, error)
	// ListRecords pages through the live records of a type by ascending id (or the bin with
	// opts.Archived).
	ListRecords(ctx context.Context, t TenantID, o ObjectType, opts *ListOpts) (Page, error)
	// NextRecords reads up to n (at most MaxScriptBatch) live records of a type with ids above the
	// cursor after ("" starts at the beginning), by ascending id, in two round trips, for the engine
	// and jobs that walk every record; next is "" at the end. props limits the properties read (as
	// ReadOpts.Properties; nil reads all). It does not check that the type exists.
	NextRecords(ctx context.Context, t TenantID, o ObjectType, after string, n int, props []string) (recs []Record, next string, err error)
	// ScanRecords calls fn with every live record of a type, in batches.
	ScanRecords(ctx context.Context, t TenantID, o ObjectType, batch int, fn func([]Record) error) error
	// CountRecords counts the live records of a type.
	CountRecords(ctx context.Context, t TenantID, o ObjectType) (int64, error)
	// ContactByEmail returns the id of the live contact with that primary or additional email.
	ContactByEmail(ctx context.Context, t TenantID, email string) (RecordID, error)
	// UpsertContacts creates or updates contacts by email, each atomically, without a round trip
	// per contact; see redisstore.Store.UpsertContacts.
	UpsertContacts(ctx context.Context, t TenantID, in []ContactUpsert, by Actor) ([]UpsertedRecord, error)
	// ContactsByEmails returns the ids of the live contacts with those primary or additional
	// emails, in one round trip, keyed by the email as given; emails no live contact has (or that
	// are not emails) are left out.
	ContactsByEmails(ctx context.Context, t TenantID, emails []string) (map[string]RecordID, error)
	// RecordsByUnique returns the ids of the live records of type o whose unique property prop
	// (Property.Unique) holds those values, in one round trip after reading the schema, keyed by
	// the value as given; values no live record holds (or that are not valid values of prop) are
	// left out. A prop that is not a unique property of o is a *ValidationError.
	RecordsByUnique(ctx context.Context, t TenantID, o ObjectType, prop string, values []string) (map[string]RecordID, error)
	// UpsertRecords creates or updates records of type o by the unique property prop, each
	// atomically, without a round trip per record; see redisstore.Store.UpsertRecords.
	UpsertRecords(ctx context.Context, t TenantID, o ObjectType, prop string, in []RecordUpsert, by Actor) ([]UpsertedRecord, error)
}

// AssociationStore keeps the associations between records.
type AssociationStore interface {
	// Associate links two live records (both directions). Idempotent. *NotFoundError if either is not live.
	Associate(ctx context.Context, t TenantID, from, to AssociationRef) error
	// Dissociate removes the link between two live records (both directions). Idempotent: two
	// records not linked are not an error. *NotFoundError if either is not live (a record in the
	// bin keeps its links for its restore).
	Dissociate(ctx context.Context, t TenantID, from, to AssociationRef) error
	// Associations lists the ids of the records of type toType linked to a live record, ascending.
	Associations(ctx context.Context, t TenantID, from AssociationRef, toType ObjectType) ([]RecordID, error)
	// AssociatePairs links each pair's two records (both directions), all the pairs in one atomic
	// step, and returns one error per pair (nil where it is linked, or was already): a
	// *NotFoundError naming the record of the pair that is not live, or a *ValidationError
	// TOO_MANY_ASSOCIATIONS naming the record that has MaxAssociations already (counting the
	// pairs before it). The other pairs are linked all the same. A pair linking a record with
	// itself is a *ValidationError SELF_ASSOCIATION, and links nothing of the call. Associate is
	// AssociatePairs of one pair.
	AssociatePairs(ctx context.Context, t TenantID, pairs []AssociationPair) ([]error, error)
	// DissociatePairs removes the link of each pair (both directions), all the pairs or none, in
	// one atomic step, and returns one error per pair: when a pair names a record that is not live
	// (a record in the bin keeps its links for its restore), its error is a *NotFoundError naming
	// it and nothing at all is removed. Pairs not linked are not an error. Dissociate is
	// DissociatePairs of one pair.
	DissociatePairs(ctx context.Context, t TenantID, pairs []AssociationPair) ([]error, error)
	// ReadAssociations returns, for each of ids that is a live record of type o, the ids of the
	// records of type toType linked to it, ascending (empty, not nil, for none), in one atomic
	// step; the ids of records that are not live are left out. The records of one call may have
	// at most a budget of associations in all, over every type (DefaultAssociationReadBudget
	// unless the store is configured otherwise): past it, nothing is read and the error is a
	// *ValidationError TOO_MANY_ASSOCIATIONS_READ. Associations is ReadAssociations of one record.
	ReadAssociations(ctx context.Context, t TenantID, o ObjectType, ids []RecordID, toType ObjectType) (map[RecordID][]RecordID, error)
	// AssociationsOf returns, for each of ids that is a live record of type o, the ids of its
	// linked records of each of toTypes, ascending, in one atomic step; records without any, and
	// types without any, are left out. Its records may have at most the budget of
	// ReadAssociations in all, over every type (however few toTypes are): past it, nothing is read
	// and the error is a *ValidationError TOO_MANY_ASSOCIATIONS_READ. A read of one record is
	// always within it.
	AssociationsOf(ctx context.Context, t TenantID, o ObjectType, ids []RecordID, toTypes []ObjectType) (map[RecordID]map[ObjectType][]RecordID, error)
}

// ListStore keeps static lists and their members.
type ListStore interface {
	// CreateList creates a static list of contacts or companies; a *ValidationError (code
	// TOO_MANY_LISTS) when the tenant has MaxLists.
	CreateList(ctx context.Context, t TenantID, name string, o ObjectType) (ListDef, error)
	// List returns a list with its size, or a *NotFoundError.
	List(ctx context.Context, t TenantID, id ListID) (ListDef, error)
	// Lists returns every list of the tenant.
	Lists(ctx context.Context, t TenantID) ([]ListDef, error)
	// RecordLists returns the ids of the static lists a record is a member of.
	RecordLists(ctx context.Context, t TenantID, o ObjectType, id RecordID) ([]ListID, error)
	// DeleteList deletes a list. Its members are never deleted.
	DeleteList(ctx context.Context, t TenantID, id ListID) error
	// AddListMembers adds live records of the list's type, in one atomic step. It returns the ids it
	// made members (not those that already were) and the ids that are not live records of the type
	// (missing), each in the order given and nil when none.
	AddListMembers(ctx context.Context, t TenantID, id ListID, ids []RecordID) (added, missing []RecordID, err error)
	// RemoveListMembers removes records from a list, in one atomic step, and returns the ids it
	// removed (those that were members), in the order given and nil when none.
	RemoveListMembers(ctx context.Context, t TenantID, id ListID, ids []RecordID) (removed []RecordID, err error)
	// AllListMembers returns every member id of a list, ascending, in few round trips.
	AllListMembers(ctx context.Context, t TenantID, id ListID) ([]RecordID, error)
	// IsListMember reports whether a record is a member of a list.
	IsListMember(ctx context.Context, t TenantID, id ListID, rec RecordID) (bool, error)
	// ListMembersAmong reports which of ids are members of a list, in one round trip.
	ListMembersAmong(ctx context.Context, t TenantID, id ListID, ids []RecordID) (map[RecordID]bool, error)
	// ListMembers pages through a list's member ids by ascending id.
	ListMembers(ctx context.Context, t TenantID, id ListID, opts *ListOpts) (ids []RecordID, after string, err error)
}

// BinStore moves records to the recycle bin, restores them and purges what expired (SPEC S5–S7).
type BinStore interface {
	// ArchiveRecords moves live records into the recycle bin in one atomic step: they leave reads,
	// lists, association reads and workflow enrollments, and the bin records when, by whom and how.
	// Ids that are not live are reported in the result, not as an error. Idempotent.
	ArchiveRecords(ctx context.Context, t TenantID, o ObjectType, ids []RecordID, by Actor) (ArchiveResult, error)
	// ArchiveWithLimit is ArchiveRecords for a workflow's deletions (by.Via ViaWorkflow, by.Ref
	// its name) under its blast-radius limit (SPEC S24): in the same atomic step it counts the
	// deletions of the workflow (by.Ref, whatever the activation) over the last lim.Per, moves at most
	// the allowance left, in the order of ids, and reports the other live ids in
	// ArchiveResult.OverLimit without touching them. The limit so holds exactly however many
	// workers delete at once. An unlimited lim counts nothing. With lim.Needs, the same step
	// moves nothing unless the workflow is active at lim.ActivatedAt and by.User may still act
	// with those permissions, and reports the live ids in ArchiveResult.Stopped (SPEC S23).
	ArchiveWithLimit(ctx context.Context, t TenantID, o ObjectType, ids []RecordID, by Actor, lim ArchiveLimit) (ArchiveResult, error)
	// ArchiveChecked is ArchiveRecords, or ArchiveWithLimit when opts.Limit is not nil, for records
	// the caller read and checked against the protection rules (SPEC S25): in the same atomic
	// step, each of recs moves only if it was not written since it was read (the record's last
	// modification is still recs[i].UpdatedAt). The others stay live and are reported in
	// ArchiveResult.Changed, for the caller to read and check again; so a record made protected
	// between the check and the move is never moved. With opts.All, one such record keeps every
	// record of the call live.
	ArchiveChecked(ctx context.Context, t TenantID, o ObjectType, recs []Record, by Actor, opts CheckedArchive) (ArchiveResult, error)
	// RestoreRecords brings records back from the bin with their properties and the associations
	// whose other side is live; not list memberships, not enrollments. Each id succeeds or fails on
	// its own (a contact whose email now belongs to a live contact fails with *EmailConflictError,
	// one with an email a permanent delete blocklisted since with *ErasedEmailError; a record past
	// its retention period, purged or not, with *RetentionExpiredError).
	RestoreRecords(ctx context.Context, t TenantID, o ObjectType, ids []RecordID, by Actor) (RestoreResult, error)
	// PurgeExpired removes for good at most limit bin entries of a type deleted at or before horizon,
	// re-checking each deletion time inside the script, and returns how many it removed.
	PurgeExpired(ctx context.Context, t TenantID, o ObjectType, horizon time.Time, limit int) (int, error)
	// CountExpired counts the bin entries of a type deleted at or before horizon.
	CountExpired(ctx context.Context, t TenantID, o ObjectType, horizon time.Time) (int64, error)
	// BinSize counts the bin entries of a type.
	BinSize(ctx context.Context, t TenantID, o ObjectType) (int64, error)
}

// ErasureStore deletes contacts permanently for privacy law, keeps the blocklist of erased emails and the confirmation mails still to send (SPEC S9–S11).
type ErasureStore interface {
	// PermanentDeleteContact deletes a contact for good, with every call associated with it (those
	// other records share too, and those in the bin that were associated with it when binned), and
	// blocklists its emails; the confirmation email to p.By, with the
	// count of calls erased, is written in the same step (see PendingMails).
	PermanentDeleteContact(ctx context.Context, t TenantID, p PermanentDeleteParams) (PermanentDeleteResult, error)
	// IsBlocklisted reports whether an email was blocklisted by a permanent delete.
	IsBlocklisted(ctx context.Context, t TenantID, email string) (bool, error)
	// ContactsByAnyEmail returns the ids of every contact, live or in the bin, with that primary
	// or additional email, ascending; none is not an error. It never scans the bin.
	ContactsByAnyEmail(ctx context.Context, t TenantID, email string) ([]RecordID, error)
	// PendingMails lists the emails written with a change and not yet delivered, oldest first, each
	// with its Failure (when its delivery failed for good) and Retries.
	PendingMails(ctx context.Context, t TenantID) ([]Mail, error)
	// AckPendingMail forgets a pending email once delivered. Idempotent.
	AckPendingMail(ctx context.Context, t TenantID, id string) error
	// FailPendingMail records that a pending email's delivery failed for good (audit entry
	// "mail_failed"); false when it is no longer pending.
	FailPendingMail(ctx context.Context, t TenantID, id string, f MailFailure) (bool, error)
	// RetryPendingMail clears a failed pending email's failure, so that the mail sweep enqueues it
	// again (audit entry "mail_retried" by by), and returns its number of retries.
	RetryPendingMail(ctx context.Context, t TenantID, id, by string) (int, error)
	// DiscardPendingMail forgets a failed pending email for good (audit entry "mail_discarded" by by).
	DiscardPendingMail(ctx context.Context, t TenantID, id, by string) error
}

// AuditStore reads the audit trail that the other stores write in the same step as each change.
type AuditStore interface {
	// Audit pages through a tenant's audit trail of deletions and restores, and of the changes of
	// its users and tokens, oldest first.
	Audit(ctx context.Context, t TenantID, opts *AuditOpts) ([]AuditEntry, string, error)
	// RecentOutbox returns the newest limit emails of the tenant's outbox (0: all), newest first,
	// workflow notifications rendered from their records.
	RecentOutbox(ctx context.Context, t TenantID, limit int) ([]Mail, error)
	// OutboxDropped says how many workflow notifications the tenant's outbox dropped to stay
	// within its cap, and when it last did.
	OutboxDropped(ctx context.Context, t TenantID) (OutboxDrops, error)
}

// JobStore keeps bulk delete jobs: their selection, their progress and the leases of the workers that run them.
type JobStore interface {
	// CreateDeleteJob stores a bulk delete job: by ids, pending when their number is the confirmed
	// count (else a *CountMismatchError and nothing is kept); by filter or list, selecting.
	CreateDeleteJob(ctx context.Context, t TenantID, p DeleteJobParams) (Job, error)
	// StageSelection records one step of a filter's selection; the last step ends it. Each step
	// acts with the job's creator's authority as it is then, as RunDeleteJobBatch does: a creator
	// no longer a user, disabled or without delete or bulk_delete makes the step select nothing
	// and end the job JobStopped, keeping nothing of the selection. So does StageListSelection.
	StageSelection(ctx context.Context, t TenantID, id string, o ObjectType, step SelectionStep) (Job, error)
	// StageListSelection runs the next step of a list's selection; the last step ends it.
	StageListSelection(ctx context.Context, t TenantID, j Job, limit int) (Job, error)
	// RefuseJob ends a selecting job as refused, keeping nothing of its selection.
	RefuseJob(ctx context.Context, t TenantID, id, code, message string) (Job, error)
	// Job returns a bulk job, or a *NotFoundError.
	Job(ctx context.Context, t TenantID, id string) (Job, error)
	// SelectingJobs returns the tenant's bulk delete jobs still selecting (JobSelecting), with
	// their Filter, in two round trips.
	SelectingJobs(ctx context.Context, t TenantID) ([]Job, error)
	// RecentJobs returns the tenant's jobs (bulk deletes and undos), newest first, limit at a time
	// from before (the ID of the last job of the previous page; "" for the newest); next is the
	// before of the next page, "" at the end.
	RecentJobs(ctx context.Context, t TenantID, before string, limit int) (jobs []Job, next string, err error)
	// RunDeleteJobBatch processes the next batch of a job, atomically with its progress. The job
	// acts with its creator's authority as it is then (SPEC S2): when its creator (Job.By.User)
	// is no longer a user, is disabled or lacks delete or bulk_delete (JobNeeds), the same step
	// moves nothing and ends the job as JobStopped, with Job.Stop naming the user and what it
	// lacks.
	RunDeleteJobBatch(ctx context.Context, t TenantID, id string, limit int) (Job, error)
	// RunCheckedDeleteJobBatch is RunDeleteJobBatch of the next limit pending records, which the
	// caller read and checked against the protection rules (SPEC S25), the live ones being checked:
	// a record written since it was read (its last modification is no longer its UpdatedAt), or
	// live and not in checked, is not moved; it stays pending with the records after it, for the
	// next batch to check again. With rulesVersion (not 0), the batch moves nothing unless the
	// tenant's protection rules are still at that version (ProtectionVersion), and returns the job
	// with ErrRulesChanged, for the caller to check against the rules as they are now; checked may
	// then be nil, for a batch of a type without rules, whose records the rules were read for.
	RunCheckedDeleteJobBatch(ctx context.Context, t TenantID, id string, limit int, checked []Record, rulesVersion int64) (Job, error)
	// LeaseJob takes or renews the lease of a job for owner; false while another owner holds it.
	LeaseJob(ctx context.Context, t TenantID, id, owner string, ttl time.Duration) (bool, error)
	// ReleaseJob gives up the lease of a job if owner holds it.
	ReleaseJob(ctx context.Context, t TenantID, id, owner string) error
	// UnfinishedJobs lists the ids of the jobs created since `since` that are not done.
	UnfinishedJobs(ctx context.Context, t TenantID, since time.Time) ([]string, error)
}

// FlowStore keeps workflows, their revisions and their activation state.
type FlowStore interface {
	// PutFlow stores a validated workflow source as a new revision (unless unchanged).
	PutFlow(ctx context.Context, t TenantID, name string, o ObjectType, source, by string) (Flow, bool, error)
	// Flow returns a workflow, or a *NotFoundError.
	Flow(ctx context.Context, t TenantID, name string) (Flow, error)
	// Flows lists a tenant's workflows by name.
	Flows(ctx context.Context, t TenantID) ([]Flow, error)
	// FlowRevision returns one revision of a workflow.
	FlowRevision(ctx context.Context, t TenantID, name string, rev int64) (FlowRevision, error)
	// FlowRevisions returns every revision of a workflow, oldest first, without their sources
	// (Source is empty): a workflow may have many revisions of up to a request body each, and
	// FlowRevision reads the one whose source is wanted.
	FlowRevisions(ctx context.Context, t TenantID, name string) ([]FlowRevision, error)
	// ActivateFlow activates a workflow's latest revision on behalf of p.By, whose authority it then
	// acts with; a *PlanError when the plan lacks workflows.
	ActivateFlow(ctx context.Context, t TenantID, name string, p ActivateFlowParams) (Flow, error)
	// PauseFlow pauses a workflow, with a reason when it pauses itself (see PauseOpts).
	PauseFlow(ctx context.Context, t TenantID, name string, opts *PauseOpts) (Flow, error)
	// ActiveFlows returns the active workflows of a type with their active revisions.
	ActiveFlows(ctx context.Context, t TenantID, o ObjectType) ([]Flow, []FlowRevision, error)
	// FlowDeletionsInWindow returns how many deletions of the workflow name, all its activations
	// and revisions together, fall in the window of length per ending now: those that count
	// against a blast-radius limit of that window now (SPEC S24; ArchiveWithLimit). 0 for a name
	// without any.
	FlowDeletionsInWindow(ctx context.Context, t TenantID, name string, per time.Duration) (int64, error)
}

// EnrollmentStore keeps enrollments, their steps and history, and the changes the engine has still to look at.
type EnrollmentStore interface {
	// EvaluateFlow applies the engine's verdicts on records to a workflow; returns those enrolled.
	EvaluateFlow(ctx context.Context, t TenantID, f FlowRef, vs []FlowVerdict) ([]RecordID, error)
	// EnrollManually enrolls one record at a person's request; a *ConflictError says why not.
	EnrollManually(ctx context.Context, t TenantID, f FlowRef, id RecordID, by string) error
	// AdvanceSteps records a step's results and moves each record to its next step, once.
	AdvanceSteps(ctx context.Context, t TenantID, f FlowRef, step, nsteps int, action string, rs []StepResult) ([]RecordID, error)
	// MoveEnrollments moves records enrolled at an older revision on to the active one, at their step.
	MoveEnrollments(ctx context.Context, t TenantID, f FlowRef, from int64, step, nsteps int, ids []RecordID) ([]RecordID, error)
	// RescheduleSteps moves when the next step of records still waiting at a step of f.Revision is
	// due; returns those moved.
	RescheduleSteps(ctx context.Context, t TenantID, f FlowRef, ds []StepDue) ([]RecordID, error)
	// Enrollments reads the enrollments of records in a workflow.
	Enrollments(ctx context.Context, t TenantID, flow string, o ObjectType, ids []RecordID) ([]Enrollment, error)
	// DueEnrollments returns enrolled records whose next step is due by until.
	DueEnrollments(ctx context.Context, t TenantID, flow string, until time.Time, limit int) ([]RecordID, error)
	// History returns a record's history in a workflow, oldest first.
	History(ctx context.Context, t TenantID, flow string, o ObjectType, id RecordID) ([]HistoryEntry, error)
	// FlowLog returns a page of a workflow's history as a whole, newest first (see FlowLogQuery).
	FlowLog(ctx context.Context, t TenantID, flow string, q FlowLogQuery) (FlowLogPage, error)
	// PendingChanges reads change marks the engine has still to look at. A write leaves one only
	// while a workflow of the record's type is active: a workflow activated later evaluates only
	// the writes after its activation, so a mark left with none active would be read by no one.
	PendingChanges(ctx context.Context, t TenantID, limit int) ([]Change, error)
	// AckChanges forgets handled change marks, except those changed again since read.
	AckChanges(ctx context.Context, t TenantID, cs []Change) (int, error)
	// TenantsWithChanges returns which tenants have change marks waiting.
	TenantsWithChanges(ctx context.Context, tenants []TenantID) ([]TenantID, error)
}

// BackfillStore keeps the progress of a workflow's enrollment of existing records, and its lease.
type BackfillStore interface {
	// SetBackfill records the progress of a workflow's enroll-existing backfill.
	SetBackfill(ctx context.Context, t TenantID, flow string, b Backfill) error
	// Backfill returns the progress of a workflow's latest backfill; false when it never had one.
	Backfill(ctx context.Context, t TenantID, flow string) (Backfill, bool, error)
	// AdvanceBackfill records a backfill's progress if owner holds its lease; false when it does not.
	AdvanceBackfill(ctx context.Context, t TenantID, flow, owner string, b Backfill) (bool, error)
	// ApplyBackfillBatch applies a backfill's batch of verdicts (as FlowStore.EvaluateFlow) and
	// records its progress b (b.Enrolled before the batch; the batch's enrollments are added) in one
	// step, if owner holds the lease and the workflow is active at f's revision; the outcome says
	// which.
	ApplyBackfillBatch(ctx context.Context, t TenantID, f FlowRef, vs []FlowVerdict, owner string, b Backfill) ([]RecordID, BatchOutcome, error)
	// LeaseBackfill takes or renews the lease of a workflow's backfill for owner; false while
	// another owner holds it.
	LeaseBackfill(ctx context.Context, t TenantID, flow, owner string, ttl time.Duration) (bool, error)
	// LeaseBackfillFlow reads a workflow (as FlowStore.Flow) and takes or renews the lease of its
	// backfill for owner (as LeaseBackfill) in one step; a *NotFoundError when there is no such
	// workflow.
	LeaseBackfillFlow(ctx context.Context, t TenantID, flow, owner string, ttl time.Duration) (Flow, bool, error)
	// ReleaseBackfill gives up the lease of a workflow's backfill if owner holds it.
	ReleaseBackfill(ctx context.Context, t TenantID, flow, owner string) error
}

// SearchStore searches records by their properties (the CRM search API).
type SearchStore interface {
	// Search finds the live records of a type that match p (HubSpot's search: the OR of filter
	// groups, each the AND of its filters), through the type's search indexes (SearchIndexes),
	// sorted and paged. ValidationErrors naming each field of p that is wrong (an unknown property,
	// a value that does not parse as its type, an operator the type does not take, a missing
	// property name, operator or value, a value the operator does not read, a limit out of range,
	// a page past MaxSearchResults), or a *ValidationError (code SEARCH_TOO_BROAD) when it would
	// read more than Config.SearchWorkBudget records; a *NotFoundError for an unknown type. A page
	// never reaches past the first MaxSearchResults results.
	Search(ctx context.Context, t TenantID, o ObjectType, p SearchParams) (SearchResult, error)
}

// ReadOpts are options of a read. nil means the defaults.
type ReadOpts struct {
	// Archived reads from the recycle bin instead of the live records.
	Archived bool
	// Properties limits the properties returned; empty means all.
	Properties []string
}

// ListOpts are options of a paged read. nil means the defaults.
type ListOpts struct {
	// After is the cursor returned by the previous page; empty starts at the beginning.
	After string
	// Limit is the page size. Defaults to 10; at most 100.
	Limit int
	// Archived pages through the recycle bin instead of the live records.
	Archived bool
	// Operation, with Archived, pages through the records of that operation (SPEC S26) still in
	// the bin only.
	Operation string
	// Deleted, with Archived, keeps the records whose deletion it matches. The bin is read in
	// order until Limit records match or MaxBinScan were read: a page may then hold fewer than
	// Limit records while its cursor goes on.
	Deleted DeletionFilter
	// Properties limits the properties returned; empty means all.
	Properties []string
}

// MaxBinScan is the most records of the bin one filtered page reads (ListOpts.Deleted).
const MaxBinScan = 2000

// DeletionFilter narrows the recycle bin to the records deleted by whom, how and when. Its zero
// value keeps every record.
type DeletionFilter struct {
	// By keeps the deletions whose actor (Deletion.Describe: the user, and for a workflow its
	// name) contains it, ignoring case.
	By string
	// Via keeps the deletions made that way.
	Via Via
	// Since and Until keep the deletions made at or after Since and before Until; a zero time
	// leaves that end open.
	Since, Until time.Time
}

// IsZero says whether f keeps every record.
func (f DeletionFilter) IsZero() bool { return f == DeletionFilter{} }

// Matches says whether deletion d passes f; a record with no deletion never does.
func (f DeletionFilter) Matches(d *Deletion) bool {
	switch {
	case d == nil:
		return false
	case f.Via != "" && d.Via != f.Via:
		return false
	case !f.Since.IsZero() && d.At.Before(f.Since):
		return false
	case !f.Until.IsZero() && !d.At.Before(f.Until):
		return false
	case f.By != "" && !strings.Contains(strings.ToLower(d.Describe()), strings.ToLower(f.By)):
		return false
	}
	return true
}

// DefaultRetention is how long a deleted record stays restorable by default.
const DefaultRetention = 90 * 24 * time.Hour

// MaxScriptBatch is the most records one store call changes in one script. Bigger inputs are refused;
// bulk paths split their work into batches of at most this size.
const MaxScriptBatch = 1000
