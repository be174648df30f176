package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

const (
	// loadDuration is how long the load test sends requests.
	loadDuration = 30 * time.Second
	// loadRate is the load test's request rate, in requests per second, whatever the answers' pace.
	loadRate = 200
	// loadMaxInFlight bounds the requests the load test has in flight; a request due while that
	// many are unanswered is not sent, and counted as dropped.
	loadMaxInFlight = 400
	// loadLeads is the number of seeded leads that the bulk delete job moves to the bin.
	loadLeads = 20_000
	// loadSubscribers is the number of seeded subscribers that the workflow's backfill enrolls.
	loadSubscribers = 5_000
	// loadBatch is the number of records of a batch create, a batch update and a batch read.
	loadBatch = 5
	// loadFlowName is the workflow activated with enroll-existing during the load.
	loadFlowName = "open-subscribers"
)

// loadFlow is the workflow activated during the load: it enrolls the seeded subscribers, never a
// record of the load (all customers), and marks each enrolled subscriber open. It listens to
// updates only, so that the change marks of the seed (creates) enroll nobody when a drain meets
// them after the activation: the backfill alone enrolls the subscribers.
const loadFlow = `name: ` + loadFlowName + `
object_type: contacts
trigger: lifecyclestage == "subscriber"
events: [updated]
enroll_existing: true
actions:
  - type: set_property
    property: hs_lead_status
    value: open
`

// loadOps is the mix of the load, one operation per request in turn. There are more deletes than
// restores, so that the bin holds records of the load at the end.
var loadOps = []string{
	"create", "update", "read", "batch_create", "update", "read", "delete", "batch_update", "delete", "restore",
	"create", "update", "read", "status", "batch_read", "update", "read", "delete", "list", "restore",
}

// loadRecord is a contact created by the load, as the load's acknowledged requests left it. A
// record is held by one request at a time, so the requests on it are ordered, and so are the
// states they leave.
type loadRecord struct {
	id        string
	firstname string
	lastname  string // unique: it matches a batch create's results to its inputs
	live      bool
	// uncertain is set when a request on the record got no clear answer: its state is unknown.
	uncertain bool
}

// loadGen is an open-loop generator of requests on records of its own, with the model of what
// the acknowledged requests did.
type loadGen struct {
	base, token string
	client      *http.Client
	seq         atomic.Int64

	mu        sync.Mutex
	rng       *rand.Rand
	live      []*loadRecord // live records that no request holds
	binned    []*loadRecord // records in the bin that no request holds
	all       []*loadRecord
	latencies []time.Duration
	ops       map[string]int
	statuses  map[int]int
	transport int      // requests without an answer
	failures  int      // answers other than the one expected, or reads that differ from the model
	samples   []string // the first failures, to show
	jobID     string   // the bulk delete job, once accepted
	seen      map[string]bool
}

func newLoadGen(base, token string) *loadGen {
	return &loadGen{
		base:  base,
		token: token,
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			MaxIdleConns: loadMaxInFlight, MaxIdleConnsPerHost: loadMaxInFlight, IdleConnTimeout: time.Minute}},
		rng:      rand.New(rand.NewPCG(1, 2)),
		ops:      map[string]int{},
		statuses: map[int]int{},
		seen:     map[string]bool{},
	}
}

// fail records a failure of the load.
func (g *loadGen) fail(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures++
	if len(g.samples) < 20 {
		g.samples = append(g.samples, fmt.Sprintf(format, args...))
	}
}

// note records something seen during the load ("job running", say).
func (g *loadGen) note(what string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen[what] = true
}

// do sends one request and returns its status and body; ok is false when there was no answer.
// timed requests count in the load's latencies and statuses.
func (g *loadGen) do(method, path string, body any, timed bool) (status int, raw []byte, ok bool) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			panic(err) // the load's own bodies always encode
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, g.base+path, rd)
	if err != nil {
		panic(err) // the load's own paths always parse
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	began := time.Now()
	res, err := g.client.Do(req)
	if err == nil {
		raw, err = io.ReadAll(res.Body)
		_ = res.Body.Close()
	}
	took := time.Since(began)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.transport++
		if len(g.samples) < 20 {
			g.samples = append(g.samples, fmt.Sprintf("%s %s: %v", method, path, err))
		}
		return 0, nil, false
	}
	if timed {
		g.latencies = append(g.latencies, took)
		g.statuses[res.StatusCode]++
	}
	return res.StatusCode, raw, true
}

// expect sends a request and reports whether it got status want; anything else is a failure.
func (g *loadGen) expect(want int, method, path string, body any) ([]byte, bool) {
	status, raw, ok := g.do(method, path, body, true)
	if !ok {
		return nil, false
	}
	if status != want {
		g.fail("%s %s: status %d, want %d: %s", method, path, status, want, raw)
		return nil, false
	}
	return raw, true
}

// take removes up to n records from the idle records, live or in the bin, and returns them.
func (g *loadGen) take(live bool, n int) []*loadRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	pool := &g.binned
	if live {
		pool = &g.live
	}
	var out []*loadRecord
	for len(out) < n && len(*pool) > 0 {
		i := g.rng.IntN(len(*pool))
		out = append(out, (*pool)[i])
		(*pool)[i] = (*pool)[len(*pool)-1]
		*pool = (*pool)[:len(*pool)-1]
	}
	return out
}

// put gives records back to the idle ones, by their state; an uncertain record is held for good.
func (g *loadGen) put(recs ...*loadRecord) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range recs {
		switch {
		case r.uncertain:
		case r.live:
			g.live = append(g.live, r)
		default:
			g.binned = append(g.binned, r)
		}
	}
}

// created adds acknowledged new records.
func (g *loadGen) created(recs ...*loadRecord) {
	g.mu.Lock()
	g.all = append(g.all, recs...)
	g.mu.Unlock()
	g.put(recs...)
}

type loadRecordJSON struct {
	ID         string            `json:"id"`
	Properties map[string]string `json:"properties"`
}

type loadBatchJSON struct {
	Results []loadRecordJSON `json:"results"`
}

// newRecords returns n new records, not yet created.
func (g *loadGen) newRecords(n int) []*loadRecord {
	out := make([]*loadRecord, n)
	for i := range out {
		s := strconv.FormatInt(g.seq.Add(1), 10)
		out[i] = &loadRecord{firstname: "F" + s, lastname: "L" + s, live: true}
	}
	return out
}

func (r *loadRecord) props() map[string]string {
	return map[string]string{"firstname": r.firstname, "lastname": r.lastname, "lifecyclestage": "customer"}
}

// check reports a record read back that differs from the model.
func (g *loadGen) check(op string, r *loadRecord, got loadRecordJSON) {
	if got.ID != r.id || got.Properties["firstname"] != r.firstname || got.Properties["lastname"] != r.lastname ||
		got.Properties["lifecyclestage"] != "customer" {
		g.fail("%s %s: read %s %v, want firstname %s lastname %s", op, r.id, got.ID, got.Properties, r.firstname, r.lastname)
	}
}

// run sends the i-th request of the load.
func (g *loadGen) run(i int) {
	op := loadOps[i%len(loadOps)]
	contacts := "/crm/v3/objects/contacts"
	// An operation on records falls back to a create when no record is free for it.
	var recs []*loadRecord
	switch op {
	case "update", "read", "delete":
		recs = g.take(true, 1)
	case "batch_update", "batch_read":
		recs = g.take(true, loadBatch)
	case "restore":
		recs = g.take(false, 1)
	}
	if len(recs) == 0 && op != "create" && op != "batch_create" && op != "status" && op != "list" {
		op = "create"
	}
	g.mu.Lock()
	g.ops[op]++
	g.mu.Unlock()

	switch op {
	case "create":
		r := g.newRecords(1)[0]
		raw, ok := g.expect(http.StatusCreated, http.MethodPost, contacts, map[string]any{"properties": r.props()})
		if !ok {
			return // not acknowledged: never in the model
		}
		var got loadRecordJSON
		if err := json.Unmarshal(raw, &got); err != nil || got.ID == "" {
			g.fail("create: bad body %s", raw)
			return
		}
		r.id = got.ID
		g.check(op, r, got)
		g.created(r)

	case "batch_create":
		rs := g.newRecords(loadBatch)
		inputs := make([]any, len(rs))
		for i, r := range rs {
			inputs[i] = map[string]any{"properties": r.props()}
		}
		raw, ok := g.expect(http.StatusCreated, http.MethodPost, contacts+"/batch/create", map[string]any{"inputs": inputs})
		if !ok {
			return
		}
		var got loadBatchJSON
		if err := json.Unmarshal(raw, &got); err != nil || len(got.Results) != len(rs) {
			g.fail("batch create: %d results, want %d: %s", len(got.Results), len(rs), raw)
			return
		}
		byLast := map[string]loadRecordJSON{}
		for _, res := range got.Results {
			byLast[res.Properties["lastname"]] = res
		}
		for _, r := range rs {
			res, found := byLast[r.lastname]
			if !found || res.ID == "" {
				g.fail("batch create: no result for %s: %s", r.lastname, raw)
				return
			}
			r.id = res.ID
			g.check(op, r, res)
		}
		g.created(rs...)

	case "update":
		r := recs[0]
		first := "U" + strconv.FormatInt(g.seq.Add(1), 10)
		raw, ok := g.expect(http.StatusOK, http.MethodPatch, contacts+"/"+r.id, map[string]any{"properties": map[string]string{"firstname": first}})
		if ok {
			r.firstname = first
			var got loadRecordJSON
			_ = json.Unmarshal(raw, &got)
			g.check(op, r, got)
		} else {
			r.uncertain = true
		}
		g.put(r)

	case "batch_update":
		inputs := make([]any, len(recs))
		firsts := make([]string, len(recs))
		for i, r := range recs {
			firsts[i] = "B" + strconv.FormatInt(g.seq.Add(1), 10)
			inputs[i] = map[string]any{"id": r.id, "properties": map[string]string{"firstname": firsts[i]}}
		}
		raw, ok := g.expect(http.StatusOK, http.MethodPost, contacts+"/batch/update", map[string]any{"inputs": inputs})
		var got loadBatchJSON
		if ok {
			_ = json.Unmarshal(raw, &got)
		}
		byID := map[string]loadRecordJSON{}
		for _, res := range got.Results {
			byID[res.ID] = res
		}
		for i, r := range recs {
			if !ok {
				r.uncertain = true
				continue
			}
			r.firstname = firsts[i]
			g.check(op, r, byID[r.id])
		}
		g.put(recs...)

	case "read":
		r := recs[0]
		raw, ok := g.expect(http.StatusOK, http.MethodGet, contacts+"/"+r.id, nil)
		if ok {
			var got loadRecordJSON
			_ = json.Unmarshal(raw, &got)
			g.check(op, r, got)
		}
		g.put(r)

	case "batch_read":
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = r.id
		}
		raw, ok := g.expect(http.StatusOK, http.MethodPost, contacts+"/batch/read", map[string]any{"inputs": idInputs(ids)})
		if ok {
			var got loadBatchJSON
			_ = json.Unmarshal(raw, &got)
			byID := map[string]loadRecordJSON{}
			for _, res := range got.Results {
				byID[res.ID] = res
			}
			for _, r := range recs {
				g.check(op, r, byID[r.id])
			}
		}
		g.put(recs...)

	case "delete":
		r := recs[0]
		if _, ok := g.expect(http.StatusNoContent, http.MethodDelete, contacts+"/"+r.id, nil); ok {
			r.live = false
		} else {
			r.uncertain = true
		}
		g.put(r)

	case "restore":
		r := recs[0]
		raw, ok := g.expect(http.StatusOK, http.MethodPost, contacts+"/batch/restore", map[string]any{"inputs": idInputs([]string{r.id})})
		if ok {
			r.live = true
			var got loadBatchJSON
			_ = json.Unmarshal(raw, &got)
			if len(got.Results) != 1 {
				g.fail("restore %s: %d results: %s", r.id, len(got.Results), raw)
			} else {
				g.check(op, r, got.Results[0])
			}
		} else {
			r.uncertain = true
		}
		g.put(r)

	case "status":
		// The progress of the bulk job and of the backfill, as an operator would watch them.
		g.mu.Lock()
		job := g.jobID
		g.mu.Unlock()
		if job == "" {
			g.expect(http.StatusOK, http.MethodGet, "/automation/v4/flows/"+loadFlowName, nil)
			return
		}
		path := "/crm/v3/jobs/" + job
		if (i/len(loadOps))%2 == 1 {
			path = "/automation/v4/flows/" + loadFlowName
		}
		raw, ok := g.expect(http.StatusOK, http.MethodGet, path, nil)
		if !ok {
			return
		}
		var st struct {
			Status           string `json:"status"`
			BackfillProgress *struct {
				Status string `json:"status"`
			} `json:"backfillProgress"`
		}
		_ = json.Unmarshal(raw, &st)
		switch {
		case st.BackfillProgress != nil:
			g.note("backfill " + st.BackfillProgress.Status)
		case st.Status != "":
			g.note("job " + st.Status)
		}

	case "list":
		g.expect(http.StatusOK, http.MethodGet, contacts+"?limit=20", nil)
	}
}

// loadPercentile returns the p-th percentile of sorted durations.
func loadPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// TestLoad runs `crmflow serve` and `crmflow worker` on a Redis of their own and sends the API a
// steady loadRate requests per second for loadDuration (creates, batch creates, updates, reads,
// deletes and restores of records of the load's own), while a bulk delete job of loadLeads
// records and the enroll-existing backfill of an activated workflow over loadSubscribers records
// run. No request is answered with a 5xx or goes unanswered; every read agrees with the writes
// acknowledged before it; at the end every acknowledged create, update, delete and restore is in
// the store, the counts of live and binned contacts add up exactly, the job has moved every lead
// to the bin, and the backfill is done and has enrolled every subscriber.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test of " + loadDuration.String() + ": not in -short")
	}
	t.Parallel()
	b := setupBackground(t)
	tenant, token := b.opsTenant(t)
	const ops = opsUser

	phase := time.Now()
	var phases []string
	lap := func(what string) {
		phases = append(phases, fmt.Sprintf("%s %s", what, time.Since(phase).Round(time.Millisecond)))
		phase = time.Now()
	}

	// The seed: leads for the bulk job, subscribers for the backfill.
	var subscribers []crm.RecordID
	for _, seed := range []struct {
		stage string
		n     int
	}{{"lead", loadLeads}, {"subscriber", loadSubscribers}} {
		for from := 0; from < seed.n; from += crm.MaxScriptBatch {
			in := make([]crm.RecordInput, min(crm.MaxScriptBatch, seed.n-from))
			for i := range in {
				in[i] = crm.RecordInput{Properties: map[string]string{"firstname": "S" + strconv.Itoa(from+i), "lifecyclestage": seed.stage}}
			}
			recs, err := b.store.CreateRecords(b.ctx, tenant, crm.Contacts, in, crm.Actor{User: ops, Via: crm.ViaAPI})
			require.NoError(t, err)
			if seed.stage == "subscriber" {
				for _, r := range recs {
					subscribers = append(subscribers, r.ID)
				}
			}
		}
	}

	lap("seed")
	// The load is one tenant's, and may have up to loadMaxInFlight requests in flight: above the
	// cap on one tenant's requests in flight, which would refuse some of them with 429.
	base := b.serveWithWorker(t, "--max-tenant-requests", strconv.Itoa(2*loadMaxInFlight))
	lap("start")
	g := newLoadGen(base, token)
	req, err := http.NewRequest(http.MethodPut, base+"/automation/v4/flows/"+loadFlowName, strings.NewReader(loadFlow))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/yaml")
	res, err := g.client.Do(req)
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode)

	// A second into the load, the bulk delete of every lead and the activation with enroll-existing.
	var control sync.WaitGroup
	var jobID string
	var controlErr []string
	control.Add(1)
	go func() {
		defer control.Done()
		time.Sleep(time.Second) // let the load reach its pace first
		code, raw, ok := g.do(http.MethodPost, "/crm/v3/objects/contacts/bulk-delete", map[string]any{
			"filter": `lifecyclestage == "lead"`, "confirmCount": loadLeads}, false)
		var acc struct {
			ID           string `json:"id"`
			Status       string `json:"status"`
			ConfirmCount int64  `json:"confirmCount"`
		}
		if !ok || code != http.StatusAccepted || json.Unmarshal(raw, &acc) != nil || acc.Status != "SELECTING" || acc.ConfirmCount != loadLeads {
			controlErr = append(controlErr, fmt.Sprintf("bulk delete: %d %s", code, raw))
		} else {
			jobID = acc.ID
			g.mu.Lock()
			g.jobID = acc.ID
			g.mu.Unlock()
		}
		code, raw, ok = g.do(http.MethodPost, "/automation/v4/flows/"+loadFlowName+"/activate", map[string]any{"enrollExisting": true}, false)
		var act struct {
			State    string `json:"state"`
			Backfill struct {
				Queued bool `json:"queued"`
			} `json:"backfill"`
		}
		if !ok || code != http.StatusOK || json.Unmarshal(raw, &act) != nil || act.State != "ACTIVE" || !act.Backfill.Queued {
			controlErr = append(controlErr, fmt.Sprintf("activate: %d %s", code, raw))
		}
	}()

	// The load: request i is due at start + i/loadRate, whether or not the earlier ones were answered.
	var wg sync.WaitGroup
	inFlight := make(chan struct{}, loadMaxInFlight)
	dropped := 0
	total := int(loadDuration.Seconds() * loadRate)
	began := time.Now()
	for i := range total {
		time.Sleep(time.Until(began.Add(time.Duration(i) * time.Second / loadRate))) // the open-loop schedule
		select {
		case inFlight <- struct{}{}:
		default:
			dropped++
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inFlight }()
			g.run(i)
		}()
	}
	sent := time.Since(began)
	wg.Wait()
	control.Wait()
	require.Empty(t, controlErr)
	lap("load")

	// The background work finishes: the job, the backfill, and the workflow's step on each subscriber.
	eventually(t, 2*time.Minute, "the bulk delete job is done", func() bool {
		j, err := b.store.Job(b.ctx, tenant, jobID)
		require.NoError(t, err)
		return j.State == crm.JobDone
	})
	lap("job")
	eventually(t, 2*time.Minute, "the backfill is done", func() bool {
		bf, ok, err := b.store.Backfill(b.ctx, tenant, loadFlowName)
		require.NoError(t, err)
		return ok && bf.State == "done"
	})
	lap("backfill")
	eventually(t, 2*time.Minute, "every subscriber is marked open by the workflow", func() bool {
		recs, err := b.store.Records(b.ctx, tenant, crm.Contacts, subscribers, &crm.ReadOpts{Properties: []string{"hs_lead_status"}})
		require.NoError(t, err)
		for _, r := range recs {
			if r.Properties["hs_lead_status"] != "open" {
				return false
			}
		}
		return len(recs) == len(subscribers)
	})
	lap("steps")

	// The report.
	slices.Sort(g.latencies)
	answered := len(g.latencies)
	t.Logf("load: %d requests due at %d/s over %s; %d sent (%d dropped: %d in flight), %d answered in %s: %.1f req/s",
		total, loadRate, loadDuration, total-dropped, dropped, loadMaxInFlight, answered, sent.Round(time.Millisecond),
		float64(answered)/sent.Seconds())
	t.Logf("latency: p50 %s, p90 %s, p99 %s, max %s", loadPercentile(g.latencies, 0.50), loadPercentile(g.latencies, 0.90),
		loadPercentile(g.latencies, 0.99), loadPercentile(g.latencies, 1))
	t.Logf("operations %v; statuses %v; seen during the load %v", g.ops, g.statuses, g.seen)
	t.Logf("phases: %s", strings.Join(phases, ", "))

	// No 5xx, no request unanswered, no answer or read other than expected.
	for status, n := range g.statuses {
		require.Less(t, status, 500, "%d answers %d", n, status)
	}
	require.Zero(t, g.transport, "requests without an answer: %v", g.samples)
	require.Zero(t, g.failures, "unexpected answers: %v", g.samples)
	require.Equal(t, total-dropped, answered)

	// Every acknowledged write is in the store: each record of the load is live or in the bin, as
	// the model says, with its last acknowledged values.
	var live, binned []*loadRecord
	ids := map[string]bool{}
	for _, r := range g.all {
		require.False(t, r.uncertain)
		require.False(t, ids[r.id], "record %s created twice", r.id)
		ids[r.id] = true
		if r.live {
			live = append(live, r)
		} else {
			binned = append(binned, r)
		}
	}
	for _, set := range []struct {
		recs     []*loadRecord
		archived bool
	}{{live, false}, {binned, true}} {
		for from := 0; from < len(set.recs); from += crm.MaxScriptBatch {
			chunk := set.recs[from:min(from+crm.MaxScriptBatch, len(set.recs))]
			want := map[crm.RecordID]*loadRecord{}
			rids := make([]crm.RecordID, len(chunk))
			for i, r := range chunk {
				rids[i] = crm.RecordID(r.id)
				want[rids[i]] = r
			}
			got, err := b.store.Records(b.ctx, tenant, crm.Contacts, rids, &crm.ReadOpts{Archived: set.archived})
			require.NoError(t, err)
			require.Len(t, got, len(chunk), "archived=%v", set.archived)
			for _, rec := range got {
				r := want[rec.ID]
				require.Equal(t, r.firstname, rec.Properties["firstname"], "record %s", rec.ID)
				require.Equal(t, r.lastname, rec.Properties["lastname"], "record %s", rec.ID)
				require.Equal(t, "customer", rec.Properties["lifecyclestage"], "record %s", rec.ID)
			}
			other, err := b.store.Records(b.ctx, tenant, crm.Contacts, rids, &crm.ReadOpts{Archived: !set.archived, Properties: []string{"-"}})
			require.NoError(t, err)
			require.Empty(t, other, "records both live and in the bin")
		}
	}

	// The counts add up: the subscribers and the live records of the load are live; every lead and
	// the deleted records of the load are in the bin; nothing else.
	nLive, err := b.store.CountRecords(b.ctx, tenant, crm.Contacts)
	require.NoError(t, err)
	require.Equal(t, int64(loadSubscribers+len(live)), nLive)
	nBin, err := b.store.BinSize(b.ctx, tenant, crm.Contacts)
	require.NoError(t, err)
	require.Equal(t, int64(loadLeads+len(binned)), nBin)

	j, err := b.store.Job(b.ctx, tenant, jobID)
	require.NoError(t, err)
	require.Equal(t, int64(loadLeads), j.Total)
	require.Equal(t, j.Total, j.Done, "every lead moved to the bin by the job")
	require.Zero(t, j.Skipped)
	bf, _, err := b.store.Backfill(b.ctx, tenant, loadFlowName)
	require.NoError(t, err)
	require.Equal(t, crm.BackfillDone, bf.State)
	require.Equal(t, int64(loadSubscribers), bf.Enrolled, "backfill enrolled every subscriber and nothing else")
	t.Logf("store: %d records of the load (%d live, %d in the bin); job %d/%d; backfill %d/%d looked at, %d enrolled",
		len(g.all), len(live), len(binned), j.Done, j.Total, bf.Done, bf.Total, bf.Enrolled)
}
