package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
)

// ruleJSON is a protection rule as ProtectionKey stores it (times in unix ms).
type ruleJSON struct {
	ObjectType string `json:"object_type"`
	When       string `json:"when"`
	CreatedAt  string `json:"created_at"`
	UpdatedAt  string `json:"updated_at"`
	UpdatedBy  string `json:"updated_by"`
}

func decodeRule(name, raw string) (crm.ProtectionRule, error) {
	var v ruleJSON
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return crm.ProtectionRule{}, fmt.Errorf("decode protection rule %s: %w", name, err)
	}
	return crm.ProtectionRule{Name: name, ObjectType: crm.ObjectType(v.ObjectType), When: v.When,
		CreatedAt: parseMS(v.CreatedAt), UpdatedAt: parseMS(v.UpdatedAt), UpdatedBy: v.UpdatedBy}, nil
}

// PutProtectionRule implements crm.ProtectionStore: one script writes the rule and its audit entry.
func (s *Store) PutProtectionRule(ctx context.Context, t crm.TenantID, r crm.ProtectionRule, by string) (crm.ProtectionRule, bool, error) {
	if err := crm.ValidateRuleName(r.Name); err != nil {
		return crm.ProtectionRule{}, false, err
	}
	if r.ObjectType == "" || strings.TrimSpace(r.When) == "" {
		return crm.ProtectionRule{}, false, &crm.ValidationError{Field: "when", Code: "INVALID_RULE",
			Message: "a protection rule needs an object type and a when expression"}
	}
	res, err := putProtectionScript.run(ctx, s, putProtectionCall{Rules: ProtectionKey(t), Audit: AuditKey(t), Version: ProtectionVersionKey(t),
		Name: r.Name, Type: r.ObjectType, When: r.When, Now: s.cfg.Clock.Now().UnixMilli(), By: by, AuditMaxLen: auditMaxLen,
		MaxRules: crm.MaxProtectionRules}).Slice()
	if err != nil {
		return crm.ProtectionRule{}, false, fmt.Errorf("put protection rule %s: %w", r.Name, err)
	}
	if code, _ := res[0].(int64); code < 0 {
		return crm.ProtectionRule{}, false, &crm.ValidationError{Field: "name", Code: "TOO_MANY_RULES",
			Message: fmt.Sprintf("the tenant already has %d protection rules, the most it may have: delete one it no longer needs first", crm.MaxProtectionRules)}
	}
	raw, _ := res[1].(string)
	out, err := decodeRule(r.Name, raw)
	created, _ := res[0].(int64)
	return out, created == 1, err
}

// ProtectionRule implements crm.ProtectionStore.
func (s *Store) ProtectionRule(ctx context.Context, t crm.TenantID, name string) (crm.ProtectionRule, error) {
	raw, err := s.rdb.HGet(ctx, ProtectionKey(t), name).Result()
	if errors.Is(err, redis.Nil) {
		return crm.ProtectionRule{}, &crm.NotFoundError{Kind: "protection rule", ID: name}
	}
	if err != nil {
		return crm.ProtectionRule{}, fmt.Errorf("read protection rule %s: %w", name, err)
	}
	return decodeRule(name, raw)
}

// ProtectionRules implements crm.ProtectionStore.
func (s *Store) ProtectionRules(ctx context.Context, t crm.TenantID) ([]crm.ProtectionRule, error) {
	h, err := s.rdb.HGetAll(ctx, ProtectionKey(t)).Result()
	if err != nil {
		return nil, fmt.Errorf("read protection rules: %w", err)
	}
	return decodeRules(h)
}

// VersionedProtectionRules implements crm.ProtectionStore: GET of the version, then HGETALL of the
// rules, pipelined. A rule written between the two can only make the version older than the
// rules: a delete checked against them is then refused and checked again, never the reverse.
func (s *Store) VersionedProtectionRules(ctx context.Context, t crm.TenantID) ([]crm.ProtectionRule, int64, error) {
	pipe := s.rdb.Pipeline()
	v := pipe.Get(ctx, ProtectionVersionKey(t))
	h := pipe.HGetAll(ctx, ProtectionKey(t))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("read protection rules: %w", err)
	}
	n, err := v.Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("read the version of the protection rules: %w", err)
	}
	rules, err := decodeRules(h.Val())
	return rules, n + 1, err
}

// decodeRules decodes the rules of a tenant's ProtectionKey hash, sorted by name.
func decodeRules(h map[string]string) ([]crm.ProtectionRule, error) {
	out := make([]crm.ProtectionRule, 0, len(h))
	for name, raw := range h {
		r, err := decodeRule(name, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ProtectionVersion implements crm.ProtectionStore: the counter of ProtectionVersionKey plus 1.
func (s *Store) ProtectionVersion(ctx context.Context, t crm.TenantID) (int64, error) {
	n, err := s.rdb.Get(ctx, ProtectionVersionKey(t)).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("read the version of the protection rules: %w", err)
	}
	return n + 1, nil
}

// DeleteProtectionRule implements crm.ProtectionStore: one script removes the rule and writes its
// audit entry.
func (s *Store) DeleteProtectionRule(ctx context.Context, t crm.TenantID, name, by string) error {
	n, err := deleteProtectionScript.run(ctx, s, deleteProtectionCall{Rules: ProtectionKey(t), Audit: AuditKey(t), Version: ProtectionVersionKey(t),
		Name: name, Now: s.cfg.Clock.Now().UnixMilli(), By: by, AuditMaxLen: auditMaxLen}).Int()
	if err != nil {
		return fmt.Errorf("delete protection rule %s: %w", name, err)
	}
	if n == 0 {
		return &crm.NotFoundError{Kind: "protection rule", ID: name}
	}
	return nil
}

// AddJobProtected implements crm.ProtectionStore, in one script.
func (s *Store) AddJobProtected(ctx context.Context, t crm.TenantID, id, after string, counts crm.ProtectedCounts) error {
	names := make([]string, 0, len(counts))
	for k, v := range counts {
		if v > 0 {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	n, err := addJobProtectedScript.run(ctx, s, addJobProtectedCall{Job: JobKey(t, id), Now: s.cfg.Clock.Now().UnixMilli(),
		After: after, Rules: names, Counts: counts}).Int()
	if err != nil {
		return fmt.Errorf("record the protected records of job %s: %w", id, err)
	}
	if n < 0 {
		return &crm.NotFoundError{Kind: "job", ID: id}
	}
	return nil
}

// NextListMembers implements crm.ProtectionStore.
func (s *Store) NextListMembers(ctx context.Context, t crm.TenantID, id crm.ListID, o crm.ObjectType, after string, n int, props []string) ([]crm.Record, int, string, error) {
	if n < 1 || n > crm.MaxScriptBatch {
		return nil, 0, "", &crm.ValidationError{Field: "limit", Code: "INVALID_LIMIT",
			Message: fmt.Sprintf("limit %d is out of range: use 1 to %d", n, crm.MaxScriptBatch)}
	}
	min, err := parseAfter(after)
	if err != nil {
		return nil, 0, "", err
	}
	// By score (the numeric id) after the last id read: a member added or removed meanwhile
	// shifts no other member in or out of a step.
	raw, err := s.rdb.ZRangeByScore(ctx, ListMembersKey(t, id), &redis.ZRangeBy{Min: min, Max: "+inf", Count: int64(n)}).Result()
	if err != nil {
		return nil, 0, "", fmt.Errorf("read members of list %s: %w", id, err)
	}
	next := ""
	if len(raw) == n {
		next = raw[n-1]
	}
	if len(raw) == 0 {
		return nil, 0, next, nil
	}
	ids := make([]crm.RecordID, len(raw))
	for i, m := range raw {
		ids[i] = crm.RecordID(m)
	}
	recs, err := s.Records(ctx, t, o, ids, &crm.ReadOpts{Properties: props})
	return recs, len(raw), next, err
}

// ErasedRuleWhen is the expression a protection rule is given when a permanent delete erases an
// email its expression named (SPEC S9): it does not compile, so that the rule protects every
// record of its type (protection fails closed) until someone rewrites it, and it names no one.
const ErasedRuleWhen = `erased("this rule named the email of a contact deleted permanently: rewrite it without that email")`

// eraseRulesNaming replaces the expression of every protection rule that names one of emails
// (compared without case) with ErasedRuleWhen, audited as done by "permanent-delete": a
// permanent delete leaves no copy of the contact's email (SPEC S9), and the rule fails closed
// rather than stopping to protect the records it did. One round trip, and one per rule erased.
func (s *Store) eraseRulesNaming(ctx context.Context, t crm.TenantID, emails []string) error {
	if len(emails) == 0 {
		return nil
	}
	rules, err := s.ProtectionRules(ctx, t)
	if err != nil {
		return err
	}
	for _, r := range rules {
		when := strings.ToLower(r.When)
		for _, e := range emails {
			if e != "" && strings.Contains(when, strings.ToLower(e)) {
				r.When = ErasedRuleWhen
				if _, _, err := s.PutProtectionRule(ctx, t, r, "permanent-delete"); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// PendingJobRecords implements crm.ProtectionStore, in two round trips.
func (s *Store) PendingJobRecords(ctx context.Context, t crm.TenantID, id string, o crm.ObjectType, n int, props []string) ([]crm.Record, int, error) {
	if n < 1 || n > crm.MaxScriptBatch {
		return nil, 0, fmt.Errorf("crm: pending records limit %d out of range 1..%d", n, crm.MaxScriptBatch)
	}
	// The order of the archive script's batches: ZRANGE by rank.
	raw, err := s.rdb.ZRange(ctx, JobPendingKey(t, id), 0, int64(n-1)).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("read the pending records of job %s: %w", id, err)
	}
	if len(raw) == 0 {
		return nil, 0, nil
	}
	ids := make([]crm.RecordID, len(raw))
	for i, m := range raw {
		ids[i] = crm.RecordID(m)
	}
	recs, err := s.Records(ctx, t, o, ids, &crm.ReadOpts{Properties: props})
	return recs, len(raw), err
}

// SkipProtectedPending implements crm.ProtectionStore, in one script.
func (s *Store) SkipProtectedPending(ctx context.Context, t crm.TenantID, id string, prot []crm.ProtectedRecord) (int, error) {
	if len(prot) == 0 {
		return 0, nil
	}
	if len(prot) > crm.MaxScriptBatch {
		return 0, fmt.Errorf("crm: %d protected records, over %d", len(prot), crm.MaxScriptBatch)
	}
	n, err := skipProtectedPendingScript.run(ctx, s, skipProtectedPendingCall{Job: JobKey(t, id),
		Pending: JobPendingKey(t, id), Now: s.cfg.Clock.Now().UnixMilli(), Records: prot}).Int()
	if err != nil {
		return 0, fmt.Errorf("skip the protected records of job %s: %w", id, err)
	}
	if n < 0 {
		return 0, &crm.NotFoundError{Kind: "job", ID: id}
	}
	return n, nil
}

// jobProtected reads the protected counts of a job's hash (fields protected:<rule>).
func jobProtected(h map[string]string) crm.ProtectedCounts {
	var out crm.ProtectedCounts
	for k, v := range h {
		rule, ok := strings.CutPrefix(k, "protected:")
		if !ok {
			continue
		}
		if n, _ := strconv.ParseInt(v, 10, 64); n > 0 {
			if out == nil {
				out = crm.ProtectedCounts{}
			}
			out[rule] = n
		}
	}
	return out
}

// putProtectionScript creates or replaces a protection rule and writes the audit entry of it.
// See lua/put_protection.lua for its KEYS and ARGV.
var putProtectionScript = newScript[putProtectionCall]("put_protection")

// putProtectionCall is a call of putProtectionScript (lua/put_protection.lua).
type putProtectionCall struct {
	Rules, Audit, Version string

	Name        string
	Type        crm.ObjectType
	When        string
	Now         int64 // unix ms
	By          string
	AuditMaxLen string
	MaxRules    int // the most rules a tenant may hold
}

func (c putProtectionCall) keys() []string { return []string{c.Rules, c.Audit, c.Version} }
func (c putProtectionCall) argv() []any {
	return []any{c.Name, string(c.Type), c.When, c.Now, c.By, c.AuditMaxLen, c.MaxRules}
}

// deleteProtectionScript removes a protection rule and writes the audit entry of it.
// See lua/delete_protection.lua for its KEYS and ARGV.
var deleteProtectionScript = newScript[deleteProtectionCall]("delete_protection")

// deleteProtectionCall is a call of deleteProtectionScript (lua/delete_protection.lua).
type deleteProtectionCall struct {
	Rules, Audit, Version string

	Name        string
	Now         int64 // unix ms
	By          string
	AuditMaxLen string
}

func (c deleteProtectionCall) keys() []string { return []string{c.Rules, c.Audit, c.Version} }
func (c deleteProtectionCall) argv() []any    { return []any{c.Name, c.Now, c.By, c.AuditMaxLen} }

// skipProtectedPendingScript takes protected records out of a running job's pending set.
// See lua/skip_protected_pending.lua for its KEYS and ARGV.
var skipProtectedPendingScript = newScript[skipProtectedPendingCall]("skip_protected_pending")

// skipProtectedPendingCall is a call of skipProtectedPendingScript (lua/skip_protected_pending.lua).
type skipProtectedPendingCall struct {
	Job, Pending string

	Now     int64 // unix ms
	Records []crm.ProtectedRecord
}

func (c skipProtectedPendingCall) keys() []string { return []string{c.Job, c.Pending} }
func (c skipProtectedPendingCall) argv() []any {
	out := make([]any, 0, 1+2*len(c.Records))
	out = append(out, c.Now)
	for _, p := range c.Records {
		out = append(out, string(p.ID), p.Rule)
	}
	return out
}

// addJobProtectedScript records the protected records one step of a job's selection skipped.
// See lua/add_job_protected.lua for its KEYS and ARGV.
var addJobProtectedScript = newScript[addJobProtectedCall]("add_job_protected")

// addJobProtectedCall is a call of addJobProtectedScript (lua/add_job_protected.lua).
type addJobProtectedCall struct {
	Job string

	Now    int64  // unix ms
	After  string // the cursor the step started from
	Rules  []string
	Counts crm.ProtectedCounts // by rule; Rules gives the order
}

func (c addJobProtectedCall) keys() []string { return []string{c.Job} }
func (c addJobProtectedCall) argv() []any {
	out := make([]any, 0, 2+2*len(c.Rules))
	out = append(out, c.Now, c.After)
	for _, r := range c.Rules {
		out = append(out, r, c.Counts[r])
	}
	return out
}
