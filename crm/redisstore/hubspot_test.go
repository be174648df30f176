package redisstore_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/redistest"
)

func TestCreateWithAssociations(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		co, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Acme"}}, {Properties: map[string]string{"name": "Gone"}}}, crm.Actor{})
		require.NoError(t, err)
		_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordID{co[1].ID}, crm.Actor{})
		require.NoError(t, err)
		acme := crm.AssociationRef{Type: crm.Companies, ID: co[0].ID}

		recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{
			{Properties: map[string]string{"email": "a@x.example"}, Associations: []crm.AssociationRef{acme}},
			{Properties: map[string]string{"email": "b@x.example"}},
			{Properties: map[string]string{"email": "c@x.example"}, Associations: []crm.AssociationRef{acme}},
		}, crm.Actor{})
		require.NoError(t, err)
		ids, err := b.store.Associations(b.ctx, b.tenant, acme, crm.Contacts)
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{recs[0].ID, recs[2].ID}, ids)
		back, err := b.store.Associations(b.ctx, b.tenant, crm.AssociationRef{Type: crm.Contacts, ID: recs[2].ID}, crm.Companies)
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{acme.ID}, back)

		before := b.tenantDump(t)
		for _, c := range []struct {
			name string
			to   crm.AssociationRef
			want string
		}{
			{"Missing", crm.AssociationRef{Type: crm.Companies, ID: "999"}, "inputs[1].associations[0]: companies 999 does not exist"},
			{"Binned", crm.AssociationRef{Type: crm.Companies, ID: co[1].ID}, "is in the bin"},
			{"NotAnID", crm.AssociationRef{Type: crm.Companies, ID: "x"}, "ids are decimal"},
			{"NoSuchType", crm.AssociationRef{Type: "boats", ID: "1"}, `object type "boats" does not exist`},
		} {
			_, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{
				{Properties: map[string]string{"email": "d@x.example"}, Associations: []crm.AssociationRef{acme}},
				{Properties: map[string]string{"email": "e@x.example"}, Associations: []crm.AssociationRef{c.to}},
			}, crm.Actor{})
			var ves crm.ValidationErrors
			require.ErrorAs(t, err, &ves, c.name)
			require.Contains(t, err.Error(), c.want, c.name)
		}
		after := b.tenantDump(t)
		// A create that its script refuses has drawn its ids already: the id counter moves on, and
		// nothing else changes.
		for k := range after {
			if k == redisstore.SeqKey(b.tenant, string(crm.Contacts)) {
				delete(after, k)
				delete(before, k)
			}
		}
		require.Equal(t, before, after)
	})
}

// roundTrips counts the commands and pipelines a client sends, each one round trip.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// TestUpsertContactsRoundTrips checks that a batch upsert costs the same few round trips to Redis
// whatever its size: 10 or 100 contacts, half new and half existing.
func TestUpsertContactsRoundTrips(t *testing.T) {
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
	hook := &roundTrips{}
	rdb.AddHook(hook)

	upsert := func(n int, run string) int64 {
		existing := make([]crm.RecordInput, n/2)
		for i := range existing {
			existing[i] = crm.RecordInput{Properties: map[string]string{"email": fmt.Sprintf("%s-%d@x.example", run, i)}}
		}
		_, err := st.CreateRecords(ctx, tn, crm.Contacts, existing, crm.Actor{})
		require.NoError(t, err)
		in := make([]crm.ContactUpsert, n)
		for i := range in {
			in[i] = crm.ContactUpsert{Email: fmt.Sprintf("%s-%d@x.example", run, i), Properties: map[string]string{"firstname": "U"}}
		}
		start := hook.n.Load()
		out, err := st.UpsertContacts(ctx, tn, in, crm.Actor{})
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
	t.Logf("round trips of a batch upsert: %d for 10 contacts, %d for 100", small, large)
	require.Equal(t, small, large, "a bigger batch must not cost more round trips")
	require.LessOrEqual(t, large, int64(10))
}

// TestUpsertContactsConcurrent runs writers that upsert the same new emails at once: each email
// ends up with one contact, created by exactly one of them, and every writer succeeds (a writer
// that loses the race to create updates the winner's contact instead).
func TestUpsertContactsConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, "redis")
	const writers, emails = 4, 20
	in := make([]crm.ContactUpsert, emails)
	for i := range in {
		in[i] = crm.ContactUpsert{Email: fmt.Sprintf("race-%d@x.example", i), Properties: map[string]string{"firstname": "R"}}
	}
	results := make([][]crm.UpsertedRecord, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[w], errs[w] = b.store.UpsertContacts(b.ctx, b.tenant, in, crm.Actor{})
		}()
	}
	wg.Wait()
	for w := range writers {
		require.NoError(t, errs[w], "writer %d", w)
	}
	for i, u := range in {
		created := 0
		var id crm.RecordID
		for w := range writers {
			r := results[w][i]
			if r.Created {
				created++
			}
			if id == "" {
				id = r.ID
			}
			require.Equal(t, id, r.ID, "writers saw different contacts for %s", u.Email)
		}
		require.Equal(t, 1, created, "%s was created %d times", u.Email, created)
	}
	n, err := b.store.CountRecords(b.ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.Equal(t, int64(emails), n)
}
