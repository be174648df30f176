// Package bench measures crmflow's store paths beside the raw Redis work they cannot beat, on the same
// data in the same run, so a figure is a ratio to the machine's own limit rather than a bare number.
//
// Each scenario seeds its own random tenants (one for crmflow, one for the raw baseline) on the Redis
// it is given, and removes them afterwards.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/worker"
)

// Result is one scenario's measurement.
type Result struct {
	Name    string  `json:"name"`
	Records int     `json:"records"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"records_per_second"`
	// RawSeconds and RawRate are the raw Redis baseline doing the same work on the same data.
	RawSeconds float64 `json:"raw_seconds"`
	RawRate    float64 `json:"raw_records_per_second"`
	// Ratio is Rate / RawRate, or the scenario's own ratio (see LowerIsBetter).
	Ratio float64 `json:"ratio"`
	// Goal is the ratio the scenario should reach; 0 when none is set.
	Goal float64 `json:"goal"`
	// LowerIsBetter says that Ratio must stay at or below Goal rather than reach it: the fairness
	// scenario's ratio of two lags.
	LowerIsBetter bool `json:"lower_is_better,omitempty"`
	// Extra holds scenario-specific figures (for example the slowest Redis command, in ms).
	Extra map[string]float64 `json:"extra,omitempty"`
}

// Missed reports whether the scenario has a goal and missed it.
func (r Result) Missed() bool {
	if r.Goal <= 0 {
		return false
	}
	if r.LowerIsBetter {
		return r.Ratio > r.Goal
	}
	return r.Ratio < r.Goal
}

func (r Result) String() string {
	s := fmt.Sprintf("%-12s %8d records  %7.2fs  %9.0f rec/s   raw %7.2fs %9.0f rec/s   ratio %.2f",
		r.Name, r.Records, r.Seconds, r.Rate, r.RawSeconds, r.RawRate, r.Ratio)
	switch {
	case r.LowerIsBetter:
		s += fmt.Sprintf(" (goal at most %.2f)", r.Goal)
	case r.Goal > 0:
		s += fmt.Sprintf(" (goal %.2f)", r.Goal)
	}
	for k, v := range r.Extra {
		s += fmt.Sprintf("  %s=%.2f", k, v)
	}
	return s
}

func finish(r *Result, d, raw time.Duration) {
	r.Seconds, r.RawSeconds = d.Seconds(), raw.Seconds()
	r.Rate = float64(r.Records) / r.Seconds
	r.RawRate = float64(r.Records) / r.RawSeconds
	r.Ratio = r.Rate / r.RawRate
}

// emailSalt is the email salt of the bench's stores: random per run, since the bench works only in
// tenants of its own that it drops after. It never checks or stores a salt fingerprint, so it
// neither refuses a Redis used by a deployment nor pins its salt on an empty one.
var emailSalt = func() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// storeConfig is the configuration of the bench's stores.
func storeConfig() *redisstore.Config { return &redisstore.Config{EmailSalt: emailSalt} }

func randomTenant(prefix string) crm.TenantID {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return crm.TenantID(prefix + "-" + hex.EncodeToString(b[:]))
}

// eachServer calls fn with the server of rdb or, on a Redis Cluster, with each master in turn:
// server-wide figures (INFO memory, SLOWLOG) are per server, and a cluster's are their sum.
func eachServer(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, c redis.UniversalClient) error) error {
	var mu sync.Mutex // EachServer calls fn concurrently
	return redisstore.EachServer(ctx, rdb, func(ctx context.Context, c redis.UniversalClient) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(ctx, c)
	})
}

// Drop deletes every key of a tenant (SCAN + UNLINK in batches), its registry entry and its
// activity mark. A tenant's
// keys share a slot, so on a cluster they are all on one master: SCAN runs on each.
func Drop(ctx context.Context, rdb redis.UniversalClient, t crm.TenantID) error {
	err := eachServer(ctx, rdb, func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, "crm:{"+string(t)+"}:*", 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == 1000 {
				if err := c.Unlink(ctx, batch...).Err(); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			return c.Unlink(ctx, batch...).Err()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := rdb.ZRem(ctx, redisstore.ActiveKey(), string(t)).Err(); err != nil {
		return err
	}
	return rdb.SRem(ctx, redisstore.TenantsKey(), string(t)).Err()
}

// ContactProps returns ten realistic properties for contact i: the contacts of every scenario, and
// of the engine's benchmarks.
func ContactProps(i int) map[string]string {
	stages := []string{"subscriber", "lead", "customer", "opportunity"}
	return map[string]string{
		"email":              fmt.Sprintf("person%d@example%d.com", i, i%97),
		"firstname":          "First" + strconv.Itoa(i),
		"lastname":           "Lastname" + strconv.Itoa(i%1000),
		"phone":              fmt.Sprintf("+1-555-%07d", i),
		"company":            "Company " + strconv.Itoa(i%5000),
		"jobtitle":           "Engineer",
		"city":               "Springfield",
		"country":            "US",
		"lifecyclestage":     stages[i%len(stages)],
		"last_activity_date": time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i%700) * 24 * time.Hour).Format(time.RFC3339),
	}
}

// Seed creates n contacts with ten properties each in a new tenant, in batches of 1000.
func Seed(ctx context.Context, st *redisstore.Store, t crm.TenantID, n int) ([]crm.RecordID, error) {
	if _, err := st.CreateTenant(ctx, t, crm.PlanEnterprise); err != nil {
		return nil, err
	}
	return seedContacts(ctx, st, t, n)
}

// seedContacts creates n contacts with ten properties each in tenant t, in batches of 1000.
func seedContacts(ctx context.Context, st *redisstore.Store, t crm.TenantID, n int) ([]crm.RecordID, error) {
	ids := make([]crm.RecordID, 0, n)
	for start := 0; start < n; start += crm.MaxScriptBatch {
		end := min(start+crm.MaxScriptBatch, n)
		in := make([]crm.RecordInput, 0, end-start)
		for i := start; i < end; i++ {
			in = append(in, crm.RecordInput{Properties: ContactProps(i)})
		}
		recs, err := st.CreateRecords(ctx, t, crm.Contacts, in, crm.Actor{User: "bench@crmflow.example"})
		if err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

// usedMemory is Redis's used_memory: on a cluster, the sum over the masters.
func usedMemory(ctx context.Context, rdb redis.UniversalClient) (int64, error) {
	return infoSum(ctx, rdb, "memory", "used_memory")
}

// infoSum is the integer field name of the INFO section, summed over the servers (the masters of
// a cluster).
func infoSum(ctx context.Context, rdb redis.UniversalClient, section, name string) (int64, error) {
	var total int64
	err := eachServer(ctx, rdb, func(ctx context.Context, c redis.UniversalClient) error {
		info, err := c.Info(ctx, section).Result()
		if err != nil {
			return err
		}
		v := infoField(info, name)
		if v == "" {
			return fmt.Errorf("no %s in INFO %s", name, section)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		total += n
		return err
	})
	return total, err
}

// MemoryPerContact seeds n contacts (ten properties, every index) and returns the growth of Redis's
// used_memory divided by n. The Redis should be otherwise idle.
func MemoryPerContact(ctx context.Context, rdb redis.UniversalClient, n int) (float64, error) {
	per, _, err := MeasureMemory(ctx, rdb, n)
	return per, err
}

// KeyFamily is where part of a contact's memory goes: the keys of one kind (the records' hashes,
// one index), as Redis's MEMORY USAGE counts them.
type KeyFamily struct {
	// Family is the key without its tenant, its runs of digits (a record's id) written <id>.
	Family string `json:"family"`
	Keys   int    `json:"keys"`
	// Encoding is the encoding of the family's first key (OBJECT ENCODING).
	Encoding        string  `json:"encoding"`
	BytesPerContact float64 `json:"bytes_per_contact"`
}

// MeasureMemory is MemoryPerContact, and the keys the n contacts fill, by family, biggest first:
// the MEMORY USAGE (every element counted: SAMPLES 0) of each key of the tenant, read 1000 keys a
// round trip.
func MeasureMemory(ctx context.Context, rdb redis.UniversalClient, n int) (float64, []KeyFamily, error) {
	st, err := redisstore.New(rdb, storeConfig())
	if err != nil {
		return 0, nil, err
	}
	t := randomTenant("bench-mem")
	defer Drop(context.WithoutCancel(ctx), rdb, t)
	before, err := usedMemory(ctx, rdb)
	if err != nil {
		return 0, nil, err
	}
	if _, err := Seed(ctx, st, t, n); err != nil {
		return 0, nil, err
	}
	after, err := usedMemory(ctx, rdb)
	if err != nil {
		return 0, nil, err
	}
	fams, err := keyFamilies(ctx, rdb, t, n)
	return float64(after-before) / float64(n), fams, err
}

// digitRuns are the runs of digits of a key: the ids in it.
var digitRuns = regexp.MustCompile(`\d+`)

// keyFamilies sums the MEMORY USAGE of tenant t's keys by family, per contact of n.
func keyFamilies(ctx context.Context, rdb redis.UniversalClient, t crm.TenantID, n int) ([]KeyFamily, error) {
	prefix := strings.TrimSuffix(redisstore.TenantKey(t), "tenant")
	var keys []string
	var mu sync.Mutex
	err := eachServer(ctx, rdb, func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	})
	if err != nil {
		return nil, err
	}
	byFamily := map[string]*KeyFamily{}
	for start := 0; start < len(keys); start += 1000 {
		chunk := keys[start:min(start+1000, len(keys))]
		pipe := rdb.Pipeline()
		usage := make([]*redis.IntCmd, len(chunk))
		for i, k := range chunk {
			usage[i] = pipe.MemoryUsage(ctx, k, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("memory usage: %w", err)
		}
		for i, k := range chunk {
			name := digitRuns.ReplaceAllString(strings.TrimPrefix(k, prefix), "<id>")
			f := byFamily[name]
			if f == nil {
				f = &KeyFamily{Family: name}
				f.Encoding, _ = rdb.ObjectEncoding(ctx, k).Result()
				byFamily[name] = f
			}
			f.Keys++
			f.BytesPerContact += float64(usage[i].Val()) / float64(n)
		}
	}
	out := make([]KeyFamily, 0, len(byFamily))
	for _, f := range byFamily {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BytesPerContact > out[j].BytesPerContact })
	return out, nil
}

// rawMoveScript is the least a restorable delete must do: move each record and update the live and
// bin indexes, one script per batch.
var rawMoveScript = redis.NewScript(`
for i = 1, #ARGV do
  local id = ARGV[i]
  redis.call('RENAME', KEYS[1] .. id, KEYS[2] .. id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[4], 1, id)
end
return #ARGV
`)

// bulkFilter selects every contact Seed makes.
const bulkFilter = `hasSuffix(email, ".com")`

// BulkDelete measures a bulk delete of n contacts by filter as a user makes one: the POST
// /crm/v3/objects/contacts/bulk-delete request (the filter compiled, the job stored and enqueued;
// its time is reported as request_seconds) and the job's run by a worker serving the queue (the
// filter evaluated over every live contact, the count confirmed, the records moved), until the job
// is done. Beside it, the raw figure is one Lua move (RENAME, ZREM, ZADD per record)
// per 500 records of a copy of the same data.
func BulkDelete(ctx context.Context, rdb redis.UniversalClient, queue asynq.RedisConnOpt, n int) (Result, error) {
	res := Result{Name: "bulk-delete", Records: n, Goal: 0.5}
	s, err := startStack(ctx, rdb, queue, "bench-del")
	if err != nil {
		return res, err
	}
	defer s.close(rdb, queue)
	raw := randomTenant("bench-raw")
	defer Drop(context.WithoutCancel(ctx), rdb, raw)
	if _, err := seedContacts(ctx, s.store, s.tenant, n); err != nil {
		return res, err
	}
	rawIDs, err := Seed(ctx, s.store, raw, n)
	if err != nil {
		return res, err
	}

	start := time.Now()
	var job struct {
		ID string `json:"id"`
	}
	if err := s.call(ctx, http.MethodPost, "/crm/v3/objects/contacts/bulk-delete",
		map[string]any{"filter": bulkFilter, "confirmCount": n}, http.StatusAccepted, &job); err != nil {
		return res, err
	}
	res.Extra = map[string]float64{"request_seconds": time.Since(start).Seconds()}
	var last crm.Job
	err = waitFor(ctx, 10*time.Minute, "bulk delete job", func() (bool, error) {
		j, err := s.store.Job(ctx, s.tenant, job.ID)
		last = j
		if err == nil && j.State == crm.JobRefused {
			return false, fmt.Errorf("bulk delete job refused: %s", j.Refusal.Message)
		}
		if err == nil && j.State == crm.JobStopped {
			return false, fmt.Errorf("bulk delete job stopped: %s", j.Stop.Message)
		}
		return j.State == crm.JobDone, err
	})
	if err != nil {
		return res, err
	}
	d := time.Since(start)
	if last.Done != int64(n) {
		return res, fmt.Errorf("bulk delete moved %d of %d", last.Done, n)
	}

	start = time.Now()
	recPrefix := strings.TrimSuffix(redisstore.RecordKey(raw, crm.Contacts, "x"), "x")
	binPrefix := strings.TrimSuffix(redisstore.BinRecordKey(raw, crm.Contacts, "x"), "x")
	for s := 0; s < n; s += 500 {
		e := min(s+500, n)
		args := make([]any, 0, e-s)
		for _, id := range rawIDs[s:e] {
			args = append(args, string(id))
		}
		if err := rawMoveScript.Run(ctx, rdb, []string{recPrefix, binPrefix, redisstore.LiveKey(raw, crm.Contacts), redisstore.TrashKey(raw, crm.Contacts)}, args...).Err(); err != nil {
			return res, err
		}
	}
	finish(&res, d, time.Since(start))
	return res, nil
}

// Purge measures the purge of n expired bin entries, beside ZRANGEBYSCORE + UNLINK + ZREM in batches
// of 500 over a copy of the same bin. It also reports the slowest Redis command seen during the
// crmflow purge (from SLOWLOG, in ms).
func Purge(ctx context.Context, rdb redis.UniversalClient, n int) (Result, error) {
	res := Result{Name: "purge", Records: n, Goal: 0.8, Extra: map[string]float64{}}
	clk := clock.NewSim(time.Now().Add(-100 * 24 * time.Hour))
	st, err := redisstore.New(rdb, &redisstore.Config{Clock: clk, EmailSalt: emailSalt})
	if err != nil {
		return res, err
	}
	t, raw := randomTenant("bench-purge"), randomTenant("bench-rawpurge")
	defer Drop(context.WithoutCancel(ctx), rdb, t)
	defer Drop(context.WithoutCancel(ctx), rdb, raw)
	for _, tn := range []crm.TenantID{t, raw} {
		ids, err := Seed(ctx, st, tn, n)
		if err != nil {
			return res, err
		}
		// Each batch is its own operation, archived a millisecond after the one before, as a bulk
		// job's batches or a client's batch calls are: at one instant, the bin's order by time would
		// be the ids' string order, which no real bin has, and every purge batch would mix every
		// operation.
		for s := 0; s < n; s += crm.MaxScriptBatch {
			if _, err := st.ArchiveRecords(ctx, tn, crm.Contacts, ids[s:min(s+crm.MaxScriptBatch, n)], crm.Actor{User: "bench@crmflow.example"}); err != nil {
				return res, err
			}
			clk.Advance(time.Millisecond)
		}
	}
	horizon := time.Now().Add(-crm.DefaultRetention)

	_ = eachServer(ctx, rdb, func(ctx context.Context, c redis.UniversalClient) error {
		_ = c.ConfigSet(ctx, "slowlog-log-slower-than", "0").Err()
		return c.Do(ctx, "SLOWLOG", "RESET").Err()
	})
	start := time.Now()
	total := 0
	for {
		k, err := st.PurgeExpired(ctx, t, crm.Contacts, horizon, worker.PurgeBatchSize)
		if err != nil {
			return res, err
		}
		total += k
		if k < worker.PurgeBatchSize {
			break
		}
	}
	d := time.Since(start)
	// The slowest command on any server (each master of a cluster keeps its own SLOWLOG).
	var worst time.Duration
	err = eachServer(ctx, rdb, func(ctx context.Context, c redis.UniversalClient) error {
		logs, err := c.SlowLogGet(ctx, 10000).Result()
		for _, l := range logs {
			worst = max(worst, l.Duration)
		}
		_ = c.ConfigSet(ctx, "slowlog-log-slower-than", "10000").Err()
		return err
	})
	if err == nil {
		res.Extra["slowest_command_ms"] = float64(worst.Microseconds()) / 1000
	}
	if total != n {
		return res, fmt.Errorf("purge removed %d of %d", total, n)
	}

	start = time.Now()
	trash := redisstore.TrashKey(raw, crm.Contacts)
	binPrefix := strings.TrimSuffix(redisstore.BinRecordKey(raw, crm.Contacts, "x"), "x")
	for {
		ids, err := rdb.ZRangeByScore(ctx, trash, &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(horizon.UnixMilli(), 10), Count: 500}).Result()
		if err != nil {
			return res, err
		}
		if len(ids) == 0 {
			break
		}
		keys := make([]string, len(ids))
		members := make([]any, len(ids))
		for i, id := range ids {
			keys[i] = binPrefix + id
			members[i] = id
		}
		pipe := rdb.Pipeline()
		pipe.Unlink(ctx, keys...)
		pipe.ZRem(ctx, trash, members...)
		if _, err := pipe.Exec(ctx); err != nil {
			return res, err
		}
	}
	finish(&res, d, time.Since(start))
	return res, nil
}

// Undo measures the undo of a bulk delete job of n contacts as a user asks for one: POST
// /crm/v3/operations/job-<id>/undo and the undo job's run by a worker serving the queue (the
// records restored in batches, each with its audit entry, its indexes and the job's progress),
// until the job is done. Beside it, the raw figure is one Lua move back (RENAME, ZREM, ZADD per
// record) per 500 records of a copy of the same bin.
func Undo(ctx context.Context, rdb redis.UniversalClient, queue asynq.RedisConnOpt, n int) (Result, error) {
	res := Result{Name: "undo", Records: n, Goal: 0.5}
	s, err := startStack(ctx, rdb, queue, "bench-undo")
	if err != nil {
		return res, err
	}
	defer s.close(rdb, queue)
	raw := randomTenant("bench-rawundo")
	defer Drop(context.WithoutCancel(ctx), rdb, raw)
	ids, err := seedContacts(ctx, s.store, s.tenant, n)
	if err != nil {
		return res, err
	}
	rawIDs, err := Seed(ctx, s.store, raw, n)
	if err != nil {
		return res, err
	}
	del, err := s.store.CreateDeleteJob(ctx, s.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids, ConfirmCount: int64(n), By: "bench@crmflow.example"})
	if err != nil {
		return res, err
	}
	for !del.State.Finished() {
		if del, err = s.store.RunDeleteJobBatch(ctx, s.tenant, del.ID, crm.MaxScriptBatch); err != nil {
			return res, err
		}
	}
	for i := 0; i < n; i += crm.MaxScriptBatch {
		if _, err := s.store.ArchiveRecords(ctx, raw, crm.Contacts, rawIDs[i:min(i+crm.MaxScriptBatch, n)], crm.Actor{User: "bench@crmflow.example"}); err != nil {
			return res, err
		}
	}

	start := time.Now()
	var job struct {
		ID string `json:"id"`
	}
	if err := s.call(ctx, http.MethodPost, "/crm/v3/operations/"+crm.JobOperationID(del.ID)+"/undo", nil, http.StatusAccepted, &job); err != nil {
		return res, err
	}
	var last crm.Job
	err = waitFor(ctx, 10*time.Minute, "undo job", func() (bool, error) {
		j, err := s.store.Job(ctx, s.tenant, job.ID)
		last = j
		return j.State == crm.JobDone, err
	})
	if err != nil {
		return res, err
	}
	d := time.Since(start)
	if last.Done != int64(n) {
		return res, fmt.Errorf("undo restored %d of %d", last.Done, n)
	}

	start = time.Now()
	recPrefix := strings.TrimSuffix(redisstore.RecordKey(raw, crm.Contacts, "x"), "x")
	binPrefix := strings.TrimSuffix(redisstore.BinRecordKey(raw, crm.Contacts, "x"), "x")
	for i := 0; i < n; i += 500 {
		args := make([]any, 0, 500)
		for _, id := range rawIDs[i:min(i+500, n)] {
			args = append(args, string(id))
		}
		if err := rawMoveScript.Run(ctx, rdb, []string{binPrefix, recPrefix, redisstore.TrashKey(raw, crm.Contacts), redisstore.LiveKey(raw, crm.Contacts)}, args...).Err(); err != nil {
			return res, err
		}
	}
	finish(&res, d, time.Since(start))
	return res, nil
}

// RestoreScript seeds n contacts, moves them to the bin 500 a call and brings them back 500 a
// call through the store (restore.lua: the bin's, live, email, search and operation indexes, change
// marks and the audit entry), and returns the restores' time per record, in microseconds.
func RestoreScript(ctx context.Context, rdb redis.UniversalClient, n int) (float64, error) {
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: "bench"})
	if err != nil {
		return 0, err
	}
	t := randomTenant("bench-restore")
	defer Drop(context.WithoutCancel(ctx), rdb, t)
	ids, err := Seed(ctx, st, t, n)
	if err != nil {
		return 0, err
	}
	const batch = 500
	for i := 0; i < n; i += batch {
		if _, err := st.ArchiveRecords(ctx, t, crm.Contacts, ids[i:min(i+batch, n)], crm.Actor{User: "bench@crmflow.example"}); err != nil {
			return 0, err
		}
	}
	var spent time.Duration
	for i := 0; i < n; i += batch {
		start := time.Now()
		res, err := st.RestoreRecords(ctx, t, crm.Contacts, ids[i:min(i+batch, n)], crm.Actor{User: "bench@crmflow.example"})
		spent += time.Since(start)
		if err != nil {
			return 0, err
		}
		if len(res.Restored) != min(batch, n-i) {
			return 0, fmt.Errorf("restored %d of %d", len(res.Restored), min(batch, n-i))
		}
	}
	return float64(spent.Microseconds()) / float64(n), nil
}
