package bench_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/internal/bench"
	"github.com/crmflow/crmflow/internal/redistest"
)

// records is the size of each benchmark, from CRMFLOW_BENCH_RECORDS (default 100000).
func records(b *testing.B) int {
	if v := os.Getenv("CRMFLOW_BENCH_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err)
		return n
	}
	return 100_000
}

// Run with: go test ./internal/bench -run '^$' -bench . -benchtime 1x
func BenchmarkScenarios(b *testing.B) {
	ctx := context.Background()
	rdb := redistest.Client(b)
	n := records(b)
	b.Run("memory", func(b *testing.B) {
		for range b.N {
			per, err := bench.MemoryPerContact(ctx, rdb, n)
			require.NoError(b, err)
			b.ReportMetric(per, "bytes/contact")
		}
	})
	b.Run("backfill", func(b *testing.B) {
		for range b.N {
			r, err := bench.Backfill(ctx, rdb, queueOpt(b), n)
			require.NoError(b, err)
			b.Logf("%s", r)
			b.ReportMetric(r.Rate, "rec/s")
			b.ReportMetric(r.RawRate, "raw-rec/s")
		}
	})
	b.Run("batch-create-http", func(b *testing.B) {
		for range b.N {
			r, err := bench.BatchCreateHTTP(ctx, rdb, n, 4)
			require.NoError(b, err)
			b.Logf("%s", r)
			b.ReportMetric(r.Rate, "rec/s")
			b.ReportMetric(r.RawRate, "raw-rec/s")
		}
	})
	b.Run("restore-script", func(b *testing.B) {
		for range b.N {
			us, err := bench.RestoreScript(ctx, rdb, n)
			require.NoError(b, err)
			b.ReportMetric(us, "us/record")
		}
	})
	for _, sc := range []func(context.Context, redis.UniversalClient, int) (bench.Result, error){bulkDelete(b), bench.Purge} {
		for range b.N {
			r, err := sc(ctx, rdb, n)
			require.NoError(b, err)
			b.Logf("%s", r)
			b.ReportMetric(r.Rate, r.Name+"-rec/s")
			b.ReportMetric(r.RawRate, r.Name+"-raw-rec/s")
			b.ReportMetric(r.Ratio, r.Name+"-ratio")
		}
	}
}

// TestScenariosSmall runs every scenario on a small size so the suite proves they work.
// It shares the queues with TestPipelineScenariosSmall, so neither runs in parallel.
func TestScenariosSmall(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	per, fams, err := bench.MeasureMemory(ctx, rdb, 200)
	require.NoError(t, err)
	require.Positive(t, per)
	byName := map[string]bench.KeyFamily{}
	for i, f := range fams {
		byName[f.Family] = f
		if i > 0 {
			require.GreaterOrEqual(t, fams[i-1].BytesPerContact, f.BytesPerContact, "biggest first")
		}
	}
	require.Equal(t, 200, byName["obj:contacts:<id>"].Keys, "one hash a contact: %v", fams)
	require.Equal(t, 1, byName["ix:contacts:email"].Keys)
	require.Positive(t, byName["ix:contacts:email"].BytesPerContact)
	r, err := bench.Backfill(ctx, rdb, queueOpt(t), 1200)
	require.NoError(t, err)
	require.EqualValues(t, 120, r.Extra["enrolled"], "one contact in ten matches")
	r, err = bench.BatchCreateHTTP(ctx, rdb, 450, 3)
	require.NoError(t, err)
	require.Positive(t, r.Ratio)
	// Many tenants, small: both phases measured, and a full walk that costs something.
	r, err = bench.ManyTenants(ctx, rdb, queueOpt(t), &bench.ManyTenantsOpts{Idle: 300, Window: 2 * time.Second, Writes: 40})
	require.NoError(t, err)
	for _, k := range []string{"alone_commands_per_s", "with_idle_commands_per_s", "alone_p99_ms", "with_idle_p99_ms", "full_walk_commands"} {
		require.Positive(t, r.Extra[k], k)
	}
	require.Positive(t, r.Ratio)
	// The search scenario checks each query's total against the raw reads' itself.
	r, err = bench.Search(ctx, rdb, 20000)
	require.NoError(t, err)
	require.Greater(t, r.Records, 100*100, "200 queries, half of them a full page")
	require.Positive(t, r.Ratio)
	us, err := bench.RestoreScript(ctx, rdb, 1200)
	require.NoError(t, err)
	require.Positive(t, us)
	undo := func(ctx context.Context, rdb redis.UniversalClient, n int) (bench.Result, error) {
		return bench.Undo(ctx, rdb, queueOpt(t), n)
	}
	for _, sc := range []func(context.Context, redis.UniversalClient, int) (bench.Result, error){bulkDelete(t), bench.Purge, undo} {
		r, err := sc(ctx, rdb, 1200)
		require.NoError(t, err)
		require.Equal(t, 1200, r.Records)
		require.Positive(t, r.Rate)
		require.Positive(t, r.RawRate)
	}
}

func queueOpt(t testing.TB) asynq.RedisConnOpt {
	opt, err := redis.ParseURL(redistest.URL(t))
	require.NoError(t, err)
	return asynq.RedisClientOpt{Addr: opt.Addr, DB: opt.DB}
}

func TestTriggerEvalSmall(t *testing.T) {
	t.Parallel()
	r, err := bench.TriggerEval(triggerN())
	require.NoError(t, err)
	t.Log(r)
	require.Positive(t, r.Extra["matched"])
}

func triggerN() int {
	if v := os.Getenv("CRMFLOW_TRIGGER_N"); v != "" {
		n, _ := strconv.Atoi(v)
		return n
	}
	return 2000
}

func bulkDelete(t testing.TB) func(context.Context, redis.UniversalClient, int) (bench.Result, error) {
	return func(ctx context.Context, rdb redis.UniversalClient, n int) (bench.Result, error) {
		return bench.BulkDelete(ctx, rdb, queueOpt(t), n)
	}
}

// TestPipelineScenariosSmall runs the scenarios that go through the API and a worker on a small size.
func TestPipelineScenariosSmall(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	// 1,100 deletions: past the default blast-radius limit (1000 an hour), which the scenario lifts.
	r, err := bench.WorkflowE2E(ctx, rdb, queueOpt(t), 11_000)
	require.NoError(t, err)
	t.Log(r)
	require.EqualValues(t, 1100, r.Extra["deleted"])
	require.Positive(t, r.RawRate)
	lag, err := bench.MeasureLag(ctx, rdb, queueOpt(t), 40, 100)
	require.NoError(t, err)
	t.Log(lag)
	require.Positive(t, lag.P50)
	require.GreaterOrEqual(t, lag.P99, lag.P50)

	r, err = bench.Fairness(ctx, rdb, queueOpt(t), 2000, &bench.FairnessOpts{IdleWrites: 20, Rate: 100, BusyLimit: time.Minute})
	require.NoError(t, err)
	t.Log(r)
	require.EqualValues(t, 2000, r.Extra["enrolled"], "every contact of tenant A matches")
	require.EqualValues(t, 20, r.Extra["idle_writes"])
	require.Positive(t, r.Extra["busy_writes"])
	require.Positive(t, r.Ratio)
}

// BenchmarkTriggerEval runs the trigger-eval scenario on CRMFLOW_BENCH_RECORDS records (it needs no
// Redis). Profile the engine's side with -cpuprofile and pprof's -focus engine.DecideOne, the raw
// side with -focus vm.Run.
func BenchmarkTriggerEval(b *testing.B) {
	n := records(b)
	for range b.N {
		r, err := bench.TriggerEval(n)
		require.NoError(b, err)
		b.Logf("%s", r)
		b.ReportMetric(r.Rate, "rec/s")
		b.ReportMetric(r.RawRate, "raw-rec/s")
		b.ReportMetric(r.Ratio, "ratio")
	}
}
