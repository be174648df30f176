package triggers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// ProtectionSet is a tenant's protection rules (SPEC S25) of one object type, each compiled once
// against the type's schema like a trigger, and checked against each record: which rule, if any,
// protects it from being deleted.
//
//	set, err := triggers.LoadProtection(ctx, store, tenant, crm.Contacts)
//	if rule, ok := set.Check(rec, now); ok {
//		// rec is protected by rule: skip it, or refuse the delete
//	}
//
// Protection fails closed: a rule that no longer compiles against the type's schema (a property it
// names was changed) protects every record of its type, and a rule that fails at run time on a
// record protects that record. Either way the record is named with the rule, so that the person
// who sees it knows which rule to fix.
//
// The zero value and nil protect nothing. Safe for concurrent use.
type ProtectionSet struct {
	rules   []protectionRule
	version int64 // of the tenant's rules as LoadProtection read them, 0 when not known
}

type protectionRule struct {
	name string
	prog *Program // nil for a rule that no longer compiles: it protects every record
}

// CompileProtection compiles the rules of type o among rules against schema, by name. A rule that
// does not compile is kept, and protects every record of the type (see ProtectionSet).
func CompileProtection(rules []crm.ProtectionRule, o crm.ObjectType, schema crm.Schema) *ProtectionSet {
	s := &ProtectionSet{}
	for _, r := range rules {
		if r.ObjectType != o {
			continue
		}
		prog, err := Compile(r.When, schema)
		if err != nil {
			prog = nil
		}
		s.rules = append(s.rules, protectionRule{name: r.Name, prog: prog})
	}
	slices.SortFunc(s.rules, func(a, b protectionRule) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return s
}

// LoadProtection reads the tenant's rules and, when some are of type o, the type's schema, and compiles
// them, with the rules' version (Version): two round trips when the type has no rules, three
// otherwise. It returns the store's errors.
func LoadProtection(ctx context.Context, store crm.Store, t crm.TenantID, o crm.ObjectType) (*ProtectionSet, error) {
	rules, version, err := store.VersionedProtectionRules(ctx, t)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(rules, func(r crm.ProtectionRule) bool { return r.ObjectType == o }) {
		return &ProtectionSet{version: version}, nil
	}
	schema, err := store.Schema(ctx, t, o)
	if err != nil {
		return nil, fmt.Errorf("read schema of %s for its protection rules: %w", o, err)
	}
	s := CompileProtection(rules, o, schema)
	s.version = version
	return s, nil
}

// Version is the version of the tenant's rules the set was read at (crm.ProtectionStore.
// ProtectionVersion), for the delete that checked records against the set to pass on
// (crm.CheckedArchive.RulesVersion): 0 for a set that LoadProtection did not read.
func (s *ProtectionSet) Version() int64 {
	if s == nil {
		return 0
	}
	return s.version
}

// Empty reports whether the set protects nothing.
func (s *ProtectionSet) Empty() bool { return s == nil || len(s.rules) == 0 }

// Rules returns the names of the rules of the set, sorted.
func (s *ProtectionSet) Rules() []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.name
	}
	return out
}

// Check reports whether rec is protected at time now, and by which rule: the first by name that
// matches it (or that cannot be evaluated on it, see the package doc).
func (s *ProtectionSet) Check(rec crm.Record, now time.Time) (rule string, protected bool) {
	rule, protected, _ = s.Evaluate(rec, now)
	return rule, protected
}

// Evaluate is Check, and also reports whether rule protects rec only because it cannot be
// evaluated on it (failed): the rule no longer compiles, or it fails at run time on this record
// (an index out of range, a division by zero, a conversion of a value that does not convert).
// Such a record is protected all the same (protection fails closed); failed tells the caller to
// say so, so that someone fixes the rule.
func (s *ProtectionSet) Evaluate(rec crm.Record, now time.Time) (rule string, protected, failed bool) {
	if s == nil {
		return "", false, false
	}
	for _, r := range s.rules {
		if r.prog == nil {
			return r.name, true, true
		}
		ok, err := r.prog.Match(rec, now)
		if err != nil || ok {
			return r.name, true, err != nil
		}
	}
	return "", false, false
}

// Reads returns the properties the rules read of a record (see Program.Reads); all is
// true when a record must be read whole. An empty set reads nothing.
func (s *ProtectionSet) Reads() (props []string, all bool) {
	if s == nil {
		return nil, false
	}
	for _, r := range s.rules {
		if r.prog == nil {
			continue
		}
		p, a := r.prog.Reads()
		if a {
			return nil, true
		}
		for _, x := range p {
			if !slices.Contains(props, x) {
				props = append(props, x)
			}
		}
	}
	return props, false
}

// ReadProps returns what a caller that also needs extra (nil: nothing more) must read of each
// record to check it: nil for every property, else the union (never empty: ["-"] reads no
// property, as crm.ReadOpts takes it).
func (s *ProtectionSet) ReadProps(extra []string, extraAll bool) []string {
	props, all := s.Reads()
	if all || extraAll {
		return nil
	}
	for _, x := range extra {
		if !slices.Contains(props, x) {
			props = append(props, x)
		}
	}
	if len(props) == 0 {
		return []string{"-"}
	}
	return props
}

// Protected checks recs at now and returns those protected, with their rule (and whether the rule
// failed on them, see Evaluate), in the order of recs, and the count by rule.
func (s *ProtectionSet) Protected(recs []crm.Record, now time.Time) ([]crm.ProtectedRecord, crm.ProtectedCounts) {
	if s.Empty() {
		return nil, nil
	}
	var out []crm.ProtectedRecord
	var counts crm.ProtectedCounts
	for _, rec := range recs {
		if name, ok, failed := s.Evaluate(rec, now); ok {
			out = append(out, crm.ProtectedRecord{ID: rec.ID, Rule: name, Failed: failed})
			if counts == nil {
				counts = crm.ProtectedCounts{}
			}
			counts[name]++
		}
	}
	return out, counts
}
