package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// TestProtectCommands drives `crmflow protect apply|list|delete` against serve: a file with a bad
// rule applies nothing and names the problems by file:line:column; a good file creates the rules,
// which then refuse a single delete; list shows them and delete removes one.
func TestProtectCommands(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	tenant, token := b.opsTenant(t)
	base := b.serveWithWorker(t)
	ctl := []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=" + token}

	bad := writeFile(t, "bad.yaml", `- name: customers
  objectType: contacts
  when: lifecyclestage == "customer"
- name: Bad Name
  objectType: contacts
  when: true
- name: typo
  objectType: contacts
  when: lifecyclestage == "lead" && no_such_prop > 1
- name: quoted
  objectType: companies
  when: "name == 3"
`)
	stdout, stderr, code := crmflow(t, ctl, "protect", "apply", "-f", bad)
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3, "stdout:\n%s", stdout)
	require.Regexp(t, `bad\.yaml:4:9: protection rule name "Bad Name" is invalid`, lines[0])
	require.Regexp(t, `bad\.yaml:9:37: rule typo: when: `, lines[1])
	require.Regexp(t, `bad\.yaml:12:`, lines[2])
	require.Contains(t, stderr, "nothing applied")
	rules, err := b.store.ProtectionRules(b.ctx, tenant)
	require.NoError(t, err)
	require.Empty(t, rules, "nothing applied")

	good := writeFile(t, "good.yaml", `- name: customers
  objectType: contacts
  when: lifecyclestage == "customer"
- name: big-deals
  objectType: deals
  when: |
    amount > 100000
`)
	stdout, stderr, code = crmflow(t, ctl, "protect", "apply", "-f", good)
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Equal(t, "customers: created (contacts)\nbig-deals: created (deals)\n", stdout)
	require.Contains(t, stderr, "2 protection rules applied: 2 created, 0 updated, 0 unchanged\n")
	puts := func() int {
		t.Helper()
		entries, _, err := b.store.Audit(b.ctx, tenant, &crm.AuditOpts{Actions: []string{"protection_put"}, Limit: 1000})
		require.NoError(t, err)
		return len(entries)
	}
	require.Equal(t, 2, puts())
	// Applied again, the file changes nothing: no rule is written again, and none is audited.
	stdout, stderr, code = crmflow(t, ctl, "protect", "apply", "-f", good)
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Equal(t, "customers: unchanged (contacts)\nbig-deals: unchanged (deals)\n", stdout)
	require.Contains(t, stderr, "2 protection rules applied: 0 created, 0 updated, 2 unchanged\n")
	require.Equal(t, 2, puts(), "an unchanged rule is not written again")
	// A rule whose expression changed is updated; the other stays unchanged.
	changed := writeFile(t, "changed.yaml", `- name: customers
  objectType: contacts
  when: lifecyclestage == "customer"
- name: big-deals
  objectType: deals
  when: amount > 200000
`)
	stdout, stderr, code = crmflow(t, ctl, "protect", "apply", "-f", changed)
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Equal(t, "customers: unchanged (contacts)\nbig-deals: updated (deals)\n", stdout)
	require.Contains(t, stderr, "2 protection rules applied: 0 created, 1 updated, 1 unchanged\n")
	require.Equal(t, 3, puts())
	rule, err := b.store.ProtectionRule(b.ctx, tenant, "big-deals")
	require.NoError(t, err)
	require.Equal(t, "amount > 200000", rule.When)

	recs, err := b.store.CreateRecords(b.ctx, tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"lifecyclestage": "customer"}}}, crm.Actor{User: opsUser})
	require.NoError(t, err)
	status, body := call(t, http.MethodDelete, base+"/crm/v3/objects/contacts/"+string(recs[0].ID), token, nil)
	require.Equal(t, http.StatusConflict, status)
	require.Contains(t, body["message"], `protected by rule "customers"`)

	// A dry run counts what would be deleted, leaving the protected customer out.
	_, err = b.store.CreateRecords(b.ctx, tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"lifecyclestage": "customer", "firstname": "Ann"}},
		{Properties: map[string]string{"lifecyclestage": "lead", "firstname": "Bo", "lastname": "Lead"}}}, crm.Actor{User: opsUser})
	require.NoError(t, err)
	stdout, stderr, code = crmflow(t, ctl, "delete", "--type", "contacts", "--filter", `lifecyclestage in ["lead", "customer"]`, "--dry-run")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Equal(t, "1\n", stdout)
	require.Contains(t, stderr, "dry run: 3 contacts match, 1 would be deleted, 2 protected (customers: 2); nothing was deleted")
	require.Contains(t, stderr, "Bo Lead")
	_, stderr, code = crmflow(t, ctl, "delete", "--type", "contacts", "--filter", `lifecyclestage in ["lead", "customer"]`, "--dry-run", "--confirm", "3")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "run it with --confirm 1")

	stdout, _, code = crmflow(t, ctl, "protect", "list")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "big-deals")
	require.Contains(t, stdout, "customers")

	// The example file applies as it is.
	stdout, stderr, code = crmflow(t, ctl, "protect", "apply", "-f", filepath.Join("..", "..", "examples", "protection.yaml"))
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Equal(t, "customers: unchanged (contacts)\nopen-deals-over-100k: created (deals)\n", stdout)
	require.Contains(t, stderr, "2 protection rules applied: 1 created, 0 updated, 1 unchanged\n")

	stdout, _, code = crmflow(t, ctl, "protect", "delete", "customers")
	require.Equal(t, 0, code)
	require.Equal(t, "customers: deleted\n", stdout)
	_, stderr, code = crmflow(t, ctl, "protect", "delete", "customers")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "404")
	status, _ = call(t, http.MethodDelete, base+"/crm/v3/objects/contacts/"+string(recs[0].ID), token, nil)
	require.Equal(t, http.StatusNoContent, status)
}

// TestProtectApplyOverTheRuleLimit applies a file whose new rules would take the tenant past the
// most rules it may hold: the command says so before applying anything, at the first rule past the
// limit, and applies none of the file's rules (not those before it either).
func TestProtectApplyOverTheRuleLimit(t *testing.T) {
	t.Parallel()
	b, tenant, ctl := opsServe(t)

	for i := range crm.MaxProtectionRules - 2 {
		_, _, err := b.store.PutProtectionRule(b.ctx, tenant, crm.ProtectionRule{
			Name: fmt.Sprintf("r%d", i), ObjectType: crm.Contacts, When: fmt.Sprintf("num_notes > %d", i)}, "test")
		require.NoError(t, err)
	}
	file := writeFile(t, "more.yaml", `- name: r0
  objectType: contacts
  when: num_notes > 1000
- name: new-a
  objectType: contacts
  when: num_notes > 1001
- name: new-b
  objectType: contacts
  when: num_notes > 1002
- name: new-c
  objectType: contacts
  when: num_notes > 1003
`)
	stdout, stderr, code := crmflow(t, ctl, "protect", "apply", "-f", file)
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Regexp(t, `^\S*more\.yaml:10:1: rule new-c: the tenant has 98 protection rules and this file adds 3, more than the 100 a tenant may have`, stdout)
	require.Contains(t, stderr, "nothing applied")
	rules, err := b.store.ProtectionRules(b.ctx, tenant)
	require.NoError(t, err)
	require.Len(t, rules, crm.MaxProtectionRules-2, "nothing applied")
	r0, err := b.store.ProtectionRule(b.ctx, tenant, "r0")
	require.NoError(t, err)
	require.Equal(t, "num_notes > 0", r0.When, "the existing rule is not replaced either")

	// A tab in the file is reported at its line, not at 1:1.
	tabbed := writeFile(t, "tabbed.yaml", "- name: x\n\tobjectType: contacts\n")
	stdout, _, code = crmflow(t, ctl, "protect", "apply", "-f", tabbed)
	require.Equal(t, 1, code)
	require.Regexp(t, `tabbed\.yaml:2:1: the file is not YAML: .*tab.*: indent YAML with spaces, not tabs`, stdout)
}

// TestParseRulesSecondDocument: the rules of a second YAML document would not be applied, so the
// file is refused at that document; an empty document after a closing --- is no second list.
func TestParseRulesSecondDocument(t *testing.T) {
	t.Parallel()
	rule := "- name: aa\n  objectType: contacts\n  when: num_notes > 1\n"
	_, probs := parseRules([]byte(rule + "---\n- name: bb\n  objectType: deals\n  when: amount > 5\n"))
	require.Equal(t, []ruleProblem{{5, 1, "a rules file is one list: this second YAML document (after ---) " +
		"would not be applied; move its rules into the list above"}}, probs)

	rules, probs := parseRules([]byte(rule + "---\n"))
	require.Empty(t, probs)
	require.Len(t, rules, 1)
}

// TestParseRulesDuplicateKey: a key given twice in a rule is a problem at the second, not a
// silent choice of one of the two.
func TestParseRulesDuplicateKey(t *testing.T) {
	t.Parallel()
	_, probs := parseRules([]byte("- name: x\n  objectType: contacts\n  when: num_notes > 1\n  when: num_notes > 2\n"))
	require.Equal(t, []ruleProblem{{4, 3, "when is given twice in this rule: keep one"}}, probs)
}
