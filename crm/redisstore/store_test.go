package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/redistest"
)

// backends are the servers the conformance suite runs on: a real redis-server, the embedded
// in-process server of the zero-setup mode, whose Lua must run the same scripts, and a Redis
// Cluster of three masters (redistest.ClusterURL), where every script's keys must share a slot.
var backends = []string{"redis", "embedded", "cluster"}

type testBundle struct {
	store  *redisstore.Store
	rdb    redis.UniversalClient
	tenant crm.TenantID
	clock  *clock.Sim
	ctx    context.Context
}

func setup(t *testing.T, backend string) *testBundle {
	t.Helper()
	var rdb redis.UniversalClient
	switch backend {
	case "redis":
		rdb = redistest.Client(t)
	case "cluster":
		rdb = redistest.ClusterClient(t)
	case "embedded":
		mr := miniredis.RunT(t)
		rdb = redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { _ = rdb.Close() })
	}
	clk := clock.NewSim(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: clk})
	require.NoError(t, err)
	tn := crm.TenantID(redistest.Tenant(t))
	ctx := context.Background()
	_, err = st.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	return &testBundle{store: st, rdb: rdb, tenant: tn, clock: clk, ctx: ctx}
}

// eachBackend runs fn as a parallel subtest on every backend.
func eachBackend(t *testing.T, fn func(t *testing.T, b *testBundle)) {
	t.Helper()
	for _, be := range backends {
		t.Run(be, func(t *testing.T) {
			t.Parallel()
			fn(t, setup(t, be))
		})
	}
}

func (b *testBundle) contact(t *testing.T, props map[string]string) crm.Record {
	t.Helper()
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: props}}, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	return recs[0]
}

// tenantDump returns every key of the bundle's tenant with its full content, for before/after comparisons.
// pendingChange returns the change the engine has still to look at for contact id.
func (b *testBundle) pendingChange(t *testing.T, id crm.RecordID) crm.Change {
	t.Helper()
	cs, err := b.store.PendingChanges(b.ctx, b.tenant, 1000)
	require.NoError(t, err)
	for _, c := range cs {
		if c.Type == crm.Contacts && c.ID == id {
			return c
		}
	}
	t.Fatalf("no change pending for contact %s", id)
	return crm.Change{}
}

func (b *testBundle) tenantDump(t *testing.T) map[string]string {
	t.Helper()
	return redistest.Dump(t, b.rdb, string(b.tenant))
}

func TestTenantsUsersTokens(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		_, err := b.store.CreateTenant(ctx, b.tenant, crm.PlanFree)
		require.ErrorIs(t, err, crm.ErrTenantExists)

		var ve *crm.ValidationError
		_, err = b.store.CreateTenant(ctx, "Bad_Tenant", crm.PlanFree)
		require.ErrorAs(t, err, &ve)
		_, err = b.store.CreateTenant(ctx, crm.TenantID(redistest.Tenant(t)), "gold")
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
		_, err = b.store.CreateUser(ctx, crm.TenantID(redistest.Tenant(t)), "ops@acme.example", perms, "admin@test")
		require.ErrorIs(t, err, crm.ErrNotFound)

		tok, err := b.store.CreateToken(ctx, b.tenant, "ops@acme.example", nil)
		require.NoError(t, err)
		p, err := b.store.Authenticate(ctx, tok)
		require.NoError(t, err)
		require.Equal(t, b.tenant, p.Tenant)
		require.True(t, p.User.Permissions.Has(crm.PermDelete))
		require.False(t, p.User.Permissions.Has(crm.PermWrite))

		// Only the hash of the token is stored.
		dump := b.tenantDump(t)
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
	})
}

func TestCreateReadUpdateRecords(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		c := b.contact(t, map[string]string{"email": "Ada@Example.COM", "firstname": "Ada", "num_notes": "3.0", "email_bounced": "TRUE"})
		require.Equal(t, "ada@example.com", c.Properties["email"])
		require.Equal(t, "3", c.Properties["num_notes"])
		require.Equal(t, "true", c.Properties["email_bounced"])

		got, err := b.store.Record(ctx, b.tenant, crm.Contacts, c.ID, nil)
		require.NoError(t, err)
		require.Equal(t, c.Properties, got.Properties)
		require.Equal(t, b.clock.Now(), got.CreatedAt)

		b.clock.Advance(time.Minute)
		up, err := b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: c.ID, Properties: map[string]string{"lastname": "Lovelace", "firstname": ""}}}, crm.Actor{})
		require.NoError(t, err)
		require.Equal(t, "Lovelace", up[0].Properties["lastname"])
		require.NotContains(t, up[0].Properties, "firstname")
		require.Equal(t, b.clock.Now(), up[0].UpdatedAt)

		// Every write leaves the change mark in the same step.
		require.Equal(t, "cu", b.pendingChange(t, c.ID).Events)
		score, err := b.rdb.ZScore(ctx, redisstore.ChangedKey(b.tenant), "contacts:"+string(c.ID)).Result()
		require.NoError(t, err)
		require.Equal(t, float64(b.clock.Now().UnixMilli()), score)

		only, err := b.store.Record(ctx, b.tenant, crm.Contacts, c.ID, &crm.ReadOpts{Properties: []string{"email"}})
		require.NoError(t, err)
		require.Equal(t, map[string]string{"email": "ada@example.com"}, only.Properties)

		_, err = b.store.Record(ctx, b.tenant, crm.Contacts, "999999", nil)
		require.ErrorIs(t, err, crm.ErrNotFound)
		_, err = b.store.Record(ctx, b.tenant, "pets", "1", nil)
		require.ErrorIs(t, err, crm.ErrNotFound)
		_, err = b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: "999999", Properties: map[string]string{"lastname": "x"}}}, crm.Actor{})
		require.ErrorIs(t, err, crm.ErrNotFound)
	})
}

func TestValidationChangesNothing(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		c := b.contact(t, map[string]string{"email": "keep@example.com"})
		before := b.tenantDump(t)
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
		require.Equal(t, before, b.tenantDump(t))
	})
}

func TestContactEmailsAreUnique(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		a := b.contact(t, map[string]string{"email": "a@example.com", "additional_emails": "a2@example.com; A3@example.com"})
		before := b.tenantDump(t)
		for _, email := range []string{"A@example.com", "a3@example.com"} {
			_, err := b.store.CreateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"email": email}}}, crm.Actor{})
			var ce *crm.EmailConflictError
			require.ErrorAs(t, err, &ce, email)
			require.Equal(t, a.ID, ce.BlockingID)
			require.Contains(t, ce.Error(), string(a.ID))
		}
		// Two new contacts in one batch with the same email: all refused.
		_, err := b.store.CreateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordInput{
			{Properties: map[string]string{"email": "n@example.com"}}, {Properties: map[string]string{"additional_emails": "n@example.com"}}}, crm.Actor{})
		var ce *crm.EmailConflictError
		require.ErrorAs(t, err, &ce)
		afterRefusals := b.tenantDump(t)
		delete(afterRefusals, redisstore.SeqKey(b.tenant, "contacts"))
		delete(before, redisstore.SeqKey(b.tenant, "contacts"))
		require.Equal(t, before, afterRefusals)

		// Updating another contact onto a taken email is refused; moving an email frees it.
		other := b.contact(t, map[string]string{"email": "o@example.com"})
		_, err = b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: other.ID, Properties: map[string]string{"additional_emails": "a2@example.com"}}}, crm.Actor{})
		require.ErrorAs(t, err, &ce)
		require.Equal(t, a.ID, ce.BlockingID)
		_, err = b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: a.ID, Properties: map[string]string{"email": "new-a@example.com"}}}, crm.Actor{})
		require.NoError(t, err)
		b.contact(t, map[string]string{"email": "a@example.com"})
		id, err := b.store.ContactByEmail(ctx, b.tenant, "NEW-A@example.com")
		require.NoError(t, err)
		require.Equal(t, a.ID, id)
		// Setting a contact's own email again is no conflict.
		_, err = b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: other.ID, Properties: map[string]string{"email": "o@example.com"}}}, crm.Actor{})
		require.NoError(t, err)
	})
}

func TestPaging(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
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
	})
}

// TestNextRecords walks the live records in pages of up to MaxScriptBatch: every live record once,
// in id order, with its properties and none of the bookkeeping fields; the bin is not walked.
func TestNextRecords(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
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
	})
}

func TestCustomObjectsAndProperties(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		def, err := b.store.CreateObjectType(ctx, b.tenant, crm.ObjectTypeDef{Name: "pets", Properties: []crm.Property{
			{Name: "name", Type: crm.TypeString}, {Name: "legs", Type: crm.TypeNumber},
			{Name: "kind", Type: crm.TypeEnumeration, Options: []string{"cat", "dog"}}}})
		require.NoError(t, err)
		require.Equal(t, "pets", def.Name)
		_, err = b.store.CreateObjectType(ctx, b.tenant, crm.ObjectTypeDef{Name: "pets"})
		var ce *crm.ConflictError
		require.ErrorAs(t, err, &ce)
		var ves crm.ValidationErrors
		_, err = b.store.CreateObjectType(ctx, b.tenant, crm.ObjectTypeDef{Name: "contacts"})
		require.ErrorAs(t, err, &ves)

		recs, err := b.store.CreateRecords(ctx, b.tenant, "pets", []crm.RecordInput{{Properties: map[string]string{"name": "Rex", "legs": "4", "kind": "dog"}}}, crm.Actor{})
		require.NoError(t, err)
		require.Equal(t, crm.RecordID("1"), recs[0].ID)
		_, err = b.store.CreateRecords(ctx, b.tenant, "pets", []crm.RecordInput{{Properties: map[string]string{"kind": "fish"}}}, crm.Actor{})
		require.ErrorAs(t, err, &ves)

		_, err = b.store.CreateProperty(ctx, b.tenant, crm.Contacts, crm.Property{Name: "shoe_size", Type: crm.TypeNumber})
		require.NoError(t, err)
		_, err = b.store.CreateProperty(ctx, b.tenant, crm.Contacts, crm.Property{Name: "email", Type: crm.TypeString})
		require.ErrorAs(t, err, &ce)
		b.contact(t, map[string]string{"shoe_size": "42"})

		types, err := b.store.AllObjectTypes(ctx, b.tenant)
		require.NoError(t, err)
		require.Equal(t, []crm.ObjectType{"contacts", "companies", "deals", "tickets", "calls", "pets"}, types)

		// Another tenant has neither the custom type nor the property.
		other := crm.TenantID(redistest.Tenant(t))
		_, err = b.store.CreateTenant(ctx, other, crm.PlanFree)
		require.NoError(t, err)
		_, err = b.store.Schema(ctx, other, "pets")
		require.ErrorIs(t, err, crm.ErrNotFound)
		sch, err := b.store.Schema(ctx, other, crm.Contacts)
		require.NoError(t, err)
		require.NotContains(t, sch.Properties, "shoe_size")
	})
}

func TestAssociationsAndLists(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		c := b.contact(t, map[string]string{"email": "c@example.com"})
		co, err := b.store.CreateRecords(ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}}, crm.Actor{})
		require.NoError(t, err)
		cref, coref := crm.AssociationRef{Type: crm.Contacts, ID: c.ID}, crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}
		require.NoError(t, b.store.Associate(ctx, b.tenant, cref, coref))
		got, err := b.store.Associations(ctx, b.tenant, coref, crm.Contacts)
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{c.ID}, got)
		err = b.store.Associate(ctx, b.tenant, cref, crm.AssociationRef{Type: crm.Companies, ID: "999"})
		require.ErrorIs(t, err, crm.ErrNotFound)
		require.NoError(t, b.store.Dissociate(ctx, b.tenant, coref, cref))
		got, err = b.store.Associations(ctx, b.tenant, cref, crm.Companies)
		require.NoError(t, err)
		require.Empty(t, got)

		l, err := b.store.CreateList(ctx, b.tenant, "VIPs", crm.Contacts)
		require.NoError(t, err)
		added, missing, err := b.store.AddListMembers(ctx, b.tenant, l.ID, []crm.RecordID{c.ID, "999"})
		require.NoError(t, err)
		require.Equal(t, 1, added)
		require.Equal(t, []crm.RecordID{"999"}, missing)
		ids, _, err := b.store.ListMembers(ctx, b.tenant, l.ID, nil)
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{c.ID}, ids)
		_, err = b.store.CreateList(ctx, b.tenant, "x", crm.Deals)
		var ve *crm.ValidationError
		require.ErrorAs(t, err, &ve)

		// Deleting a list never deletes its members.
		require.NoError(t, b.store.DeleteList(ctx, b.tenant, l.ID))
		_, err = b.store.Record(ctx, b.tenant, crm.Contacts, c.ID, nil)
		require.NoError(t, err)
		_, err = b.store.List(ctx, b.tenant, l.ID)
		require.ErrorIs(t, err, crm.ErrNotFound)
		n, err := b.rdb.Exists(ctx, redisstore.MemberOfKey(b.tenant, crm.Contacts, c.ID)).Result()
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		c := b.contact(t, map[string]string{"email": "shared@example.com"})
		l, err := b.store.CreateList(ctx, b.tenant, "mine", crm.Contacts)
		require.NoError(t, err)
		other := crm.TenantID(redistest.Tenant(t))
		_, err = b.store.CreateTenant(ctx, other, crm.PlanFree)
		require.NoError(t, err)
		before := b.tenantDump(t)

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

		require.Equal(t, before, b.tenantDump(t))
	})
}

func TestCheckServer(t *testing.T) {
	t.Parallel()
	srv, err := redistest.StartServer("", "--maxmemory-policy", "allkeys-lru")
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	opt, err := redis.ParseURL(srv.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	_, err = st.CheckServer(context.Background(), false)
	require.ErrorIs(t, err, crm.ErrEvictionPolicy)
	require.Contains(t, err.Error(), "allkeys-lru")
	chk, err := st.CheckServer(context.Background(), true)
	require.NoError(t, err)
	require.Len(t, chk.Warnings, 2) // the policy, and AOF off

	good, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	chk, err = good.CheckServer(context.Background(), false)
	require.NoError(t, err)
	require.Equal(t, "noeviction", chk.EvictionPolicy)
}

// On a cluster every master is checked: one master that may evict is enough to refuse.
func TestCheckServerEveryMaster(t *testing.T) {
	t.Parallel()
	c, err := redistest.StartCluster(3)
	require.NoError(t, err)
	t.Cleanup(c.Stop)
	ctx := context.Background()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { _ = rdb.Close() })
	chk, err := redisstore.CheckServer(ctx, rdb, false)
	require.NoError(t, err)
	require.Equal(t, "noeviction", chk.EvictionPolicy)
	require.Len(t, chk.Warnings, 3, "AOF off, named for each master: %v", chk.Warnings)
	for _, a := range c.Addrs {
		require.Contains(t, strings.Join(chk.Warnings, "\n"), "master "+a+": ")
	}

	third := redis.NewClient(&redis.Options{Addr: c.Addrs[2]})
	t.Cleanup(func() { _ = third.Close() })
	require.NoError(t, third.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err())
	for range 5 { // whichever node the client would have asked first
		_, err = redisstore.CheckServer(ctx, rdb, false)
		require.ErrorIs(t, err, crm.ErrEvictionPolicy)
		require.Contains(t, err.Error(), "master "+c.Addrs[2])
	}
}

// A tenant whose creation failed half-way (its registry entry without the tenant) is not listed.
func TestTenantsSkipsHalfMadeTenants(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ghost := redistest.Tenant(t)
		require.NoError(t, b.rdb.SAdd(b.ctx, redisstore.TenantsKey(), ghost).Err())
		t.Cleanup(func() { b.rdb.SRem(context.Background(), redisstore.TenantsKey(), ghost) })
		all, err := b.store.Tenants(b.ctx)
		require.NoError(t, err)
		require.Contains(t, all, b.tenant)
		require.NotContains(t, all, crm.TenantID(ghost))
	})
}

func TestAllListMembersAndIsListMember(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
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
	})
}
