package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/redistest"
)

// uniqueIndex returns the unique index of property prop of type o: value -> id.
func (b *testBundle) uniqueIndex(t *testing.T, o crm.ObjectType, prop string) map[string]string {
	t.Helper()
	h, err := b.rdb.HGetAll(b.ctx, redisstore.UniqueIndexKey(b.tenant, o, prop)).Result()
	require.NoError(t, err)
	return h
}

// subscriptions creates the custom type subscriptions with the unique string property sub_ref,
// the unique number property seat and the plain property note.
func TestUniquePropertyDefinition(t *testing.T) {
	t.Parallel()
	b := setup(t, "redis")
	for _, typ := range []crm.PropertyType{crm.TypeBool, crm.TypeDatetime} {
		_, err := b.store.CreateProperty(b.ctx, b.tenant, crm.Companies, crm.Property{Name: "u_" + string(typ), Type: typ, Unique: true}, "ops@x.example")
		var ves crm.ValidationErrors
		require.ErrorAs(t, err, &ves, typ)
		require.Equal(t, "INVALID_UNIQUE_TYPE", ves[0].Code)
		require.Contains(t, ves[0].Message, "only string and number")
	}
	_, err := b.store.CreateProperty(b.ctx, b.tenant, crm.Companies, crm.Property{Name: "vat_no", Type: crm.TypeString, Unique: true}, "ops@x.example")
	require.NoError(t, err)
	sch, err := b.store.Schema(b.ctx, b.tenant, crm.Companies)
	require.NoError(t, err)
	require.True(t, sch.Properties["vat_no"].Unique)
	require.Equal(t, []string{"vat_no"}, sch.UniqueProperties())
}

func TestUniqueIndex(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		o := b.subscriptions(t)
		recs, err := b.store.CreateRecords(b.ctx, b.tenant, o, []crm.RecordInput{
			{Properties: map[string]string{"sub_ref": "S-1", "seat": "1"}},
			{Properties: map[string]string{"sub_ref": "S-2", "note": "x"}},
		}, crm.Actor{})
		require.NoError(t, err)
		one, two := recs[0].ID, recs[1].ID
		require.Equal(t, map[string]string{"S-1": string(one), "S-2": string(two)}, b.uniqueIndex(t, o, "sub_ref"))
		require.Equal(t, map[string]string{"1": string(one)}, b.uniqueIndex(t, o, "seat"))

		before := b.tenantDump(t)
		refused := func(name string, err error, prop, value string, owner crm.RecordID) {
			t.Helper()
			var uc *crm.UniqueConflictError
			require.ErrorAs(t, err, &uc, name)
			require.Equal(t, crm.UniqueConflictError{Type: o, Property: prop, Value: value, BlockingID: owner}, *uc, name)
			after := b.tenantDump(t)
			delete(after, redisstore.SeqKey(b.tenant, string(o))) // a refused create has drawn its ids
			delete(before, redisstore.SeqKey(b.tenant, string(o)))
			require.Equal(t, before, after, name)
		}
		_, err = b.store.CreateRecords(b.ctx, b.tenant, o, []crm.RecordInput{{Properties: map[string]string{"sub_ref": "S-1"}}}, crm.Actor{})
		refused("Create", err, "sub_ref", "S-1", one)
		_, err = b.store.CreateRecords(b.ctx, b.tenant, o, []crm.RecordInput{{Properties: map[string]string{"seat": "1.0"}}}, crm.Actor{})
		refused("CreateNumber", err, "seat", "1", one)
		_, err = b.store.CreateRecords(b.ctx, b.tenant, o, []crm.RecordInput{
			{Properties: map[string]string{"sub_ref": "S-9"}}, {Properties: map[string]string{"sub_ref": "S-9"}}}, crm.Actor{})
		var ves crm.ValidationErrors
		require.ErrorAs(t, err, &ves, "BatchCreate")
		require.Equal(t, "DUPLICATE_VALUE", ves[0].Code, "BatchCreate")
		_, err = b.store.UpdateRecords(b.ctx, b.tenant, o, []crm.RecordUpdate{{ID: two, Properties: map[string]string{"sub_ref": "S-1"}}}, crm.Actor{})
		refused("Update", err, "sub_ref", "S-1", one)
		_, err = b.store.UpdateRecords(b.ctx, b.tenant, o, []crm.RecordUpdate{
			{ID: one, Properties: map[string]string{"seat": "5", "note": "y"}},
			{ID: two, Properties: map[string]string{"seat": "5"}}}, crm.Actor{})
		require.ErrorAs(t, err, &ves, "BatchUpdate")
		require.Equal(t, "DUPLICATE_VALUE", ves[0].Code, "BatchUpdate")
		after := b.tenantDump(t)
		delete(after, redisstore.SeqKey(b.tenant, string(o)))
		require.Equal(t, before, after, "BatchUpdate")

		// An update moves the entry, also to a record of the same call that the value's holder gives
		// it up to; setting the same value again keeps it; clearing drops it.
		_, err = b.store.UpdateRecords(b.ctx, b.tenant, o, []crm.RecordUpdate{
			{ID: two, Properties: map[string]string{"sub_ref": "S-1"}},
			{ID: one, Properties: map[string]string{"sub_ref": "S-1b", "seat": "1"}}}, crm.Actor{})
		require.NoError(t, err, "a value given up by another update of the same call is free")
		require.Equal(t, map[string]string{"S-1b": string(one), "S-1": string(two)}, b.uniqueIndex(t, o, "sub_ref"))
		_, err = b.store.UpdateRecords(b.ctx, b.tenant, o, []crm.RecordUpdate{{ID: one, Properties: map[string]string{"sub_ref": "S-1b", "seat": "1"}}}, crm.Actor{})
		require.NoError(t, err)
		_, err = b.store.UpdateRecords(b.ctx, b.tenant, o, []crm.RecordUpdate{{ID: two, Properties: map[string]string{"sub_ref": "S-1", "seat": "2"}}}, crm.Actor{})
		require.NoError(t, err)
		require.Equal(t, map[string]string{"S-1b": string(one), "S-1": string(two)}, b.uniqueIndex(t, o, "sub_ref"))
		_, err = b.store.UpdateRecords(b.ctx, b.tenant, o, []crm.RecordUpdate{{ID: two, Properties: map[string]string{"seat": ""}}}, crm.Actor{})
		require.NoError(t, err)
		require.Equal(t, map[string]string{"1": string(one)}, b.uniqueIndex(t, o, "seat"))

		// Archive frees the values; restore takes them back unless a live record took one meanwhile.
		_, err = b.store.ArchiveRecords(b.ctx, b.tenant, o, []crm.RecordID{one, two}, crm.Actor{})
		require.NoError(t, err)
		require.Empty(t, b.uniqueIndex(t, o, "sub_ref"))
		require.Empty(t, b.uniqueIndex(t, o, "seat"))
		taker, err := b.store.CreateRecords(b.ctx, b.tenant, o, []crm.RecordInput{{Properties: map[string]string{"sub_ref": "S-1"}}}, crm.Actor{})
		require.NoError(t, err)
		res, err := b.store.RestoreRecords(b.ctx, b.tenant, o, []crm.RecordID{one, two}, crm.Actor{})
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{one}, res.Restored)
		require.Len(t, res.Failed, 1)
		var uc *crm.UniqueConflictError
		require.ErrorAs(t, res.Failed[0].Err, &uc)
		require.Equal(t, crm.UniqueConflictError{Type: o, Property: "sub_ref", Value: "S-1", BlockingID: taker[0].ID}, *uc)
		require.Equal(t, two, res.Failed[0].ID)
		require.Equal(t, map[string]string{"S-1b": string(one), "S-1": string(taker[0].ID)}, b.uniqueIndex(t, o, "sub_ref"))
		require.Equal(t, map[string]string{"1": string(one)}, b.uniqueIndex(t, o, "seat"))

		// Purged records never come back, and their values stay free.
		b.clock.Advance(91 * 24 * time.Hour)
		n, err := b.store.PurgeExpired(b.ctx, b.tenant, o, b.clock.Now().Add(-90*24*time.Hour), 100)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		_, err = b.store.ArchiveRecords(b.ctx, b.tenant, o, []crm.RecordID{taker[0].ID}, crm.Actor{})
		require.NoError(t, err)
		_, err = b.store.CreateRecords(b.ctx, b.tenant, o, []crm.RecordInput{{Properties: map[string]string{"sub_ref": "S-1"}}}, crm.Actor{})
		require.NoError(t, err)
	})
}

func TestUniqueContactPropertyPermanentDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, "redis")
	_, err := b.store.CreateProperty(b.ctx, b.tenant, crm.Contacts, crm.Property{Name: "member_no", Type: crm.TypeNumber, Unique: true}, "ops@x.example")
	require.NoError(t, err)
	c := b.contact(t, map[string]string{"email": "m@x.example", "member_no": "7"})
	require.Equal(t, map[string]string{"7": string(c.ID)}, b.uniqueIndex(t, crm.Contacts, "member_no"))
	_, err = b.store.PermanentDeleteContact(b.ctx, b.tenant, crm.PermanentDeleteParams{ID: c.ID, By: "dpo@x.example"})
	require.NoError(t, err)
	require.Empty(t, b.uniqueIndex(t, crm.Contacts, "member_no"))
	b.contact(t, map[string]string{"email": "n@x.example", "member_no": "7"})
}

// TestUpsertRecordsRoundTrips checks that an upsert by a unique property costs the same few round
// trips to Redis whatever its size: 10 or 100 records of a custom type, half new and half existing.
func TestUpsertRecordsRoundTrips(t *testing.T) {
	t.Parallel()
	opts, err := redis.ParseURL(redistest.URL(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: clock.NewSim(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))})
	require.NoError(t, err)
	ctx := context.Background()
	tn := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	b := &testBundle{store: st, rdb: rdb, tenant: tn, ctx: ctx}
	o := b.subscriptions(t)
	hook := &roundTrips{}
	rdb.AddHook(hook)

	upsert := func(n int, run string) int64 {
		existing := make([]crm.RecordInput, n/2)
		for i := range existing {
			existing[i] = crm.RecordInput{Properties: map[string]string{"sub_ref": fmt.Sprintf("%s-%d", run, i)}}
		}
		_, err := st.CreateRecords(ctx, tn, o, existing, crm.Actor{})
		require.NoError(t, err)
		in := make([]crm.RecordUpsert, n)
		for i := range in {
			in[i] = crm.RecordUpsert{ID: fmt.Sprintf("%s-%d", run, i), Properties: map[string]string{"note": "U"}}
		}
		start := hook.n.Load()
		out, err := st.UpsertRecords(ctx, tn, o, "sub_ref", in, crm.Actor{})
		require.NoError(t, err)
		require.Len(t, out, n)
		created := 0
		for _, r := range out {
			if r.Created {
				created++
			}
		}
		require.Equal(t, n-n/2, created)
		return hook.n.Load() - start
	}
	upsert(4, "warm") // loads the scripts
	small, large := upsert(10, "small"), upsert(100, "large")
	t.Logf("round trips of an upsert by a unique property: %d for 10 records, %d for 100", small, large)
	require.Equal(t, small, large, "a bigger batch must not cost more round trips")
	require.LessOrEqual(t, large, int64(10))
}

// TestUpsertRecordsConcurrent runs writers that upsert the same new values at once: each value
// ends up on one record, created by exactly one of them, and every writer succeeds.
func TestUpsertRecordsConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, "redis")
	o := b.subscriptions(t)
	const writers, values = 4, 20
	in := make([]crm.RecordUpsert, values)
	for i := range in {
		in[i] = crm.RecordUpsert{ID: fmt.Sprintf("race-%d", i), Properties: map[string]string{"note": "R"}}
	}
	results := make([][]crm.UpsertedRecord, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[w], errs[w] = b.store.UpsertRecords(b.ctx, b.tenant, o, "sub_ref", in, crm.Actor{})
		}()
	}
	wg.Wait()
	for w := range writers {
		require.NoError(t, errs[w], "writer %d", w)
	}
	for i, u := range in {
		created := 0
		for w := range writers {
			if results[w][i].Created {
				created++
			}
			require.Equal(t, results[0][i].ID, results[w][i].ID, "writers saw different records for %s", u.ID)
		}
		require.Equal(t, 1, created, "%s was created %d times", u.ID, created)
	}
	n, err := b.store.CountRecords(b.ctx, b.tenant, o)
	require.NoError(t, err)
	require.Equal(t, int64(values), n)
	require.Len(t, b.uniqueIndex(t, o, "sub_ref"), values)
}

func TestUniqueStringSearchIndexed(t *testing.T) {
	t.Parallel()
	b := setup(t, "redis")
	o := b.subscriptions(t)
	sch, err := b.store.Schema(b.ctx, b.tenant, o)
	require.NoError(t, err)
	kinds := map[string]crm.IndexKind{}
	for _, ip := range crm.SearchIndexes(sch) {
		kinds[ip.Name] = ip.Kind
	}
	require.Equal(t, crm.IndexText, kinds["sub_ref"])
	require.NotContains(t, kinds, "note")
	recs, err := b.store.CreateRecords(b.ctx, b.tenant, o, []crm.RecordInput{
		{Properties: map[string]string{"sub_ref": "A-1"}}, {Properties: map[string]string{"sub_ref": "B-2"}}}, crm.Actor{})
	require.NoError(t, err)
	n, err := b.rdb.ZCard(b.ctx, redisstore.SearchIndexKey(b.tenant, o, "sub_ref")).Result()
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
	res, err := b.store.Search(b.ctx, b.tenant, o, crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{
		{PropertyName: "sub_ref", Operator: crm.OpEQ, Value: "B-2", HasValue: true}}}})
	require.NoError(t, err)
	require.Len(t, res.Records, 1)
	require.Equal(t, recs[1].ID, res.Records[0].ID)
}

// TestUniqueRestoreTogether restores, in one call, two binned records that held the same value at
// different times: the first gets it back, the second is refused naming the first.
func TestUniqueRestoreTogether(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		o := b.subscriptions(t)
		var ids []crm.RecordID
		for range 2 {
			recs, err := b.store.CreateRecords(b.ctx, b.tenant, o, []crm.RecordInput{{Properties: map[string]string{"sub_ref": "S-X", "seat": "9"}}}, crm.Actor{})
			require.NoError(t, err)
			_, err = b.store.ArchiveRecords(b.ctx, b.tenant, o, []crm.RecordID{recs[0].ID}, crm.Actor{})
			require.NoError(t, err)
			ids = append(ids, recs[0].ID)
		}
		res, err := b.store.RestoreRecords(b.ctx, b.tenant, o, ids, crm.Actor{})
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{ids[0]}, res.Restored)
		require.Len(t, res.Failed, 1)
		var uc *crm.UniqueConflictError
		require.ErrorAs(t, res.Failed[0].Err, &uc)
		require.Equal(t, ids[0], uc.BlockingID)
		require.Equal(t, map[string]string{"S-X": string(ids[0])}, b.uniqueIndex(t, o, "sub_ref"))
		require.Equal(t, map[string]string{"9": string(ids[0])}, b.uniqueIndex(t, o, "seat"))
	})
}

func (b *testBundle) subscriptions(t *testing.T) crm.ObjectType {
	t.Helper()
	_, err := b.store.CreateObjectType(b.ctx, b.tenant, crm.ObjectTypeDef{Name: "subscriptions", Properties: []crm.Property{
		{Name: "sub_ref", Type: crm.TypeString, Unique: true},
		{Name: "seat", Type: crm.TypeNumber, Unique: true},
		{Name: "note", Type: crm.TypeString},
	}}, "ops@x.example")
	require.NoError(t, err)
	return "subscriptions"
}

// TestUniqueBatchCreateRefusesTheFirstTakenValue creates a batch in which two records give values
// that live records hold: the refusal names the first of them in the order of the inputs, with its
// owner, and nothing is written.
func TestUniqueBatchCreateRefusesTheFirstTakenValue(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		o := b.subscriptions(t)
		recs, err := b.store.CreateRecords(b.ctx, b.tenant, o, []crm.RecordInput{
			{Properties: map[string]string{"sub_ref": "S-1", "seat": "1"}},
			{Properties: map[string]string{"sub_ref": "S-2", "seat": "2"}},
		}, crm.Actor{})
		require.NoError(t, err)
		before := b.tenantDump(t)
		_, err = b.store.CreateRecords(b.ctx, b.tenant, o, []crm.RecordInput{
			{Properties: map[string]string{"sub_ref": "S-3", "seat": "3"}},
			{Properties: map[string]string{"sub_ref": "S-4", "seat": "2"}},
			{Properties: map[string]string{"sub_ref": "S-1", "seat": "5"}},
		}, crm.Actor{})
		var uc *crm.UniqueConflictError
		require.ErrorAs(t, err, &uc)
		require.Equal(t, crm.UniqueConflictError{Type: o, Property: "seat", Value: "2", BlockingID: recs[1].ID}, *uc)
		after := b.tenantDump(t)
		delete(after, redisstore.SeqKey(b.tenant, string(o))) // a refused create has drawn its ids
		delete(before, redisstore.SeqKey(b.tenant, string(o)))
		require.Equal(t, before, after)
	})
}
