package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/worker"
)

// The background roles: the worker runs the tasks of the queue, the scheduler's cron entries only
// enqueue. Each runs as its own process under a supervisor (see examples/systemd), or both inside
// `crmflow run`.

func newWorkerCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:         "worker",
		Annotations: map[string]string{roleAnnotation: "true"},
		Short:       "Run the background tasks: bulk delete jobs, bin purges, emails (needs --redis or REDIS_URL)",
		Long: `Run the background tasks of the queue: bulk delete jobs, purges of the recycle bin, and emails.

The worker reads the store on --redis (REDIS_URL) and takes its tasks from --queue-redis
(QUEUE_REDIS_URL, default: the store's Redis), from three queues weighted critical 6 (emails),
default 3 (sweeps, the drains of record changes and the workflow steps they lead to) and bulk 1
(bulk deletes, purges, enroll-existing backfills and their steps). At most --bulk-concurrency of
the --concurrency tasks are bulk work at once, so that one tenant's backfill or bulk delete never
takes every slot from another tenant's live work. Like serve, it needs the deployment's email salt
(CRMFLOW_EMAIL_SALT) and refuses a Redis whose maxmemory-policy is not noeviction unless
--allow-eviction.

Emails go to the SMTP server of --smtp-host (the password comes from the environment variable
SMTP_PASSWORD only, so that it never shows in the process list). Without --smtp-host every email is
kept in the tenant's outbox: see "crmflow admin outbox list".

Health and metrics are served on --admin-addr: GET /healthz (the process is up), GET /readyz (the
store's and the queue's Redis answer) and GET /metrics (Prometheus).

On SIGTERM or SIGINT the worker stops taking tasks, lets the tasks in flight finish for up to
--shutdown-timeout, hands the unfinished ones back to the queue and exits 0. Keep a process
supervisor's stop timeout above --shutdown-timeout.`,
		Example: `  crmflow worker --redis redis://127.0.0.1:6379/0
  REDIS_URL=redis://redis.internal:6379/0 SMTP_HOST=smtp.example.com SMTP_FROM=crm@example.com \
    SMTP_USERNAME=crm SMTP_PASSWORD=secret crmflow worker --concurrency 20 --log-format json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.worker(cmd.Context()) },
	}
	fs := cmd.Flags()
	a.storeFlags(fs)
	a.queueFlag(fs)
	a.shutdownFlag(fs)
	a.adminAddrFlag(fs, "127.0.0.1:9091", "listen address of /healthz, /readyz and /metrics")
	a.workerFlags(fs)
	return cmd
}

func newSchedulerCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:         "scheduler",
		Annotations: map[string]string{roleAnnotation: "true"},
		Short:       "Run the cron entries that enqueue the purge of the bin and the sweeps (needs a Redis URL)",
		Long: `Run the cron entries that enqueue background work; the workers do the work.

  --purge-spec       a trash:sweep, which purges the expired bin entries of every tenant (default @hourly)
  --jobs-sweep-spec  a jobs:sweep, which gives unfinished bulk delete jobs a runner again, for instance
                     after a worker was killed (default @every 30s)
  --mail-sweep-spec  a mail:sweep, which re-enqueues the emails whose enqueue was lost (default @every 5m)
  --changes-sweep-spec   a changes:sweep, which hands record changes to the workflow engine (default @every 2s)
  --workflow-sweep-spec  a workflow:sweep, which re-enqueues due workflow steps (default @every 30s)

A spec is five cron fields ("0 * * * *", in UTC) or a descriptor ("@hourly", "@every 30m"). Each tick
enqueues one task with an id derived from the tick, so several schedulers may run at once: a tick is
enqueued once, and a purge never removes a record early or twice.

The scheduler needs only the queue's Redis: --queue-redis (QUEUE_REDIS_URL), or else --redis
(REDIS_URL). Like every process of a deployment it needs the email salt (CRMFLOW_EMAIL_SALT), and
with --redis it checks it against the store's. Health and metrics are served on --admin-addr (/healthz, /readyz, /metrics). SIGTERM
or SIGINT stops it after the entries running have enqueued.`,
		Example: `  crmflow scheduler --redis redis://127.0.0.1:6379/0
  crmflow scheduler --redis redis://127.0.0.1:6379/0 --purge-spec "15 * * * *" --admin-addr 127.0.0.1:9192`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.scheduler(cmd.Context()) },
	}
	fs := cmd.Flags()
	a.redisFlag(fs)
	a.queueFlag(fs)
	a.evictionFlag(fs)
	a.saltFlag(fs)
	a.shutdownFlag(fs)
	a.adminAddrFlag(fs, "127.0.0.1:9092", "listen address of /healthz, /readyz and /metrics")
	a.schedulerFlags(fs)
	return cmd
}

// adminAddrFlag defines --admin-addr, with the default def and the help usage.
func (a *app) adminAddrFlag(fs *pflag.FlagSet, def, usage string) {
	fs.StringVar(&a.cfg.AdminAddr, "admin-addr", def, usage)
	bindEnv(fs, "admin-addr", "CRMFLOW_ADMIN_ADDR")
}

// workerFlags defines the flags of the worker role.
func (a *app) workerFlags(fs *pflag.FlagSet) {
	fs.IntVar(&a.cfg.Concurrency, "concurrency", 10, "how many tasks the worker runs at once")
	bindEnv(fs, "concurrency", "CRMFLOW_CONCURRENCY")
	fs.IntVar(&a.cfg.BulkConcurrency, "bulk-concurrency", 1,
		"how many of the --concurrency tasks may be bulk work at once (backfills and their steps, bulk deletes, purges); the rest are kept for live work")
	bindEnv(fs, "bulk-concurrency", "CRMFLOW_BULK_CONCURRENCY")
	fs.DurationVar(&a.cfg.JobLease, "job-lease", 15*time.Second,
		"how long a bulk delete job or an enroll-existing backfill stays with a worker that stopped renewing it (killed) before another worker continues it")
	bindEnv(fs, "job-lease", "CRMFLOW_JOB_LEASE")
	fs.DurationVar(&a.cfg.WorkflowSweepGrace, "workflow-sweep-grace", time.Minute,
		"how long past due a workflow step may be before the workflow sweep runs it again (its task lost, or its worker killed)")
	bindEnv(fs, "workflow-sweep-grace", "CRMFLOW_WORKFLOW_SWEEP_GRACE")
	fs.DurationVar(&a.cfg.FullSweepEvery, "full-sweep-every", worker.DefaultFullSweepEvery,
		"how often the routine sweeps (changes, jobs, workflow, mail) walk every tenant; in between they walk the tenants with a change in the last two periods")
	bindEnv(fs, "full-sweep-every", "CRMFLOW_FULL_SWEEP_EVERY")
	a.cfg.OutboxRetention = worker.DefaultOutboxRetention
	fs.Var((*daysDuration)(&a.cfg.OutboxRetention), "outbox-retention",
		"how long a workflow notification stays in a tenant's outbox (kept there when no SMTP server is configured) before it is removed: a duration such as 720h, or days such as 30d")
	bindEnv(fs, "outbox-retention", "CRMFLOW_OUTBOX_RETENTION")
	fs.IntVar(&a.cfg.OutboxMax, "outbox-max", crm.DefaultOutboxMax,
		"how many emails a tenant's outbox keeps (when no SMTP server is configured); past it the oldest workflow notifications are dropped and counted, other emails never")
	bindEnv(fs, "outbox-max", "CRMFLOW_OUTBOX_MAX")
	fs.StringVar(&a.cfg.SMTPHost, "smtp-host", "", "SMTP server of the emails; empty keeps every email in the tenant's outbox")
	bindEnv(fs, "smtp-host", "SMTP_HOST")
	fs.IntVar(&a.cfg.SMTPPort, "smtp-port", 587, "SMTP server's port")
	bindEnv(fs, "smtp-port", "SMTP_PORT")
	fs.StringVar(&a.cfg.SMTPUsername, "smtp-username", "",
		"SMTP user (AUTH PLAIN, only over TLS or to a loopback server); the password comes from the environment variable SMTP_PASSWORD only")
	bindEnv(fs, "smtp-username", "SMTP_USERNAME")
	fs.StringVar(&a.cfg.SMTPFrom, "smtp-from", "", "sender of the emails, e.g. crm@example.com or \"CRM <crm@example.com>\" (required with --smtp-host)")
	bindEnv(fs, "smtp-from", "SMTP_FROM")
	fs.StringVar(&a.cfg.SMTPStartTLS, "smtp-starttls", string(worker.StartTLSOpportunistic),
		"STARTTLS: opportunistic (when offered), mandatory (refuse to send without it) or never")
	bindEnv(fs, "smtp-starttls", "SMTP_STARTTLS")
}

// schedulerFlags defines the flags of the scheduler role.
func (a *app) schedulerFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.cfg.PurgeSpec, "purge-spec", "@hourly", "when to purge the expired bin entries (cron spec, UTC)")
	bindEnv(fs, "purge-spec", "CRMFLOW_PURGE_SPEC")
	fs.StringVar(&a.cfg.JobsSweepSpec, "jobs-sweep-spec", "@every 30s", "when to give unfinished bulk delete jobs a runner again (cron spec)")
	bindEnv(fs, "jobs-sweep-spec", "CRMFLOW_JOBS_SWEEP_SPEC")
	fs.StringVar(&a.cfg.MailSweepSpec, "mail-sweep-spec", "@every 5m", "when to re-enqueue the emails left pending (cron spec)")
	bindEnv(fs, "mail-sweep-spec", "CRMFLOW_MAIL_SWEEP_SPEC")
	fs.StringVar(&a.cfg.ChangesSweepSpec, "changes-sweep-spec", "@every 2s", "when to hand record changes to the workflow engine (cron spec)")
	bindEnv(fs, "changes-sweep-spec", "CRMFLOW_CHANGES_SWEEP_SPEC")
	fs.StringVar(&a.cfg.WorkflowSweepSpec, "workflow-sweep-spec", "@every 30s", "when to re-enqueue due workflow steps that are not running (cron spec)")
	bindEnv(fs, "workflow-sweep-spec", "CRMFLOW_WORKFLOW_SWEEP_SPEC")
}

// readSecrets reads the settings that come from the environment only.
func (a *app) readSecrets() {
	if v, ok := a.lookupEnv("SMTP_PASSWORD"); ok {
		a.cfg.SMTPPassword = v
	}
}

// worker runs the worker role and its admin endpoints.
func (a *app) worker(ctx context.Context) error {
	a.readSecrets()
	if err := a.cfg.validateLongRunning(); err != nil {
		return err
	}
	if err := a.cfg.validateWorker(); err != nil {
		return err
	}
	if err := checkListenAddr("--admin-addr", a.cfg.AdminAddr, "127.0.0.1:9091"); err != nil {
		return err
	}
	if a.cfg.RedisURL == "" {
		return errNoRedis("crmflow worker")
	}
	b, err := a.openRedis(ctx, true)
	if err != nil {
		return err
	}
	defer b.Close()
	q, err := a.queueOf(b)
	if err != nil {
		return err
	}
	if err := a.checkQueue(ctx, q, b); err != nil {
		return err
	}
	return a.launch(ctx, launchSpec{
		command:  "worker",
		addr:     a.cfg.AdminAddr,
		addrFlag: "--admin-addr or CRMFLOW_ADMIN_ADDR",
		attrs:    append(b.logAttrs(), q.logAttrs()...),
		build: func(ln net.Listener) ([]role, error) {
			reg, err := newRegistry()
			if err != nil {
				return nil, err
			}
			if err := reg.Register(worker.NewBinSizeCollector(ctx, b.store, &worker.BinSizeConfig{Logger: a.logger})); err != nil {
				return nil, fmt.Errorf("register bin size metrics: %w", err)
			}
			w, err := a.workerRole(b, q, reg)
			if err != nil {
				return nil, err
			}
			return []role{w.role, a.httpRole("admin", ln, adminHandler(reg, a.readiness(redisChecks(b, q, w.ping)...)), adminLimits)}, nil
		},
	})
}

// scheduler runs the scheduler role and its admin endpoints. It needs only the queue's Redis, and
// the email salt.
func (a *app) scheduler(ctx context.Context) error {
	if a.cfg.ShutdownTimeout <= 0 {
		return usageErrorf("--shutdown-timeout must be positive, got %s: use a duration such as 30s", a.cfg.ShutdownTimeout)
	}
	if err := a.cfg.validateScheduler(); err != nil {
		return err
	}
	if err := checkListenAddr("--admin-addr", a.cfg.AdminAddr, "127.0.0.1:9092"); err != nil {
		return err
	}
	if a.cfg.RedisURL == "" && a.cfg.QueueRedisURL == "" {
		return errNoRedisOr("crmflow scheduler", "--queue-redis or QUEUE_REDIS_URL: it runs on the task queue's Redis, and checks the store's when given one")
	}
	// The scheduler hashes no email, but it checks the deployment's salt like every other process,
	// so that a unit with a wrong environment is caught at once.
	if a.cfg.EmailSalt == "" {
		return errNoEmailSalt()
	}
	if a.cfg.RedisURL != "" {
		b, err := a.openRedis(ctx, false)
		if err != nil {
			return err
		}
		b.Close()
	}
	q, err := a.queueOf(nil)
	if err != nil {
		return err
	}
	if err := a.checkQueue(ctx, q, nil); err != nil {
		return err
	}
	return a.launch(ctx, launchSpec{
		command:  "scheduler",
		addr:     a.cfg.AdminAddr,
		addrFlag: "--admin-addr or CRMFLOW_ADMIN_ADDR",
		attrs:    q.logAttrs(),
		build: func(ln net.Listener) ([]role, error) {
			reg, err := newRegistry()
			if err != nil {
				return nil, err
			}
			s, err := a.schedulerRole(q)
			if err != nil {
				return nil, err
			}
			return []role{s.role, a.httpRole("admin", ln, adminHandler(reg, a.readiness(readyCheck{"redis", s.ping})), adminLimits)}, nil
		},
	})
}

// backgroundRole is a worker or scheduler role with its readiness check.
type backgroundRole struct {
	role
	ping func(context.Context) error
}

// workerRole builds the worker on the store of b and the queue q, registering its metrics on reg.
func (a *app) workerRole(b *backend, q queue, reg prometheus.Registerer) (backgroundRole, error) {
	w, err := worker.New(b.store, q.opt, &worker.Config{
		BulkConcurrency:    a.cfg.BulkConcurrency,
		Concurrency:        a.cfg.Concurrency,
		JobLease:           a.cfg.JobLease,
		Logger:             a.logger.With("role", "worker"),
		Mail:               a.cfg.mailConfig(),
		OutboxMax:          a.cfg.OutboxMax,
		OutboxRetention:    a.cfg.OutboxRetention,
		Registerer:         reg,
		Retention:          a.cfg.Retention,
		ShutdownTimeout:    a.cfg.ShutdownTimeout,
		WorkflowSweepGrace: a.cfg.WorkflowSweepGrace,
		FullSweepEvery:     a.cfg.FullSweepEvery,
	})
	if err != nil {
		return backgroundRole{}, usage(fmt.Errorf("configure the worker: %w", err))
	}
	return backgroundRole{
		role: role{name: "worker", run: w.Run, stop: func() { _ = w.Close() }},
		ping: w.Ping,
	}, nil
}

// schedulerRole builds the scheduler enqueueing on the queue q.
func (a *app) schedulerRole(q queue) (backgroundRole, error) {
	s, err := worker.NewScheduler(q.opt, &worker.SchedulerConfig{
		JobsSweepSpec:     a.cfg.JobsSweepSpec,
		ChangesSweepSpec:  a.cfg.ChangesSweepSpec,
		WorkflowSweepSpec: a.cfg.WorkflowSweepSpec,
		Logger:            a.logger.With("role", "scheduler"),
		MailSweepSpec:     a.cfg.MailSweepSpec,
		PurgeSpec:         a.cfg.PurgeSpec,
	})
	if err != nil {
		return backgroundRole{}, usage(fmt.Errorf("configure the scheduler: %w", err))
	}
	return backgroundRole{
		role: role{name: "scheduler", run: s.Run, stop: func() { _ = s.Close() }},
		ping: s.Ping,
	}, nil
}
