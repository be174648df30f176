package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/redistest"
)

// The fault tests run the binary's processes as a deployment does and break them while they work:
// worker processes killed with SIGKILL at random moments, a Redis with AOF persistence killed with
// SIGKILL and started again from its directory, two schedulers and three workers purging at once.
// Each asserts what SPEC S6, S14, S19 and S22 promise: nothing lost, nothing done twice, nothing
// done early. They are slow, so -short skips them.
//
// The random choices (when to kill, which worker) come from one seeded generator whose seed is
// logged; CRMFLOW_FAULT_SEED=<seed> replays them.

// faultTest marks a fault test: parallel, and skipped with -short.
func faultTest(t *testing.T) {
	t.Helper()
	t.Parallel()
	if testing.Short() {
		t.Skip("fault test: slow, skipped with -short")
	}
}

// faultRand returns the test's random generator, seeded from CRMFLOW_FAULT_SEED when set, and logs
// the seed.
func faultRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRMFLOW_FAULT_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "CRMFLOW_FAULT_SEED")
	}
	t.Logf("random seed %d (replay with CRMFLOW_FAULT_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// seedContacts creates n contacts of the bundle's tenant through s (the bundle's store, or one on a
// simulated clock), crm.MaxScriptBatch per call, with the properties props(i), and returns their
// ids in order.
func seedContacts(t *testing.T, b *bgBundle, s *redisstore.Store, n int, props func(i int) map[string]string) []crm.RecordID {
	t.Helper()
	ids := make([]crm.RecordID, 0, n)
	for from := 0; from < n; from += crm.MaxScriptBatch {
		in := make([]crm.RecordInput, min(crm.MaxScriptBatch, n-from))
		for i := range in {
			in[i] = crm.RecordInput{Properties: props(from + i)}
		}
		recs, err := s.CreateRecords(b.ctx, crm.TenantID(b.tenant), crm.Contacts, in, crm.Actor{User: "seed@example.com", Via: crm.ViaAPI})
		require.NoError(t, err)
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// archiveAll moves ids to the bin through s, crm.MaxScriptBatch per call: with a store on a
// simulated clock, as if deleted at that clock's time.
func archiveAll(t *testing.T, b *bgBundle, s *redisstore.Store, ids []crm.RecordID) {
	t.Helper()
	for from := 0; from < len(ids); from += crm.MaxScriptBatch {
		part := ids[from:min(from+crm.MaxScriptBatch, len(ids))]
		res, err := s.ArchiveRecords(b.ctx, crm.TenantID(b.tenant), crm.Contacts, part, crm.Actor{User: "seed@example.com", Via: crm.ViaAPI})
		require.NoError(t, err)
		require.Len(t, res.Archived, len(part))
	}
}

// storeAt returns a store on the bundle's Redis whose clock reads at: what it deletes has that
// deletion time.
func storeAt(t *testing.T, b *bgBundle, at time.Time) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: clock.NewSim(at)})
	require.NoError(t, err)
	return s
}

// liveAndBinned reads which of ids are live and which are in the bin, crm.MaxScriptBatch per read.
func liveAndBinned(t *testing.T, b *bgBundle, ids []crm.RecordID) (live, binned map[crm.RecordID]crm.Record) {
	t.Helper()
	live, binned = map[crm.RecordID]crm.Record{}, map[crm.RecordID]crm.Record{}
	tenant := crm.TenantID(b.tenant)
	for from := 0; from < len(ids); from += crm.MaxScriptBatch {
		part := ids[from:min(from+crm.MaxScriptBatch, len(ids))]
		recs, err := b.store.Records(b.ctx, tenant, crm.Contacts, part, nil)
		require.NoError(t, err)
		for _, r := range recs {
			live[r.ID] = r
		}
		recs, err = b.store.Records(b.ctx, tenant, crm.Contacts, part, &crm.ReadOpts{Archived: true})
		require.NoError(t, err)
		for _, r := range recs {
			binned[r.ID] = r
		}
	}
	return live, binned
}

// auditCounts reads the whole audit trail of the bundle's tenant and counts, per action and record,
// the entries that name it; check is called with each entry.
func auditCounts(t *testing.T, b *bgBundle, check func(crm.AuditEntry)) map[string]map[crm.RecordID]int {
	t.Helper()
	out := map[string]map[crm.RecordID]int{}
	after := ""
	for {
		entries, next, err := b.store.Audit(b.ctx, crm.TenantID(b.tenant), &crm.AuditOpts{After: after, Limit: 1000})
		require.NoError(t, err)
		for _, e := range entries {
			if e.User != "" {
				continue // a user or token change, not a record's
			}
			if check != nil {
				check(e)
			}
			if out[e.Action] == nil {
				out[e.Action] = map[crm.RecordID]int{}
			}
			for _, id := range e.RecordIDs {
				out[e.Action][id]++
			}
		}
		if next == "" {
			return out
		}
		after = next
	}
}

// kill stops p at once with SIGKILL, as a crash would, and waits for it to be gone.
func kill(t *testing.T, p *proc) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	p.wait(t)
}

// leaseHolder returns the process id in the runner id that holds a lease key ("host:pid:token"),
// or 0 when nobody holds it.
// killRunner SIGKILLs the worker that holds the lease at key (a job's or a backfill's), or a random
// one when none does, and returns its index and whether it held the lease.
func killRunner(t *testing.T, b *bgBundle, rng *rand.Rand, workers []*proc, key string) (int, bool) {
	t.Helper()
	victim := rng.IntN(len(workers))
	holder := leaseHolder(t, b, key)
	for i, w := range workers {
		if w.cmd.Process.Pid == holder {
			victim = i
		}
	}
	kill(t, workers[victim])
	return victim, workers[victim].cmd.Process.Pid == holder
}

func leaseHolder(t *testing.T, b *bgBundle, key string) int {
	t.Helper()
	owner, err := b.rdb.Get(b.ctx, key).Result()
	if err == redis.Nil {
		return 0
	}
	require.NoError(t, err)
	parts := strings.Split(owner, ":")
	if len(parts) < 3 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[len(parts)-2])
	return pid
}

// metric returns the value of the sample of /metrics at base whose name and labels are exactly
// series (`name{label="v"}`), and false when there is none.
func metric(t *testing.T, base, series string) (float64, bool) {
	t.Helper()
	code, body := get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == series {
			v, err := strconv.ParseFloat(value, 64)
			require.NoError(t, err, "metric %s", series)
			return v, true
		}
	}
	return 0, false
}

// jsonLines returns the JSON log lines of stderr.
func jsonLines(stderr string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			out = append(out, line)
		}
	}
	return out
}

// TestFaultWorkerKilledDuringBulkDelete runs a bulk delete job on two worker processes and kills
// the one running it with SIGKILL, at a random moment after it has moved the job on, at least ten
// times, starting a new worker each time. The job completes with every matched record in the bin
// exactly once, archived once by the job, and no other record touched (SPEC S14).
func TestFaultWorkerKilledDuringBulkDelete(t *testing.T) {
	faultTest(t)
	rng := faultRand(t)
	b := setupBackground(t)
	tenant, token := b.opsTenant(t)

	// Five sixths leads (the job deletes them), one sixth customers (never touched).
	const n = 42_000
	stage := map[crm.RecordID]string{}
	ids := seedContacts(t, b, b.store, n, func(i int) map[string]string {
		s := "lead"
		if i%6 == 5 {
			s = "customer"
		}
		return map[string]string{"firstname": "C" + strconv.Itoa(i), "lifecyclestage": s}
	})
	var leads, customers []crm.RecordID
	for i, id := range ids {
		if i%6 == 5 {
			stage[id] = "customer"
			customers = append(customers, id)
		} else {
			stage[id] = "lead"
			leads = append(leads, id)
		}
	}

	addr := freeAddr(t)
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL)
	schedAdmin := freeAddr(t)
	sched := start(t, nil, "scheduler", "--redis", b.redisURL, "--admin-addr", schedAdmin, "--jobs-sweep-spec", "@every 1s")
	startWorker := func() *proc {
		return start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", freeAddr(t),
			"--job-lease", "1s", "--concurrency", "2", "--log-format", "json")
	}
	workers := []*proc{startWorker(), startWorker()}
	waitReady(t, api, "http://"+addr)
	waitReady(t, sched, "http://"+schedAdmin)

	code, body := call(t, http.MethodPost, "http://"+addr+"/crm/v3/objects/contacts/bulk-delete", token,
		map[string]any{"filter": `lifecyclestage == "lead"`, "confirmCount": len(leads)})
	require.Equal(t, http.StatusAccepted, code, "body: %v", body)
	jobID := body["id"].(string)
	job := func() crm.Job {
		j, err := b.store.Job(b.ctx, tenant, jobID)
		require.NoError(t, err)
		return j
	}

	began := time.Now()
	var landed []string
	runner := 0
	last := int64(0)
	for len(landed) < 12 && time.Since(began) < 40*time.Second {
		// Wait until a live worker has moved the job on since the last kill, then a random moment more.
		deadline := time.Now().Add(20 * time.Second)
		var seen crm.Job
		for {
			seen = job()
			if seen.State == crm.JobDone || seen.Done+seen.Skipped > last {
				break
			}
			require.True(t, time.Now().Before(deadline), "job %s makes no progress past %d/%d after a kill", jobID, last, seen.Total)
			time.Sleep(2 * time.Millisecond) // poll interval: a batch takes longer
		}
		if seen.State == crm.JobDone {
			break
		}
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)

		victim, onRunner := killRunner(t, b, rng, workers, redisstore.JobLeaseKey(tenant, jobID))
		after := job()
		at := fmt.Sprintf("%d/%d", after.Done+after.Skipped, after.Total)
		if after.State == crm.JobDone {
			t.Logf("SIGKILL after the job finished (%s)", at)
			workers[victim] = startWorker() // every worker is stopped, and checked, at the end
			break
		}
		who := "a worker (the job's lease was free)"
		if onRunner {
			who = "the job's runner"
			runner++
		}
		landed = append(landed, at)
		t.Logf("SIGKILL %d of %s at %s", len(landed), who, at)
		last = after.Done + after.Skipped
		workers[victim] = startWorker()
	}
	t.Logf("%d SIGKILL(s) landed mid-job (%d of them on the job's runner), in %s: %v", len(landed), runner,
		time.Since(began).Round(time.Millisecond), landed)
	require.GreaterOrEqual(t, len(landed), 10, "too few kills landed while the job was unfinished: make the job larger")

	eventually(t, 45*time.Second, "the job completes after the kills", func() bool { return job().State == crm.JobDone })
	for _, p := range append(workers, sched, api) {
		require.Equal(t, 0, p.stop(t), "crmflow %v\nstderr:\n%s", p.cmd.Args[1:], p.stderr)
	}

	j := job()
	require.Equal(t, int64(len(leads)), j.Total)
	require.Equal(t, int64(len(leads)), j.Done, "every matched record moved to the bin once")
	require.Zero(t, j.Skipped)

	inBin, err := b.rdb.ZRange(b.ctx, redisstore.TrashKey(tenant, crm.Contacts), 0, -1).Result()
	require.NoError(t, err)
	require.Len(t, inBin, len(leads), "the bin holds each lead once")
	for _, id := range inBin {
		require.Equal(t, "lead", stage[crm.RecordID(id)], "record %s is in the bin but the job did not match it", id)
	}
	audit := auditCounts(t, b, func(e crm.AuditEntry) {
		require.Equal(t, "archive", e.Action, "entry %+v", e)
		require.Equal(t, crm.ViaBulk, e.Via, "entry %+v", e)
		require.Equal(t, jobID, e.Ref, "entry %+v", e)
	})
	require.Len(t, audit["archive"], len(leads), "the audit trail names every lead")
	for id, c := range audit["archive"] {
		require.Equal(t, 1, c, "record %s archived %d times", id, c)
	}
	live, binned := liveAndBinned(t, b, customers)
	require.Len(t, live, len(customers), "no customer was deleted")
	require.Empty(t, binned)
	for id, r := range live {
		require.Equal(t, "customer", r.Properties["lifecyclestage"], "contact %s", id)
	}
}

// setupAOF is setupBackground on a Redis with append-only persistence that syncs every write
// before acknowledging it, in a directory of the test's: the test kills it and starts it again.
func setupAOF(t *testing.T) (*bgBundle, *redistest.Server) {
	t.Helper()
	srv, err := redistest.StartAOF(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return bundleOn(t, srv.URL), srv
}

// apiOp is one request of the traffic a test keeps up while it breaks things: a delete or a restore
// of one record, and whether the API acknowledged it (2xx, the record named as done).
type apiOp struct {
	op    string // "delete" or "restore"
	id    crm.RecordID
	acked bool
	at    time.Time // when the answer (or the failure) came
}

// traffic deletes the contacts of toDelete and restores those of toRestore through the API, one
// request per record, alternating, from trafficLoops goroutines, until stop is closed or every
// record was tried once. It never fails the test itself: finish returns what it did.
type traffic struct {
	mu   sync.Mutex
	ops  []apiOp
	acks chan struct{} // closed at the next acknowledgement, then replaced
	stop chan struct{}
	done chan struct{}
}

func startTraffic(base, token string, toDelete, toRestore []crm.RecordID) *traffic {
	tr := &traffic{acks: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 3 * time.Second}
	do := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			return 0, err.Error()
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var sb strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&sb)
		return resp.StatusCode, sb.String()
	}
	var loops sync.WaitGroup
	for loop := range trafficLoops {
		loops.Go(func() { tr.run(do, toDelete, toRestore, loop) })
	}
	go func() {
		loops.Wait()
		close(tr.done)
	}()
	return tr
}

// trafficLoops is how many request loops a traffic runs at once.
const trafficLoops = 4

// run is one request loop of the traffic: it takes every trafficLoops-th record, from loop on.
func (tr *traffic) run(do func(method, path, body string) (int, string), toDelete, toRestore []crm.RecordID, loop int) {
	for i := loop; i < max(len(toDelete), len(toRestore)); i += trafficLoops {
		select {
		case <-tr.stop:
			return
		default:
		}
		if i < len(toDelete) {
			id := toDelete[i]
			code, _ := do(http.MethodDelete, "/crm/v3/objects/contacts/"+string(id), "")
			tr.add(apiOp{op: "delete", id: id, acked: code == http.StatusNoContent, at: time.Now()})
		}
		if i < len(toRestore) {
			id := toRestore[i]
			code, body := do(http.MethodPost, "/crm/v3/objects/contacts/batch/restore", fmt.Sprintf(`{"inputs":[{"id":%q}]}`, id))
			var out struct {
				Results []struct {
					ID string `json:"id"`
				} `json:"results"`
			}
			acked := code == http.StatusOK && json.Unmarshal([]byte(body), &out) == nil &&
				len(out.Results) == 1 && out.Results[0].ID == string(id)
			tr.add(apiOp{op: "restore", id: id, acked: acked, at: time.Now()})
		}
		time.Sleep(10 * time.Millisecond) // pace: the traffic must outlast the kills
	}
}

func (tr *traffic) add(o apiOp) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.ops = append(tr.ops, o)
	if o.acked {
		close(tr.acks)
		tr.acks = make(chan struct{})
	}
}

// nextAck returns a channel closed when the API next acknowledges a request.
func (tr *traffic) nextAck() <-chan struct{} {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.acks
}

// acked counts the acknowledged requests of kind op answered after since.
func (tr *traffic) acked(op string, since time.Time) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, o := range tr.ops {
		if o.op == op && o.acked && o.at.After(since) {
			n++
		}
	}
	return n
}

// lastAcked returns how long before at the latest request of kind op acknowledged by then was
// answered, or -1 when none was.
func (tr *traffic) lastAcked(op string, at time.Time) time.Duration {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	gap := time.Duration(-1)
	for _, o := range tr.ops {
		if o.op == op && o.acked && !o.at.After(at) && (gap < 0 || at.Sub(o.at) < gap) {
			gap = at.Sub(o.at)
		}
	}
	return gap
}

// finish stops the traffic and returns every request it made.
func (tr *traffic) finish() []apiOp {
	close(tr.stop)
	<-tr.done
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.ops)
}

// TestFaultRedisKilledDuringBulkDeleteAndPurge runs the API, a worker and the schedulers on a Redis
// with AOF persistence (appendfsync always), and kills that Redis with SIGKILL in the middle of a
// bulk delete job and again in the middle of a purge of expired bin entries, each time starting it
// again from its directory while the crmflow processes keep running. Meanwhile the API deletes and
// restores contacts one by one. Every delete and restore the API acknowledged is there after the
// restarts, the job and the purge complete by themselves, and nothing else changed (SPEC S6, S14).
func TestFaultRedisKilledDuringBulkDeleteAndPurge(t *testing.T) {
	faultTest(t)
	rng := faultRand(t)
	b, srv := setupAOF(t)
	tenant, token := b.opsTenant(t)

	seeded := time.Now()
	stageOf := func(s string) func(int) map[string]string {
		return func(i int) map[string]string {
			return map[string]string{"firstname": s + strconv.Itoa(i), "lifecyclestage": s}
		}
	}
	leads := seedContacts(t, b, b.store, 20_000, stageOf("lead"))          // the bulk delete job's
	customers := seedContacts(t, b, b.store, 1_000, stageOf("customer"))   // never touched
	singles := seedContacts(t, b, b.store, 2_500, stageOf("subscriber"))   // deleted one by one through the API
	returning := seedContacts(t, b, b.store, 2_500, stageOf("evangelist")) // in the bin, restored one by one
	archiveAll(t, b, b.store, returning)
	old := storeAt(t, b, seeded.Add(-100*24*time.Hour)) // past the default retention of 90 days
	expired := seedContacts(t, b, old, 24_000, stageOf("other"))
	archiveAll(t, b, old, expired)
	// Rewrite the AOF once, as Redis does when it grows, so that a restart loads the seed quickly.
	require.NoError(t, b.rdb.BgRewriteAOF(b.ctx).Err())
	eventually(t, 30*time.Second, "the AOF rewrite ends", func() bool {
		info, err := b.rdb.Info(b.ctx, "persistence").Result()
		require.NoError(t, err)
		return strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrite_scheduled:0")
	})
	t.Logf("seeded %d contacts in %s", len(leads)+len(customers)+len(singles)+len(returning)+len(expired),
		time.Since(seeded).Round(time.Millisecond))
	expiredLeft := func() int64 {
		n, err := b.store.CountExpired(b.ctx, tenant, crm.Contacts, seeded.Add(-90*24*time.Hour))
		require.NoError(t, err)
		return n
	}

	addr := freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL, "--log-format", "json")
	workerAdmin := freeAddr(t)
	wrk := start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", workerAdmin, "--job-lease", "1s",
		"--concurrency", "4", "--log-format", "json")
	// The first scheduler sweeps the jobs; its purge does not come during the test. The second one,
	// started for the purge, purges every second.
	schedAdmin := freeAddr(t)
	sched := start(t, nil, "scheduler", "--redis", b.redisURL, "--admin-addr", schedAdmin, "--jobs-sweep-spec", "@every 1s",
		"--purge-spec", "0 0 1 1 *", "--log-format", "json")
	waitReady(t, api, base)
	waitReady(t, wrk, "http://"+workerAdmin)
	waitReady(t, sched, "http://"+schedAdmin)
	procs := []*proc{api, wrk, sched}

	tr := startTraffic(base, token, singles, returning)
	var restarts []time.Time
	crash := func(what string) {
		t.Helper()
		// Right after an acknowledgement, when one comes soon: the write it acknowledged must be on disk.
		select {
		case <-tr.nextAck():
		case <-time.After(3 * time.Second):
		}
		killed := time.Now()
		require.NoError(t, srv.Kill())
		down := time.Duration(200+rng.IntN(800)) * time.Millisecond
		time.Sleep(down) // the outage: the crmflow processes keep running and find no Redis
		require.NoError(t, srv.Restart())
		restarts = append(restarts, time.Now())
		t.Logf("Redis killed during the %s, down %s, back after %s (the last delete and restore acknowledged %s and %s before the kill)",
			what, down, time.Since(killed).Round(time.Millisecond),
			tr.lastAcked("delete", killed).Round(time.Microsecond), tr.lastAcked("restore", killed).Round(time.Microsecond))
		for _, p := range procs {
			select {
			case <-p.done:
				t.Fatalf("crmflow %v exited when Redis went away\nstderr:\n%s", p.cmd.Args[1:], p.stderr)
			default:
			}
		}
	}

	// The bulk delete, killed mid-job (at most twice).
	code, body := call(t, http.MethodPost, base+"/crm/v3/objects/contacts/bulk-delete", token,
		map[string]any{"filter": `lifecyclestage == "lead"`, "confirmCount": len(leads)})
	require.Equal(t, http.StatusAccepted, code, "body: %v", body)
	jobID := body["id"].(string)
	job := func() crm.Job {
		j, err := b.store.Job(b.ctx, tenant, jobID)
		require.NoError(t, err)
		return j
	}
	midJob := 0
	last := int64(0)
	for range 2 {
		var j crm.Job
		eventually(t, 20*time.Second, "the job moves on", func() bool {
			j = job()
			return j.State == crm.JobDone || j.Done > last
		})
		if j.State == crm.JobDone {
			break
		}
		time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
		crash("bulk delete")
		j = job()
		t.Logf("the job after the restart: %s, %d/%d", j.State, j.Done, j.Total)
		if j.State == crm.JobDone {
			break
		}
		midJob++
		last = j.Done
	}
	require.Positive(t, midJob, "Redis was never killed while the job was unfinished: make the job larger")
	eventually(t, 40*time.Second, "the job completes by itself after the restarts", func() bool { return job().State == crm.JobDone })

	// The purge, killed mid-purge.
	require.Equal(t, int64(len(expired)), expiredLeft(), "nothing was purged before the purge")
	sched2Admin := freeAddr(t)
	sched2 := start(t, nil, "scheduler", "--redis", b.redisURL, "--admin-addr", sched2Admin, "--purge-spec", "@every 1s",
		"--jobs-sweep-spec", "@every 1s", "--log-format", "json")
	waitReady(t, sched2, "http://"+sched2Admin)
	procs = append(procs, sched2)
	eventually(t, 20*time.Second, "the purge begins", func() bool { return expiredLeft() < int64(len(expired)) })
	time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
	crash("purge")
	left := expiredLeft()
	t.Logf("the purge after the restart: %d of %d expired entries left", left, len(expired))
	require.Positive(t, left, "Redis was killed after the purge had finished: make the bin larger")
	eventually(t, 30*time.Second, "the purge completes by itself after the restart", func() bool { return expiredLeft() == 0 })

	// The API and the worker serve again without a restart of theirs.
	eventually(t, 20*time.Second, "acknowledged deletes and restores after the last restart", func() bool {
		return tr.acked("delete", restarts[len(restarts)-1]) > 0 && tr.acked("restore", restarts[len(restarts)-1]) > 0
	})
	ops := tr.finish()
	code, _ = get(t, "http://"+workerAdmin+"/readyz")
	require.Equal(t, http.StatusOK, code)
	for _, p := range procs {
		require.Equal(t, 0, p.stop(t), "crmflow %v\nstderr:\n%s", p.cmd.Args[1:], p.stderr)
	}

	// Every acknowledged delete is in the bin, every acknowledged restore live; a request that got
	// no acknowledgement happened or not, but whole: the record is live or in the bin, never both
	// nor neither; a record no request named is as it was.
	type outcome struct {
		acked, tried bool
	}
	want := map[crm.RecordID]outcome{}
	for _, o := range ops {
		want[o.id] = outcome{acked: o.acked, tried: true}
	}
	audit := auditCounts(t, b, nil)
	counts := map[string]int{}
	for _, group := range []struct {
		op     string
		ids    []crm.RecordID
		doneIn string // where the record is once the op happened
		action string // its audit entry
	}{{"delete", singles, "bin", "archive"}, {"restore", returning, "live", "restore"}} {
		live, binned := liveAndBinned(t, b, group.ids)
		for _, id := range group.ids {
			_, isLive := live[id]
			_, inBin := binned[id]
			require.NotEqual(t, isLive, inBin, "contact %s is live: %v, in the bin: %v", id, isLive, inBin)
			done := (group.doneIn == "bin") == inBin
			o := want[id]
			if done {
				require.Equal(t, 1, audit[group.action][id], "contact %s: %s entries", id, group.action)
			} else {
				require.Zero(t, audit[group.action][id], "contact %s: %s entries", id, group.action)
			}
			switch {
			case o.acked:
				require.True(t, done, "the API acknowledged the %s of contact %s, and it is lost", group.op, id)
				counts[group.op+" acknowledged"]++
			case o.tried:
				counts[fmt.Sprintf("%s not acknowledged, done %v", group.op, done)]++
			default:
				require.False(t, done, "contact %s: no request named it, yet it changed", id)
			}
		}
	}
	t.Logf("API requests: %v", counts)
	require.Positive(t, counts["delete acknowledged"])
	require.Positive(t, counts["restore acknowledged"])

	j := job()
	require.Equal(t, int64(len(leads)), j.Total)
	require.Equal(t, int64(len(leads)), j.Done, "every lead moved to the bin once")
	require.Zero(t, j.Skipped)
	live, binned := liveAndBinned(t, b, leads)
	require.Empty(t, live)
	require.Len(t, binned, len(leads))
	for _, id := range leads {
		require.Equal(t, 1, audit["archive"][id], "lead %s: archive entries", id)
	}
	live, binned = liveAndBinned(t, b, expired)
	require.Empty(t, live)
	require.Empty(t, binned, "every expired entry is purged")
	live, binned = liveAndBinned(t, b, customers)
	require.Len(t, live, len(customers), "no customer was touched")
	require.Empty(t, binned)
}

// TestFaultPurgeTwoSchedulersThreeWorkers purges the bin with two schedulers and three workers
// running at once, every second, while the API restores some expired entries. The bin holds
// entries deleted long ago, entries that expire while the test runs, entries deleted now, and
// entries restored and deleted again. Each expired entry is removed once: the workers' purge
// counts add up to exactly the entries gone; no entry is gone before its expiry; an entry restored
// in time is live and no longer purged; the others stay restorable; and each scheduler tick is
// enqueued by one scheduler only (SPEC S6, S22).
func TestFaultPurgeTwoSchedulersThreeWorkers(t *testing.T) {
	faultTest(t)
	rng := faultRand(t)
	b := setupBackground(t)
	tenant, token := b.opsTenant(t)
	const retention = 90 * 24 * time.Hour // the workers' default

	now := time.Now()
	props := func(i int) map[string]string { return map[string]string{"firstname": "C" + strconv.Itoa(i)} }
	longAgo := storeAt(t, b, now.Add(-retention-10*24*time.Hour))
	expired := seedContacts(t, b, longAgo, 20_000, props) // deleted 100 days ago
	archiveAll(t, b, longAgo, expired)
	restoring, expired := expired[:300], expired[300:] // restored through the API while the purges run
	again := expired[:200]                             // restored and deleted again now: not expired
	expired = expired[200:]
	// Restored while they were still restorable (at the time of their deletion), then deleted again now.
	res, err := longAgo.RestoreRecords(b.ctx, tenant, crm.Contacts, again, crm.Actor{User: opsUser, Via: crm.ViaAPI})
	require.NoError(t, err)
	require.Len(t, res.Restored, len(again))
	archiveAll(t, b, b.store, again)
	fresh := seedContacts(t, b, b.store, 2_000, props) // deleted now
	archiveAll(t, b, b.store, fresh)
	live := seedContacts(t, b, b.store, 1_000, props) // never deleted
	t.Logf("seeded in %s", time.Since(now).Round(time.Millisecond))

	addr := freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL)
	var workers, scheds []*proc
	var workerAdmins []string
	for range 3 {
		admin := freeAddr(t)
		workerAdmins = append(workerAdmins, "http://"+admin)
		workers = append(workers, start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", admin, "--concurrency", "2",
			"--log-format", "json"))
	}
	waitReady(t, api, base)
	for i, w := range workers {
		waitReady(t, w, workerAdmins[i])
	}
	var schedAdmins []string
	for range 2 {
		admin := freeAddr(t)
		schedAdmins = append(schedAdmins, "http://"+admin)
		scheds = append(scheds, start(t, nil, "scheduler", "--redis", b.redisURL, "--admin-addr", admin, "--purge-spec", "@every 1s",
			"--log-format", "json"))
	}

	// The API tries to restore expired entries as soon as the first purge has begun: each is refused,
	// whether the purge has taken it yet (not found) or not (past its retention period, SPEC S6).
	expiredNow := func() int64 {
		n, err := b.store.CountExpired(b.ctx, tenant, crm.Contacts, now.Add(-retention))
		require.NoError(t, err)
		return n
	}
	initial := expiredNow()
	for deadline := time.Now().Add(30 * time.Second); expiredNow() == initial; {
		require.True(t, time.Now().Before(deadline), "no purge began")
		time.Sleep(time.Millisecond) // poll interval: a purge batch takes longer
	}
	restored := map[crm.RecordID]bool{}
	for from := 0; from < len(restoring); from += 20 {
		part := restoring[from : from+20]
		code, body := call(t, http.MethodPost, base+"/crm/v3/objects/contacts/batch/restore", token,
			map[string]any{"inputs": idInputs(idStrings(part))})
		require.Contains(t, []int{http.StatusOK, http.StatusMultiStatus}, code, "body: %v", body)
		for _, r := range body["results"].([]any) {
			restored[crm.RecordID(r.(map[string]any)["id"].(string))] = true
		}
	}
	require.Empty(t, restored, "an entry past its retention period is never restored")
	for i, p := range scheds {
		waitReady(t, p, schedAdmins[i])
	}

	// Entries that expire while the purges run, each at its own moment 3 to 10 seconds from now.
	expiring := make([]crm.RecordID, 0, 400)
	expiresAt := map[crm.RecordID]time.Time{}
	watchFrom := time.Now()
	for range 40 {
		at := watchFrom.Add(3*time.Second + time.Duration(rng.IntN(7000))*time.Millisecond)
		s := storeAt(t, b, at.Add(-retention))
		ids := seedContacts(t, b, s, 10, props)
		archiveAll(t, b, s, ids)
		for _, id := range ids {
			expiresAt[id] = at.Truncate(time.Millisecond)
		}
		expiring = append(expiring, ids...)
	}

	// Until every entry due has gone: at each look, an entry whose expiry is still ahead is in the bin.
	watched := append(slices.Clone(expiring), fresh...)
	watched = append(watched, again...)
	looks := 0
	eventually(t, 40*time.Second, "the expired entries are purged", func() bool {
		scores, err := b.rdb.ZMScore(b.ctx, redisstore.TrashKey(tenant, crm.Contacts), idStrings(watched)...).Result()
		require.NoError(t, err)
		seen := time.Now()
		looks++
		due := 0
		for i, id := range watched {
			at, expiring := expiresAt[id]
			if !expiring {
				require.NotZero(t, scores[i], "contact %s, deleted now, was purged", id)
				continue
			}
			if seen.Before(at) {
				require.NotZero(t, scores[i], "contact %s was purged before it expired at %s", id, at.Format(time.RFC3339Nano))
			} else if scores[i] != 0 {
				due++
			}
		}
		if due > 0 || time.Now().Before(watchFrom.Add(10*time.Second)) {
			return false
		}
		n, err := b.store.CountExpired(b.ctx, tenant, crm.Contacts, time.Now().Add(-retention))
		require.NoError(t, err)
		return n == 0
	})
	t.Logf("the bin was looked at %d times while the purges ran", looks)

	// Each entry gone was counted once, by the one worker that removed it.
	gone := len(expired) + len(expiring) + len(restoring) - len(restored)
	var sum float64
	eventually(t, 10*time.Second, "the purge metrics count every entry purged", func() bool {
		sum = 0
		for _, admin := range workerAdmins {
			v, _ := metric(t, admin, `crmflow_trash_purged_records_total{object_type="contacts"}`)
			sum += v
		}
		return sum >= float64(gone)
	})
	require.Equal(t, float64(gone), sum, "the workers purged %v entries in all, and %d went", sum, gone)

	// The entries not due are restorable.
	sample := append(slices.Clone(fresh[:50]), again[:50]...)
	rng.Shuffle(len(sample), func(i, j int) { sample[i], sample[j] = sample[j], sample[i] })
	code, body := call(t, http.MethodPost, base+"/crm/v3/objects/contacts/batch/restore", token,
		map[string]any{"inputs": idInputs(idStrings(sample))})
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	require.Len(t, body["results"], len(sample))
	for _, p := range append(scheds, append(workers, api)...) {
		require.Equal(t, 0, p.stop(t), "crmflow %v\nstderr:\n%s", p.cmd.Args[1:], p.stderr)
	}

	// Per worker, the purges it ran and what they removed, from its log lines.
	var logged float64
	for i, w := range workers {
		tasks, purged := 0, 0.0
		for _, line := range jsonLines(w.stderr.String()) {
			if line["msg"] == "trash purge done" && line["tenant_id"] == b.tenant {
				tasks++
				n, _ := line["purged"].(float64)
				purged += n
			}
		}
		logged += purged
		t.Logf("worker %d: %d purge(s) of the tenant, %v entries removed", i+1, tasks, purged)
	}
	require.Equal(t, float64(gone), logged, "the purges' log lines add up to the entries gone")

	// Each purge tick was enqueued by one scheduler; the other found it enqueued.
	enqueuedBy := map[string]int{}
	dupes := 0
	for i, s := range scheds {
		for _, line := range jsonLines(s.stderr.String()) {
			if line["entry"] != "purge" {
				continue
			}
			tick, _ := line["tick"].(string)
			switch line["msg"] {
			case "sweep enqueued":
				if prev, ok := enqueuedBy[tick]; ok {
					t.Fatalf("the purge of tick %s was enqueued by both schedulers (%d and %d)", tick, prev+1, i+1)
				}
				enqueuedBy[tick] = i
			case "sweep already enqueued for this tick":
				dupes++
			}
		}
	}
	t.Logf("%d purge tick(s) enqueued, %d found enqueued by the other scheduler", len(enqueuedBy), dupes)
	require.Positive(t, dupes, "the two schedulers never ticked together")

	// Nothing gone but the expired entries.
	liveNow, binned := liveAndBinned(t, b, append(slices.Clone(expired), expiring...))
	require.Empty(t, liveNow)
	require.Empty(t, binned, "every expired entry is purged")
	liveNow, binned = liveAndBinned(t, b, restoring)
	require.Empty(t, binned)
	require.Len(t, liveNow, len(restored), "the restored entries are live, the others purged")
	for id := range liveNow {
		require.True(t, restored[id], "contact %s", id)
	}
	liveNow, binned = liveAndBinned(t, b, append(slices.Clone(fresh), again...))
	require.Len(t, liveNow, len(sample), "the sample restored")
	require.Len(t, binned, len(fresh)+len(again)-len(sample), "no entry deleted less than the retention ago was purged")
	for _, id := range sample {
		require.Contains(t, liveNow, id)
	}
	liveNow, _ = liveAndBinned(t, b, live)
	require.Len(t, liveNow, len(live))
}

// idStrings returns ids as strings.
func idStrings(ids []crm.RecordID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// faultFlow is the workflow of TestFaultWorkerKilledDuringBackfill: bounced contacts go to the bin,
// customers are kept. It deletes 12,000 contacts, so it lifts the blast-radius limit (1000 an hour
// by default): the test is about kills, not limits.
const faultFlow = `name: fault-bounced
object_type: contacts
trigger: email_bounced
events: [created, updated]
suppression:
  trigger: lifecyclestage == "customer"
limits: {max_deletions: unlimited}
actions:
  - type: delete_contact
`

// TestFaultWorkerKilledDuringBackfill activates a contact workflow whose one action is
// delete_contact, with enroll-existing, and kills the worker running its backfill with SIGKILL at a
// random moment after it has moved on, at least ten times, starting a new worker each time, while
// `crmflow workflows activate --wait` follows the backfill. The backfill completes having looked at
// every contact; each matching contact is enrolled once and ends in the bin once, deleted by the
// workflow; no other contact is touched (SPEC S14, S17, S19, S20).
func TestFaultWorkerKilledDuringBackfill(t *testing.T) {
	faultTest(t)
	rng := faultRand(t)
	b := setupBackground(t)
	tenant, token := b.opsTenant(t)
	const name = "fault-bounced"

	// Half the contacts are bounced leads (they match), a quarter did not bounce, a quarter are
	// bounced customers (suppressed).
	const n = 36_000
	kind := map[crm.RecordID]string{}
	ids := seedContacts(t, b, b.store, n, func(i int) map[string]string {
		p := map[string]string{"firstname": "C" + strconv.Itoa(i), "email_bounced": "true", "lifecyclestage": "lead"}
		switch i % 4 {
		case 2:
			p["email_bounced"] = "false"
		case 3:
			p["lifecyclestage"] = "customer"
		}
		return p
	})
	var matching, others []crm.RecordID
	for i, id := range ids {
		switch i % 4 {
		case 0, 1:
			kind[id] = "match"
			matching = append(matching, id)
		case 2:
			kind[id] = "nomatch"
			others = append(others, id)
		case 3:
			kind[id] = "suppressed"
			others = append(others, id)
		}
	}

	addr := freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL)
	schedAdmin := freeAddr(t)
	sched := start(t, nil, "scheduler", "--redis", b.redisURL, "--admin-addr", schedAdmin, "--workflow-sweep-spec", "@every 1s")
	startWorker := func() *proc {
		return start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", freeAddr(t), "--job-lease", "1s",
			"--workflow-sweep-grace", "4s", "--concurrency", "2", "--log-format", "json")
	}
	workers := []*proc{startWorker(), startWorker()}
	waitReady(t, api, base)
	waitReady(t, sched, "http://"+schedAdmin)
	ctl := []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=" + token}

	// The creations are drained (no workflow is active yet): the backfill alone enrolls.
	eventually(t, 30*time.Second, "the record changes drained", func() bool {
		n, err := b.rdb.ZCard(b.ctx, redisstore.ChangedKey(tenant)).Result()
		require.NoError(t, err)
		return n == 0
	})
	stdout, stderr, code := crmflow(t, ctl, "apply", "-f", writeFile(t, "flow.yaml", faultFlow))
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	activate := start(t, ctl, "workflows", "activate", name, "--enroll-existing", "--wait", "--progress", "lines", "--interval", "100ms")
	backfill := func() (crm.Backfill, bool) {
		bf, ok, err := b.store.Backfill(b.ctx, tenant, name)
		require.NoError(t, err)
		return bf, ok
	}

	began := time.Now()
	var landed []string
	runner := 0
	last := int64(0)
	for len(landed) < 12 && time.Since(began) < 40*time.Second {
		// Wait until a live worker has moved the backfill on since the last kill, then a random moment more.
		deadline := time.Now().Add(20 * time.Second)
		var seen crm.Backfill
		for {
			var ok bool
			seen, ok = backfill()
			if ok && (seen.State != "running" || seen.Done > last) {
				break
			}
			require.True(t, time.Now().Before(deadline), "the backfill makes no progress past %d/%d after a kill", last, seen.Total)
			time.Sleep(2 * time.Millisecond) // poll interval: a batch takes longer
		}
		if seen.State != "running" {
			break
		}
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)

		victim, onRunner := killRunner(t, b, rng, workers, redisstore.FlowBackfillLeaseKey(tenant, name))
		after, _ := backfill()
		at := fmt.Sprintf("%d/%d", after.Done, after.Total)
		if after.State != "running" {
			t.Logf("SIGKILL after the backfill finished (%s %s)", after.State, at)
			workers[victim] = startWorker() // every worker is stopped, and checked, at the end
			break
		}
		who := "a worker (the backfill's lease was free)"
		if onRunner {
			who = "the backfill's runner"
			runner++
		}
		landed = append(landed, at)
		t.Logf("SIGKILL %d of %s at %s", len(landed), who, at)
		last = after.Done
		workers[victim] = startWorker()
	}
	t.Logf("%d SIGKILL(s) landed mid-backfill (%d of them on its runner), in %s: %v", len(landed), runner,
		time.Since(began).Round(time.Millisecond), landed)
	require.GreaterOrEqual(t, len(landed), 10, "too few kills landed while the backfill was unfinished: give it more records")

	// The backfill completes, as `workflows activate --wait` reports, and every enrolled contact
	// runs its step.
	require.Equal(t, 0, activate.wait(t), "stdout:\n%s\nstderr:\n%s", activate.stdout, activate.stderr)
	bf, _ := backfill()
	require.Equal(t, crm.BackfillDone, bf.State)
	require.Equal(t, int64(n), bf.Total)
	require.Equal(t, int64(n), bf.Done, "every contact looked at once")
	require.LessOrEqual(t, bf.Enrolled, int64(len(matching)), "enrollments counted twice")
	require.Equal(t, fmt.Sprintf("workflow %s: ACTIVE at revision 1\n"+
		"workflow %s: enroll-existing COMPLETE: %d of %d contacts looked at, %d enrolled\n", name, name, n, n, bf.Enrolled),
		activate.stdout.String())
	t.Logf("the backfill counted %d enrollments of %d matching contacts", bf.Enrolled, len(matching))
	eventually(t, 45*time.Second, "every matching contact's step runs", func() bool {
		enrolled, err := b.rdb.ZCard(b.ctx, redisstore.FlowEnrolledKey(tenant, name)).Result()
		require.NoError(t, err)
		binSize, err := b.store.BinSize(b.ctx, tenant, crm.Contacts)
		require.NoError(t, err)
		return enrolled == 0 && binSize >= int64(len(matching))
	})
	took := time.Since(began)
	for _, p := range append(workers, sched, api) {
		require.Equal(t, 0, p.stop(t), "crmflow %v\nstderr:\n%s", p.cmd.Args[1:], p.stderr)
	}
	t.Logf("backfill and steps complete %s after activation", took.Round(time.Millisecond))

	// Each matching contact: in the bin once, deleted by the workflow, enrolled once, its one step
	// done once.
	live, binned := liveAndBinned(t, b, matching)
	require.Empty(t, live)
	require.Len(t, binned, len(matching))
	for id, r := range binned {
		require.NotNil(t, r.Deletion, "contact %s", id)
		require.Equal(t, crm.ViaWorkflow, r.Deletion.Via, "contact %s", id)
		require.Equal(t, name, r.Deletion.Ref, "contact %s", id)
	}
	inBin, err := b.rdb.ZCard(b.ctx, redisstore.TrashKey(tenant, crm.Contacts)).Result()
	require.NoError(t, err)
	require.Equal(t, int64(len(matching)), inBin, "the bin holds the matching contacts and nothing else")
	audit := auditCounts(t, b, func(e crm.AuditEntry) {
		require.Equal(t, "archive", e.Action, "entry %+v", e)
		require.Equal(t, crm.ViaWorkflow, e.Via, "entry %+v", e)
		require.Equal(t, name, e.Ref, "entry %+v", e)
	})
	for _, id := range matching {
		require.Equal(t, 1, audit["archive"][id], "contact %s: archive entries", id)
	}
	enrs, err := b.store.Enrollments(b.ctx, tenant, name, crm.Contacts, ids)
	require.NoError(t, err)
	for _, e := range enrs {
		if kind[e.ID] != "match" {
			require.Empty(t, e.State, "contact %s (%s) was enrolled", e.ID, kind[e.ID])
			continue
		}
		require.Equal(t, crm.Completed, e.State, "contact %s", e.ID)
		require.Equal(t, 1, e.Count, "contact %s enrolled %d times", e.ID, e.Count)
	}
	histories := readHistories(t, b, name, ids)
	for _, id := range ids {
		events := map[string]int{}
		for _, h := range histories[id] {
			events[h.Kind]++
			if h.Kind == "action" {
				require.Equal(t, "delete_contact", h.Action, "contact %s: %+v", id, h)
				require.Equal(t, "done", h.Outcome, "contact %s: %+v", id, h)
			}
		}
		switch kind[id] {
		case "match":
			require.Equal(t, map[string]int{"enrolled": 1, "action": 1, "completed": 1}, events, "contact %s", id)
		case "suppressed":
			require.Positive(t, events["suppressed"], "contact %s", id)
			require.Equal(t, events["suppressed"], len(histories[id]), "contact %s: %v", id, events)
		default:
			require.Empty(t, events, "contact %s", id)
		}
	}

	// The other contacts are live and unchanged.
	live, binned = liveAndBinned(t, b, others)
	require.Len(t, live, len(others))
	require.Empty(t, binned)
	for id, r := range live {
		if kind[id] == "nomatch" {
			require.Equal(t, "false", r.Properties["email_bounced"], "contact %s", id)
		} else {
			require.Equal(t, "customer", r.Properties["lifecyclestage"], "contact %s", id)
		}
	}
}

// readHistories reads the workflow history of each of ids, in one round trip.
func readHistories(t *testing.T, b *bgBundle, flow string, ids []crm.RecordID) map[crm.RecordID][]crm.HistoryEntry {
	t.Helper()
	tenant := crm.TenantID(b.tenant)
	pipe := b.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.LRange(b.ctx, redisstore.HistoryKey(tenant, flow, "contacts:"+string(id)), 0, -1)
	}
	_, err := pipe.Exec(b.ctx)
	require.NoError(t, err)
	out := make(map[crm.RecordID][]crm.HistoryEntry, len(ids))
	for i, c := range cmds {
		for _, raw := range c.Val() {
			var h crm.HistoryEntry
			require.NoError(t, json.Unmarshal([]byte(raw), &h))
			out[ids[i]] = append(out[ids[i]], h)
		}
	}
	return out
}
