package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crmflow/crmflow/internal/bench"
)

func newBenchCmd(a *app) *cobra.Command {
	var records, fairness int
	var asJSON bool
	var scenarios string
	var skipFigures bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure crmflow against the raw limits of the same Redis and machine (needs --redis or REDIS_URL)",
		Long: `Measure crmflow's paths side by side with the raw work they cannot beat, on the same data in the
same run, and print each as a ratio: crmflow's records per second over the raw limit's.

  trigger-eval  the engine's decision per record, in process, beside expr's vm.Run of the same
                program on environments built beforehand (goal 0.8)
  backfill      enroll-existing of a contact workflow (one contact in ten matches) beside pipelined
                HGETALL of the same records (goal 0.8)
  bulk-delete   a bulk delete by filter through the API and a worker, until the job is done, beside
                one Lua RENAME + ZREM + ZADD per 500 records (goal 0.5)
  purge         the purge of expired bin entries beside ZRANGEBYSCORE + UNLINK + ZREM per 500 (goal
                0.8); it also reports the slowest single Redis command of the purge (goal 5 ms)
  undo          the undo of a bulk delete job's operation through the API and a worker, until the
                undo job is done, beside one Lua RENAME + ZREM + ZADD back per 500 records (goal 0.5)
  workflow-e2e  a delete_contact workflow from its activation until every matching contact is in the
                bin, beside the naive design of one asynq task per contact (goal 25: 25 times faster)
  batch-create  batch creates over HTTP, 100 per request, beside pipelined HSETs (goal 0.3)
  search        searches of a page of 100 (a week of last_activity_date; the same AND a lifecycle
                stage) beside the raw ZRANGEBYSCORE / SMISMEMBER / HGETALL reads of the same
                indexes (goal 0.5)
  many-tenants  the Redis commands a second while nothing happens and the write-to-enrollment lag
                of one of 10 active tenants, with 10,000 idle tenants beside them over without: the
                larger of the two ratios (goal at most 1.2); it also reports the commands of one
                full walk of the sweeps over every tenant (once per --full-sweep-every)
  fairness      tenant B's write-to-enrollment lag (20 updates a second through the API) while
                tenant A's workflow enrolls --fairness-records existing contacts and writes each,
                beside B's lag while A is idle: the ratio of the p99s (goal at most 2). It takes
                minutes, so it runs only when named in --scenario

It also prints Redis memory per contact (ten properties, every index) and the p50/p99 lag from an
API write to the enrollment it causes, under a steady stream of updates.

The Redis must be a real one, and should be otherwise idle: the embedded store's figures mean
nothing, so there is none here. Each scenario works in tenants of its own and drops them after; the
worker queues of the Redis are used and cleared. It exits 1 when a ratio misses its goal.`,
		Example: `  crmflow bench --redis redis://127.0.0.1:6379/0
  crmflow bench --redis redis://127.0.0.1:6379/0 --records 20000 --scenario backfill,purge --json
  crmflow bench --redis redis://127.0.0.1:6379/0 --scenario fairness --skip-figures`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var names []string
			for _, s := range strings.Split(scenarios, ",") {
				if s = strings.TrimSpace(s); s != "" {
					if !slices.Contains(bench.Scenarios, s) {
						// Said before anything connects: a typo is no reason to reach the Redis.
						return usageErrorf("--scenario %q is not a scenario: choose from %s", s, strings.Join(bench.Scenarios, ", "))
					}
					names = append(names, s)
				}
			}
			return a.bench(cmd.Context(), bench.Options{Records: records, FairnessRecords: fairness, Scenarios: names, SkipFigures: skipFigures}, asJSON)
		},
	}
	fs := cmd.Flags()
	a.redisFlag(fs)
	fs.IntVar(&records, "records", bench.DefaultRecords, "records in each scenario")
	fs.IntVar(&fairness, "fairness-records", bench.DefaultFairnessRecords, "contacts tenant A's workflow enrolls in the fairness scenario")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON on stdout (progress lines go to stderr)")
	fs.StringVar(&scenarios, "scenario", "", "comma-separated scenarios to run (default: all but fairness): "+strings.Join(bench.Scenarios, ", "))
	fs.BoolVar(&skipFigures, "skip-figures", false, "leave out the memory per contact and the write-to-enrollment lag")
	return cmd
}

// bench runs the scenarios and prints the report.
func (a *app) bench(ctx context.Context, opts bench.Options, asJSON bool) error {
	if opts.Records < 1000 {
		return usageErrorf("--records %d is too small to measure anything: use 1000 or more (default %d)", opts.Records, bench.DefaultRecords)
	}
	if opts.FairnessRecords < 1000 {
		return usageErrorf("--fairness-records %d is too small to measure anything: use 1000 or more (default %d)", opts.FairnessRecords, bench.DefaultFairnessRecords)
	}
	if a.cfg.RedisURL == "" {
		return &exitError{code: exitUsage, err: fmt.Errorf("crmflow bench needs a real Redis: pass --redis redis://HOST:6379/0 or set REDIS_URL " +
			"(the embedded store's figures would mean nothing, so bench has none)")}
	}
	// The bench opens no store of the deployment: its stores work in tenants of their own with a
	// random salt, and it neither needs nor checks the deployment's email salt.
	b, err := a.dialRedis(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	q, err := a.queueOf(b)
	if err != nil {
		return err
	}
	progress := a.stdout
	if asJSON {
		progress = a.stderr
	}
	fmt.Fprintf(progress, "crmflow bench: %d records per scenario on Redis at %s\n", opts.Records, b.addr)
	opts.Progress = progress
	rep, err := bench.Run(ctx, b.rdb, q.opt, opts)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printSummary(a.stdout, rep)
	}
	if !rep.Met() {
		return &exitError{code: 1, err: fmt.Errorf("a ratio missed its goal (see above)")}
	}
	return nil
}

// printSummary prints the report's table of ratios.
func printSummary(w io.Writer, rep bench.Report) {
	fmt.Fprintf(w, "\n%-13s %9s %9s %12s %12s %7s %6s\n", "scenario", "records", "seconds", "records/s", "raw rec/s", "ratio", "goal")
	for _, s := range rep.Scenarios {
		goal, mark := "-", ""
		if s.Goal > 0 {
			goal = fmt.Sprintf("%.2f", s.Goal)
			if s.LowerIsBetter {
				goal = fmt.Sprintf("<=%.2f", s.Goal)
			}
			mark = " ok"
			if s.Missed() {
				mark = " MISSED"
			}
		}
		fmt.Fprintf(w, "%-13s %9d %9.2f %12.0f %12.0f %7.2f %6s%s\n", s.Name, s.Records, s.Seconds, s.Rate, s.RawRate, s.Ratio, goal, mark)
		if ms, ok := s.Extra["slowest_command_ms"]; ok {
			fmt.Fprintf(w, "%-13s slowest Redis command during the purge: %.2f ms (goal 5 ms)\n", "", ms)
		}
		if s.Name == "many-tenants" {
			x := s.Extra
			fmt.Fprintf(w, "%-13s idle Redis commands a second: %.0f with %d idle tenants plus %.1f for their full walks (%.0f commands each, once per --full-sweep-every's default), %.0f without (ratio %.2f); lag p50/p99 %.1f/%.1f ms with, %.1f/%.1f ms without (ratio of p99s %.2f)\n",
				"", x["with_idle_commands_per_s"], s.Records, x["full_walk_commands_per_s"], x["full_walk_commands"], x["alone_commands_per_s"], x["commands_ratio"],
				x["with_idle_p50_ms"], x["with_idle_p99_ms"], x["alone_p50_ms"], x["alone_p99_ms"], x["lag_ratio"])
		}
		if s.Name == "fairness" {
			fmt.Fprintf(w, "%-13s tenant B's lag: idle p50 %.1f ms, p99 %.1f ms (%.0f updates); during tenant A's backfill p50 %.1f ms, p99 %.1f ms, max %.1f ms (%.0f updates); ratio of p99s %.2f (goal at most %.2f)\n",
				"", s.Extra["idle_p50_ms"], s.Extra["idle_p99_ms"], s.Extra["idle_writes"], s.Extra["busy_p50_ms"], s.Extra["busy_p99_ms"],
				s.Extra["busy_max_ms"], s.Extra["busy_writes"], s.Ratio, s.Goal)
			if waiting, ok := s.Extra["a_steps_waiting"]; ok {
				fmt.Fprintf(w, "%-13s tenant A: %.0f contacts enrolled; measured for %.1f s, when %.0f steps were still to run and its workflow was paused\n",
					"", s.Extra["enrolled"], s.Seconds, waiting)
			} else {
				fmt.Fprintf(w, "%-13s tenant A: %.0f contacts enrolled in %.1f s, every step done in %.1f s\n", "", s.Extra["enrolled"], s.Extra["backfill_seconds"], s.Seconds)
			}
		}
	}
	if rep.MemoryPerContact > 0 {
		fmt.Fprintf(w, "memory per contact: %.0f bytes (used_memory); by key (MEMORY USAGE):\n", rep.MemoryPerContact)
		for _, f := range rep.MemoryByKey {
			if f.BytesPerContact >= 0.5 {
				fmt.Fprintf(w, "  %-45s %7d keys  %-9s %6.1f bytes\n", f.Family, f.Keys, f.Encoding, f.BytesPerContact)
			}
		}
	}
	if rep.Lag != nil {
		fmt.Fprintf(w, "write to enrollment lag: p50 %.1f ms, p99 %.1f ms (%d updates at %.0f/s)\n", rep.Lag.P50, rep.Lag.P99, rep.Lag.Writes, rep.Lag.Rate)
	}
	fmt.Fprintf(w, "total %.0f s on %d CPUs, %s, Redis %s\n", rep.Seconds, rep.Machine.CPUs, rep.Machine.Go, rep.Machine.RedisVersion)
}
