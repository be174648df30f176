package redisstore_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// searchCalls counts the search script calls a client sends (their EVALSHA: an EVAL after
// NOSCRIPT repeats one): those that start a search, and the steps (ARGV[2]) of the ones that go on
// with it in slices or walks.
type searchCalls struct {
	mu     sync.Mutex
	starts int
	steps  []map[string]any
}

func (sc *searchCalls) hook(cmd redis.Cmder) {
	args := cmd.Args()
	if len(args) < 4 || !strings.HasPrefix(strings.ToLower(fmt.Sprint(args[0])), "evalsha") {
		return
	}
	nkeys, err := strconv.Atoi(fmt.Sprint(args[2]))
	if err != nil || len(args) < 3+nkeys+1 {
		return
	}
	argv := args[3+nkeys:]
	if !strings.HasPrefix(fmt.Sprint(argv[0]), `{"rec":`) {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(argv) == 1 {
		sc.starts++
		return
	}
	var step map[string]any
	if err := json.Unmarshal([]byte(fmt.Sprint(argv[1])), &step); err == nil {
		sc.steps = append(sc.steps, step)
	}
}

func (sc *searchCalls) reset() (starts int, steps []map[string]any) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	starts, steps = sc.starts, sc.steps
	sc.starts, sc.steps = 0, nil
	return starts, steps
}

func sf(prop string, op crm.SearchOperator, v string) crm.SearchFilter {
	return crm.SearchFilter{PropertyName: prop, Operator: op, Value: v, HasValue: v != ""}
}

func sfIn(prop string, op crm.SearchOperator, vs ...string) crm.SearchFilter {
	return crm.SearchFilter{PropertyName: prop, Operator: op, Values: vs}
}

// seedSearchContacts creates n contacts whose properties repeat, some left out, so that sorts
// have ties and records without a value.
func seedSearchContacts(t *testing.T, b *testBundle, n int) {
	t.Helper()
	stages := []string{"subscriber", "lead", "customer", "opportunity"}
	var in []crm.RecordInput
	for i := 1; i <= n; i++ {
		p := map[string]string{
			"email":              fmt.Sprintf("person%d@example%d.com", i, i%7),
			"lastname":           "Name" + strconv.Itoa(i%13),
			"lifecyclestage":     stages[i%4],
			"phone":              fmt.Sprintf("+1-555-%04d", i),
			"last_activity_date": fmt.Sprintf("2026-01-%02dT09:00:00Z", 1+i%28),
		}
		if i%5 != 0 {
			p["firstname"] = "First" + strconv.Itoa(i%17)
		}
		if i%4 != 0 {
			p["company"] = "Co " + strconv.Itoa(i%9)
		}
		if i%6 != 0 {
			p["num_notes"] = strconv.Itoa(i % 11)
		}
		if i%3 == 0 {
			p["city"] = "Town" + strconv.Itoa(i%5)
		}
		in = append(in, crm.RecordInput{Properties: p})
	}
	for len(in) > 0 {
		k := min(len(in), crm.MaxScriptBatch)
		_, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, in[:k], crm.Actor{User: "ops@x.example"})
		require.NoError(t, err)
		in = in[k:]
	}
}

// TestSearchInSlicesAsInOneCall runs a representative set of searches on a fixed set of contacts
// twice, on every backend: with every search in one call, and with calls of so little work that
// each general search runs in many slices; every page (its total, next and records in order) is
// the same.
func TestSearchInSlicesAsInOneCall(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		seedSearchContacts(t, b, 240)
		one, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, SearchCallWork: 1 << 30})
		require.NoError(t, err)
		calls := &searchCalls{}
		small, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, SearchCallWork: 40})
		require.NoError(t, err)
		b.rdb.AddHook(redistest.EachCommand(calls.hook))

		sorts := func(prop string, desc bool) []crm.SearchSort {
			return []crm.SearchSort{{PropertyName: prop, Descending: desc}}
		}
		g := func(fs ...crm.SearchFilter) []crm.SearchFilter { return fs }
		searches := []crm.SearchParams{
			{Sorts: sorts("company", false)},
			{Sorts: sorts("company", true)},
			{Sorts: sorts("firstname", true)},
			{Sorts: sorts("num_notes", false)},
			{FilterGroups: [][]crm.SearchFilter{g(sf("company", crm.OpNEQ, "co 3"), sf("firstname", crm.OpHasProperty, ""))}},
			{FilterGroups: [][]crm.SearchFilter{g(sf("email", crm.OpContainsToken, "*@example3*"), sf("city", crm.OpNotHasProperty, ""))}, Sorts: sorts("lastname", false)},
			{FilterGroups: [][]crm.SearchFilter{g(sfIn("lifecyclestage", crm.OpIn, "lead", "customer"), sf("num_notes", crm.OpGTE, "4"))}, Sorts: sorts("last_activity_date", true)},
			{FilterGroups: [][]crm.SearchFilter{
				g(sf("lifecyclestage", crm.OpEQ, "lead"), sfIn("city", crm.OpNotIn, "town1", "town2")),
				g(sf("num_notes", crm.OpLT, "3"), sf("phone", crm.OpContainsToken, "*5*5*")),
				g(sfIn("num_notes", crm.OpIn, "7", "8", "9"), sf("company", crm.OpNotHasProperty, "")),
			}, Sorts: sorts("phone", true)},
			{FilterGroups: [][]crm.SearchFilter{
				g(sf("lifecyclestage", crm.OpNEQ, "subscriber"), sf("email_opt_out", crm.OpNotHasProperty, "")),
				g(sf("firstname", crm.OpGTE, "first1"), sfIn("lifecyclestage", crm.OpNotIn, "lead")),
			}, Sorts: sorts("hs_object_id", true)},
			{Query: "first1", Sorts: sorts("company", false)},
			{Query: "name1", FilterGroups: [][]crm.SearchFilter{g(sf("city", crm.OpHasProperty, ""))}},
			{FilterGroups: [][]crm.SearchFilter{g(sf("lifecyclestage", crm.OpEQ, "customer"), sf("hs_object_id", crm.OpGT, "40"))}, Sorts: sorts("email", false)},
		}
		page := func(st *redisstore.Store, p crm.SearchParams) string {
			res, err := st.Search(b.ctx, b.tenant, crm.Contacts, p)
			require.NoError(t, err, "%+v", p)
			ids := make([]string, len(res.Records))
			for i, r := range res.Records {
				ids[i] = string(r.ID)
			}
			return fmt.Sprintf("total %d, after %q: %v", res.Total, res.After, ids)
		}
		slicedCalls := 0
		for i, p := range searches {
			for _, after := range []int{0, 7, 60} {
				p.After, p.Limit = after, 25
				want := page(one, p)
				calls.reset()
				require.Equal(t, want, page(small, p), "search %d, after %d", i, after)
				_, steps := calls.reset()
				slicedCalls += len(steps)
			}
		}
		require.Greater(t, slicedCalls, 100, "the searches ran in slices")
	})
}

// TestSearchWorstCaseInBoundedCalls: a search of ten filters tested on every record, sorted by a
// property without an index, runs in slices of at most the work of one call, on every backend;
// in one call only when its work fits in one.
func TestSearchWorstCaseInBoundedCalls(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		seedSearchContacts(t, b, 120)
		calls := &searchCalls{}
		b.rdb.AddHook(redistest.EachCommand(calls.hook))
		worst := crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{
			sf("email", crm.OpContainsToken, "*e*a*p*e*m"), sf("phone", crm.OpContainsToken, "*1*5*5*"),
			sf("company", crm.OpNEQ, "nobody"), sf("website", crm.OpNotHasProperty, ""),
			sf("additional_emails", crm.OpNotHasProperty, ""), sfIn("city", crm.OpNotIn, "x1", "x2", "x3"),
			sfIn("country", crm.OpNotIn, "y1", "y2"), sf("lastname", crm.OpHasProperty, ""),
			sf("email", crm.OpContainsToken, "*o*.com"), sfIn("lifecyclestage", crm.OpIn, "subscriber", "lead", "customer", "opportunity"),
		}}, Sorts: []crm.SearchSort{{PropertyName: "company", Descending: true}}, Limit: 5}
		const work = 200
		st, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, SearchCallWork: work})
		require.NoError(t, err)
		calls.reset()
		res, err := st.Search(b.ctx, b.tenant, crm.Contacts, worst)
		require.NoError(t, err)
		require.Equal(t, 120, res.Total)
		starts, steps := calls.reset()
		require.Equal(t, 1, starts)
		// Ten filters, four of them with wildcards, and a sort by a record's value: more than 20
		// units a record, so at most 10 records a call, and 12 calls or more for 120 records.
		require.GreaterOrEqual(t, len(steps), 12)
		for _, s := range steps {
			require.LessOrEqual(t, s["n"], float64(work/20), "step %v", s)
		}

		big, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, SearchCallWork: 1 << 30})
		require.NoError(t, err)
		all, err := big.Search(b.ctx, b.tenant, crm.Contacts, worst)
		require.NoError(t, err)
		require.Equal(t, res, all)
		starts, steps = calls.reset()
		require.Equal(t, 1, starts)
		require.Empty(t, steps)
	})
}

// TestSearchTooBroadInSlices: the budget refuses a search before any slice, and a walk of a large
// value by id in calls of one id each finds the pages a walk in one call finds and is refused at
// the same page, on every backend.
func TestSearchTooBroadInSlices(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *testBundle) {
		seedSearchContacts(t, b, 40)
		calls := &searchCalls{}
		b.rdb.AddHook(redistest.EachCommand(calls.hook))
		newStore := func(budget, work int) *redisstore.Store {
			st, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, SearchWorkBudget: budget, SearchCallWork: work})
			require.NoError(t, err)
			return st
		}
		tooBroad := func(err error) *crm.ValidationError {
			t.Helper()
			var ve *crm.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, "SEARCH_TOO_BROAD", ve.Code)
			return ve
		}

		calls.reset()
		_, err := newStore(39, 1).Search(b.ctx, b.tenant, crm.Contacts, crm.SearchParams{Sorts: []crm.SearchSort{{PropertyName: "company"}}})
		ve := tooBroad(err)
		// Without its sort by a property of no index, the search would read only its page.
		require.Equal(t, "sorts[0]", ve.Field)
		require.Contains(t, ve.Message, "read 40 contacts to order them by company")
		require.Contains(t, ve.Message, "leave sorts out")
		starts, steps := calls.reset()
		require.Equal(t, 1, starts)
		require.Empty(t, steps)

		// Ten leads (every fourth contact from 1), more than a budget of 9 live ids: the walk
		// reaches three of them from the first (1, 5, 9) and two from the last (37, 33), the
		// sliced one reading a live id a call.
		for _, tc := range []struct {
			desc      bool
			reachable int
			skipped   int // the live ids read before the first lead
		}{{false, 3, 0}, {true, 2, 3}} {
			p := crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{sf("lifecyclestage", crm.OpEQ, "lead")}}, Limit: 1,
				Sorts: []crm.SearchSort{{PropertyName: "hs_object_id", Descending: tc.desc}}}
			whole, sliced := newStore(9, 1<<30), newStore(9, 2)
			for after := 0; after < tc.reachable; after++ {
				p.After = after
				want, err := whole.Search(b.ctx, b.tenant, crm.Contacts, p)
				require.NoError(t, err)
				calls.reset()
				got, err := sliced.Search(b.ctx, b.tenant, crm.Contacts, p)
				require.NoError(t, err)
				require.Equal(t, want, got, "descending %v, after %d", tc.desc, after)
				_, steps := calls.reset()
				require.Len(t, steps, tc.skipped+4*after, "descending %v, after %d: a call per live id read after the first", tc.desc, after)
			}
			p.After = tc.reachable
			_, err := whole.Search(b.ctx, b.tenant, crm.Contacts, p)
			tooBroad(err)
			_, err = sliced.Search(b.ctx, b.tenant, crm.Contacts, p)
			require.Contains(t, tooBroad(err).Message, "a page less deep")
		}
	})
}
