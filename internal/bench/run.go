package bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Scenarios are the scenarios Run knows, in the order it runs them.
var Scenarios = []string{"trigger-eval", "backfill", "bulk-delete", "purge", "undo", "workflow-e2e", "batch-create", "search", "many-tenants", "fairness"}

// DefaultScenarios are the scenarios Run runs when given none: all but fairness, which takes
// minutes and runs only when named.
var DefaultScenarios = Scenarios[:len(Scenarios)-1]

// Options configure Run. The zero value runs every scenario on DefaultRecords records.
type Options struct {
	// Records is the size of each scenario. Defaults to DefaultRecords.
	Records int
	// FairnessRecords is the size of tenant A's backfill in the fairness scenario. Defaults to
	// DefaultFairnessRecords.
	FairnessRecords int
	// Scenarios are the names (of Scenarios) to run; empty runs DefaultScenarios. Memory per
	// contact and the write-to-enrollment lag are measured unless SkipFigures is set.
	Scenarios []string
	// SkipFigures leaves out the memory per contact and the lag.
	SkipFigures bool
	// Progress receives one line per scenario as it ends; nil means none.
	Progress io.Writer
}

// DefaultRecords is the default size of a scenario.
const DefaultRecords = 100_000

// Report is what Run measured.
type Report struct {
	Date    string  `json:"date"`
	Machine Machine `json:"machine"`
	Records int     `json:"records"`
	// Scenarios are the ratios, each against its raw limit.
	Scenarios []Result `json:"scenarios"`
	// MemoryPerContact is the growth of Redis's used_memory per contact of ten properties, every
	// index included, in bytes; 0 when not measured.
	MemoryPerContact float64 `json:"memory_bytes_per_contact,omitempty"`
	// MemoryByKey is where that memory goes, by key family, biggest first (MeasureMemory).
	MemoryByKey []KeyFamily `json:"memory_by_key,omitempty"`
	// Lag is the write-to-enrollment lag; nil when not measured.
	Lag *Lag `json:"write_to_enrollment_lag,omitempty"`
	// Seconds is how long the whole run took.
	Seconds float64 `json:"seconds"`
}

// Machine describes where a report was measured.
type Machine struct {
	CPUs         int    `json:"cpus"`
	OS           string `json:"os"`
	Arch         string `json:"arch"`
	Go           string `json:"go"`
	RedisVersion string `json:"redis_version"`
}

// Met reports whether every scenario with a goal reached it.
func (r Report) Met() bool {
	for _, s := range r.Scenarios {
		if s.Missed() {
			return false
		}
	}
	return true
}

// Run measures the scenarios of opts on rdb, a real Redis that should be otherwise idle, with queue
// the same Redis as asynq sees it. Each scenario uses tenants of its own and drops them.
func Run(ctx context.Context, rdb redis.UniversalClient, queue asynq.RedisConnOpt, opts Options) (Report, error) {
	began := time.Now()
	n := opts.Records
	if n == 0 {
		n = DefaultRecords
	}
	names := opts.Scenarios
	if len(names) == 0 {
		names = DefaultScenarios
	}
	fair := opts.FairnessRecords
	if fair == 0 {
		fair = DefaultFairnessRecords
	}
	for _, name := range names {
		if !slices.Contains(Scenarios, name) {
			return Report{}, fmt.Errorf("unknown scenario %q: choose from %s", name, strings.Join(Scenarios, ", "))
		}
	}
	if err := checkIdle(ctx, rdb, queue); err != nil {
		return Report{}, err
	}
	rep := Report{Date: began.UTC().Format(time.RFC3339), Records: n,
		Machine: Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()}}
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		rep.Machine.RedisVersion = infoField(info, "redis_version")
	}
	say := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	for _, name := range Scenarios {
		if !slices.Contains(names, name) {
			continue
		}
		var r Result
		var err error
		switch name {
		case "trigger-eval":
			r, err = TriggerEval(n)
		case "backfill":
			r, err = Backfill(ctx, rdb, queue, n)
		case "bulk-delete":
			r, err = BulkDelete(ctx, rdb, queue, n)
		case "purge":
			r, err = Purge(ctx, rdb, n)
		case "undo":
			r, err = Undo(ctx, rdb, queue, n)
		case "workflow-e2e":
			r, err = WorkflowE2E(ctx, rdb, queue, n)
		case "batch-create":
			r, err = BatchCreateHTTP(ctx, rdb, n, 4)
		case "search":
			r, err = Search(ctx, rdb, n)
		case "many-tenants":
			r, err = ManyTenants(ctx, rdb, queue, nil)
		case "fairness":
			r, err = Fairness(ctx, rdb, queue, fair, nil)
		}
		if err != nil {
			return rep, fmt.Errorf("%s: %w", name, err)
		}
		rep.Scenarios = append(rep.Scenarios, r)
		say("%s", r)
	}
	if !opts.SkipFigures {
		per, fams, err := MeasureMemory(ctx, rdb, n)
		if err != nil {
			return rep, fmt.Errorf("memory: %w", err)
		}
		rep.MemoryPerContact, rep.MemoryByKey = per, fams
		say("memory       %.0f bytes per contact (10 properties, every index)", per)
		lag, err := MeasureLag(ctx, rdb, queue, 500, 50)
		if err != nil {
			return rep, fmt.Errorf("lag: %w", err)
		}
		rep.Lag = &lag
		say("lag          write to enrollment p50 %.1f ms, p99 %.1f ms (%d updates at %.0f/s)", lag.P50, lag.P99, lag.Writes, lag.Rate)
	}
	rep.Seconds = time.Since(began).Seconds()
	return rep, nil
}

func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// checkIdle refuses a Redis that holds tenants, queued tasks or running workers: the bench clears
// the worker queues when it is done, and its figures need the server to itself.
func checkIdle(ctx context.Context, rdb redis.UniversalClient, queue asynq.RedisConnOpt) error {
	tenants, err := rdb.SCard(ctx, redisstore.TenantsKey()).Result()
	if err != nil {
		return err
	}
	if tenants > 0 {
		return fmt.Errorf("this Redis holds %d tenants: the bench needs a Redis of its own (another server, or an empty database such as redis://HOST:6379/15)", tenants)
	}
	insp := asynq.NewInspector(queue)
	defer insp.Close()
	servers, err := insp.Servers()
	if err != nil {
		return fmt.Errorf("read the workers of the queue: %w", err)
	}
	if len(servers) > 0 {
		return fmt.Errorf("%d workers are serving this Redis's queues: stop them, or give the bench a Redis of its own", len(servers))
	}
	queues, err := insp.Queues()
	if err != nil {
		return fmt.Errorf("read the queues: %w", err)
	}
	for _, q := range queues {
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			continue
		}
		if n := info.Pending + info.Active + info.Scheduled + info.Retry; n > 0 {
			return fmt.Errorf("queue %s holds %d tasks: the bench clears the queues when it is done, so it needs a Redis of its own", q, n)
		}
	}
	return nil
}
