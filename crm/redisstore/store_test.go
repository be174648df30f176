package redisstore_test

import (
	"context"
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
	return setupOn(t, client(t, backend))
}

// setupOn is setup on the server of rdb: a store at a simulated clock and a new tenant.
func setupOn(t *testing.T, rdb redis.UniversalClient) *testBundle {
	t.Helper()
	clk := clock.NewSim(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: clk})
	require.NoError(t, err)
	tn := crm.TenantID(redistest.Tenant(t))
	ctx := context.Background()
	_, err = st.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	return &testBundle{store: st, rdb: rdb, tenant: tn, clock: clk, ctx: ctx}
}

// client returns a client of a fresh connection to backend.
func client(t *testing.T, backend string) redis.UniversalClient {
	t.Helper()
	switch backend {
	case "redis":
		return redistest.Client(t)
	case "cluster":
		return redistest.ClusterClient(t)
	case "embedded":
		mr := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { _ = rdb.Close() })
		return rdb
	}
	t.Fatalf("unknown backend %q", backend)
	return nil
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

func TestCreateReadUpdateRecords(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		ctx := b.ctx
		activeFlow(t, b, false) // a workflow watches contacts: their writes leave change marks
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

		// Every write of a watched type leaves the change mark in the same step.
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
		// Two new contacts in one batch with the same email: all refused, naming both inputs.
		_, err := b.store.CreateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordInput{
			{Properties: map[string]string{"email": "n@example.com"}}, {Properties: map[string]string{"additional_emails": "n@example.com"}}}, crm.Actor{})
		var ves crm.ValidationErrors
		require.ErrorAs(t, err, &ves)
		require.Equal(t, "DUPLICATE_EMAIL", ves[0].Code)
		require.Contains(t, ves[0].Message, "inputs[0] and inputs[1] both give the email n@example.com")
		afterRefusals := b.tenantDump(t)
		delete(afterRefusals, redisstore.SeqKey(b.tenant, "contacts"))
		delete(before, redisstore.SeqKey(b.tenant, "contacts"))
		require.Equal(t, before, afterRefusals)

		// Updating another contact onto a taken email is refused; moving an email frees it.
		other := b.contact(t, map[string]string{"email": "o@example.com"})
		_, err = b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: other.ID, Properties: map[string]string{"additional_emails": "a2@example.com"}}}, crm.Actor{})
		var ce *crm.EmailConflictError
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

// TestNextRecords walks the live records in pages of up to MaxScriptBatch: every live record once,
// in id order, with its properties and none of the bookkeeping fields; the bin is not walked.
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
		require.Equal(t, []crm.RecordID{c.ID}, added)
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
	require.Zero(t, chk.Replicas)

	// Waiting for more replicas than are connected is a warning that says what it will cost.
	waiting, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, WaitReplicas: 1})
	require.NoError(t, err)
	chk, err = waiting.CheckServer(context.Background(), true)
	require.NoError(t, err)
	require.Len(t, chk.Warnings, 3)
	require.Contains(t, chk.Warnings[2], "wait-replicas is 1 but the Redis has 0 connected replica(s)")
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
