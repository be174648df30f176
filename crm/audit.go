package crm

import (
	"slices"
	"strings"
	"time"
)

// AuditEntry is one deletion, restore or permanent delete, of one record or of a batch of records
// moved together, one change of a user or a token by an admin, or one change of the tenant's data
// model (a property created, changed, archived or restored, a custom object type created). It
// names records by id and users by email only, never record content or a token's secret.
type AuditEntry struct {
	// ID is the entry's cursor.
	ID string
	// Action is one of the Audit* actions: "archive", "restore", "permanent_delete",
	// "permanent_delete_cascade" (the calls wiped with a permanently deleted contact), "purge" (bin
	// entries removed for good), "mail_dropped" (a notification about a record that no longer
	// exists, not sent), "workflow_erased" (a workflow a permanent delete erased an address from),
	// the changes of users and tokens, and those of the data model ("property_create",
	// "property_update", "property_archive", "property_restore", "object_type_create").
	Action     string
	ObjectType ObjectType
	RecordIDs  []RecordID
	// MailID is the id of the email a "mail_dropped", "mail_failed", "mail_retried" or
	// "mail_discarded" entry is about.
	MailID string
	// Reason says why a "mail_dropped" notification was dropped: "record_gone" (permanently deleted
	// or purged), "recipient_gone" (no longer an enabled user; User names the recipient),
	// "workflow_inactive" (paused or removed), "workflow_reactivated" (active again, but under
	// another activation than the one whose step queued it: paused and activated again, or
	// activated again while active) or "activator_lacks_read" (the workflow's activator no longer
	// holds read, which its text needs). Empty on other entries.
	Reason string
	// Count is how many records the entry is about, set by the purge and cascade entries, and for
	// AuditWorkflowErased how many revisions were erased; 0 otherwise.
	Count int
	// By is who made the change: a user's email, a workflow, or for a user or token change the
	// acting admin (the CLI's "admin-cli:<os user>", say).
	By  string
	Via Via
	Ref string
	// Revision is the revision of workflow Ref that made the change (Via ViaWorkflow), else 0.
	Revision int64
	At       time.Time
	// User is the email of the user a user or token change concerns, and the recipient of a
	// "mail_dropped" notification dropped because it is no longer an enabled user of the tenant.
	User string
	// Permissions is the user's set after AuditUserCreate and AuditUserSetPerms;
	// PreviousPermissions the set before AuditUserSetPerms.
	Permissions         Permissions
	PreviousPermissions Permissions
	// TokenID is the public id of the token of AuditTokenCreate and AuditTokenRevoke.
	TokenID string
	// ExpiresAt is when the token of AuditTokenCreate expires; zero for never.
	ExpiresAt time.Time
	// Rule names the protection rule of AuditProtectionPut and AuditProtectionDelete (its
	// ObjectType is the rule's type).
	Rule string
	// Retention is the deployment's retention after AuditRetentionSet, PreviousRetention the one
	// before; its Count is how many of the tenant's bin entries the change made purgeable at once.
	Retention, PreviousRetention time.Duration
	// Property names the property of AuditPropertyCreate, AuditPropertyUpdate,
	// AuditPropertyArchive and AuditPropertyRestore (its ObjectType is the property's type).
	Property string
	// CallsErased is, on an AuditPermanentDelete entry, how many calls associated with the
	// contacts were erased with them; the "permanent_delete_cascade" entries name them.
	CallsErased int
	// Changed names the fields of the definition an AuditPropertyUpdate changed, as the API names
	// them (PropertyChange.Fields); OptionsAdded and OptionsRemoved count the options it added and
	// removed. Never a value of a record, nor an option's value.
	Changed                      []string
	OptionsAdded, OptionsRemoved int
}

// Actor describes who made the change, as "USER via workflow NAME (revision R)" for a workflow.
func (e AuditEntry) Actor() string {
	return Actor{User: e.By, Via: e.Via, Ref: e.Ref, Revision: e.Revision}.String()
}

// The actions of the audit trail.
const (
	AuditArchive = "archive"
	AuditRestore = "restore"
	// AuditUndo is an undo asked for (SPEC S26): Ref is the operation, By who asked; the undo
	// job's restores follow as AuditRestore entries via ViaUndo.
	AuditUndo            = "undo"
	AuditPermanentDelete = "permanent_delete"
	AuditUserCreate      = "user_create"
	AuditUserSetPerms    = "user_set_perms"
	AuditUserDisable     = "user_disable"
	AuditUserEnable      = "user_enable"
	AuditTokenCreate     = "token_create"
	AuditTokenRevoke     = "token_revoke"
	// AuditWorkflowErased is a workflow a permanent delete erased an email address from (SPEC S9):
	// Ref is the workflow, By "permanent-delete", Count the number of its revisions erased.
	AuditWorkflowErased = "workflow_erased"
	// AuditRetentionSet is a change of the deployment's retention by an admin, written to every
	// tenant's trail: By is the admin, Retention and PreviousRetention the values, Count how many
	// of the tenant's bin entries became purgeable at once (a shortening's).
	AuditRetentionSet = "retention_set"
	// AuditMailFailed is a pending email (a permanent delete's confirmation) whose delivery failed
	// for good, By "system"; AuditMailRetried and AuditMailDiscarded are an operator's retry of it,
	// or giving up on it, By the operator. MailID names the email.
	AuditMailFailed    = "mail_failed"
	AuditMailRetried   = "mail_retried"
	AuditMailDiscarded = "mail_discarded"
	// AuditPropertyCreate, AuditPropertyUpdate, AuditPropertyArchive and AuditPropertyRestore
	// are a property created, its definition changed (Changed, OptionsAdded, OptionsRemoved say
	// what), archived (its values hidden from every read) or restored, and AuditObjectTypeCreate
	// a custom object type created, each written in the step that makes the change: By is the
	// acting user, ObjectType the type, Property the property's name.
	AuditPropertyCreate   = "property_create"
	AuditPropertyUpdate   = "property_update"
	AuditPropertyArchive  = "property_archive"
	AuditPropertyRestore  = "property_restore"
	AuditObjectTypeCreate = "object_type_create"
)

// AuditActions are every action the audit trail holds.
var AuditActions = []string{AuditArchive, AuditRestore, AuditUndo, AuditPermanentDelete, "permanent_delete_cascade", "purge",
	"mail_dropped", AuditUserCreate, AuditUserSetPerms, AuditUserDisable, AuditUserEnable, AuditTokenCreate, AuditTokenRevoke,
	AuditProtectionPut, AuditProtectionDelete, AuditWorkflowErased, AuditRetentionSet, AuditMailFailed, AuditMailRetried,
	AuditMailDiscarded, AuditPropertyCreate, AuditPropertyUpdate, AuditPropertyArchive, AuditPropertyRestore,
	AuditObjectTypeCreate}

// AuditOpts are options of Audit. nil means the defaults.
type AuditOpts struct {
	// After is the cursor of the previous page; empty starts at the oldest entry (the newest with
	// Newest).
	After string
	// Limit is the page size. Defaults to 100; at most 1000.
	Limit int
	// Newest reads the trail newest first.
	Newest bool
	// Actions keeps only the entries of these actions; empty keeps every action.
	Actions []string
	// By keeps only the entries whose actor (AuditEntry.Actor, or User for a change of a user)
	// contains it, ignoring case.
	By string
}

// Filtered reports whether o keeps only some entries.
func (o AuditOpts) Filtered() bool { return len(o.Actions) > 0 || o.By != "" }

// Keeps reports whether o's filters keep e.
func (o AuditOpts) Keeps(e AuditEntry) bool {
	if len(o.Actions) > 0 && !slices.Contains(o.Actions, e.Action) {
		return false
	}
	if o.By == "" {
		return true
	}
	by := strings.ToLower(o.By)
	return strings.Contains(strings.ToLower(e.Actor()), by) || strings.Contains(strings.ToLower(e.User), by)
}
