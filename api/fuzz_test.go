package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/redistest"
)

// Content-Types of the fuzzed requests.
const (
	fuzzJSON = "application/json"
	fuzzYAML = "application/yaml"
)

// fuzzRoute is one endpoint of FuzzAPI. Path has "{}" where the fuzzed path argument goes; an
// empty argument puts Default there, a value of the fixture that exists.
type fuzzRoute struct {
	Method, Path, Default, ContentType string
}

// fuzzRoutes are the endpoints FuzzAPI sends requests to: every endpoint that reads a body (0 to
// 18), the changes named by their path alone (19 to 23), a workflow sent as JSON (24, a 415), the
// reads whose path ids and query strings are worth fuzzing (25 to 36), and writes of the custom
// object type (37, 38). The route argument of a corpus entry is an index into this table, so new
// routes are appended, never inserted.
func fuzzRoutes(fx *fuzzFixture) []fuzzRoute {
	return []fuzzRoute{
		{"POST", "/crm/v3/objects/{}", "contacts", fuzzJSON},                                                 // 0
		{"PATCH", "/crm/v3/objects/contacts/{}", fx.ada, fuzzJSON},                                           // 1
		{"POST", "/crm/v3/objects/{}/batch/create", "contacts", fuzzJSON},                                    // 2
		{"POST", "/crm/v3/objects/{}/batch/read", "contacts", fuzzJSON},                                      // 3
		{"POST", "/crm/v3/objects/{}/batch/update", "contacts", fuzzJSON},                                    // 4
		{"POST", "/crm/v3/objects/{}/batch/archive", "contacts", fuzzJSON},                                   // 5
		{"POST", "/crm/v3/objects/{}/batch/restore", "contacts", fuzzJSON},                                   // 6
		{"POST", "/crm/v3/objects/{}/gdpr-delete", "contacts", fuzzJSON},                                     // 7
		{"POST", "/crm/v3/objects/{}/bulk-delete", "contacts", fuzzJSON},                                     // 8
		{"POST", "/crm/v3/lists/{}/records/delete", fx.list, fuzzJSON},                                       // 9
		{"POST", "/crm/v3/properties/{}", "pets", fuzzJSON},                                                  // 10
		{"POST", "/crm/v3/schemas", "", fuzzJSON},                                                            // 11
		{"POST", "/crm/v3/lists", "", fuzzJSON},                                                              // 12
		{"PUT", "/crm/v3/lists/{}/memberships/add", fx.list, fuzzJSON},                                       // 13
		{"PUT", "/crm/v3/lists/{}/memberships/remove", fx.list, fuzzJSON},                                    // 14
		{"PUT", "/automation/v4/flows/{}", "nurture-new-leads", fuzzYAML},                                    // 15
		{"POST", "/automation/v4/flows/{}/activate", "clean-bounced-contacts", fuzzJSON},                     // 16
		{"POST", "/automation/v4/flows/preview", "", fuzzYAML},                                               // 17
		{"POST", "/automation/v4/flows/{}/enrollments", "nurture-new-leads", fuzzJSON},                       // 18
		{"PUT", "/crm/v4/objects/contacts/" + fx.ada + "/associations/default/companies/{}", fx.acme, ""},    // 19
		{"DELETE", "/crm/v4/objects/contacts/" + fx.ada + "/associations/default/companies/{}", fx.acme, ""}, // 20
		{"DELETE", "/crm/v3/objects/contacts/{}", fx.bob, ""},                                                // 21
		{"DELETE", "/crm/v3/lists/{}", fx.list, ""},                                                          // 22
		{"POST", "/automation/v4/flows/{}/pause", "nurture-new-leads", ""},                                   // 23
		{"PUT", "/automation/v4/flows/{}", "clean-bounced-contacts", fuzzJSON},                               // 24
		{"GET", "/crm/v3/objects/{}", "contacts", ""},                                                        // 25
		{"GET", "/crm/v3/objects/contacts/{}", fx.ada, ""},                                                   // 26
		{"GET", "/crm/v3/lists/{}/memberships", fx.list, ""},                                                 // 27
		{"GET", "/crm/v3/audit", "", ""},                                                                     // 28
		{"GET", "/automation/v4/flows/{}/history", "nurture-new-leads", ""},                                  // 29
		{"GET", "/automation/v4/flows/{}/preview", "nurture-new-leads", ""},                                  // 30
		{"GET", "/automation/v4/flows/nurture-new-leads/revisions/{}", "1", ""},                              // 31
		{"GET", "/crm/v3/jobs/{}", fx.job, ""},                                                               // 32
		{"GET", "/crm/v4/objects/contacts/{}/associations/companies", fx.ada, ""},                            // 33
		{"GET", "/crm/v3/properties/{}/email", "contacts", ""},                                               // 34
		{"GET", "/crm/v3/schemas/{}", "pets", ""},                                                            // 35
		{"GET", "/automation/v4/flows/{}", "nurture-new-leads", ""},                                          // 36
		{"POST", "/crm/v3/objects/{}/batch/archive", "pets", fuzzJSON},                                       // 37
		{"POST", "/crm/v3/objects/{}", "pets", fuzzJSON},                                                     // 38
	}
}

// fuzzUsers are the users a request can be sent as (the as argument, modulo their number): every
// permission, then one that may delete but not in bulk, restore, change schemas or workflows, then
// one that may only read.
var fuzzUsers = []struct{ email, perms string }{
	{"all@a.example", "all"},
	{"rwd@a.example", "read,write,delete"},
	{"read@a.example", "read"},
}

// fuzzFixture is the data every request of FuzzAPI starts from, in a redis-server of its own:
// tenant A (whose users send the requests) with contacts live and in the bin, a company associated
// with a contact, a static list, a custom object type, a stored and an active workflow and a
// pending bulk job; and tenant B, which no request of tenant A may change.
type fuzzFixture struct {
	rdb    *redis.Client
	srv    *api.Server
	tokens []string
	// saved is every key of the fixture as DUMP serialized it, to restore database 0 from after a
	// request changed it.
	saved []fuzzSavedKey
	// Ids of tenant A's fixture records, list and job.
	ada, bob, cy, dan, acme, rex, list, job string
	// Id of a contact of tenant B that tenant A does not have.
	other string
}

// fuzzSavedKey is one key of the fixture: its DUMP payload and its absolute expiry in unix
// milliseconds (PEXPIRETIME: -1 for none).
type fuzzSavedKey struct {
	key, payload string
	expireAt     int64
}

const (
	fuzzTenantA crm.TenantID = "fuzz-a"
	fuzzTenantB crm.TenantID = "fuzz-b"
)

// newFuzzFixture starts a redis-server for the fuzz target alone, builds the fixture in it and
// keeps a copy of it. FuzzAPI calls it once as it sets up, so every process that runs the target
// (the test binary; under -fuzz the coordinator, which needs the fixture's ids for the seeds, and
// each worker) has a redis-server of its own, and workers never share one. The server is killed
// when tb's cleanup runs, or by its parent-death watchdog (see redistest.StartServer) if the
// process dies first.
func newFuzzFixture(tb testing.TB) *fuzzFixture {
	tb.Helper()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	rs, err := redistest.StartServer(tb.TempDir())
	must(err)
	tb.Cleanup(func() { _ = rs.Kill() })
	opt, err := redis.ParseURL(rs.URL)
	must(err)
	rdb := redis.NewClient(opt)
	tb.Cleanup(func() { _ = rdb.Close() })
	clk := clock.NewSim(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	must(err)
	ctx := context.Background()
	fx := &fuzzFixture{rdb: rdb}

	for _, tn := range []crm.TenantID{fuzzTenantA, fuzzTenantB} {
		_, err := st.CreateTenant(ctx, tn, crm.PlanProfessional)
		must(err)
	}
	for _, u := range fuzzUsers {
		perms, err := crm.ParsePermissions(u.perms)
		must(err)
		_, err = st.CreateUser(ctx, fuzzTenantA, u.email, perms, "test")
		must(err)
		tok, err := st.CreateToken(ctx, fuzzTenantA, u.email, nil)
		must(err)
		fx.tokens = append(fx.tokens, tok)
	}
	by := crm.Actor{User: fuzzUsers[0].email}
	create := func(tn crm.TenantID, o crm.ObjectType, props map[string]string) string {
		tb.Helper()
		recs, err := st.CreateRecords(ctx, tn, o, []crm.RecordInput{{Properties: props}}, by)
		must(err)
		return string(recs[0].ID)
	}
	_, err = st.CreateObjectType(ctx, fuzzTenantA, crm.ObjectTypeDef{Name: "pets", Label: "Pet", Properties: []crm.Property{
		{Name: "name", Label: "Name", Type: crm.TypeString},
		{Name: "age", Label: "Age", Type: crm.TypeNumber},
		{Name: "vaccinated", Label: "Vaccinated", Type: crm.TypeBool},
		{Name: "born", Label: "Born", Type: crm.TypeDatetime},
		{Name: "species", Label: "Species", Type: crm.TypeEnumeration, Options: []string{"cat", "dog"}},
	}}, "ops@x.example")
	must(err)
	_, err = st.CreateProperty(ctx, fuzzTenantA, crm.Contacts, crm.Property{Name: "score", Label: "Score", Type: crm.TypeNumber}, "ops@x.example")
	must(err)
	fx.ada = create(fuzzTenantA, crm.Contacts, map[string]string{"email": "ada@example.com", "firstname": "Ada",
		"lifecyclestage": "lead", "last_activity_date": "2024-01-15T09:00:00Z", "score": "7"})
	fx.bob = create(fuzzTenantA, crm.Contacts, map[string]string{"email": "bob@example.com", "lifecyclestage": "customer",
		"email_bounced": "true"})
	fx.cy = create(fuzzTenantA, crm.Contacts, map[string]string{"email": "cy@example.com", "email_bounced": "true"})
	_, err = st.ArchiveRecords(ctx, fuzzTenantA, crm.Contacts, []crm.RecordID{crm.RecordID(fx.cy)}, by)
	must(err)
	fx.dan = create(fuzzTenantA, crm.Contacts, map[string]string{"firstname": "Dan", "lifecyclestage": "subscriber"})
	fx.acme = create(fuzzTenantA, crm.Companies, map[string]string{"name": "Acme", "domain": "acme.example"})
	fx.rex = create(fuzzTenantA, "pets", map[string]string{"name": "Rex", "species": "dog", "age": "3"})
	must(st.Associate(ctx, fuzzTenantA, crm.AssociationRef{Type: crm.Contacts, ID: crm.RecordID(fx.ada)},
		crm.AssociationRef{Type: crm.Companies, ID: crm.RecordID(fx.acme)}))
	l, err := st.CreateList(ctx, fuzzTenantA, "VIPs", crm.Contacts)
	must(err)
	fx.list = string(l.ID)
	_, _, err = st.AddListMembers(ctx, fuzzTenantA, l.ID, []crm.RecordID{crm.RecordID(fx.ada), crm.RecordID(fx.bob)})
	must(err)
	for _, name := range []string{"nurture-new-leads", "clean-bounced-contacts"} {
		src, err := os.ReadFile("../examples/workflows/" + name + ".yaml")
		must(err)
		_, _, err = st.PutFlow(ctx, fuzzTenantA, name, crm.Contacts, string(src), fuzzUsers[0].email)
		must(err)
	}
	_, err = st.ActivateFlow(ctx, fuzzTenantA, "nurture-new-leads", crm.ActivateFlowParams{By: fuzzUsers[0].email})
	must(err)
	job, err := st.CreateDeleteJob(ctx, fuzzTenantA, crm.DeleteJobParams{ObjectType: crm.Contacts,
		IDs: []crm.RecordID{crm.RecordID(fx.bob)}, ConfirmCount: 1, By: fuzzUsers[0].email, Selection: "1 ids"})
	must(err)
	fx.job = job.ID
	// Tenant B has more contacts than tenant A, so that the id of its last one is not one of A's;
	// its first has the email of a contact of A.
	for i := range 5 {
		email := fmt.Sprintf("b%d@example.com", i)
		if i == 0 {
			email = "ada@example.com"
		}
		fx.other = create(fuzzTenantB, crm.Contacts, map[string]string{"email": email, "lifecyclestage": "lead"})
	}

	fx.srv, err = api.New(st, &api.Config{
		Clock:        clk,
		Logger:       slog.New(slog.DiscardHandler),
		MaxBodyBytes: 16 << 10, // small, so that the fuzzer reaches the 413
		Tasks:        fuzzTasks{},
	})
	must(err)
	fx.save(tb)
	return fx
}

// save keeps every key of database 0, as the fixture to restore.
func (fx *fuzzFixture) save(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	keys, err := fx.rdb.Keys(ctx, "*").Result()
	if err != nil {
		tb.Fatalf("fixture keys: %v", err)
	}
	slices.Sort(keys)
	pipe := fx.rdb.Pipeline()
	dumps := make([]*redis.StringCmd, len(keys))
	expiries := make([]*redis.Cmd, len(keys))
	for i, k := range keys {
		dumps[i] = pipe.Dump(ctx, k)
		expiries[i] = pipe.Do(ctx, "PEXPIRETIME", k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		tb.Fatalf("dump the fixture: %v", err)
	}
	fx.saved = make([]fuzzSavedKey, len(keys))
	for i, k := range keys {
		exp, err := expiries[i].Int64()
		if err != nil {
			tb.Fatalf("expiry of %s: %v", k, err)
		}
		fx.saved[i] = fuzzSavedKey{key: k, payload: dumps[i].Val(), expireAt: exp}
	}
}

// reset restores database 0 to the fixture, in one transaction: it empties the database and
// restores every key of the fixture from its DUMP payload, with its expiry.
func (fx *fuzzFixture) reset(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	_, err := fx.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.FlushDB(ctx)
		for _, s := range fx.saved {
			if s.expireAt > 0 {
				pipe.Do(ctx, "RESTORE", s.key, s.expireAt, s.payload, "ABSTTL")
			} else {
				pipe.Do(ctx, "RESTORE", s.key, 0, s.payload)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("restore the fixture: %v", err)
	}
}

// fuzzDumpScript reads every key of the database it runs in, whatever its type.
// No KEYS; no ARGV.
// Returns one array for each key: {key, type, PEXPIRETIME (-1 for none), elements}, where the
// elements are the value of a string, HGETALL of a hash (field, value, ...), LRANGE of a list,
// SMEMBERS of a set, ZRANGE WITHSCORES of a sorted set (member, score, ...), the last generated id
// of a stream followed by its entries (id, {field, value, ...}, ...), and the DUMP payload of any
// other type.
var fuzzDumpScript = redis.NewScript(`
local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  local t = redis.call('TYPE', k)['ok']
  local v
  if t == 'string' then v = {redis.call('GET', k)}
  elseif t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
  elseif t == 'set' then v = redis.call('SMEMBERS', k)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  elseif t == 'stream' then
    local info = redis.call('XINFO', 'STREAM', k)
    v = {''}
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then v = {info[i + 1]} end
    end
    for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do
      v[#v + 1] = e[1]
      v[#v + 1] = e[2]
    end
  else v = {redis.call('DUMP', k)} end
  out[#out + 1] = {k, t, redis.call('PEXPIRETIME', k), v}
end
return out
`)

// dump is every key of database 0 with its whole value, read in one script run: for each key in
// key order, a line "- <key>", then indented lines of its type, of its expiry when it has one,
// and of its value (a string; each field of a hash; each element of a list in order; each member
// of a set; each member and score of a sorted set in order; the last generated id of a stream,
// then each of its entries in order; the DUMP payload of another type).
// Strings are quoted; the fields of a hash and the members of a set are sorted, so that two equal
// values, however Redis encodes them, give the same lines.
func (fx *fuzzFixture) dump(tb testing.TB) string {
	tb.Helper()
	res, err := fuzzDumpScript.Run(context.Background(), fx.rdb, nil).Slice()
	if err != nil {
		tb.Fatalf("dump: %v", err)
	}
	type section struct{ key, text string }
	sections := make([]section, 0, len(res))
	for _, r := range res {
		e, ok := r.([]any)
		if !ok || len(e) != 4 {
			tb.Fatalf("dump: unexpected reply %#v", r)
		}
		key, _ := e[0].(string)
		typ, _ := e[1].(string)
		exp, _ := e[2].(int64)
		raw, _ := e[3].([]any)
		vals := make([]string, len(raw))
		for i, v := range raw {
			switch v := v.(type) {
			case string:
				vals[i] = strconv.Quote(v)
			case []any: // the fields and values of a stream entry
				fields := make([]string, len(v))
				for j, f := range v {
					fields[j] = strconv.Quote(fmt.Sprint(f))
				}
				vals[i] = strings.Join(fields, " ")
			default:
				tb.Fatalf("dump: %s: unexpected element %#v", key, v)
			}
		}
		var lines []string
		switch typ {
		case "stream":
			if len(vals)%2 != 1 {
				tb.Fatalf("dump: %s: unexpected stream reply", key)
			}
			lines = append(lines, "last id "+vals[0])
			for i := 1; i < len(vals); i += 2 {
				lines = append(lines, vals[i]+": "+vals[i+1])
			}
		case "hash", "zset":
			if len(vals)%2 != 0 {
				tb.Fatalf("dump: %s: odd number of elements", key)
			}
			for i := 0; i < len(vals); i += 2 {
				lines = append(lines, vals[i]+": "+vals[i+1])
			}
			if typ == "hash" {
				slices.Sort(lines)
			}
		case "set":
			lines = slices.Sorted(slices.Values(vals))
		default:
			lines = vals
		}
		var b strings.Builder
		quoted := strconv.Quote(key)
		fmt.Fprintf(&b, "- %s\n   type %s\n", quoted[1:len(quoted)-1], typ)
		if exp >= 0 {
			fmt.Fprintf(&b, "   expires at %d\n", exp)
		}
		for _, l := range lines {
			b.WriteString("   " + l + "\n")
		}
		sections = append(sections, section{key, b.String()})
	}
	slices.SortFunc(sections, func(a, b section) int { return strings.Compare(a.key, b.key) })
	var out strings.Builder
	for _, s := range sections {
		out.WriteString(s.text)
	}
	return out.String()
}

// tenantDump is the part of a dump about tenant tn's keys.
func tenantDump(dump string, tn crm.TenantID) string {
	var b strings.Builder
	in := false
	for line := range strings.Lines(dump) {
		if key, ok := strings.CutPrefix(line, "- "); ok {
			in = strings.HasPrefix(key, "crm:{"+string(tn)+"}:")
		}
		if in {
			b.WriteString(line)
		}
	}
	return b.String()
}

// withoutCounters is dump without the record id counters (crm:{<tenant>}:seq:<type>). The store
// draws the ids of new records before the script that may refuse them runs (so that a retried
// create is recognised), and a refused create (a duplicate email) leaves a gap in the ids; nothing
// else of it remains. The job counter is drawn by the script that seals a job, and stays.
func withoutCounters(dump string) string {
	var b strings.Builder
	in := false
	for line := range strings.Lines(dump) {
		if key, ok := strings.CutPrefix(line, "- "); ok {
			in = strings.HasPrefix(key, "crm:{") && strings.Contains(key, "}:seq:") && !strings.Contains(key, "}:seq:jobs")
		}
		if !in {
			b.WriteString(line)
		}
	}
	return b.String()
}

// dumpSections splits a dump into the lines of each key, by key.
func dumpSections(dump string) map[string]string {
	out := map[string]string{}
	key := ""
	for line := range strings.Lines(dump) {
		if k, ok := strings.CutPrefix(line, "- "); ok {
			key = strings.TrimSuffix(k, "\n")
		}
		out[key] += line
	}
	return out
}

// dumpDiff describes how dump after differs from dump before: the keys added, removed or changed.
func dumpDiff(before, after string) string {
	b, a := dumpSections(before), dumpSections(after)
	var out strings.Builder
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if b[k] != a[k] {
			fmt.Fprintf(&out, "before:\n%safter:\n%s", b[k], a[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[k]; !ok {
			fmt.Fprintf(&out, "removed:\n%s", b[k])
		}
	}
	return out.String()
}

// fuzzTasks is a Config.Tasks that accepts everything and keeps nothing.
type fuzzTasks struct{}

func (fuzzTasks) EnqueueWorkflowBackfill(context.Context, crm.TenantID, string, int64) error {
	return nil
}

func (fuzzTasks) EnqueueWorkflowResume(context.Context, crm.TenantID, string, time.Time) error {
	return nil
}

func (fuzzTasks) EnqueueWorkflowSteps(context.Context, crm.TenantID, string, int64, []crm.RecordID) error {
	return nil
}

func (fuzzTasks) EnqueueDeleteJob(context.Context, crm.TenantID, string) error { return nil }

func (fuzzTasks) EnqueueMail(context.Context, crm.TenantID, crm.Mail) error { return nil }

func (fuzzTasks) EnqueueChangesDrain(context.Context, crm.TenantID, time.Time) error { return nil }

// fuzzCategories are the error categories each status may have.
var fuzzCategories = map[int][]string{
	http.StatusBadRequest:            {"VALIDATION_ERROR"},
	http.StatusUnauthorized:          {"INVALID_AUTHENTICATION"},
	http.StatusForbidden:             {"MISSING_SCOPES", "PLAN_NOT_ALLOWED"},
	http.StatusNotFound:              {"OBJECT_NOT_FOUND"},
	http.StatusMethodNotAllowed:      {"METHOD_NOT_ALLOWED"},
	http.StatusConflict:              {"CONFLICT"},
	http.StatusRequestEntityTooLarge: {"REQUEST_TOO_LARGE"},
	http.StatusUnsupportedMediaType:  {"UNSUPPORTED_MEDIA_TYPE"},
}

// fuzzSeeds are bodies for routes of fuzzRoutes, by index: a valid one first, then ways to be
// wrong. Every route that reads a body also gets the bodies of fuzzBadBodies.
func fuzzSeeds(tb testing.TB, fx *fuzzFixture) map[int][]string {
	tb.Helper()
	nurture, err := os.ReadFile("../examples/workflows/nurture-new-leads.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	bounced, err := os.ReadFile("../examples/workflows/clean-bounced-contacts.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return map[int][]string{
		0: {`{"properties":{"email":"eve@example.com","firstname":"Eve","num_notes":3,"email_bounced":false,"lifecyclestage":null}}`,
			`{"properties":{"email":"ada@example.com"}}`,
			`{"properties":{"email":"not an email","num_notes":"x","last_activity_date":"yesterday","lifecyclestage":"boss"}}`,
			`{"properties":{"favourite":"x"}}`,
			`{"properties":{"firstname":{"a":1}}}`,
			`{"properties":{"firstname":[1]}}`,
			`{"properties":[]}`,
			`{"properties":{"num_notes":1e999}}`,
			`{"properties":{"firstname":"\ud800"}}`},
		1: {`{"properties":{"firstname":"Ada L.","score":8.5,"email_opt_out":true}}`,
			`{"properties":{"email":"bob@example.com"}}`,
			`{"properties":{"email":null}}`,
			`{"properties":{"score":"-"}}`},
		2: {`{"inputs":[{"properties":{"email":"f@example.com"}},{"properties":{"email":"g@example.com"}}]}`,
			`{"inputs":[{"properties":{"email":"h@example.com"}},{"properties":{"email":"h@example.com"}}]}`,
			`{"inputs":[]}`,
			`{"inputs":[{"properties":{"email":"f@example.com"}},{"properties":{"num_notes":"x"}}]}`,
			`{"inputs":null}`,
			`{"inputs":[null]}`},
		3: {`{"inputs":[{"id":"` + fx.ada + `"},{"id":` + fx.bob + `},{"id":"999"},{"id":"x"}],"properties":["email","score"]}`,
			`{"inputs":[{"id":"` + fx.cy + `"}],"properties":["email,firstname"," "]}`,
			`{"inputs":[{"id":"` + fx.other + `"}]}`,
			`{"inputs":[{"id":true}]}`,
			`{"inputs":[{"id":1.5e300}]}`,
			`{"inputs":[{"id":"` + fx.ada + `"}],"propertiesWithHistory":["email"]}`},
		4: {`{"inputs":[{"id":"` + fx.ada + `","properties":{"firstname":"A"}},{"id":` + fx.bob + `,"properties":{"score":1}}]}`,
			`{"inputs":[{"id":"` + fx.cy + `","properties":{"firstname":"C"}}]}`,
			`{"inputs":[{"id":"` + fx.ada + `","properties":{"email":"bob@example.com"}}]}`,
			`{"inputs":[{"id":"-1","properties":{}}]}`,
			`{"inputs":[{"properties":{"firstname":"A"}}]}`},
		5: {`{"inputs":[{"id":"` + fx.bob + `"}]}`,
			`{"inputs":[{"id":"` + fx.ada + `"},{"id":"` + fx.bob + `"}]}`,
			`{"inputs":[{"id":"` + fx.bob + `"},{"id":"` + fx.bob + `"}]}`,
			`{"inputs":[{"id":"` + fx.other + `"},{"id":"x"},{"id":"00"}]}`},
		6: {`{"inputs":[{"id":"` + fx.cy + `"}]}`,
			`{"inputs":[{"id":"` + fx.cy + `"},{"id":"` + fx.ada + `"},{"id":"x"}]}`,
			`{"inputs":[{"id":{}}]}`},
		7: {`{"objectId":"` + fx.ada + `"}`,
			`{"objectId":"bob@example.com","idProperty":"email"}`,
			`{"objectId":"nobody@example.com","idProperty":"email"}`,
			`{"objectId":` + fx.cy + `,"idProperty":"hs_object_id"}`,
			`{"objectId":"ada@example.com"}`,
			`{"objectId":"x","idProperty":"email"}`,
			`{"objectId":"  "}`,
			`{"objectId":"1","idProperty":"phone"}`},
		8: {`{"ids":["` + fx.ada + `","` + fx.bob + `"],"confirmCount":2}`,
			`{"filter":"lifecyclestage == \"lead\"","confirmCount":1}`,
			`{"filter":"email_bounced","confirmCount":5}`,
			`{"filter":"num_notes ==","confirmCount":1}`,
			`{"filter":"","confirmCount":0}`,
			`{"listId":"` + fx.list + `","confirmCount":2}`,
			`{"listId":` + fx.list + `,"confirmCount":1}`,
			`{"listId":"999","confirmCount":0}`,
			`{"ids":[],"confirmCount":0}`,
			`{"ids":["1"],"filter":"true","confirmCount":1}`,
			`{"ids":["1"],"confirmCount":-1}`,
			`{"ids":["1"],"confirmCount":1.5}`,
			`{"ids":["1"]}`},
		9: {`{"confirmCount":2}`, `{"confirmCount":3}`, `{"confirmCount":"2"}`, `{}`},
		10: {`{"name":"color","label":"Color","type":"enumeration","options":["red",{"label":"Blue","value":"blue"}]}`,
			`{"name":"weight","label":"Weight","type":"number"}`,
			`{"name":"name","label":"Name","type":"string"}`,
			`{"name":"Bad Name","type":"text","options":["x"]}`,
			`{"name":"c","type":"enumeration","options":[{"label":"x","value":"x","extra":1}]}`,
			`{"name":"c","type":"enumeration","options":[1]}`,
			`{"name":"c","type":"enumeration"}`},
		11: {`{"name":"cars","labels":{"singular":"Car","plural":"Cars"},"properties":[{"name":"plate","label":"Plate","type":"string"}]}`,
			`{"name":"pets","label":"Pet"}`,
			`{"name":"contacts"}`,
			`{"name":"boats","properties":[{"name":"a","type":"string"},{"name":"a","type":"number"}]}`,
			`{"name":"x y"}`},
		12: {`{"name":"Leads","objectType":"contacts"}`,
			`{"name":"Firms","objectType":"0-2"}`,
			`{"name":"Pets","objectType":"pets"}`,
			`{"name":"","objectType":"nothing"}`},
		13: {`["` + fx.dan + `"]`, `["` + fx.dan + `",` + fx.ada + `,"999","` + fx.cy + `","` + fx.other + `","00"]`,
			`["x"]`, `["18446744073709551616"]`, `[]`, `{}`, `[null]`},
		14: {`["` + fx.bob + `","999"]`, `[]`, `"1"`},
		15: {string(nurture),
			strings.Replace(string(nurture), "lifecyclestage == \"lead\"", "lifecyclestage == 1", 1),
			strings.Replace(string(nurture), "name: nurture-new-leads", "name: other", 1),
			"name: nurture-new-leads\nobject_type: contacts\ntrigger: email_bounced\nsuppression:\n  lists: [" + fx.list + ", 999]\nactions:\n  - type: delete_contact\n",
			"name: [\n", ""},
		16: {`{"enrollExisting":true}`, `{"enrollExisting":false}`, ``, `{"enrollExisting":"yes"}`},
		17: {string(bounced), "name: x\nobject_type: pets\ntrigger: species == \"dog\"\nactions:\n  - type: delete_contact\n",
			"name: x\nobject_type: contacts\ntrigger: daysSince(last_activity_date) > 1\nsuppression:\n  lists: [" + fx.list + "]\nactions:\n  - type: delay\n    duration: 1d\n"},
		18: {`{"recordId":"` + fx.ada + `"}`, `{"recordId":` + fx.bob + `}`, `{"recordId":"` + fx.cy + `"}`, `{"recordId":null}`, `{}`},
		24: {string(bounced)},
		37: {`{"inputs":[{"id":"` + fx.rex + `"}]}`, `{"inputs":[{"id":"` + fx.rex + `"},{"id":"` + fx.ada + `"}]}`},
		38: {`{"properties":{"name":"Tom","species":"cat","age":2,"vaccinated":true,"born":"2020-01-01"}}`,
			`{"properties":{"species":"bird","age":"old","vaccinated":"maybe","born":"soon"}}`},
	}
}

// fuzzBadBodies are ways for any body to be wrong.
var fuzzBadBodies = []string{
	``, ` `, `null`, `{`, `{}`, `[]`, `"x"`, `0`, `{} {}`, `{}x`, `{"unknown":1}`,
	`{"inputs":1}`, `{"properties":{"email":"a@example.com"}` + strings.Repeat(" ", 17<<10) + `}`,
	strings.Repeat("[", 10000),
}

// FuzzAPI sends fuzzed requests to every endpoint that reads a body, and to those whose path ids
// and query strings are worth fuzzing, through the real server over a store, as each of three
// users of tenant A. The arguments are the route (an index into fuzzRoutes), the user (an index
// into fuzzUsers), the path argument (empty for the fixture's own value), the raw query string and
// the body. Whatever they are:
//
//   - the server answers, never panics, and never with a 5xx;
//   - every answer has an X-Correlation-Id; a 204 has no body; a 3xx is only the mux's redirect of
//     a path to clean, with a Location; every other answer is JSON with a JSON Content-Type;
//   - every 4xx has the error body (status "error", a message, a category that fits the status,
//     the correlationId of the header, and errors with a message and a code each), and changes
//     nothing in Redis but the id counters (see withoutCounters);
//   - a GET changes nothing, whatever its status, and no request of tenant A changes tenant B.
//
// Every request starts from the same fixture (see newFuzzFixture), in a redis-server of the fuzz
// target's own: after a request that changed something, Redis is restored. The seed corpus
// (testdata/fuzz/FuzzAPI) holds requests at the edges of the JSON and YAML decoding, the ids and
// the query parameters; valid and invalid bodies of every route are added here so that they follow
// the fixture.
func FuzzAPI(f *testing.F) {
	fx := newFuzzFixture(f)
	routes := fuzzRoutes(fx)
	seeds := fuzzSeeds(f, fx)
	for i, rt := range routes {
		for _, body := range seeds[i] {
			f.Add(uint8(i), uint8(0), "", "", []byte(body))
		}
		if rt.ContentType != "" {
			for _, body := range fuzzBadBodies {
				f.Add(uint8(i), uint8(0), "", "", []byte(body))
			}
		}
		for as := range fuzzUsers {
			f.Add(uint8(i), uint8(as), "", "", []byte(fuzzFirst(seeds[i])))
		}
		if strings.Contains(rt.Path, "{}") {
			for _, arg := range []string{fx.other, "999999", "x", "-1", "0-1", "..", "%", "a/b", strings.Repeat("9", 20), strings.Repeat("9", 21)} {
				f.Add(uint8(i), uint8(0), arg, "", []byte(fuzzFirst(seeds[i])))
			}
		}
	}
	for _, q := range []string{"limit=1", "limit=101", "limit=x", "archived=true", "archived=maybe", "after=" + fx.ada,
		"after=zzz", "properties=email,score&properties=firstname", "recordId=" + fx.ada, "recordId=x", "limit=0&%zz", "a=%"} {
		for _, i := range []int{3, 17, 25, 26, 27, 28, 29, 30} {
			f.Add(uint8(i), uint8(0), "", q, []byte(fuzzFirst(seeds[i])))
		}
	}
	base := fx.dump(f)
	f.Fuzz(func(t *testing.T, route, as uint8, arg, query string, body []byte) {
		rt := routes[int(route)%len(routes)]
		seg := rt.Default
		if arg != "" {
			seg = url.PathEscape(arg)
		}
		req := httptest.NewRequest(rt.Method, "http://crm.test"+strings.Replace(rt.Path, "{}", seg, 1), bytes.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+fx.tokens[int(as)%len(fx.tokens)])
		if rt.ContentType != "" {
			req.Header.Set("Content-Type", rt.ContentType)
		}
		rec := httptest.NewRecorder()
		fx.srv.ServeHTTP(rec, req)
		after := fx.dump(t)
		defer func() {
			if after != base {
				fx.reset(t)
			}
		}()

		res := rec.Result()
		status, got := res.StatusCode, rec.Body.Bytes()
		id := res.Header.Get("X-Correlation-Id")
		if status >= 500 {
			t.Fatalf("%s %s answered %d: %s", req.Method, req.URL, status, got)
		}
		if _, err := uuid.Parse(id); err != nil {
			t.Fatalf("%s %s answered without a correlation id (%q)", req.Method, req.URL, id)
		}
		if tenantDump(after, fuzzTenantB) != tenantDump(base, fuzzTenantB) {
			t.Fatalf("%s %s (%d) changed tenant B", req.Method, req.URL, status)
		}
		if (status >= 400 || req.Method == http.MethodGet) && withoutCounters(after) != withoutCounters(base) {
			t.Fatalf("%s %s answered %d but changed Redis:\n%s", req.Method, req.URL, status, dumpDiff(base, after))
		}
		switch {
		case status == http.StatusNoContent:
			if len(got) != 0 {
				t.Fatalf("%s %s answered 204 with a body: %s", req.Method, req.URL, got)
			}
			return
		case status >= 300 && status < 400:
			if res.Header.Get("Location") == "" || withoutCounters(after) != withoutCounters(base) {
				t.Fatalf("%s %s answered %d without a Location, or changed Redis", req.Method, req.URL, status)
			}
			return
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Fatalf("%s %s answered %d with Content-Type %q: %s", req.Method, req.URL, status, ct, got)
		}
		if !json.Valid(got) {
			t.Fatalf("%s %s answered %d with a body that is not JSON: %s", req.Method, req.URL, status, got)
		}
		if status < 400 {
			return
		}
		checkFuzzError(t, req, status, id, got)
	})
}

// checkFuzzError checks that body is the error body of an answer of status with correlation id id.
func checkFuzzError(t *testing.T, req *http.Request, status int, id string, body []byte) {
	t.Helper()
	var e struct {
		Status        *string `json:"status"`
		Message       string  `json:"message"`
		Category      string  `json:"category"`
		CorrelationID string  `json:"correlationId"`
		Errors        []struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s %s answered %d with a body that is not the error body: %v: %s", req.Method, req.URL, status, err, body)
	}
	ok := e.Status != nil && *e.Status == "error" && e.Message != "" && e.CorrelationID == id && len(e.Errors) > 0
	for _, d := range e.Errors {
		ok = ok && d.Message != "" && d.Code != ""
	}
	if !ok {
		t.Fatalf("%s %s answered %d with an incomplete error body: %s", req.Method, req.URL, status, body)
	}
	cats, known := fuzzCategories[status]
	if !known {
		t.Fatalf("%s %s answered the unexpected status %d: %s", req.Method, req.URL, status, body)
	}
	for _, c := range cats {
		if c == e.Category {
			return
		}
	}
	t.Fatalf("%s %s answered %d with category %q, not one of %v: %s", req.Method, req.URL, status, e.Category, cats, body)
}

// fuzzFirst returns the first of ss, or "" when there is none.
func fuzzFirst(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[0]
}
