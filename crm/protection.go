package crm

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ProtectionRule protects the records of one object type that its expression matches (SPEC S25):
// a workflow or a bulk selection never deletes them (it skips them, counted by rule), and a single
// delete of one is refused with a *ProtectedError naming the rule.
type ProtectionRule struct {
	// Name names the rule in its tenant (see ValidateRuleName).
	Name string
	// ObjectType is the type of the records the rule protects.
	ObjectType ObjectType
	// When is an expression of the trigger language over the type's properties; a record it is
	// true for is protected.
	When string
	// CreatedAt is when the rule was first written, UpdatedAt when it was last written, and
	// UpdatedBy who wrote it last.
	CreatedAt, UpdatedAt time.Time
	UpdatedBy            string
}

// ErrRulesChanged means a tenant's protection rules changed since a delete checked its records
// against them: nothing was moved, and the records are to be checked again. Test it with errors.Is.
var ErrRulesChanged = errors.New("crm: the protection rules changed since the records were checked")

// MaxProtectionRules is the most protection rules a tenant may hold: every delete evaluates the
// rules of its type.
const MaxProtectionRules = 100

var ruleNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidateRuleName returns a *ValidationError saying what is allowed when name is not a valid
// protection rule name: 1 to 63 lowercase letters, digits, dashes or underscores, starting with a
// letter or a digit.
func ValidateRuleName(name string) error {
	if !ruleNameRE.MatchString(name) {
		return &ValidationError{Field: "name", Code: "INVALID_RULE_NAME",
			Message: fmt.Sprintf("protection rule name %q is invalid: use 1 to 63 lowercase letters, digits, dashes or underscores, starting with a letter or a digit", name)}
	}
	return nil
}

// The actions of the audit trail for protection rules: AuditProtectionPut when a rule is created
// or changed, AuditProtectionDelete when it is removed. The entry's Rule names the rule.
const (
	AuditProtectionPut    = "protection_put"
	AuditProtectionDelete = "protection_delete"
)

// ProtectedRecord names a protected record and the rule that protects it. Failed is set when the
// rule protects it only because it cannot be evaluated on it (the rule no longer compiles, or fails
// at run time on the record's values): protection fails closed, and the rule is to be fixed.
type ProtectedRecord struct {
	ID     RecordID
	Rule   string
	Failed bool
}

// FailedRules counts, by rule, the records of prot that their rule protects only because it cannot
// be evaluated on them (ProtectedRecord.Failed); nil when there are none.
func FailedRules(prot []ProtectedRecord) ProtectedCounts {
	var out ProtectedCounts
	for _, p := range prot {
		if p.Failed {
			if out == nil {
				out = ProtectedCounts{}
			}
			out[p.Rule]++
		}
	}
	return out
}

// ProtectedError refuses a delete of protected records (SPEC S25): nothing was deleted. Records
// names each protected record with the first rule (by name) that protects it.
type ProtectedError struct {
	ObjectType ObjectType
	Records    []ProtectedRecord
}

func (e *ProtectedError) Error() string {
	if len(e.Records) == 1 {
		r := e.Records[0]
		if r.Failed {
			return fmt.Sprintf("%s record %s is protected by rule %q, which cannot be evaluated on it (the rule fails on this record's values, or no longer compiles), so it protects the record: nothing was deleted; fix the rule's when (crmflow protect apply) so that it holds for every record, then delete again",
				e.ObjectType, r.ID, r.Rule)
		}
		return fmt.Sprintf("%s record %s is protected by rule %q: nothing was deleted; change the record so that the rule no longer matches it, or remove the rule (crmflow protect delete %s), then delete again",
			e.ObjectType, r.ID, r.Rule, r.Rule)
	}
	parts := make([]string, len(e.Records))
	for i, r := range e.Records {
		parts[i] = fmt.Sprintf("%s (rule %q)", r.ID, r.Rule)
		if r.Failed {
			parts[i] = fmt.Sprintf("%s (rule %q, which cannot be evaluated on it: fix the rule)", r.ID, r.Rule)
		}
	}
	return fmt.Sprintf("%d of the %s records are protected: %s; nothing was deleted; leave them out of the batch, or change them or their rules, then delete again",
		len(e.Records), e.ObjectType, strings.Join(parts, ", "))
}

// ProtectedCounts counts the records a selection skipped because they are protected, by rule name.
type ProtectedCounts map[string]int64

// Total is the number of protected records, over every rule.
func (c ProtectedCounts) Total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// String describes the counts for people: `12 (vip: 10, customers: 2)`, rules by name.
func (c ProtectedCounts) String() string {
	names := make([]string, 0, len(c))
	for k := range c {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s: %d", k, c[k])
	}
	return fmt.Sprintf("%d (%s)", c.Total(), strings.Join(parts, ", "))
}

// ProtectionStore keeps a tenant's protection rules and the protected counts of bulk jobs. Every
// method is safe for concurrent use.
type ProtectionStore interface {
	// PutProtectionRule creates or replaces the rule of r.Name and writes the audit entry of it
	// (AuditProtectionPut, by by) in the same step; created is false for a replaced rule. The
	// caller has compiled r.When against the type's schema. A *ValidationError for a bad name, or
	// when the tenant already holds MaxProtectionRules other rules.
	PutProtectionRule(ctx context.Context, t TenantID, r ProtectionRule, by string) (rule ProtectionRule, created bool, err error)
	// ProtectionRule returns one rule, or a *NotFoundError.
	ProtectionRule(ctx context.Context, t TenantID, name string) (ProtectionRule, error)
	// ProtectionRules lists the tenant's rules by name, in one round trip.
	ProtectionRules(ctx context.Context, t TenantID) ([]ProtectionRule, error)
	// ProtectionVersion returns the version of the tenant's rules: 1 before any rule was written,
	// and moved on by every rule written or removed, in the same step. Read before the rules, it
	// lets a delete that checked records against them move the records only while no rule changed
	// since (CheckedArchive.RulesVersion, RunCheckedDeleteJobBatch).
	ProtectionVersion(ctx context.Context, t TenantID) (int64, error)
	// VersionedProtectionRules lists the tenant's rules by name with the version they were read
	// at, the version read first, in one round trip: what a delete checks its records against.
	VersionedProtectionRules(ctx context.Context, t TenantID) ([]ProtectionRule, int64, error)
	// DeleteProtectionRule removes a rule and writes the audit entry of it (AuditProtectionDelete,
	// by by) in the same step. A *NotFoundError for a rule that does not exist.
	DeleteProtectionRule(ctx context.Context, t TenantID, name, by string) error
	// AddJobProtected records the records that one step of job id's selection skipped as protected.
	// after is the cursor the step started from: the counts are added only while the job is
	// selecting at that cursor, and a second call for the same cursor (a step run again after a
	// crash) replaces the counts of the first rather than adding to them. after "" with a job no
	// longer selecting (a job by ids, sealed in the request) sets the counts once. A *NotFoundError
	// for an unknown job.
	AddJobProtected(ctx context.Context, t TenantID, id, after string, counts ProtectedCounts) error
	// PendingJobRecords reads the next up to n (at most MaxScriptBatch) records still pending in
	// bulk job id (those a batch of pending ids moves next), with the properties props (as
	// ReadOpts.Properties), in two round trips; records no longer live are left out. pending is
	// how many pending ids it looked at (live or not).
	PendingJobRecords(ctx context.Context, t TenantID, id string, o ObjectType, n int, props []string) (recs []Record, pending int, err error)
	// SkipProtectedPending takes records found protected out of bulk job id's pending set, in one
	// step: each still pending counts as skipped and as protected by its rule; the others are left
	// alone, so a retry counts none twice. It returns how many it took out; a job not pending nor
	// running is left alone. A *NotFoundError for an unknown job.
	SkipProtectedPending(ctx context.Context, t TenantID, id string, prot []ProtectedRecord) (int, error)
	// NextListMembers reads up to n (at most MaxScriptBatch) live members of list id with ids above
	// the cursor after ("" starts at the beginning), by ascending id, in two round trips. scanned is
	// how many members it looked at (live or not) and next the cursor after them ("" at the end).
	// props limits the properties read (as ReadOpts.Properties). It does not check the list exists.
	NextListMembers(ctx context.Context, t TenantID, id ListID, o ObjectType, after string, n int, props []string) (recs []Record, scanned int, next string, err error)
}
