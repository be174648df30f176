package storetest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

func testTenantsUsersTokens(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	_, err := b.store.CreateTenant(ctx, b.tenant, crm.PlanFree)
	require.ErrorIs(t, err, crm.ErrTenantExists)

	var ve *crm.ValidationError
	_, err = b.store.CreateTenant(ctx, "Bad_Tenant", crm.PlanFree)
	require.ErrorAs(t, err, &ve)
	_, err = b.store.CreateTenant(ctx, crm.TenantID(NewTenant(t)), "gold")
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Message, "professional")

	prev, err := b.store.SetPlan(ctx, b.tenant, crm.PlanStarter)
	require.NoError(t, err)
	require.Equal(t, crm.PlanProfessional, prev.Plan)
	tn, err := b.store.Tenant(ctx, b.tenant)
	require.NoError(t, err)
	require.Equal(t, crm.PlanStarter, tn.Plan)
	ids, err := b.store.Tenants(ctx)
	require.NoError(t, err)
	require.Contains(t, ids, b.tenant)

	perms, err := crm.ParsePermissions("read,delete")
	require.NoError(t, err)
	u, err := b.store.CreateUser(ctx, b.tenant, "Ops@Acme.Example", perms, "admin@test")
	require.NoError(t, err)
	require.Equal(t, "ops@acme.example", u.Email)
	_, err = b.store.CreateUser(ctx, b.tenant, "ops@acme.example", perms, "admin@test")
	require.ErrorIs(t, err, crm.ErrUserExists)
	_, err = b.store.CreateUser(ctx, crm.TenantID(NewTenant(t)), "ops@acme.example", perms, "admin@test")
	require.ErrorIs(t, err, crm.ErrNotFound)

	tok, err := b.store.CreateToken(ctx, b.tenant, "ops@acme.example", nil)
	require.NoError(t, err)
	p, err := b.store.Authenticate(ctx, tok)
	require.NoError(t, err)
	require.Equal(t, b.tenant, p.Tenant)
	require.True(t, p.User.Permissions.Has(crm.PermDelete))
	require.False(t, p.User.Permissions.Has(crm.PermWrite))

	// Only the hash of the token is stored.
	dump := b.dump(t)
	for k, v := range dump {
		require.NotContains(t, k, tok)
		require.NotContains(t, v, tok)
	}
	for _, bad := range []string{"", "nope", tok[:len(tok)-1] + "0", strings.Replace(tok, string(b.tenant), "other", 1)} {
		if bad == tok {
			continue
		}
		_, err := b.store.Authenticate(ctx, bad)
		require.ErrorIs(t, err, crm.ErrUnauthenticated, bad)
	}
}

func testValidationChangesNothing(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	c := b.contact(t, map[string]string{"email": "keep@example.com"})
	before := b.dump(t)
	cases := []struct {
		name  string
		props map[string]string
		field string
	}{
		{"UnknownProperty", map[string]string{"favourite_colour": "red"}, "favourite_colour"},
		{"NotANumber", map[string]string{"num_notes": "many"}, "num_notes"},
		{"NotABool", map[string]string{"email_bounced": "maybe"}, "email_bounced"},
		{"NotADatetime", map[string]string{"last_activity_date": "yesterday"}, "last_activity_date"},
		{"NotAnOption", map[string]string{"lifecyclestage": "king"}, "lifecyclestage"},
		{"NotAnEmail", map[string]string{"email": "not-an-email"}, "email"},
	}
	for _, tc := range cases {
		_, err := b.store.CreateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "ok"}}, {Properties: tc.props}}, crm.Actor{})
		var ves crm.ValidationErrors
		require.ErrorAs(t, err, &ves, tc.name)
		require.Equal(t, tc.field, ves[0].Field, tc.name)
		require.Contains(t, ves[0].Message, "inputs[1]", tc.name)
		_, err = b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: c.ID, Properties: tc.props}}, crm.Actor{})
		require.ErrorAs(t, err, &ves, tc.name)
	}
	// Refused writes changed nothing, the id counter aside (ids are drawn only after validation).
	require.Equal(t, before, b.dump(t))
}

func testPaging(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	in := make([]crm.RecordInput, 25)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"dealname": "deal " + strconv.Itoa(i)}}
	}
	created, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Deals, in, crm.Actor{})
	require.NoError(t, err)
	var seen []crm.RecordID
	after := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		p, err := b.store.ListRecords(b.ctx, b.tenant, crm.Deals, &crm.ListOpts{After: after, Limit: 10})
		require.NoError(t, err)
		for _, r := range p.Records {
			seen = append(seen, r.ID)
		}
		if p.After == "" {
			break
		}
		after = p.After
	}
	require.Len(t, seen, 25)
	for i, r := range created {
		require.Equal(t, r.ID, seen[i])
	}
	var ve *crm.ValidationError
	_, err = b.store.ListRecords(b.ctx, b.tenant, crm.Deals, &crm.ListOpts{Limit: 101})
	require.ErrorAs(t, err, &ve)
	_, err = b.store.ListRecords(b.ctx, b.tenant, crm.Deals, &crm.ListOpts{After: "abc"})
	require.ErrorAs(t, err, &ve)
}

func testNextRecords(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	in := make([]crm.RecordInput, 23)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"dealname": "deal " + strconv.Itoa(i)}}
	}
	created, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Deals, in, crm.Actor{})
	require.NoError(t, err)
	_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Deals, []crm.RecordID{created[4].ID}, crm.Actor{})
	require.NoError(t, err)
	for _, n := range []int{1, 5, 22, 23, crm.MaxScriptBatch} {
		var seen []crm.Record
		after := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 30)
			recs, next, err := b.store.NextRecords(b.ctx, b.tenant, crm.Deals, after, n, nil)
			require.NoError(t, err)
			require.LessOrEqual(t, len(recs), n)
			seen = append(seen, recs...)
			if next == "" {
				break
			}
			after = next
		}
		require.Len(t, seen, 22, "page size %d", n)
		k := 0
		for i, c := range created {
			if i == 4 {
				continue
			}
			require.Equal(t, c.ID, seen[k].ID)
			require.Equal(t, map[string]string{"dealname": "deal " + strconv.Itoa(i)}, seen[k].Properties)
			require.False(t, seen[k].CreatedAt.IsZero())
			k++
		}
	}
	// Limited to some properties: those alone, and the records without them still come.
	in2 := []crm.RecordInput{{Properties: map[string]string{"dealname": "x", "amount": "5", "pipeline": "default"}}, {Properties: map[string]string{"pipeline": "default"}}}
	more, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Deals, in2, crm.Actor{})
	require.NoError(t, err)
	recs, next, err := b.store.NextRecords(b.ctx, b.tenant, crm.Deals, string(created[len(created)-1].ID), 10, []string{"amount", "dealname", "_created"})
	require.NoError(t, err)
	require.Empty(t, next)
	require.Len(t, recs, 2)
	require.Equal(t, more[0].ID, recs[0].ID)
	require.Equal(t, map[string]string{"dealname": "x", "amount": "5"}, recs[0].Properties)
	require.Equal(t, more[1].ID, recs[1].ID)
	require.Empty(t, recs[1].Properties)
	require.Equal(t, more[1].CreatedAt.UnixMilli(), recs[1].CreatedAt.UnixMilli())
	var ve *crm.ValidationError
	for _, n := range []int{0, -1, crm.MaxScriptBatch + 1} {
		_, _, err = b.store.NextRecords(b.ctx, b.tenant, crm.Deals, "", n, nil)
		require.ErrorAs(t, err, &ve, "page size %d", n)
	}
	_, _, err = b.store.NextRecords(b.ctx, b.tenant, crm.Deals, "abc", 10, nil)
	require.ErrorAs(t, err, &ve)
}

func testCustomObjectsAndProperties(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	def, err := b.store.CreateObjectType(ctx, b.tenant, crm.ObjectTypeDef{Name: "pets", Properties: []crm.Property{
		{Name: "name", Type: crm.TypeString}, {Name: "legs", Type: crm.TypeNumber},
		{Name: "kind", Type: crm.TypeEnumeration, Options: []string{"cat", "dog"}}}}, "ops@x.example")
	require.NoError(t, err)
	require.Equal(t, "pets", def.Name)
	_, err = b.store.CreateObjectType(ctx, b.tenant, crm.ObjectTypeDef{Name: "pets"}, "ops@x.example")
	var ce *crm.ConflictError
	require.ErrorAs(t, err, &ce)
	var ves crm.ValidationErrors
	_, err = b.store.CreateObjectType(ctx, b.tenant, crm.ObjectTypeDef{Name: "contacts"}, "ops@x.example")
	require.ErrorAs(t, err, &ves)

	recs, err := b.store.CreateRecords(ctx, b.tenant, "pets", []crm.RecordInput{{Properties: map[string]string{"name": "Rex", "legs": "4", "kind": "dog"}}}, crm.Actor{})
	require.NoError(t, err)
	require.Equal(t, crm.RecordID("1"), recs[0].ID)
	_, err = b.store.CreateRecords(ctx, b.tenant, "pets", []crm.RecordInput{{Properties: map[string]string{"kind": "fish"}}}, crm.Actor{})
	require.ErrorAs(t, err, &ves)

	_, err = b.store.CreateProperty(ctx, b.tenant, crm.Contacts, crm.Property{Name: "shoe_size", Type: crm.TypeNumber}, "ops@x.example")
	require.NoError(t, err)
	_, err = b.store.CreateProperty(ctx, b.tenant, crm.Contacts, crm.Property{Name: "email", Type: crm.TypeString}, "ops@x.example")
	require.ErrorAs(t, err, &ce)
	b.contact(t, map[string]string{"shoe_size": "42"})

	types, err := b.store.AllObjectTypes(ctx, b.tenant)
	require.NoError(t, err)
	require.Equal(t, []crm.ObjectType{"contacts", "companies", "deals", "tickets", "calls", "pets"}, types)

	// Another tenant has neither the custom type nor the property.
	other := crm.TenantID(NewTenant(t))
	_, err = b.store.CreateTenant(ctx, other, crm.PlanFree)
	require.NoError(t, err)
	_, err = b.store.Schema(ctx, other, "pets")
	require.ErrorIs(t, err, crm.ErrNotFound)
	sch, err := b.store.Schema(ctx, other, crm.Contacts)
	require.NoError(t, err)
	require.NotContains(t, sch.Properties, "shoe_size")
}

func testTenantIsolation(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	c := b.contact(t, map[string]string{"email": "shared@example.com"})
	l, err := b.store.CreateList(ctx, b.tenant, "mine", crm.Contacts)
	require.NoError(t, err)
	other := crm.TenantID(NewTenant(t))
	_, err = b.store.CreateTenant(ctx, other, crm.PlanFree)
	require.NoError(t, err)
	before := b.dump(t)

	_, err = b.store.Record(ctx, other, crm.Contacts, c.ID, nil)
	require.ErrorIs(t, err, crm.ErrNotFound)
	_, err = b.store.UpdateRecords(ctx, other, crm.Contacts, []crm.RecordUpdate{{ID: c.ID, Properties: map[string]string{"firstname": "x"}}}, crm.Actor{})
	require.ErrorIs(t, err, crm.ErrNotFound)
	res, err := b.store.ArchiveRecords(ctx, other, crm.Contacts, []crm.RecordID{c.ID}, crm.Actor{})
	require.NoError(t, err)
	require.Empty(t, res.Archived)
	_, err = b.store.List(ctx, other, l.ID)
	require.ErrorIs(t, err, crm.ErrNotFound)
	_, _, err = b.store.AddListMembers(ctx, other, l.ID, []crm.RecordID{c.ID})
	require.ErrorIs(t, err, crm.ErrNotFound)
	err = b.store.Associate(ctx, other, crm.AssociationRef{Type: crm.Contacts, ID: c.ID}, crm.AssociationRef{Type: crm.Contacts, ID: c.ID})
	require.Error(t, err)
	// The same email is free in another tenant.
	_, err = b.store.CreateRecords(ctx, other, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"email": "shared@example.com"}}}, crm.Actor{})
	require.NoError(t, err)

	require.Equal(t, before, b.dump(t))
}

func testAllListMembersAndIsListMember(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	l, err := b.store.CreateList(b.ctx, b.tenant, "many", crm.Contacts)
	require.NoError(t, err)
	in := make([]crm.RecordInput, 1000)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"firstname": "m"}}
	}
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, in, crm.Actor{})
	require.NoError(t, err)
	ids := make([]crm.RecordID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	_, _, err = b.store.AddListMembers(b.ctx, b.tenant, l.ID, ids)
	require.NoError(t, err)
	got, err := b.store.AllListMembers(b.ctx, b.tenant, l.ID)
	require.NoError(t, err)
	require.Equal(t, ids, got)
	ok, err := b.store.IsListMember(b.ctx, b.tenant, l.ID, ids[500])
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = b.store.IsListMember(b.ctx, b.tenant, l.ID, "999999")
	require.NoError(t, err)
	require.False(t, ok)
	all, err := b.store.Lists(b.ctx, b.tenant)
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, "many", all[0].Name)
	require.EqualValues(t, 1000, all[0].Size)
	_, err = b.store.AllListMembers(b.ctx, b.tenant, "777")
	require.ErrorIs(t, err, crm.ErrNotFound)

	// Past one read of 10,000: every member once, in id order.
	for range 10 {
		recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, in, crm.Actor{})
		require.NoError(t, err)
		more := make([]crm.RecordID, len(recs))
		for i, r := range recs {
			more[i] = r.ID
		}
		_, _, err = b.store.AddListMembers(b.ctx, b.tenant, l.ID, more)
		require.NoError(t, err)
		ids = append(ids, more...)
	}
	got, err = b.store.AllListMembers(b.ctx, b.tenant, l.ID)
	require.NoError(t, err)
	require.Equal(t, ids, got)
}

// testListMembersAnswerWhatChanged: an add answers the ids it made members, not those that
// already were, and the ids that are not live records; a remove answers the ids that were members.
func testListMembersAnswerWhatChanged(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	l, err := b.store.CreateList(b.ctx, b.tenant, "answers", crm.Contacts)
	require.NoError(t, err)
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{
		{Properties: map[string]string{"firstname": "a"}},
		{Properties: map[string]string{"firstname": "b"}},
		{Properties: map[string]string{"firstname": "c"}},
	}, crm.Actor{})
	require.NoError(t, err)
	a, bb, c := recs[0].ID, recs[1].ID, recs[2].ID
	added, missing, err := b.store.AddListMembers(b.ctx, b.tenant, l.ID, []crm.RecordID{bb})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{bb}, added)
	require.Empty(t, missing)

	added, missing, err = b.store.AddListMembers(b.ctx, b.tenant, l.ID, []crm.RecordID{a, bb, "999999", c})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{a, c}, added, "b was a member already")
	require.Equal(t, []crm.RecordID{"999999"}, missing)
	added, missing, err = b.store.AddListMembers(b.ctx, b.tenant, l.ID, []crm.RecordID{a, c})
	require.NoError(t, err)
	require.Empty(t, added, "both were members already")
	require.Empty(t, missing)

	removed, err := b.store.RemoveListMembers(b.ctx, b.tenant, l.ID, []crm.RecordID{a, "999999"})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{a}, removed, "999999 was no member")
	removed, err = b.store.RemoveListMembers(b.ctx, b.tenant, l.ID, []crm.RecordID{a})
	require.NoError(t, err)
	require.Empty(t, removed, "a was removed already")
	got, err := b.store.AllListMembers(b.ctx, b.tenant, l.ID)
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{bb, c}, got)
}

// testActiveTenantsAndFullSweeps: a tenant's writes make it active (to the second); a full sweep
// of a kind is claimed once per period, and again after the clock was set back.
func testActiveTenantsAndFullSweeps(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	activeFlow(t, b, false) // so that the writes leave change marks, drained below
	at := b.clock.Now()
	b.contact(t, map[string]string{"firstname": "Active"})
	active, err := b.store.ActiveTenants(b.ctx, at.Add(-time.Second))
	require.NoError(t, err)
	require.Contains(t, active, b.tenant)
	active, err = b.store.ActiveTenants(b.ctx, at.Add(time.Hour))
	require.NoError(t, err)
	require.NotContains(t, active, b.tenant)
	// The tenant's next write an hour later moves it on.
	b.clock.Advance(time.Hour)
	b.contact(t, map[string]string{"firstname": "Later"})
	active, err = b.store.ActiveTenants(b.ctx, at.Add(time.Hour))
	require.NoError(t, err)
	require.Contains(t, active, b.tenant)

	// The sweeps' own work (draining the change marks) marks nothing: a full walk leaves the idle
	// tenants idle.
	b.clock.Advance(2 * time.Hour)
	cs, err := b.store.PendingChanges(b.ctx, b.tenant, 100)
	require.NoError(t, err)
	require.NotEmpty(t, cs)
	_, err = b.store.AckChanges(b.ctx, b.tenant, cs)
	require.NoError(t, err)
	active, err = b.store.ActiveTenants(b.ctx, b.clock.Now().Add(-time.Minute))
	require.NoError(t, err)
	require.NotContains(t, active, b.tenant)

	kind := "test-sweep-" + string(b.tenant) // the claims are global: a kind of this test's own
	for _, c := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {time.Minute, false}, {4 * time.Minute, false}, {5 * time.Minute, true}, {6 * time.Minute, false}, {-time.Hour, true}} {
		got, err := b.store.ClaimFullSweep(b.ctx, kind, at.Add(c.at), 5*time.Minute)
		require.NoError(t, err)
		require.Equal(t, c.want, got, "claim at %s", c.at)
	}
}
