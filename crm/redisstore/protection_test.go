package redisstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

func TestProtectionRulesStore(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		before, _, err := b.store.Audit(ctx, b.tenant, &crm.AuditOpts{Limit: 1000})
		require.NoError(t, err)
		r, created, err := b.store.PutProtectionRule(ctx, b.tenant, crm.ProtectionRule{Name: "vip", ObjectType: crm.Contacts,
			When: `lifecyclestage == "customer"`}, "ops@x.example")
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, "ops@x.example", r.UpdatedBy)
		first := r.CreatedAt
		b.clock.Advance(time.Second)
		r, created, err = b.store.PutProtectionRule(ctx, b.tenant, crm.ProtectionRule{Name: "vip", ObjectType: crm.Contacts,
			When: `true`}, "other@x.example")
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, first, r.CreatedAt, "a replaced rule keeps its creation time")
		require.True(t, r.UpdatedAt.After(first))
		_, _, err = b.store.PutProtectionRule(ctx, b.tenant, crm.ProtectionRule{Name: "a-deal", ObjectType: crm.Deals, When: `true`}, "ops@x.example")
		require.NoError(t, err)
		rules, err := b.store.ProtectionRules(ctx, b.tenant)
		require.NoError(t, err)
		require.Len(t, rules, 2)
		require.Equal(t, "a-deal", rules[0].Name)
		require.Equal(t, "true", rules[1].When)

		// A bad name changes nothing.
		dump := b.tenantDump(t)
		var ve *crm.ValidationError
		_, _, err = b.store.PutProtectionRule(ctx, b.tenant, crm.ProtectionRule{Name: "Bad Name", ObjectType: crm.Contacts, When: `true`}, "x")
		require.ErrorAs(t, err, &ve)
		require.Equal(t, dump, b.tenantDump(t))

		require.NoError(t, b.store.DeleteProtectionRule(ctx, b.tenant, "vip", "ops@x.example"))
		var nf *crm.NotFoundError
		require.ErrorAs(t, b.store.DeleteProtectionRule(ctx, b.tenant, "vip", "ops@x.example"), &nf)
		_, err = b.store.ProtectionRule(ctx, b.tenant, "vip")
		require.ErrorAs(t, err, &nf)

		// Each change has its audit entry, written with it.
		after, _, err := b.store.Audit(ctx, b.tenant, &crm.AuditOpts{Limit: 1000})
		require.NoError(t, err)
		got := after[len(before):]
		require.Len(t, got, 4)
		want := []struct{ action, rule, by string }{
			{crm.AuditProtectionPut, "vip", "ops@x.example"}, {crm.AuditProtectionPut, "vip", "other@x.example"},
			{crm.AuditProtectionPut, "a-deal", "ops@x.example"}, {crm.AuditProtectionDelete, "vip", "ops@x.example"},
		}
		for i, w := range want {
			require.Equal(t, w.action, got[i].Action)
			require.Equal(t, w.rule, got[i].Rule)
			require.Equal(t, w.by, got[i].By)
		}
	})
}

func TestProtectionRulesLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, backends[0])
	for i := range crm.MaxProtectionRules {
		_, _, err := b.store.PutProtectionRule(b.ctx, b.tenant, crm.ProtectionRule{Name: fmt.Sprint("r", i), ObjectType: crm.Contacts, When: `true`}, "x")
		require.NoError(t, err)
	}
	dump := b.tenantDump(t)
	_, _, err := b.store.PutProtectionRule(b.ctx, b.tenant, crm.ProtectionRule{Name: "one-more", ObjectType: crm.Contacts, When: `true`}, "x")
	var ve *crm.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "TOO_MANY_RULES", ve.Code)
	require.Equal(t, dump, b.tenantDump(t))
	// Replacing an existing rule is still allowed.
	_, created, err := b.store.PutProtectionRule(b.ctx, b.tenant, crm.ProtectionRule{Name: "r0", ObjectType: crm.Contacts, When: `false`}, "x")
	require.NoError(t, err)
	require.False(t, created)
}

func TestNextListMembers(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		l, err := b.store.CreateList(b.ctx, b.tenant, "l", crm.Contacts)
		require.NoError(t, err)
		var ids []crm.RecordID
		for i := range 5 {
			ids = append(ids, b.contact(t, map[string]string{"firstname": fmt.Sprint("c", i), "lastname": "x"}).ID)
		}
		_, _, err = b.store.AddListMembers(b.ctx, b.tenant, l.ID, ids)
		require.NoError(t, err)
		_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, ids[1:2], crm.Actor{User: "x"})
		require.NoError(t, err)
		_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, ids[1:2], crm.Actor{User: "x"})
		require.NoError(t, err)
		recs, scanned, next, err := b.store.NextListMembers(b.ctx, b.tenant, l.ID, crm.Contacts, "", 3, []string{"firstname"})
		require.NoError(t, err)
		// The binned contact left the list; the page reads three live members.
		require.Equal(t, 3, scanned)
		require.Len(t, recs, 3)
		require.Equal(t, "c0", recs[0].Properties["firstname"])
		require.NotContains(t, recs[0].Properties, "lastname")
		require.Equal(t, string(ids[3]), next)
		recs, scanned, next, err = b.store.NextListMembers(b.ctx, b.tenant, l.ID, crm.Contacts, next, 3, nil)
		require.NoError(t, err)
		require.Equal(t, 1, scanned)
		require.Len(t, recs, 1)
		require.Equal(t, ids[4], recs[0].ID)
		require.Empty(t, next)
	})
}

// A permanent delete erases a contact's email from the protection rules that name it (SPEC S9):
// the rule's expression is replaced by one that does not compile, so that it fails closed.
func TestPermanentDeleteErasesRulesNamingTheEmail(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		b.contact(t, map[string]string{"email": "vip@example.com"})
		_, _, err := b.store.PutProtectionRule(ctx, b.tenant, crm.ProtectionRule{Name: "the-vip", ObjectType: crm.Contacts,
			When: `email == "VIP@example.com" || lifecyclestage == "customer"`}, "ops@x.example")
		require.NoError(t, err)
		_, _, err = b.store.PutProtectionRule(ctx, b.tenant, crm.ProtectionRule{Name: "other", ObjectType: crm.Contacts,
			When: `lifecyclestage == "evangelist"`}, "ops@x.example")
		require.NoError(t, err)
		_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "vip@example.com", By: "dpo@x.example"})
		require.NoError(t, err)
		for k, v := range b.tenantDump(t) {
			require.NotContains(t, strings.ToLower(k+v), "vip@", "the erased email is kept in %s", k)
		}
		r, err := b.store.ProtectionRule(ctx, b.tenant, "the-vip")
		require.NoError(t, err)
		require.Equal(t, redisstore.ErasedRuleWhen, r.When)
		require.Equal(t, "permanent-delete", r.UpdatedBy)
		r, err = b.store.ProtectionRule(ctx, b.tenant, "other")
		require.NoError(t, err)
		require.Equal(t, `lifecyclestage == "evangelist"`, r.When)
	})
}

// A permanent delete erases a contact's email from every revision of every workflow that names
// it (SPEC S9): the address is replaced and the source no longer parses, an active workflow is
// paused with a reason that names no address, and the erased revision cannot be activated until
// a new one is stored. A workflow that does not name it is untouched.
func TestPermanentDeleteErasesWorkflowsNamingTheEmail(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		b.contact(t, map[string]string{"email": "ann@example.com"})
		named := func(trigger string) string {
			return "name: named\nobject_type: contacts\ntrigger: " + trigger + "\nactions:\n  - type: delete_contact\n"
		}
		rev1 := named(`email == "Ann@Example.com"`)
		_, _, err := b.store.PutFlow(ctx, b.tenant, "named", crm.Contacts, rev1, "ops@x.example")
		require.NoError(t, err)
		_, err = b.store.ActivateFlow(ctx, b.tenant, "named", crm.ActivateFlowParams{By: "ops@x.example"})
		require.NoError(t, err)
		rev2 := named(`email == "ann@example.com" || email == "bob@example.com"`)
		_, _, err = b.store.PutFlow(ctx, b.tenant, "named", crm.Contacts, rev2, "ops@x.example")
		require.NoError(t, err)
		_, _, err = b.store.PutFlow(ctx, b.tenant, "clean", crm.Contacts, flowSrc, "ops@x.example")
		require.NoError(t, err)
		_, err = b.store.ActivateFlow(ctx, b.tenant, "clean", crm.ActivateFlowParams{By: "ops@x.example"})
		require.NoError(t, err)

		_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "ann@example.com", By: "dpo@x.example"})
		require.NoError(t, err)

		for k, v := range b.tenantDump(t) {
			require.NotContains(t, strings.ToLower(k+v), "ann@example", "the erased email is kept in %s", k)
		}
		f, err := b.store.Flow(ctx, b.tenant, "named")
		require.NoError(t, err)
		require.Equal(t, crm.FlowPaused, f.State)
		require.Equal(t, redisstore.FlowErasedReason, f.PausedReason)
		require.Equal(t, crm.PauseContactErased, f.PausedCode)
		require.Empty(t, f.PausedParams, "the reason names no address")
		active, _, err := b.store.ActiveFlows(ctx, b.tenant, crm.Contacts)
		require.NoError(t, err)
		require.Len(t, active, 1)
		require.Equal(t, "clean", active[0].Name)
		revs, err := b.store.FlowRevisions(ctx, b.tenant, "named")
		require.NoError(t, err)
		require.Len(t, revs, 2)
		for _, r := range revs {
			require.True(t, r.Erased, "revision %d", r.Revision)
			r, err = b.store.FlowRevision(ctx, b.tenant, "named", r.Revision) // the list leaves out sources
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(r.Source, redisstore.ErasedFlowHeader), r.Source)
		}
		last, err := b.store.FlowRevision(ctx, b.tenant, "named", 2)
		require.NoError(t, err)
		require.Equal(t, redisstore.ErasedFlowHeader+named(`email == "<erased email>" || email == "bob@example.com"`), last.Source)

		_, err = b.store.ActivateFlow(ctx, b.tenant, "named", crm.ActivateFlowParams{By: "ops@x.example"})
		var ce *crm.ConflictError
		require.ErrorAs(t, err, &ce)
		require.Contains(t, ce.Message, "erased by a permanent delete")
		require.Contains(t, ce.Message, "store a new revision")
		f, err = b.store.Flow(ctx, b.tenant, "named")
		require.NoError(t, err)
		require.Equal(t, crm.FlowPaused, f.State)

		// A new revision may be activated.
		_, _, err = b.store.PutFlow(ctx, b.tenant, "named", crm.Contacts, named(`email == "bob@example.com"`), "ops@x.example")
		require.NoError(t, err)
		f, err = b.store.ActivateFlow(ctx, b.tenant, "named", crm.ActivateFlowParams{By: "ops@x.example"})
		require.NoError(t, err)
		require.Equal(t, crm.FlowActive, f.State)
		require.Equal(t, int64(3), f.ActiveRevision)

		// The other workflow is untouched.
		f, err = b.store.Flow(ctx, b.tenant, "clean")
		require.NoError(t, err)
		require.Equal(t, crm.FlowActive, f.State)
		r, err := b.store.FlowRevision(ctx, b.tenant, "clean", 1)
		require.NoError(t, err)
		require.Equal(t, flowSrc, r.Source)
		require.False(t, r.Erased)

		audit, _, err := b.store.Audit(ctx, b.tenant, nil)
		require.NoError(t, err)
		var erased []crm.AuditEntry
		for _, e := range audit {
			if e.Action == "workflow_erased" {
				erased = append(erased, e)
			}
		}
		require.Len(t, erased, 1)
		require.Equal(t, "permanent-delete", erased[0].By)
		require.Equal(t, "named", erased[0].Ref)
		require.Equal(t, 2, erased[0].Count)
	})
}

// A workflow that names the erased email with capitals outside ASCII (ÅSA for the stored åsa,
// İ for i) loses it too: the address is found as crm.NormalizeEmail lowers it, on every backend.
func TestPermanentDeleteErasesWorkflowsNamingTheEmailWithOtherCapitals(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		b.contact(t, map[string]string{"email": "åsa@exempel.se", "additional_emails": "inci@örnek.tr"})
		src := "name: nordic\nobject_type: contacts\ntrigger: email == \"ÅSA@EXEMPEL.SE\" || email == \"İNCİ@ÖRNEK.TR\" || email == \"bob@example.com\"\n" +
			"actions:\n  - type: delete_contact\n"
		_, _, err := b.store.PutFlow(ctx, b.tenant, "nordic", crm.Contacts, src, "ops@x.example")
		require.NoError(t, err)
		_, err = b.store.ActivateFlow(ctx, b.tenant, "nordic", crm.ActivateFlowParams{By: "ops@x.example"})
		require.NoError(t, err)

		_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "Åsa@Exempel.se", By: "dpo@x.example"})
		require.NoError(t, err)

		for k, v := range b.tenantDump(t) {
			for _, s := range []string{"åsa@", "ÅSA@", "Åsa@", "İNCİ@", "inci@", "örnek", "ÖRNEK"} {
				require.NotContains(t, k+v, s, "the erased email is kept in %s", k)
			}
		}
		r, err := b.store.FlowRevision(ctx, b.tenant, "nordic", 1)
		require.NoError(t, err)
		require.True(t, r.Erased)
		require.Equal(t, redisstore.ErasedFlowHeader+"name: nordic\nobject_type: contacts\n"+
			"trigger: email == \"<erased email>\" || email == \"<erased email>\" || email == \"bob@example.com\"\n"+
			"actions:\n  - type: delete_contact\n", r.Source)
		f, err := b.store.Flow(ctx, b.tenant, "nordic")
		require.NoError(t, err)
		require.Equal(t, crm.FlowPaused, f.State)
		require.Equal(t, redisstore.FlowErasedReason, f.PausedReason)
		require.Equal(t, crm.PauseContactErased, f.PausedCode)
		require.Empty(t, f.PausedParams, "the reason names no address")
	})
}

// A workflow active at a revision that never named the erased email runs on: only its older
// revision that named it is erased (its records waiting there move on to the active revision
// without it being read). One active at the revision that named it is paused.
func TestPermanentDeleteLeavesActiveAWorkflowWhoseActiveRevisionNeverNamedTheEmail(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		b.contact(t, map[string]string{"email": "ann@example.com"})
		src := func(name, who string) string {
			return "name: " + name + "\nobject_type: contacts\ntrigger: email == \"" + who + "\"\nactions:\n  - type: delete_contact\n"
		}
		for _, name := range []string{"moved", "named"} {
			_, _, err := b.store.PutFlow(ctx, b.tenant, name, crm.Contacts, src(name, "ann@example.com"), "ops@x.example")
			require.NoError(t, err)
			_, err = b.store.ActivateFlow(ctx, b.tenant, name, crm.ActivateFlowParams{By: "ops@x.example"})
			require.NoError(t, err)
			_, _, err = b.store.PutFlow(ctx, b.tenant, name, crm.Contacts, src(name, "bob@example.com"), "ops@x.example")
			require.NoError(t, err)
		}
		_, err := b.store.ActivateFlow(ctx, b.tenant, "moved", crm.ActivateFlowParams{By: "ops@x.example"})
		require.NoError(t, err)

		_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{Email: "ann@example.com", By: "dpo@x.example"})
		require.NoError(t, err)

		f, err := b.store.Flow(ctx, b.tenant, "moved")
		require.NoError(t, err)
		require.Equal(t, crm.FlowActive, f.State, "its active revision never named the address")
		require.Equal(t, int64(2), f.ActiveRevision)
		require.Empty(t, f.PausedReason)
		require.Empty(t, f.PausedCode)
		revs, err := b.store.FlowRevisions(ctx, b.tenant, "moved")
		require.NoError(t, err)
		require.Len(t, revs, 2)
		require.True(t, revs[0].Erased)
		require.False(t, revs[1].Erased)
		first, err := b.store.FlowRevision(ctx, b.tenant, "moved", 1) // the list leaves out sources
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(first.Source, redisstore.ErasedFlowHeader), first.Source)
		second, err := b.store.FlowRevision(ctx, b.tenant, "moved", 2)
		require.NoError(t, err)
		require.Equal(t, src("moved", "bob@example.com"), second.Source)

		f, err = b.store.Flow(ctx, b.tenant, "named")
		require.NoError(t, err)
		require.Equal(t, crm.FlowPaused, f.State, "active at the revision that named the address")
		require.Equal(t, redisstore.FlowErasedReason, f.PausedReason)
		require.Equal(t, crm.PauseContactErased, f.PausedCode)
		require.Empty(t, f.PausedParams, "the reason names no address")
		for k, v := range b.tenantDump(t) {
			require.NotContains(t, strings.ToLower(k+v), "ann@example", "the erased email is kept in %s", k)
		}
	})
}
