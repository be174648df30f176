package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
)

func newServeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API on a Redis store (needs --redis or REDIS_URL, or --embedded)",
		Long: `Serve the HTTP API, with /healthz, /readyz (Redis answers PING) and Prometheus metrics at /metrics.

serve needs a Redis: pass --redis or set REDIS_URL. It refuses to start when the server's
maxmemory-policy is not noeviction (unless --allow-eviction) and warns when AOF persistence is off.
With --embedded it runs on a throwaway in-process Redis instead and prints a demo tenant, user and
token. SIGTERM or SIGINT stops it gracefully within --shutdown-timeout.`,
		Example: `  crmflow serve --redis redis://127.0.0.1:6379/0
  REDIS_URL=redis://:secret@redis.internal:6379/0 crmflow serve --addr :9000 --log-format json
  crmflow serve --embedded`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serve(cmd.Context()) },
	}
	fs := cmd.Flags()
	a.serverFlags(fs, ":8080")
	fs.BoolVar(&a.cfg.Embedded, "embedded", false,
		"run on an in-process Redis whose state is lost on exit, seeded with a demo tenant, user and token")
	return cmd
}

// redisFlag defines --redis.
func (a *app) redisFlag(fs *pflag.FlagSet) {
	fs.StringVar(&a.cfg.RedisURL, "redis", "", "Redis URL of the store: redis://[[USER]:PASSWORD@]HOST:PORT/DB or rediss://...")
	bindEnv(fs, "redis", "REDIS_URL")
}

// serverFlags defines the flags of the long-running commands (serve, run).
func (a *app) serverFlags(fs *pflag.FlagSet, defaultAddr string) {
	fs.StringVar(&a.cfg.Addr, "addr", defaultAddr, "HTTP listen address")
	bindEnv(fs, "addr", "CRMFLOW_ADDR")
	a.redisFlag(fs)
	fs.BoolVar(&a.cfg.AllowEviction, "allow-eviction", false,
		"start even when Redis's maxmemory-policy is not noeviction, with a warning (Redis may then drop records)")
	bindEnv(fs, "allow-eviction", "CRMFLOW_ALLOW_EVICTION")
	fs.DurationVar(&a.cfg.Retention, "retention", crm.DefaultRetention, "how long a deleted record stays restorable")
	bindEnv(fs, "retention", "CRMFLOW_RETENTION")
	fs.StringVar(&a.cfg.EmailSalt, "email-salt", "",
		"secret salt of the blocklisted-email hashes; set it once per deployment and never change it (prefer the environment variable)")
	bindEnv(fs, "email-salt", "CRMFLOW_EMAIL_SALT")
	fs.DurationVar(&a.cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second,
		"how long the graceful shutdown after SIGTERM or SIGINT may take")
	bindEnv(fs, "shutdown-timeout", "CRMFLOW_SHUTDOWN_TIMEOUT")
}

// serve runs the API alone, on the Redis of --redis or, with --embedded, on the embedded store.
func (a *app) serve(ctx context.Context) error {
	if err := a.cfg.validateServer(); err != nil {
		return err
	}
	var (
		b   *backend
		err error
	)
	if a.cfg.Embedded {
		if a.cfg.RedisURL != "" {
			env, fromEnv := a.fromEnv["redis"]
			if !fromEnv {
				return usageErrorf("--embedded and --redis exclude each other: drop --embedded to serve on that Redis")
			}
			a.logger.Warn("ignoring " + env + ": --embedded serves on a throwaway in-process Redis")
		}
		b, err = a.openEmbedded()
	} else {
		if a.cfg.RedisURL == "" {
			return errNoRedis("crmflow serve")
		}
		b, err = a.openRedis(ctx, true)
	}
	if err != nil {
		return err
	}
	defer b.Close()
	return a.launch(ctx, "serve", b, a.cfg.Embedded, func(ln net.Listener) ([]role, error) {
		r, err := a.apiRole(b, ln)
		if err != nil {
			return nil, err
		}
		return []role{r}, nil
	})
}

// apiRole returns the HTTP API serving on ln: the api handler at /, plus GET /metrics with the
// API's metrics and the Go and process collectors. It runs until its context ends, then shuts
// down gracefully within --shutdown-timeout.
func (a *app) apiRole(b *backend, ln net.Listener) (role, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return role{}, fmt.Errorf("register go metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return role{}, fmt.Errorf("register process metrics: %w", err)
	}
	rdb := b.rdb
	h, err := api.New(b.store, &api.Config{
		Logger:     a.logger,
		Ready:      func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		Registerer: reg,
	})
	if err != nil {
		return role{}, fmt.Errorf("build the api: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("/", h)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	timeout := a.cfg.ShutdownTimeout
	return role{name: "api", run: func(ctx context.Context) error {
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		a.logger.Info("api listening", "addr", ln.Addr().String())
		select {
		case err := <-served:
			return fmt.Errorf("serve http: %w", err)
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
			return fmt.Errorf("graceful shutdown within %s: %w", timeout, err)
		}
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		a.logger.Info("api stopped")
		return nil
	}}, nil
}
