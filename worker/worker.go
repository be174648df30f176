package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/engine"
	"github.com/crmflow/crmflow/internal/clock"
)

// The queues tasks go to. A Worker serves all three, by the weights of [Config].Queues, and runs
// at most [Config].BulkConcurrency tasks of QueueBulk at once.
const (
	// QueueCritical holds tasks a person waits for: emails.
	QueueCritical = "critical"
	// QueueDefault holds ordinary, live work: the sweeps, the drains of record changes, the steps of
	// enrollments made by record changes.
	QueueDefault = "default"
	// QueueBulk holds long batch work: trash purges, bulk deletes, enroll-existing backfills and the
	// steps of the enrollments they make, the steps the workflow sweep enqueues again.
	QueueBulk = "bulk"
)

// DefaultQueues returns the default queue weights: critical 6, default 3, bulk 1. A worker
// fetches from a queue in proportion to its weight (critical tasks about 60% of the time when all
// queues are busy), so no queue starves.
func DefaultQueues() map[string]int {
	return map[string]int{QueueCritical: 6, QueueDefault: 3, QueueBulk: 1}
}

// DefaultOutboxRetention is how long a workflow notification stays in a tenant's outbox by default.
const DefaultOutboxRetention = 30 * 24 * time.Hour

// Config configures a Worker. The zero value works: every email is then kept in the tenant's
// outbox, since no SMTP server is configured.
type Config struct {
	// Actions is the registry of workflow actions that stored workflows are parsed with. Defaults
	// to actions.Default().
	Actions *actions.Registry
	// BulkSlice is how many batches (or selection steps) one bulk:delete task runs of a job before it
	// hands the job on to a new task at the back of QueueBulk, so that a tenant's long jobs take
	// turns with the jobs queued behind them, other tenants' included. Defaults to DefaultBulkSlice.
	BulkSlice int
	// BulkConcurrency is how many of the Concurrency tasks may be tasks of QueueBulk at once. The
	// other slots take tasks of the other queues only, so that live work (emails, the drains of
	// record changes, the steps of the enrollments they make) never waits for a slot behind one
	// tenant's backfill or bulk delete. Defaults to 1: bulk work is bound by the store's Redis, which
	// runs one command at a time, and one bulk task per worker keeps it busy; more at once mostly
	// make live work wait (see the fairness scenario of crmflow bench in docs/benchmarks.md). At
	// most Concurrency (then no slot is kept for live work).
	BulkConcurrency int
	// Clock tells the time of purges (as_of when a task has none) and of emails. Defaults to the
	// wall clock.
	Clock clock.Clock
	// Concurrency is how many tasks the worker runs at once. Defaults to 10.
	Concurrency int
	// FullSweepEvery is how often the routine sweeps (changes:sweep, jobs:sweep, workflow:sweep)
	// walk every tenant; in between they walk the tenants with a change in the last two periods
	// (see routineSweepStart). Defaults to DefaultFullSweepEvery.
	FullSweepEvery time.Duration
	// JobLease is how long a bulk job's runner holds the job without renewing it (it renews before
	// every batch): a runner that dies frees its job this long after its last batch, and the next
	// jobs:sweep gives the job a new runner. The runner of an enroll-existing backfill holds its
	// lease the same way, and the next workflow:sweep gives it a new runner. Defaults to 15s.
	JobLease time.Duration
	// Logger receives the worker's structured logs; each task's lines carry task_id, type and
	// tenant_id. Defaults to slog.Default().
	Logger *slog.Logger
	// Mail configures how mail:send tasks are delivered. The zero value (no Host) keeps every email
	// in the tenant's outbox.
	Mail MailConfig
	// MailStore keeps the outbox and the delivery ledger of emails. Defaults to the store given to
	// New when it implements MailStore, as *redisstore.Store does; New fails otherwise.
	MailStore MailStore
	// OutboxMax is the most emails a tenant's outbox keeps (when no SMTP server is configured). Past
	// it, keeping an email drops the oldest workflow notifications, counted in the metric
	// crmflow_mail_outbox_dropped_total and in the tenant's outbox (crmflow admin outbox list says
	// how many); other emails, such as a permanent delete's confirmation, are never dropped.
	// Defaults to crm.DefaultOutboxMax (1000).
	OutboxMax int
	// OutboxRetention is how long a workflow notification stays in a tenant's outbox (kept there
	// when no SMTP server is configured): older ones are removed when the outbox is next appended
	// to, or by ExpireOutbox. Defaults to DefaultOutboxRetention (30 days).
	OutboxRetention time.Duration
	// PollInterval is how long an idle worker waits before looking for tasks again. Defaults to
	// 100ms: a write's drain then starts within that time of the write (an idle worker costs Redis
	// ten cheap dequeue attempts a second).
	PollInterval time.Duration
	// ProgramCacheSize is how many parsed workflow revisions (compiled triggers, configured actions)
	// the worker keeps, least recently used out first. Defaults to engine.DefaultCacheSize.
	ProgramCacheSize int
	// Queues maps each queue the worker serves to its weight. It must give QueueCritical,
	// QueueDefault and QueueBulk a weight above zero; it may add queues, whose tasks any slot runs
	// (only QueueBulk's are held to BulkConcurrency). Defaults to DefaultQueues().
	Queues map[string]int
	// Registerer receives the worker's metrics. Defaults to prometheus.DefaultRegisterer. Metrics
	// already registered there (by another Worker of the same process) are shared, not duplicated.
	Registerer prometheus.Registerer
	// Retention is how long a deleted record stays restorable: a purge removes only the bin entries
	// deleted at or before as_of minus Retention. Defaults to crm.DefaultRetention (90 days).
	Retention time.Duration
	// ShutdownTimeout is how long Run, once its context is cancelled, waits for the tasks in flight
	// before handing them back to the queue. Defaults to 30s; keep a process supervisor's stop
	// timeout above it.
	ShutdownTimeout time.Duration
	// WorkflowBatchSize is how many records one step of the workflow engine handles: the change
	// marks a changes:drain reads at a time, the records of a workflow:backfill batch, the records
	// of one workflow:steps task. Defaults to 1000; at most crm.MaxScriptBatch.
	WorkflowBatchSize int
	// WorkflowSweepGrace is how long past due an enrolled record's next step may be before a
	// workflow:sweep enqueues it again (its task was lost, or its workflow was paused and is active
	// again). Defaults to 1m.
	WorkflowSweepGrace time.Duration
}

func (c *Config) withDefaults(store crm.Store) Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.Actions == nil {
		out.Actions = actions.Default()
	}
	if out.Clock == nil {
		out.Clock = clock.Real{}
	}
	if out.Concurrency == 0 {
		out.Concurrency = 10
	}
	if out.BulkConcurrency == 0 {
		out.BulkConcurrency = 1
	}
	if out.FullSweepEvery == 0 {
		out.FullSweepEvery = DefaultFullSweepEvery
	}
	if out.JobLease == 0 {
		out.JobLease = 15 * time.Second
	}
	if out.BulkSlice == 0 {
		out.BulkSlice = DefaultBulkSlice
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	out.Mail = out.Mail.withDefaults()
	if out.MailStore == nil {
		if ms, ok := store.(MailStore); ok {
			out.MailStore = ms
		}
	}
	if out.OutboxMax == 0 {
		out.OutboxMax = crm.DefaultOutboxMax
	}
	if out.OutboxRetention == 0 {
		out.OutboxRetention = DefaultOutboxRetention
	}
	if out.PollInterval == 0 {
		out.PollInterval = 100 * time.Millisecond
	}
	if out.Queues == nil {
		out.Queues = DefaultQueues()
	} else {
		out.Queues = maps.Clone(out.Queues)
	}
	if out.Registerer == nil {
		out.Registerer = prometheus.DefaultRegisterer
	}
	if out.Retention == 0 {
		out.Retention = crm.DefaultRetention
	}
	if out.ShutdownTimeout == 0 {
		out.ShutdownTimeout = 30 * time.Second
	}
	if out.WorkflowBatchSize == 0 {
		out.WorkflowBatchSize = 1000
	}
	if out.WorkflowSweepGrace == 0 {
		out.WorkflowSweepGrace = time.Minute
	}
	return out
}

func (c *Config) validate() error {
	if c.Concurrency < 0 {
		return fmt.Errorf("worker: Config.Concurrency must be positive, got %d", c.Concurrency)
	}
	if c.BulkConcurrency < 0 || c.BulkConcurrency > c.Concurrency {
		return fmt.Errorf("worker: Config.BulkConcurrency must be between 1 and Config.Concurrency (%d), got %d: "+
			"it is how many of the worker's slots may run bulk tasks at once (default 1)", c.Concurrency, c.BulkConcurrency)
	}
	if c.MailStore == nil {
		return errors.New("worker: Config.MailStore is nil and the store does not implement worker.MailStore: " +
			"pass a *redisstore.Store as the store, or set Config.MailStore")
	}
	if c.OutboxMax < 0 {
		return fmt.Errorf("worker: Config.OutboxMax must be positive, got %d", c.OutboxMax)
	}
	if c.OutboxRetention < 0 {
		return fmt.Errorf("worker: Config.OutboxRetention must be positive, got %s", c.OutboxRetention)
	}
	if c.FullSweepEvery < 0 {
		return fmt.Errorf("worker: Config.FullSweepEvery must be positive, got %s", c.FullSweepEvery)
	}
	if c.PollInterval < 0 {
		return fmt.Errorf("worker: Config.PollInterval must be positive, got %s", c.PollInterval)
	}
	for _, q := range []string{QueueCritical, QueueDefault, QueueBulk} {
		if c.Queues[q] <= 0 {
			return fmt.Errorf("worker: Config.Queues must give queue %q a weight above zero (got %v): its tasks would never run",
				q, c.Queues)
		}
	}
	for q, w := range c.Queues {
		if q == "" || w <= 0 {
			return fmt.Errorf("worker: Config.Queues has queue %q with weight %d: use a non-empty name and a weight above zero", q, w)
		}
	}
	if c.JobLease < 0 {
		return fmt.Errorf("worker: Config.JobLease must be positive, got %s", c.JobLease)
	}
	if c.BulkSlice < 0 {
		return fmt.Errorf("worker: Config.BulkSlice must be positive, got %d", c.BulkSlice)
	}
	if c.Retention < 0 {
		return fmt.Errorf("worker: Config.Retention must be positive, got %s", c.Retention)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("worker: Config.ShutdownTimeout must be positive, got %s", c.ShutdownTimeout)
	}
	if c.ProgramCacheSize < 0 {
		return fmt.Errorf("worker: Config.ProgramCacheSize must be positive, got %d", c.ProgramCacheSize)
	}
	if c.WorkflowBatchSize < 0 || c.WorkflowBatchSize > crm.MaxScriptBatch {
		return fmt.Errorf("worker: Config.WorkflowBatchSize must be between 1 and %d, got %d", crm.MaxScriptBatch, c.WorkflowBatchSize)
	}
	if c.WorkflowSweepGrace < 0 {
		return fmt.Errorf("worker: Config.WorkflowSweepGrace must be positive, got %s", c.WorkflowSweepGrace)
	}
	return c.Mail.validate()
}

// Worker processes the tasks of every type of this package from the queue. Build it with New and
// run it with Run. Safe for concurrent use; Run may be called once.
type Worker struct {
	cfg   Config
	store crm.Store
	mail  MailStore
	// programs keeps the parsed workflow revisions.
	programs *engine.Cache
	log      *slog.Logger
	clock    clock.Clock
	metrics  *metrics
	rc       redis.UniversalClient // the queue's connections, shared by srvs and enq; closed by close
	// srvs are the asynq servers: one of BulkConcurrency serving every queue, and one of the other
	// slots serving every queue but QueueBulk (none when BulkConcurrency is Concurrency).
	srvs    []*asynq.Server
	handler asynq.Handler
	enq     *Client

	running    atomic.Bool
	closeOnce  sync.Once
	closeErr   error
	closedFlag atomic.Bool
	inflight   sync.WaitGroup
	// busy counts the tasks running now (observe): wake-up drains take only the slots they leave.
	busy    atomic.Int64
	baseCtx context.Context // parent of every task's context; set by Run before the server starts
}

// New returns a Worker that serves the queue at queue (for example asynq.RedisClientOpt{Addr: ...}
// or the result of asynq.ParseRedisURI) and works on store. The queue's Redis may differ from the
// store's. cfg may be nil for the defaults. New does not dial, but it holds a connection pool: Run
// releases it when it returns, and a Worker that will never Run must be closed with Close. New
// returns an error naming the bad Config field, or a metric that cannot be registered.
func New(store crm.Store, queue asynq.RedisConnOpt, cfg *Config) (*Worker, error) {
	if store == nil {
		return nil, errors.New("worker: New needs a store")
	}
	if queue == nil {
		return nil, errors.New("worker: New needs the queue's Redis (an asynq.RedisConnOpt)")
	}
	c := cfg.withDefaults(store)
	if err := c.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(c.Registerer)
	if err != nil {
		return nil, err
	}
	programs, err := engine.NewCache(&engine.CacheConfig{Registry: c.Actions, Size: c.ProgramCacheSize})
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	w := &Worker{
		cfg:      c,
		store:    store,
		mail:     c.MailStore,
		programs: programs,
		log:      c.Logger,
		clock:    c.Clock,
		metrics:  m,
	}
	mux := asynq.NewServeMux()
	mux.Use(w.observe)
	mux.HandleFunc(TypeMailSend, w.HandleMailSend)
	mux.HandleFunc(TypeMailSweep, w.HandleMailSweep)
	mux.HandleFunc(TypeTrashSweep, w.HandleTrashSweep)
	mux.HandleFunc(TypeTrashPurge, w.HandleTrashPurge)
	mux.HandleFunc(TypeBulkDelete, w.HandleBulkDelete)
	mux.HandleFunc(TypeJobsSweep, w.HandleJobsSweep)
	mux.HandleFunc(TypeChangesDrain, w.HandleChangesDrain)
	mux.HandleFunc(TypeChangesSweep, w.HandleChangesSweep)
	mux.HandleFunc(TypeWorkflowSteps, w.HandleWorkflowSteps)
	mux.HandleFunc(TypeWorkflowSweep, w.HandleWorkflowSweep)
	mux.HandleFunc(TypeWorkflowBackfill, w.HandleWorkflowBackfill)
	mux.HandleFunc(TypeWorkflowResume, w.HandleWorkflowResume)
	w.handler = mux

	rc, ok := queue.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("worker: unsupported queue connection option %T: use an asynq.RedisClientOpt, RedisFailoverClientOpt or RedisClusterClientOpt", queue)
	}
	w.rc = rc
	// Each server's asynq lines name its pool: "bulk", the one that also takes the bulk queue, and
	// "live", the rest of the concurrency; otherwise each line would come twice, alike.
	server := func(pool string, concurrency int, queues map[string]int) *asynq.Server {
		return asynq.NewServerFromRedisClient(rc, asynq.Config{
			BaseContext:       func() context.Context { return w.baseCtx },
			Concurrency:       concurrency,
			Logger:            asynqLogger{c.Logger.With("component", "asynq", "pool", pool)},
			LogLevel:          asynq.InfoLevel,
			Queues:            queues,
			RetryDelayFunc:    w.retryDelay,
			ShutdownTimeout:   c.ShutdownTimeout,
			TaskCheckInterval: c.PollInterval,
		})
	}
	w.srvs = []*asynq.Server{server("bulk", c.BulkConcurrency, c.Queues)}
	if live := c.Concurrency - c.BulkConcurrency; live > 0 {
		queues := maps.Clone(c.Queues)
		delete(queues, QueueBulk)
		w.srvs = append(w.srvs, server("live", live, queues))
	}
	w.enq = newSharedClient(rc)
	return w, nil
}

// Run starts processing and blocks until ctx is cancelled. Then it shuts down gracefully: it stops
// fetching tasks, waits up to Config.ShutdownTimeout for the tasks in flight, hands the unfinished
// ones back to the queue (another worker will run them again: every handler is idempotent), cancels
// their contexts and returns nil. It returns an error if the server cannot start, or if Run was
// already called. Run closes the Worker's connections when it returns.
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("worker: Run called twice, or after Close")
	}
	defer w.close()
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	w.baseCtx = base
	for i, srv := range w.srvs {
		if err := srv.Start(w.handler); err != nil {
			for _, started := range w.srvs[:i] {
				started.Shutdown()
			}
			return fmt.Errorf("worker: start: %w", err)
		}
	}
	// Wake-ups drain in as many slots as the live queues have, and only in slots no task holds.
	var waking sync.WaitGroup
	waking.Go(func() { w.wakeLoop(ctx, max(1, w.cfg.Concurrency-w.cfg.BulkConcurrency)) })
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "bulk_concurrency", w.cfg.BulkConcurrency, "queues", w.cfg.Queues,
		"smtp", w.cfg.Mail.Host != "", "shutdown_timeout", w.cfg.ShutdownTimeout.String())
	<-ctx.Done()
	w.log.Info("worker stopping: no new tasks, waiting for the tasks in flight",
		"shutdown_timeout", w.cfg.ShutdownTimeout.String())
	// Each server stops fetching, waits up to ShutdownTimeout, and requeues what is left.
	var stopping sync.WaitGroup
	for _, srv := range w.srvs {
		stopping.Go(srv.Shutdown)
	}
	stopping.Wait()
	waking.Wait() // its drains stopped with ctx; its wait for a wake-up ends within wakeWait
	cancel()      // the tasks handed back: tell their handlers to stop
	done := make(chan struct{})
	go func() { w.inflight.Wait(); close(done) }()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		w.log.Warn("worker stopped with handlers still running after their context was cancelled")
	}
	w.log.Info("worker stopped")
	return nil
}

// Close releases the connections of a Worker that will not Run; Run releases them itself when it
// returns. It returns an error if the Worker is running (cancel Run's context to stop it). After
// Close, Run fails. Idempotent.
func (w *Worker) Close() error {
	if !w.running.CompareAndSwap(false, true) {
		if w.closed() {
			return w.closeErr
		}
		return errors.New("worker: Close called while Run is running: cancel Run's context instead")
	}
	return w.close()
}

func (w *Worker) close() error {
	w.closeOnce.Do(func() {
		if err := w.rc.Close(); err != nil {
			w.closeErr = fmt.Errorf("worker: close queue connections: %w", err)
		}
		w.closedFlag.Store(true)
	})
	return w.closeErr
}

func (w *Worker) closed() bool { return w.closedFlag.Load() }

// Ping checks that the queue's Redis answers; use it as the readiness check of AdminHandler. It
// returns the connection's error (also once the Worker is closed), or ctx's.
func (w *Worker) Ping(ctx context.Context) error { return ping(ctx, w.rc) }

// ProcessTask runs a task through the worker's middleware and handler, as the server would. It
// makes Worker an asynq.Handler, for tests and for embedding in another asynq server.
func (w *Worker) ProcessTask(ctx context.Context, t *asynq.Task) error {
	return w.handler.ProcessTask(ctx, t)
}

// retryDelay is the server's RetryDelayFunc: mail tasks back off exponentially up to a cap, the
// others as asynq does by default.
func (w *Worker) retryDelay(n int, err error, t *asynq.Task) time.Duration {
	if t.Type() == TypeMailSend {
		return w.cfg.Mail.backoff(n)
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

// observe is the middleware of every task: one log line per task with task_id, type and tenant_id,
// and the task metrics.
func (w *Worker) observe(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) (err error) {
		w.inflight.Add(1)
		defer w.inflight.Done()
		w.busy.Add(1)
		defer w.busy.Add(-1)
		log := w.taskLogger(ctx, t)
		start := w.clock.Now()
		var stack string
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("task %s panicked: %v", t.Type(), r)
				stack = string(debug.Stack())
			}
			took := w.clock.Now().Sub(start)
			w.metrics.processed.WithLabelValues(taskTypeLabel(t.Type())).Inc()
			w.metrics.duration.WithLabelValues(taskTypeLabel(t.Type())).Observe(took.Seconds())
			if err == nil {
				level := slog.LevelInfo
				if sweepTypes[t.Type()] {
					level = slog.LevelDebug // routine: the sweep's own line says what it found
				}
				log.Log(ctx, level, "task done", "duration_ms", took.Milliseconds())
				return
			}
			w.metrics.failed.WithLabelValues(taskTypeLabel(t.Type())).Inc()
			retried, _ := asynq.GetRetryCount(ctx)
			maxRetry, _ := asynq.GetMaxRetry(ctx)
			level := slog.LevelWarn
			if errors.Is(err, asynq.SkipRetry) || retried >= maxRetry {
				level = slog.LevelError // archived: no retry left
			}
			attrs := []any{"error", err, "retried", retried, "max_retry", maxRetry, "duration_ms", took.Milliseconds()}
			if stack != "" {
				attrs = append(attrs, "stack", stack) // a bug: where it panicked
			}
			log.Log(ctx, level, "task failed", attrs...)
		}()
		return next.ProcessTask(ctx, t)
	})
}

// taskLogger returns the worker's logger with the task's id, type and tenant attached once.
func (w *Worker) taskLogger(ctx context.Context, t *asynq.Task) *slog.Logger {
	attrs := []any{"type", t.Type()}
	if id, ok := asynq.GetTaskID(ctx); ok {
		attrs = append(attrs, "task_id", id)
	}
	var p struct {
		TenantID string `json:"tenant_id"`
	}
	if json.Unmarshal(t.Payload(), &p) == nil && p.TenantID != "" {
		attrs = append(attrs, "tenant_id", p.TenantID)
	}
	return w.log.With(attrs...)
}

// asynqLogger sends asynq's own log lines to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }

// Fatal logs at error level and exits, as asynq.Logger requires.
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...))
	os.Exit(1)
}
