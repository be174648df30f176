package triggers_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/triggers"
)

func TestSet(t *testing.T) {
	t.Parallel()
	schema := crm.Schema{Type: crm.Contacts, Properties: map[string]crm.Property{
		"lifecyclestage": {Name: "lifecyclestage", Type: crm.TypeString},
		"num_notes":      {Name: "num_notes", Type: crm.TypeNumber},
	}}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	rec := func(props map[string]string) crm.Record {
		return crm.Record{ID: "1", Type: crm.Contacts, Properties: props}
	}

	t.Run("FirstRuleByName", func(t *testing.T) {
		t.Parallel()
		s := triggers.CompileProtection([]crm.ProtectionRule{
			{Name: "zz-customers", ObjectType: crm.Contacts, When: `lifecyclestage == "customer"`},
			{Name: "aa-busy", ObjectType: crm.Contacts, When: `num_notes > 3`},
			{Name: "deals", ObjectType: crm.Deals, When: `true`},
		}, crm.Contacts, schema)
		require.Equal(t, []string{"aa-busy", "zz-customers"}, s.Rules(), "only the type's rules, by name")
		rule, ok := s.Check(rec(map[string]string{"lifecyclestage": "customer", "num_notes": "5"}), now)
		require.True(t, ok)
		require.Equal(t, "aa-busy", rule)
		_, ok = s.Check(rec(map[string]string{"lifecyclestage": "lead", "num_notes": "1"}), now)
		require.False(t, ok)
		props, all := s.Reads()
		require.False(t, all)
		require.ElementsMatch(t, []string{"lifecyclestage", "num_notes"}, props)
	})

	t.Run("BrokenRuleProtectsEverything", func(t *testing.T) {
		t.Parallel()
		s := triggers.CompileProtection([]crm.ProtectionRule{{Name: "gone", ObjectType: crm.Contacts, When: `deleted_prop == 1`}}, crm.Contacts, schema)
		rule, ok := s.Check(rec(map[string]string{}), now)
		require.True(t, ok, "a rule that no longer compiles fails closed")
		require.Equal(t, "gone", rule)
		// So does a rule whose email a permanent delete erased.
		s = triggers.CompileProtection([]crm.ProtectionRule{{Name: "erased", ObjectType: crm.Contacts, When: redisstore.ErasedRuleWhen}}, crm.Contacts, schema)
		_, ok = s.Check(rec(map[string]string{}), now)
		require.True(t, ok)
	})

	t.Run("EvaluateSaysWhenTheRuleFailed", func(t *testing.T) {
		t.Parallel()
		s := triggers.CompileProtection([]crm.ProtectionRule{
			{Name: "a-split", ObjectType: crm.Contacts, When: `split(lifecyclestage, "-")[1] == "vip"`},
			{Name: "b-gone", ObjectType: crm.Contacts, When: `deleted_prop == 1`},
		}, crm.Contacts, schema)
		rule, ok, failed := s.Evaluate(rec(map[string]string{"lifecyclestage": "customer-vip"}), now)
		require.Equal(t, []any{"a-split", true, false}, []any{rule, ok, failed}, "a match")
		rule, ok, failed = s.Evaluate(rec(map[string]string{"lifecyclestage": "lead"}), now)
		require.Equal(t, []any{"a-split", true, true}, []any{rule, ok, failed}, "a run-time error fails closed")
		rule, ok, failed = s.Evaluate(rec(map[string]string{"lifecyclestage": "lead-x"}), now)
		require.Equal(t, []any{"b-gone", true, true}, []any{rule, ok, failed}, "a rule that no longer compiles")
		prot, counts := s.Protected([]crm.Record{rec(map[string]string{"lifecyclestage": "customer-vip"})}, now)
		require.Equal(t, []crm.ProtectedRecord{{ID: "1", Rule: "a-split"}}, prot)
		require.Equal(t, crm.ProtectedCounts{"a-split": 1}, counts)
		require.Nil(t, crm.FailedRules(prot))
		prot, _ = s.Protected([]crm.Record{rec(map[string]string{"lifecyclestage": "lead"})}, now)
		require.Equal(t, []crm.ProtectedRecord{{ID: "1", Rule: "a-split", Failed: true}}, prot)
		require.Equal(t, crm.ProtectedCounts{"a-split": 1}, crm.FailedRules(prot))
	})

	t.Run("EmptyProtectsNothing", func(t *testing.T) {
		t.Parallel()
		var s *triggers.ProtectionSet
		require.True(t, s.Empty())
		_, ok := s.Check(rec(nil), now)
		require.False(t, ok)
		require.Equal(t, []string{"-"}, s.ReadProps(nil, false))
		require.Nil(t, s.ReadProps(nil, true))
	})
}
