package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"github.com/crmflow/crmflow/internal/clock"
)

// SchedulerConfig configures a Scheduler. The zero value works.
type SchedulerConfig struct {
	// ChangesSweepSpec is when the tenants with record changes waiting get a changes:drain (a
	// changes:sweep), in the syntax of PurgeSpec. Defaults to "@every 2s".
	ChangesSweepSpec string
	// Clock gives the tick of a run that has none (RunPurgeOnce with a zero tick). Defaults to the
	// wall clock.
	Clock clock.Clock
	// JobsSweepSpec is when unfinished bulk jobs are given a runner again (a jobs:sweep), in the
	// syntax of PurgeSpec. Defaults to "@every 30s".
	JobsSweepSpec string
	// Location is the time zone of the cron specs. Defaults to UTC, so that schedulers on hosts of
	// different zones tick at the same instants (and their sweeps dedupe).
	Location *time.Location
	// Logger receives the scheduler's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// MailSweepSpec is when the pending emails left behind are re-enqueued (a mail:sweep), in the
	// syntax of PurgeSpec. Defaults to "@every 5m".
	MailSweepSpec string
	// PurgeSpec is when the trash is purged (a trash:sweep): a cron spec of five fields
	// ("0 * * * *") or a descriptor ("@hourly", "@every 30m"; an "@every" interval is whole
	// seconds, at least 1s, see [ParseSpec]). Defaults to "@hourly".
	PurgeSpec string
	// WorkflowSweepSpec is when overdue workflow steps are enqueued again (a workflow:sweep), in the
	// syntax of PurgeSpec. Defaults to "@every 30s".
	WorkflowSweepSpec string
}

// Scheduler runs cron entries that only enqueue; workers do the work. Each tick of an entry
// enqueues one sweep task, unique for the entry's period and with a task id derived from the tick,
// so several schedulers running at once enqueue one sweep per tick. The entries:
//
//	purge     a trash:sweep    (PurgeSpec, hourly by default)
//	mail      a mail:sweep     (MailSweepSpec, every 5 minutes by default)
//	jobs      a jobs:sweep     (JobsSweepSpec, every 30 seconds by default)
//	changes   a changes:sweep  (ChangesSweepSpec, every 2 seconds by default)
//	workflows a workflow:sweep (WorkflowSweepSpec, every 30 seconds by default)
//
// Build it with NewScheduler and run it with Run. Safe for concurrent use; Run may be called once.
type Scheduler struct {
	cron     *cron.Cron
	client   *Client
	clock    clock.Clock
	location *time.Location
	log      *slog.Logger
	purge    *entry
	mail     *entry
	jobs     *entry
	changes  *entry
	flows    *entry
	jobCtx   context.Context // parent of the jobs' contexts, set by Run before the cron starts
	running  atomic.Bool
	closed   atomic.Bool
	once     sync.Once
}

// entry is one cron entry of the Scheduler.
type entry struct {
	name    string
	spec    string
	sched   cron.Schedule
	period  time.Duration
	id      cron.EntryID
	newTask func(tick time.Time) *asynq.Task
}

// lastTick returns the entry's latest tick at or before now, or the zero time if it has none in
// the year before now.
func (e *entry) lastTick(now time.Time) time.Time {
	for back := e.period; back <= 366*24*time.Hour; back *= 2 {
		t := e.sched.Next(now.Add(-back))
		if t.After(now) {
			continue
		}
		for n := e.sched.Next(t); !n.After(now); n = e.sched.Next(t) {
			t = n
		}
		return t
	}
	return time.Time{}
}

// NewScheduler returns a Scheduler enqueueing on the queue at queue. cfg may be nil for the
// defaults. It does not dial, but it holds a connection pool: Run releases it when it returns, and
// a Scheduler that will never Run must be closed with Close. It returns an error naming an invalid
// spec.
func NewScheduler(queue asynq.RedisConnOpt, cfg *SchedulerConfig) (*Scheduler, error) {
	if queue == nil {
		return nil, errors.New("worker: NewScheduler needs the queue's Redis (an asynq.RedisConnOpt)")
	}
	var c SchedulerConfig
	if cfg != nil {
		c = *cfg
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ChangesSweepSpec == "" {
		c.ChangesSweepSpec = "@every 2s"
	}
	if c.WorkflowSweepSpec == "" {
		c.WorkflowSweepSpec = "@every 30s"
	}
	if c.JobsSweepSpec == "" {
		c.JobsSweepSpec = "@every 30s"
	}
	if c.MailSweepSpec == "" {
		c.MailSweepSpec = "@every 5m"
	}
	if c.PurgeSpec == "" {
		c.PurgeSpec = "@hourly"
	}
	s := &Scheduler{clock: c.Clock, location: c.Location, log: c.Logger}
	cl := cronLogger{c.Logger.With("component", "cron")}
	s.cron = cron.New(cron.WithLocation(c.Location), cron.WithLogger(cl),
		cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	var err error
	if s.purge, err = s.add("purge", "PurgeSpec", c.PurgeSpec, NewTrashSweepTask, c.Location); err != nil {
		return nil, err
	}
	if s.mail, err = s.add("mail", "MailSweepSpec", c.MailSweepSpec, NewMailSweepTask, c.Location); err != nil {
		return nil, err
	}
	if s.jobs, err = s.add("jobs", "JobsSweepSpec", c.JobsSweepSpec, NewJobsSweepTask, c.Location); err != nil {
		return nil, err
	}
	if s.changes, err = s.add("changes", "ChangesSweepSpec", c.ChangesSweepSpec, NewChangesSweepTask, c.Location); err != nil {
		return nil, err
	}
	if s.flows, err = s.add("workflows", "WorkflowSweepSpec", c.WorkflowSweepSpec, NewWorkflowSweepTask, c.Location); err != nil {
		return nil, err
	}
	s.client = NewClient(queue)
	return s, nil
}

// ParseSpec parses a cron spec of the scheduler: five fields (minute, hour, day of month, month,
// day of week) or a descriptor such as "@hourly" or "@every 30m". An "@every" interval must be a
// whole number of seconds, at least one: the cron would otherwise run it silently every second, or
// round it down. An "@every" schedule fires at the multiples of its interval (for an interval that
// divides a day, counted from midnight UTC), not at intervals from the moment the scheduler
// started, so that schedulers started at different moments tick at the same instants and enqueue
// each tick once. It returns the parse error, or one saying what interval to give.
func ParseSpec(spec string) (cron.Schedule, error) {
	const every = "@every "
	if rest, ok := strings.CutPrefix(strings.TrimSpace(spec), every); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("interval %q is not a duration: %w", rest, err)
		}
		if d < time.Second || d%time.Second != 0 {
			return nil, fmt.Errorf("interval %s must be a whole number of seconds, at least 1s", d)
		}
		return everySchedule{every: d}, nil
	}
	return cron.ParseStandard(spec)
}

// everySchedule is the schedule of "@every D": the multiples of D since the zero time. cron's own
// "@every" counts D from each scheduler's start, so two schedulers started a few seconds apart
// would tick at different instants, and each enqueue its own sweep of every period.
type everySchedule struct{ every time.Duration }

// Next returns the first multiple of the interval after t.
func (s everySchedule) Next(t time.Time) time.Time { return t.Truncate(s.every).Add(s.every) }

// add parses spec and schedules an entry that enqueues newTask(tick) at each tick.
func (s *Scheduler) add(name, field, spec string, newTask func(time.Time) *asynq.Task, loc *time.Location) (*entry, error) {
	sched, err := ParseSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("worker: SchedulerConfig.%s %q is not a valid cron spec "+
			`(use five fields such as "0 * * * *", or "@hourly", "@every 30m"): %w`, field, spec, err)
	}
	first := sched.Next(s.clock.Now().In(loc))
	period := sched.Next(first).Sub(first)
	if first.IsZero() || period <= 0 {
		return nil, fmt.Errorf("worker: SchedulerConfig.%s %q never fires", field, spec)
	}
	e := &entry{name: name, spec: spec, sched: sched, period: max(period, time.Second), newTask: newTask}
	e.id = s.cron.Schedule(sched, cron.FuncJob(func() { s.runEntry(e) }))
	return e, nil
}

// Run starts the cron entries and blocks until ctx is cancelled; then it stops the cron, waits for
// the entries running, closes its connections and returns nil. An error if Run was already called,
// or the Scheduler closed.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("worker: Scheduler.Run called twice, or after Close")
	}
	defer s.close()
	// A job under way when ctx ends still finishes its enqueue (bounded by its own timeout).
	s.jobCtx = context.WithoutCancel(ctx)
	// A tick that came while no scheduler ran (a restart, a deploy) is not lost: each entry's
	// latest tick is enqueued now, unless a scheduler already did (its task id is the tick's).
	// Without it, a daily purge whose scheduler restarted over its minute would wait a day.
	// They are enqueued beside the cron, so that a Redis that hangs delays no tick.
	now := s.clock.Now().In(s.location)
	var missed sync.WaitGroup
	for _, e := range []*entry{s.purge, s.mail, s.jobs, s.changes, s.flows} {
		if tick := e.lastTick(now); !tick.IsZero() {
			missed.Go(func() { s.enqueueTick(e, tick, "missed tick enqueued at start") })
		}
	}
	defer missed.Wait()
	s.cron.Start()
	s.log.Info("scheduler started", "purge_spec", s.purge.spec, "next_purge", s.cron.Entry(s.purge.id).Next,
		"mail_sweep_spec", s.mail.spec, "jobs_sweep_spec", s.jobs.spec, "changes_sweep_spec", s.changes.spec,
		"workflow_sweep_spec", s.flows.spec)
	<-ctx.Done()
	s.log.Info("scheduler stopping: waiting for the entries running")
	<-s.cron.Stop().Done()
	s.log.Info("scheduler stopped")
	return nil
}

// Close releases the connections of a Scheduler that will not Run; Run releases them itself when
// it returns. It returns an error if the Scheduler is running (cancel Run's context to stop it).
// After Close, Run fails. Idempotent.
func (s *Scheduler) Close() error {
	if !s.running.CompareAndSwap(false, true) && !s.closed.Load() {
		return errors.New("worker: Scheduler.Close called while Run is running: cancel Run's context instead")
	}
	return s.close()
}

func (s *Scheduler) close() error {
	var err error
	s.once.Do(func() {
		err = s.client.Close()
		s.closed.Store(true)
	})
	return err
}

// Ping checks that the queue's Redis answers; use it as the readiness check of AdminHandler.
func (s *Scheduler) Ping(ctx context.Context) error { return s.client.Ping(ctx) }

// PurgePeriod is the time between two ticks of the purge entry (an hour for "@hourly"); a tick's
// sweep is unique for that long.
func (s *Scheduler) PurgePeriod() time.Duration { return s.purge.period }

// RunJobsSweepOnce does what the jobs entry does at a tick: it enqueues a jobs:sweep as of tick.
func (s *Scheduler) RunJobsSweepOnce(ctx context.Context, tick time.Time) (*asynq.TaskInfo, error) {
	return s.client.Enqueue(ctx, NewJobsSweepTask(tick))
}

// RunChangesSweepOnce does what the changes entry does at a tick: it enqueues a changes:sweep as of
// tick (zero means the Clock's now). Errors as RunPurgeOnce.
func (s *Scheduler) RunChangesSweepOnce(ctx context.Context, tick time.Time) (*asynq.TaskInfo, error) {
	return s.runOnce(ctx, s.changes, tick)
}

// RunWorkflowSweepOnce does what the workflows entry does at a tick: it enqueues a workflow:sweep as
// of tick (zero means the Clock's now). Errors as RunPurgeOnce.
func (s *Scheduler) RunWorkflowSweepOnce(ctx context.Context, tick time.Time) (*asynq.TaskInfo, error) {
	return s.runOnce(ctx, s.flows, tick)
}

// MailSweepPeriod is the time between two ticks of the mail entry.
func (s *Scheduler) MailSweepPeriod() time.Duration { return s.mail.period }

// RunPurgeOnce does what the purge entry does at a tick: it enqueues a trash:sweep as of tick (zero
// means the Clock's now), unique for PurgePeriod and with a task id derived from tick. A sweep
// already enqueued for that tick (by this or another scheduler) returns an error wrapping
// ErrDuplicate.
func (s *Scheduler) RunPurgeOnce(ctx context.Context, tick time.Time) (*asynq.TaskInfo, error) {
	return s.runOnce(ctx, s.purge, tick)
}

// RunMailSweepOnce does what the mail entry does at a tick: it enqueues a mail:sweep as of tick
// (zero means the Clock's now). Errors as RunPurgeOnce.
func (s *Scheduler) RunMailSweepOnce(ctx context.Context, tick time.Time) (*asynq.TaskInfo, error) {
	return s.runOnce(ctx, s.mail, tick)
}

func (s *Scheduler) runOnce(ctx context.Context, e *entry, tick time.Time) (*asynq.TaskInfo, error) {
	if tick.IsZero() {
		tick = s.clock.Now()
	}
	return s.client.Enqueue(ctx, e.newTask(tick), asynq.Unique(e.period), asynq.Retention(e.period))
}

// level is the level of an entry's routine log lines: info for the purge, which an operator
// follows, and debug for the sweeps, which tick every few seconds (the worker's line of each sweep
// says what it found, at info when it found something).
func (e *entry) level() slog.Level {
	if e.name == "purge" {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// runEntry is the cron job of an entry. Its tick is the instant the entry was due, the same on
// every scheduler, so their sweeps dedupe.
func (s *Scheduler) runEntry(e *entry) {
	s.enqueueTick(e, s.cron.Entry(e.id).Prev, "sweep enqueued")
}

// enqueueTick enqueues the entry's sweep of tick and logs the outcome, msg when it was enqueued.
func (s *Scheduler) enqueueTick(e *entry, tick time.Time, msg string) {
	ctx, cancel := context.WithTimeout(s.jobCtx, 30*time.Second)
	defer cancel()
	info, err := s.runOnce(ctx, e, tick)
	switch {
	case errors.Is(err, ErrDuplicate):
		s.log.Log(ctx, e.level(), "sweep already enqueued for this tick", "entry", e.name, "tick", tick)
	case err != nil:
		s.log.Error("could not enqueue the sweep", "entry", e.name, "tick", tick, "error", err)
	default:
		s.log.Log(ctx, e.level(), msg, "entry", e.name, "tick", tick, "task_id", info.ID)
	}
}

// cronLogger sends cron's logs to slog; its routine lines go to debug level.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug(msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error(msg, append(kv, "error", err)...)
}
