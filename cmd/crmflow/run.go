package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/spf13/cobra"
)

func newRunCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run every role in one process; with no Redis given, on a throwaway embedded store",
		Long: `Run every role in one process. For now the roles are: api.

With no --redis and no REDIS_URL, run starts an embedded in-process Redis whose state is NOT kept
after exit, creates the tenant "demo" (plan professional) with the user admin@demo.example (all
permissions) and prints an API token and curl commands to try. With --redis or REDIS_URL it runs on
that Redis instead, and seeds the demo tenant only with --seed.`,
		Example: `  crmflow run
  crmflow run --addr 127.0.0.1:9000
  crmflow run --redis redis://127.0.0.1:6379/0 --seed`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.run(cmd.Context()) },
	}
	fs := cmd.Flags()
	// Loopback by default: the demo token printed at start holds every permission.
	a.serverFlags(fs, "127.0.0.1:8080")
	fs.BoolVar(&a.cfg.Seed, "seed", false, "create the demo tenant, user and a token on start (always on with the embedded store)")
	return cmd
}

// run starts every role in one process.
func (a *app) run(ctx context.Context) error {
	if err := a.cfg.validateServer(); err != nil {
		return err
	}
	var (
		b   *backend
		err error
	)
	if a.cfg.RedisURL == "" {
		b, err = a.openEmbedded()
	} else {
		b, err = a.openRedis(ctx, true)
	}
	if err != nil {
		return err
	}
	defer b.Close()
	return a.launch(ctx, "run", b, a.cfg.Seed || b.embedded != nil, func(ln net.Listener) ([]role, error) {
		return a.allRoles(b, ln)
	})
}

// allRoles lists every role `crmflow run` starts. New roles (the worker, the scheduler) are
// added here, and only here.
func (a *app) allRoles(b *backend, ln net.Listener) ([]role, error) {
	apiRole, err := a.apiRole(b, ln)
	if err != nil {
		return nil, err
	}
	return []role{apiRole}, nil
}

// role is one long-running part of crmflow. run stops when its context ends (SIGTERM or
// SIGINT, or another role failing) and returns nil after a clean shutdown.
type role struct {
	name string
	run  func(ctx context.Context) error
}

// launch listens on --addr, builds the roles, seeds the demo tenant when asked, then runs the
// roles until a signal or the first failure and waits for all of them to stop. serve and run both
// go through it.
func (a *app) launch(ctx context.Context, command string, b *backend, seed bool, build func(ln net.Listener) ([]role, error)) error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; choose another address with --addr or CRMFLOW_ADDR", a.cfg.Addr, err)
	}
	roles, err := build(ln)
	if err != nil {
		_ = ln.Close()
		return err
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.name
	}
	a.logger.Info("crmflow starting", append([]any{"command", command, "roles", strings.Join(names, ","),
		"addr", ln.Addr().String(), "version", buildVersion().Version}, b.logAttrs()...)...)
	if seed {
		token, err := a.seedDemo(ctx, b.store)
		if err != nil {
			_ = ln.Close()
			return err
		}
		a.printDemo(b, baseURL(ln.Addr()), token)
	}
	err = runRoles(ctx, a.logger, roles)
	if err != nil {
		a.logger.Error("crmflow stopped with an error", "command", command, "error", err.Error())
		return err
	}
	a.logger.Info("crmflow stopped", "command", command)
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
