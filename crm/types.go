package crm

import (
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TenantID names a tenant. It is lowercase letters, digits and dashes, 1 to 63 characters,
// starting with a letter or digit.
type TenantID string

var tenantRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Validate returns a *ValidationError when t is not a well-formed tenant id.
func (t TenantID) Validate() error {
	if !tenantRE.MatchString(string(t)) {
		return &ValidationError{Field: "tenant", Code: "INVALID_TENANT",
			Message: fmt.Sprintf("tenant id %q is invalid: use 1-63 lowercase letters, digits or dashes, starting with a letter or digit", string(t))}
	}
	return nil
}

// ObjectType names a kind of record: one of the standard types or a tenant's custom object type.
type ObjectType string

// The standard object types every tenant has.
const (
	Contacts  ObjectType = "contacts"
	Companies ObjectType = "companies"
	Deals     ObjectType = "deals"
	Tickets   ObjectType = "tickets"
	Calls     ObjectType = "calls"
)

// StandardObjectTypes lists the standard object types in a stable order.
var StandardObjectTypes = []ObjectType{Contacts, Companies, Deals, Tickets, Calls}

// IsStandard reports whether o is one of the standard object types.
func (o ObjectType) IsStandard() bool { return slices.Contains(StandardObjectTypes, o) }

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// RecordID identifies a record within its tenant and object type. Ids are decimal numbers
// allocated by the store, as in HubSpot.
type RecordID string

// ListID identifies a static list within its tenant.
type ListID string

// Plan is a tenant's subscription plan.
type Plan string

// The plans, from the smallest.
const (
	PlanFree         Plan = "free"
	PlanStarter      Plan = "starter"
	PlanProfessional Plan = "professional"
	PlanEnterprise   Plan = "enterprise"
)

// Plans lists every plan from the smallest.
var Plans = []Plan{PlanFree, PlanStarter, PlanProfessional, PlanEnterprise}

// Validate returns a *ValidationError naming the allowed plans when p is not one of them.
func (p Plan) Validate() error {
	if !slices.Contains(Plans, p) {
		return &ValidationError{Field: "plan", Code: "INVALID_PLAN",
			Message: fmt.Sprintf("plan %q is unknown: use one of free, starter, professional, enterprise", string(p))}
	}
	return nil
}

// AllowsWorkflows reports whether tenants on p may activate workflows (professional and enterprise).
func (p Plan) AllowsWorkflows() bool { return p == PlanProfessional || p == PlanEnterprise }

// Tenant is an account of the product.
type Tenant struct {
	ID        TenantID
	Plan      Plan
	CreatedAt time.Time
	// DeletionLimit is the blast-radius limit of the tenant's workflows that set no limits of their
	// own (SPEC S24). DefaultDeletionLimit until set with SetDeletionLimit.
	DeletionLimit DeletionLimit
}

// Permission is one right a user may hold.
type Permission string

// The permissions. Read and write cover records, associations and lists; schema covers properties
// and custom object types; the rest are the deletion rights of the product rules.
const (
	PermRead            Permission = "read"
	PermWrite           Permission = "write"
	PermSchema          Permission = "schema"
	PermDelete          Permission = "delete"
	PermBulkDelete      Permission = "bulk_delete"
	PermPermanentDelete Permission = "permanent_delete"
	PermRestore         Permission = "restore"
	PermWorkflows       Permission = "workflows"
	// PermProtect writes and removes protection rules (SPEC S25).
	PermProtect Permission = "protect"
)

// AllPermissions lists every permission in a stable order.
var AllPermissions = []Permission{PermRead, PermWrite, PermSchema, PermDelete, PermBulkDelete,
	PermPermanentDelete, PermRestore, PermWorkflows, PermProtect}

// Permissions is a set of permissions.
type Permissions []Permission

// ParsePermissions parses a comma-separated list such as "read,write,delete". The word "all"
// stands for every permission. An unknown name is a *ValidationError listing the known ones.
func ParsePermissions(s string) (Permissions, error) {
	var out Permissions
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if f == "all" {
			return slices.Clone(AllPermissions), nil
		}
		p := Permission(f)
		if !slices.Contains(AllPermissions, p) {
			return nil, &ValidationError{Field: "perms", Code: "INVALID_PERMISSION",
				Message: fmt.Sprintf("permission %q is unknown: use a comma-separated list of %s, or all", f, joinPerms(AllPermissions))}
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return slices.Index(AllPermissions, out[i]) < slices.Index(AllPermissions, out[j])
	})
	return out, nil
}

// Has reports whether p contains perm.
func (p Permissions) Has(perm Permission) bool { return slices.Contains(p, perm) }

// String returns the comma-separated form accepted by ParsePermissions.
func (p Permissions) String() string { return joinPerms(p) }

// Missing returns the permissions of need that p lacks, in need's order.
func (p Permissions) Missing(need []Permission) []Permission {
	var out []Permission
	for _, x := range need {
		if !p.Has(x) {
			out = append(out, x)
		}
	}
	return out
}

func joinPerms(p []Permission) string {
	s := make([]string, len(p))
	for i, x := range p {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}

// User is a person or app of a tenant that calls the API.
type User struct {
	Tenant      TenantID
	Email       string
	Permissions Permissions
	CreatedAt   time.Time
	// Disabled is true for a user an admin disabled: their tokens are refused, and the workflows
	// they activated pause before their next action.
	Disabled bool
}

// LogValue logs a user by tenant only: an email is personal data.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("tenant_id", string(u.Tenant)), slog.String("perms", u.Permissions.String()))
}

// Principal is who a request acts as: an authenticated user of one tenant.
type Principal struct {
	Tenant TenantID
	User   User
}

// Record is one CRM record.
type Record struct {
	ID         RecordID
	Type       ObjectType
	Properties map[string]string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// Archived is true for a record read from the recycle bin.
	Archived bool
	// Deletion is set for a record in the bin.
	Deletion *Deletion
}

// LogValue logs a record by id and type only: its properties are personal data.
func (r Record) LogValue() slog.Value {
	return slog.GroupValue(slog.String("object_type", string(r.Type)), slog.String("record_id", string(r.ID)))
}

// Via tells how a deletion was made.
type Via string

// The ways a record can be deleted.
const (
	ViaAPI      Via = "api"
	ViaBulk     Via = "bulk"
	ViaList     Via = "list"
	ViaWorkflow Via = "workflow"
	// ViaUndo is a restore made by an undo job (SPEC S26), with the operation's id as Ref.
	ViaUndo Via = "undo"
)

// Actor is who made a change: a user (by email) or a workflow (by name), and how.
type Actor struct {
	// User is the acting user's email, empty for a workflow.
	User string
	// Via is how the change was made. Defaults to ViaAPI.
	Via Via
	// Ref names what made the change: a workflow's name, a bulk job's id or a list's id.
	Ref string
	// Revision is the revision of workflow Ref that made the change (Via ViaWorkflow), else 0.
	Revision int64
}

// String describes the actor as the bin, the audit and the history show it: "USER via workflow
// NAME (revision R)" for a workflow acting with its activator's authority, else the user (or, for
// a workflow without a known activator, "workflow NAME").
func (a Actor) String() string {
	if a.Via != ViaWorkflow {
		return a.User
	}
	return describeWorkflowActor(a.User, a.Ref, a.Revision)
}

func describeWorkflowActor(user, flow string, rev int64) string {
	s := "workflow " + flow
	if rev > 0 {
		s += " (revision " + strconv.FormatInt(rev, 10) + ")"
	}
	if user == "" || strings.HasPrefix(user, "workflow:") {
		return s
	}
	return user + " via " + s
}

// Deletion records when, by whom and how a record was moved to the bin.
type Deletion struct {
	At  time.Time
	By  string
	Via Via
	Ref string
	// Revision is the revision of workflow Ref that deleted the record (Via ViaWorkflow), else 0.
	Revision int64
	// Operation is the id of the operation that moved the record to the bin (SPEC S26), which
	// an undo names; "" for a record binned before operations were kept.
	Operation string
}

// Describe tells who deleted the record, as "USER via workflow NAME (revision R)" for a workflow.
func (d Deletion) Describe() string {
	if d.Via != ViaWorkflow {
		return d.By
	}
	return describeWorkflowActor(d.By, d.Ref, d.Revision)
}

// MaxLists is the most lists a tenant may have (1,500). Every listing of them reads each one, so
// without a bound a user allowed to write could make each such read cost any amount (SPEC S27).
const MaxLists = 1500

// ListDef is a static list of contacts or companies.
type ListDef struct {
	ID         ListID
	Name       string
	ObjectType ObjectType
	CreatedAt  time.Time
	Size       int64
}

// Page is one page of records with the cursor of the next one ("" when there is none).
type Page struct {
	Records []Record
	After   string
}

// RecordInput is one record to create.
type RecordInput struct {
	Properties map[string]string
	// Associations are live records the new record is linked with (both directions), in the same
	// atomic step as the create. A target that is not live refuses the whole call with a
	// *ValidationError naming it.
	Associations []AssociationRef
}

// RecordUpdate is one change of a record's properties. A property set to "" is cleared.
type RecordUpdate struct {
	ID         RecordID
	Properties map[string]string
}

// DefaultMaxAssociations is the default of the most records one record may be associated with,
// over every type (SPEC S27): each association is read, and moved by a delete or a restore, in one
// step of Redis with all the others of its record.
const DefaultMaxAssociations = 10_000

// AssociationRef names the other side of an association.
type AssociationRef struct {
	Type ObjectType
	ID   RecordID
}

// AssociationPair is one association to make or remove: between the record From and the record To.
type AssociationPair struct {
	From, To AssociationRef
}

// DefaultAssociationReadBudget is the default of the most associations the records of one
// ReadAssociations call may have in all, over every type (SPEC S27: a batch read of associations
// looks at every association of each of its records, in one step of Redis): twenty records of
// DefaultMaxAssociations each.
const DefaultAssociationReadBudget = 200_000

// CodeTooManyAssociationsRead is the Code of the *ValidationError of a read of associations whose
// records have more associations in all than one read may look at.
const CodeTooManyAssociationsRead = "TOO_MANY_ASSOCIATIONS_READ"
