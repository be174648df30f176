package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/worker"
)

func TestScheduler(t *testing.T) {
	t.Parallel()

	t.Run("InvalidSpecIsNamed", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := worker.NewScheduler(b.queue, &worker.SchedulerConfig{PurgeSpec: "every hour"})
		require.ErrorContains(t, err, `SchedulerConfig.PurgeSpec "every hour" is not a valid cron spec`)
		_, err = worker.NewScheduler(b.queue, &worker.SchedulerConfig{MailSweepSpec: "61 * * * *"})
		require.ErrorContains(t, err, `SchedulerConfig.MailSweepSpec "61 * * * *" is not a valid cron spec`)
		_, err = worker.NewScheduler(nil, nil)
		require.ErrorContains(t, err, "queue")
	})

	t.Run("EveryBelowOneSecondIsRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		// The cron would run each of these every second, or round it down, without a word.
		for _, spec := range []string{"@every 0s", "@every -1h", "@every 500ms", "@every 1500ms"} {
			_, err := worker.NewScheduler(b.queue, &worker.SchedulerConfig{JobsSweepSpec: spec})
			require.ErrorContains(t, err, `SchedulerConfig.JobsSweepSpec "`+spec+`" is not a valid cron spec`)
			require.ErrorContains(t, err, "whole number of seconds, at least 1s")
		}
		_, err := worker.ParseSpec("@every 90s")
		require.NoError(t, err)
	})

	// Schedulers started at different moments of a period tick at the same instants, so that
	// their sweeps of a tick have one task id and dedupe: "@every" counts from a fixed origin, not
	// from each scheduler's start.
	t.Run("EveryTicksAtTheSameInstantsWhenEverStarted", func(t *testing.T) {
		t.Parallel()
		base := time.Date(2026, 12, 7, 16, 12, 0, 0, time.UTC)
		for _, tc := range []struct {
			spec  string
			first time.Time // the first tick after base
			every time.Duration
		}{
			{"@every 2s", base.Add(2 * time.Second), 2 * time.Second},
			{"@every 5s", base.Add(5 * time.Second), 5 * time.Second},
			{"@every 30s", base.Add(30 * time.Second), 30 * time.Second},
			{"@every 5m", base.Add(3 * time.Minute), 5 * time.Minute}, // 16:15, a multiple of 5 minutes
			{"@every 90s", base.Add(90 * time.Second), 90 * time.Second},
		} {
			sched, err := worker.ParseSpec(tc.spec)
			require.NoError(t, err)
			// Started 0.3 s and 1.7 s after base: the same next tick, and the same ones after it.
			require.Equal(t, tc.first, sched.Next(base.Add(300*time.Millisecond)), tc.spec)
			require.Equal(t, tc.first, sched.Next(base.Add(1700*time.Millisecond)), tc.spec)
			require.Equal(t, tc.first.Add(tc.every), sched.Next(tc.first), tc.spec)
		}
	})

	t.Run("Period", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for spec, want := range map[string]time.Duration{
			"":             time.Hour, // the default, @hourly
			"@hourly":      time.Hour,
			"*/15 * * * *": 15 * time.Minute,
			"@every 90s":   90 * time.Second,
			"30 3 * * *":   24 * time.Hour,
		} {
			s, err := worker.NewScheduler(b.queue, &worker.SchedulerConfig{PurgeSpec: spec, Clock: b.clock, Logger: b.logger})
			require.NoError(t, err, spec)
			require.Equal(t, want, s.PurgePeriod(), spec)
			require.Equal(t, 5*time.Minute, s.MailSweepPeriod(), spec)
			require.NoError(t, s.Close())
		}
	})

	t.Run("TwoSchedulersEnqueueOneSweepPerTick", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		cfg := &worker.SchedulerConfig{Clock: b.clock, Logger: b.logger}
		s1, err := worker.NewScheduler(b.queue, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s1.Close()) })
		s2, err := worker.NewScheduler(b.queue, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { runSchedulerAndStop(t, s2) }) // Run with a cancelled context: returns at once

		tick := t0.Add(-2 * time.Hour)
		info, err := s1.RunPurgeOnce(b.ctx, tick)
		require.NoError(t, err)
		require.Equal(t, worker.QueueDefault, info.Queue)
		_, err = s2.RunPurgeOnce(b.ctx, tick)
		require.ErrorIs(t, err, worker.ErrDuplicate)

		tasks, err := b.insp.ListPendingTasks(worker.QueueDefault)
		require.NoError(t, err)
		require.Len(t, tasks, 1)
		require.Equal(t, worker.TypeTrashSweep, tasks[0].Type)
		var p worker.SweepPayload
		require.NoError(t, json.Unmarshal(tasks[0].Payload, &p))
		require.True(t, p.AsOf.Equal(tick))

		// The next tick is a new sweep; a zero tick is the clock's now.
		_, err = s2.RunPurgeOnce(b.ctx, tick.Add(time.Hour))
		require.NoError(t, err)
		_, err = s2.RunPurgeOnce(b.ctx, time.Time{})
		require.NoError(t, err)
		tasks, err = b.insp.ListPendingTasks(worker.QueueDefault)
		require.NoError(t, err)
		require.Len(t, tasks, 3)

		// The mail entry works the same way.
		_, err = s1.RunMailSweepOnce(b.ctx, tick)
		require.NoError(t, err)
		_, err = s2.RunMailSweepOnce(b.ctx, tick)
		require.ErrorIs(t, err, worker.ErrDuplicate)
		tasks, err = b.insp.ListPendingTasks(worker.QueueDefault)
		require.NoError(t, err)
		require.Len(t, tasks, 4)
	})

	// A tick that came while no scheduler ran is enqueued when one starts, once however many start:
	// a daily purge whose scheduler restarted over its minute does not wait a day.
	t.Run("StartEnqueuesTheMissedTick", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.clock.Set(time.Date(2026, 3, 2, 3, 0, 40, 0, time.UTC)) // 40 s after the purge's tick
		cfg := &worker.SchedulerConfig{PurgeSpec: "0 3 * * *", Clock: b.clock, Logger: b.logger}
		for range 2 {
			s, err := worker.NewScheduler(b.queue, cfg)
			require.NoError(t, err)
			runSchedulerAndStop(t, s)
		}
		tasks, err := b.insp.ListPendingTasks(worker.QueueDefault)
		require.NoError(t, err)
		var purges []time.Time
		for _, task := range tasks {
			if task.Type == worker.TypeTrashSweep {
				var p worker.SweepPayload
				require.NoError(t, json.Unmarshal(task.Payload, &p))
				purges = append(purges, p.AsOf)
			}
		}
		require.Len(t, purges, 1, "one purge sweep, however many schedulers started")
		require.True(t, purges[0].Equal(time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)), "the sweep of the 03:00 tick, not %v", purges[0])
		require.Contains(t, b.logs.String(), `"msg":"missed tick enqueued at start","entry":"purge"`)
	})

	// The real cron entry fires and enqueues a sweep whose as_of is the tick it was due at (a whole
	// second for @every 1s), not the moment the job happened to run; Run stops on cancel.
	t.Run("CronEntryEnqueues", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		s, err := worker.NewScheduler(b.queue, &worker.SchedulerConfig{PurgeSpec: "@every 1s", Logger: b.logger})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(b.ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			require.NoError(t, <-done)
		})
		require.NoError(t, s.Ping(b.ctx))

		eventually(t, 10*time.Second, "the cron entry to enqueue a sweep", func() bool {
			tasks, err := b.insp.ListPendingTasks(worker.QueueDefault)
			if errors.Is(err, asynq.ErrQueueNotFound) {
				return false // nothing enqueued yet
			}
			require.NoError(t, err)
			return len(tasks) > 0
		})
		tasks, err := b.insp.ListPendingTasks(worker.QueueDefault)
		require.NoError(t, err)
		var p worker.SweepPayload
		require.NoError(t, json.Unmarshal(tasks[0].Payload, &p))
		require.False(t, p.AsOf.IsZero())
		require.Zero(t, p.AsOf.Nanosecond(), "as_of is the scheduled tick")
		// The line is written once the enqueue has returned, so it may trail the task.
		eventually(t, 10*time.Second, "the sweep enqueued log line", func() bool {
			return strings.Contains(b.logs.String(), `"msg":"sweep enqueued","entry":"purge"`)
		})
	})
}

// runSchedulerAndStop runs a scheduler with an already cancelled context, which closes its
// connections.
func runSchedulerAndStop(t *testing.T, s *worker.Scheduler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, s.Run(ctx))
}
