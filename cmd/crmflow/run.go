package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/crmflow/crmflow/worker"
)

func newRunCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:         "run",
		Annotations: map[string]string{roleAnnotation: "true"},
		Short:       "Run every role in one process; with no Redis given, on a throwaway embedded store",
		Long: `Run every role in one process: the HTTP API, the worker and the scheduler.

With no --redis and no REDIS_URL, run starts an embedded in-process Redis whose state is NOT kept
after exit, creates the tenant "demo" (plan professional) with the user admin@demo.example (all
permissions) and prints an API token and curl commands to try. The worker and the scheduler use the
same embedded Redis as their task queue. With --redis or REDIS_URL it runs on that Redis instead,
and seeds the demo tenant only with --seed.

Given --admin-addr, the API's, the worker's and the scheduler's metrics are served together at
/metrics there (with /healthz and /readyz); none are served on --addr, which anyone who reaches
the API can call.`,
		Example: `  crmflow run
  crmflow run --addr 127.0.0.1:9000
  crmflow run --redis redis://127.0.0.1:6379/0 --seed`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a.cfg.tenantRequestsGiven = cmd.Flags().Changed("max-tenant-requests")
			return a.run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	// Loopback by default: the demo token printed at start holds every permission.
	a.serverFlags(fs, "127.0.0.1:8080")
	a.queueFlag(fs)
	a.workerFlags(fs)
	a.schedulerFlags(fs)
	a.adminAddrFlag(fs, "", "listen address of /healthz, /readyz and /metrics (the metrics of every role); none by default")
	fs.BoolVar(&a.cfg.Seed, "seed", false, "create the demo tenant, user and a token on start (always on with the embedded store)")
	return cmd
}

// run starts every role in one process.
func (a *app) run(ctx context.Context) error {
	a.readSecrets()
	if err := errors.Join(a.cfg.validateServer(), a.cfg.validateWorker(), a.cfg.validateScheduler()); err != nil {
		return err
	}
	if a.cfg.AdminAddr != "" {
		if err := checkListenAddr("--admin-addr", a.cfg.AdminAddr, "127.0.0.1:9090"); err != nil {
			return err
		}
	}
	var (
		b   *backend
		err error
	)
	if a.cfg.RedisURL == "" {
		if a.cfg.QueueRedisURL != "" {
			return usageErrorf("--queue-redis (QUEUE_REDIS_URL) needs --redis: the embedded store keeps its task queue " +
				"in the same in-process Redis; drop --queue-redis, or give both")
		}
		b, err = a.openEmbedded()
	} else {
		b, err = a.openRedis(ctx, true)
	}
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
	tasks := worker.NewClient(q.opt)
	defer tasks.Close()
	return a.launch(ctx, launchSpec{
		command:  "run",
		addr:     a.cfg.Addr,
		addrFlag: "--addr or CRMFLOW_ADDR",
		attrs:    append(b.logAttrs(), q.logAttrs()...),
		seed:     a.cfg.Seed || b.embedded != nil,
		backend:  b,
		build:    func(ln net.Listener) ([]role, error) { return a.allRoles(ctx, b, q, tasks, ln) },
	})
}

// allRoles lists every role `crmflow run` starts: the API on ln, the worker and the scheduler,
// and the admin endpoints on --admin-addr when it is given. New roles are added here, and only
// here. Their metrics share one registry, served by the admin endpoints at /metrics.
func (a *app) allRoles(ctx context.Context, b *backend, q queue, tasks *worker.Client, ln net.Listener) ([]role, error) {
	reg, err := newRegistry()
	if err != nil {
		return nil, err
	}
	workerRole, err := a.workerRole(b, q, reg)
	if err != nil {
		return nil, err
	}
	schedulerRole, err := a.schedulerRole(q)
	if err != nil {
		workerRole.abort()
		return nil, err
	}
	if err := reg.Register(worker.NewBinSizeCollector(ctx, b.store, &worker.BinSizeConfig{Logger: a.logger})); err != nil {
		workerRole.abort()
		schedulerRole.abort()
		return nil, fmt.Errorf("register bin size metrics: %w", err)
	}
	ready := a.readiness(redisChecks(b, q, tasks.Ping)...)
	apiRole, err := a.apiRole(b, ln, reg, tasks, ready)
	if err != nil {
		workerRole.abort()
		schedulerRole.abort()
		return nil, err
	}
	roles := []role{apiRole, workerRole.role, schedulerRole.role}
	if a.cfg.AdminAddr != "" {
		admin, err := a.adminRole(reg, ready)
		if err != nil {
			for _, r := range roles {
				r.abort()
			}
			return nil, err
		}
		roles = append(roles, admin)
	}
	return roles, nil
}

// readyCheck is one readiness check, and what it checks as the probe's answer names it.
type readyCheck struct {
	what  string // "redis", "queue redis"
	check func(context.Context) error
}

// redisChecks are the readiness checks of a process on the store of b and the queue q, pinged by
// queuePing: the queue is named "redis" too when it is the store's server.
func redisChecks(b *backend, q queue, queuePing func(context.Context) error) []readyCheck {
	queueWhat := "queue redis"
	if b.embedded != nil || b.addr == q.addr {
		queueWhat = "redis"
	}
	return []readyCheck{{"redis", b.ping}, {queueWhat, queuePing}}
}

// readiness is the check behind /readyz: it passes when every check passes. A failing check's
// error is logged at warn, and the probe's answer names only what it checks ("redis
// unavailable"), never an address or a raw error.
func (a *app) readiness(checks ...readyCheck) func(context.Context) error {
	return func(ctx context.Context) error {
		var down []string
		for _, c := range checks {
			if err := c.check(ctx); err != nil {
				a.logger.WarnContext(ctx, "readiness check failed", "check", c.what, "error", err.Error())
				if reason := c.what + " unavailable"; !slices.Contains(down, reason) {
					down = append(down, reason)
				}
			}
		}
		if len(down) > 0 {
			return errors.New(strings.Join(down, ", "))
		}
		return nil
	}
}

// role is one long-running part of crmflow. run stops when its context ends (SIGTERM or
// SIGINT, or another role failing) and returns nil after a clean shutdown. stop, if set, releases
// the resources of a role that will never run.
type role struct {
	name string
	run  func(ctx context.Context) error
	stop func()
}

// abort releases the resources of a role that will never run.
func (r role) abort() {
	if r.stop != nil {
		r.stop()
	}
}

// launchSpec is what launch starts.
type launchSpec struct {
	command string
	// addr is the address to listen on; addrFlag names its flag and variable for errors.
	addr, addrFlag string
	// attrs describe the process's Redis servers in the start line.
	attrs []any
	// seed creates the demo tenant in backend's store and prints its token before the roles run.
	seed    bool
	backend *backend
	// build returns the roles, given the listener on addr.
	build func(ln net.Listener) ([]role, error)
}

// launch listens on the spec's address, builds the roles, seeds the demo tenant when asked, then
// runs the roles until a signal or the first failure and waits for all of them to stop. Every
// long-running command goes through it.
func (a *app) launch(ctx context.Context, s launchSpec) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; choose another address with %s", s.addr, err, s.addrFlag)
	}
	roles, err := s.build(ln)
	if err != nil {
		_ = ln.Close()
		return err
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.name
	}
	a.logger.Info("crmflow starting", append([]any{"command", s.command, "roles", strings.Join(names, ","),
		"addr", ln.Addr().String(), "version", buildVersion().Version}, s.attrs...)...)
	if s.seed {
		token, err := a.seedDemo(ctx, s.backend.store)
		if err != nil {
			_ = ln.Close()
			for _, r := range roles {
				r.abort()
			}
			return err
		}
		a.printDemo(s.backend, baseURL(ln.Addr()), token)
	}
	a.started = true
	err = runRoles(ctx, a.logger, roles)
	if err != nil {
		a.logger.Error("crmflow stopped with an error", "command", s.command, "error", err.Error())
		return err
	}
	a.logger.Info("crmflow stopped", "command", s.command)
	return nil
}

// runRoles runs every role until ctx ends or one of them stops, then stops them all and waits.
// It returns the roles' errors, joined.
func runRoles(ctx context.Context, logger *slog.Logger, roles []role) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errs := make([]error, len(roles))
	var wg sync.WaitGroup
	for i, r := range roles {
		wg.Go(func() {
			if err := r.run(ctx); err != nil {
				errs[i] = fmt.Errorf("%s: %w", r.name, err)
				cancel(errs[i])
				return
			}
			cancel(fmt.Errorf("role %s stopped", r.name))
		})
	}
	<-ctx.Done()
	logger.Info("shutting down", "cause", context.Cause(ctx).Error())
	wg.Wait()
	return errors.Join(errs...)
}

// baseURL is the URL a local client reaches a listener at.
func baseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
