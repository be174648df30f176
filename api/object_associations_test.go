package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// linkAll links the contact c with each of others (records of type to), in one store call.
func (b *testBundle) linkAll(t *testing.T, c string, to crm.ObjectType, others ...string) {
	t.Helper()
	var pairs []crm.AssociationPair
	for _, x := range others {
		pairs = append(pairs, crm.AssociationPair{From: crm.AssociationRef{Type: crm.Contacts, ID: crm.RecordID(c)},
			To: crm.AssociationRef{Type: to, ID: crm.RecordID(x)}})
	}
	errs, err := b.store.AssociatePairs(b.ctx, b.tenantA, pairs)
	require.NoError(t, err)
	for _, e := range errs {
		require.NoError(t, e)
	}
}

// A read of records with ?associations= looks at every association of its records in one step of
// Redis: a page whose records have more associations in all than the store's budget is a 400
// TOO_MANY_ASSOCIATIONS_READ saying to ask for fewer records or to page through the association
// endpoint, whatever types it names (the step looks at all of them), and changes nothing. Within
// the budget the answer is as it was; one record is always within it.
func TestObjectReadAssociationsBudget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, MaxAssociations: 3, AssociationReadBudget: 4})
	require.NoError(t, err)
	b.store = st
	b.serve(t, &api.Config{Clock: b.clock})
	f := b.assocFixture(t, 3)
	for _, c := range f.c {
		b.linkAll(t, c, crm.Companies, f.co[:2]...)
	}

	t.Run("WithinTheBudget", func(t *testing.T) {
		t.Parallel()
		r := b.call(t, "GET", "/crm/v3/objects/contacts?limit=2&associations=companies,deals&properties=email", tokRead, nil)
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		pg := decode[struct {
			Results []struct {
				ID           string         `json:"id"`
				Associations map[string]any `json:"associations"`
			} `json:"results"`
		}](t, r)
		require.Len(t, pg.Results, 2)
		for i, rec := range pg.Results {
			require.Equal(t, f.c[i], rec.ID)
			require.Equal(t, map[string]any{"companies": map[string]any{"results": []any{
				map[string]any{"id": f.co[0], "type": "contact_to_company"},
				map[string]any{"id": f.co[1], "type": "contact_to_company"},
			}}}, rec.Associations, "the ids of each type, without paging")
		}
		// One record is always within it: the budget is at least the most associations a record may have.
		one := expect[historyRecord](t, b.call(t, "GET", "/crm/v3/objects/companies/"+f.co[0]+"?associations=contacts", tokRead, nil), http.StatusOK)
		require.Len(t, one.Associations["contacts"].Results, 3)
	})

	t.Run("PastTheBudget", func(t *testing.T) {
		t.Parallel()
		before := b.dump(t, b.tenantA)
		for _, types := range []string{"companies", "deals", "0-2,deals"} {
			e := expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts?associations="+types, tokRead, nil), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, "TOO_MANY_ASSOCIATIONS_READ", e.Errors[0].Code)
			require.Equal(t, []string{"limit"}, e.in())
			require.Equal(t, "the 3 contacts records read have 6 associations in all, more than the 4 one read may look at: "+
				"read fewer records at a time, or each record's associations a page at a time "+
				"(here: a smaller limit, or GET /crm/v4/objects/contacts/{id}/associations/{toType}?limit=500 with its paging.next.after)", e.Message)
		}
		require.Equal(t, before, b.dump(t, b.tenantA), "a refused read changes nothing")
		// Without associations, the same page is read.
		require.Len(t, expect[page[record]](t, b.call(t, "GET", "/crm/v3/objects/contacts", tokRead, nil), http.StatusOK).Results, 3)
	})
}

// A record read with ?associations= shows at most 100 linked records of a type, the lowest ids,
// with HubSpot's paging.next: its after and link go on at the record's association read.
func TestObjectReadAssociationsPerTypeCap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := string(b.contact(t, map[string]string{"email": "many@a.example"}))
	in := make([]crm.RecordInput, 101)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"name": fmt.Sprintf("Co %d", i)}}
	}
	cos, err := b.store.CreateRecords(b.ctx, b.tenantA, crm.Companies, in, crm.Actor{User: userEmail})
	require.NoError(t, err)
	var all []string
	for _, co := range cos {
		all = append(all, string(co.ID)) // created one after the other: ascending ids
	}
	b.linkAll(t, c, crm.Companies, all...)
	deal := string(b.create(t, b.tenantA, crm.Deals, map[string]string{"dealname": "D"}))
	b.linkAll(t, c, crm.Deals, deal)

	check := func(t *testing.T, got historyRecord) {
		t.Helper()
		companies := got.Associations["companies"]
		require.Len(t, companies.Results, 100)
		var ids []string
		for _, x := range companies.Results {
			require.Equal(t, "contact_to_company", x.Type)
			ids = append(ids, x.ID)
		}
		require.Equal(t, all[:100], ids)
		require.NotNil(t, companies.Paging)
		require.Equal(t, all[99], companies.Paging.Next.After)
		require.Equal(t, "/crm/v4/objects/contacts/"+c+"/associations/companies?after="+all[99]+"&limit=500", companies.Paging.Next.Link)
		require.Len(t, got.Associations["deals"].Results, 1)
		require.Nil(t, got.Associations["deals"].Paging, "a type of one page has no paging")

		rest := expect[page[struct {
			ToObjectID string `json:"toObjectId"`
		}]](t, b.call(t, "GET", companies.Paging.Next.Link, tokRead, nil), http.StatusOK)
		require.Len(t, rest.Results, 1)
		require.Equal(t, all[100], rest.Results[0].ToObjectID)
		require.Nil(t, rest.Paging)
	}
	check(t, expect[historyRecord](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+c+"?associations=companies,deals", tokRead, nil), http.StatusOK))
	pg := expect[page[historyRecord]](t, b.call(t, "GET", "/crm/v3/objects/contacts?associations=0-2,deals", tokRead, nil), http.StatusOK)
	require.Len(t, pg.Results, 1)
	check(t, pg.Results[0])
}

// commandLog keeps the commands a Redis client sent, alone or in a pipeline: add
// redistest.EachCommand(log.note) to the client. Safe for concurrent use.
type commandLog struct {
	mu   sync.Mutex
	cmds [][]any
}

func (l *commandLog) note(cmd redis.Cmder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds = append(l.cmds, slices.Clone(cmd.Args()))
}

// during returns the commands sent while do ran.
func (l *commandLog) during(do func()) [][]any {
	l.mu.Lock()
	start := len(l.cmds)
	l.mu.Unlock()
	do()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.cmds[start:])
}

// The associations of a page cost Redis one script call, however many its records and their
// associations: no command a record, and none an associated id.
func TestObjectReadAssociationsOneScriptCallAPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.assocFixture(t, 20)
	for i, c := range f.c {
		b.linkAll(t, c, crm.Companies, f.co[:1+i%5]...)
	}
	log := &commandLog{}
	b.rdb.AddHook(redistest.EachCommand(log.note))
	assocPrefix := redisstore.AssocKey(b.tenantA, crm.Contacts, "")
	// touching counts the commands that name a contact's associations.
	touching := func(cmds [][]any) (n int) {
		for _, args := range cmds {
			if slices.ContainsFunc(args, func(a any) bool { s, ok := a.(string); return ok && strings.HasPrefix(s, assocPrefix) }) {
				n++
			}
		}
		return n
	}
	read := func(query string) func() {
		return func() {
			expect[page[historyRecord]](t, b.call(t, "GET", "/crm/v3/objects/contacts?"+query, tokRead, nil), http.StatusOK)
		}
	}
	read("associations=companies")() // the script is loaded

	for _, limit := range []int{2, 20} {
		plain := log.during(read(fmt.Sprintf("limit=%d", limit)))
		with := log.during(read(fmt.Sprintf("limit=%d&associations=companies,deals,contacts", limit)))
		require.Equal(t, 1, touching(with), "commands naming associations for a page of %d", limit)
		require.Len(t, with, len(plain)+1, "commands of a page of %d with its associations, beside without", limit)
	}
}
