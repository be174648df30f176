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
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/console"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/httpsec"
	"github.com/crmflow/crmflow/worker"
)

func newServeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:         "serve",
		Annotations: map[string]string{roleAnnotation: "true"},
		Short:       "Serve the HTTP API on a Redis store (needs --redis or REDIS_URL, or --embedded)",
		Long: `Serve the HTTP API and the operator console on --addr, with /healthz and /readyz (the store's and
the queue's Redis answer PING). Prometheus metrics are served at /metrics on --admin-addr (with
/healthz and /readyz again), a loopback address by default, never on --addr: like the worker's and
the scheduler's, they are for the operator's Prometheus, not for whoever can reach the API.

serve needs a Redis: pass --redis or set REDIS_URL, and the deployment's email salt, the same on
every process: set CRMFLOW_EMAIL_SALT. It refuses to start when the server's maxmemory-policy is
not noeviction (unless --allow-eviction) and warns when AOF persistence is off.
Bulk delete jobs and confirmation emails go to the task queue on --queue-redis (default: the
store's Redis), where "crmflow worker" runs them.

With --embedded it runs on a throwaway in-process Redis instead and prints a demo tenant, user and
token; no worker can reach that Redis, so background work waits: use "crmflow run" for every role in
one process. SIGTERM or SIGINT stops it gracefully within --shutdown-timeout.`,
		Example: `  crmflow serve --redis redis://127.0.0.1:6379/0
  REDIS_URL=redis://:secret@redis.internal:6379/0 crmflow serve --addr :9000 --log-format json
  crmflow serve --embedded`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a.cfg.tenantRequestsGiven = cmd.Flags().Changed("max-tenant-requests")
			return a.serve(cmd.Context())
		},
	}
	fs := cmd.Flags()
	a.serverFlags(fs, ":8080")
	a.queueFlag(fs)
	a.adminAddrFlag(fs, "127.0.0.1:9090", "listen address of /healthz, /readyz and /metrics")
	fs.BoolVar(&a.cfg.Embedded, "embedded", false,
		"run on an in-process Redis whose state is lost on exit, seeded with a demo tenant, user and token")
	return cmd
}

// redisFlag defines --redis.
func (a *app) redisFlag(fs *pflag.FlagSet) {
	fs.StringVar(&a.cfg.RedisURL, "redis", "", "Redis URL of the store: redis://[[USER]:PASSWORD@]HOST:PORT/DB or rediss://...")
	bindEnv(fs, "redis", "REDIS_URL")
}

// queueFlag defines --queue-redis.
func (a *app) queueFlag(fs *pflag.FlagSet) {
	fs.StringVar(&a.cfg.QueueRedisURL, "queue-redis", "",
		"Redis URL of the task queue, if it is not the store's (default: the value of --redis)")
	bindEnv(fs, "queue-redis", "QUEUE_REDIS_URL")
}

// serverFlags defines the flags of the commands that serve the API (serve, run).
func (a *app) serverFlags(fs *pflag.FlagSet, defaultAddr string) {
	fs.StringVar(&a.cfg.Addr, "addr", defaultAddr, "HTTP listen address")
	bindEnv(fs, "addr", "CRMFLOW_ADDR")
	fs.BoolVar(&a.cfg.SecureCookies, "secure-cookies", false,
		"mark the console's cookies Secure and name them __Host-... on every request, so that browsers send them over HTTPS only: set it behind a proxy that terminates TLS (switching it signs everyone out of the console once)")
	bindEnv(fs, "secure-cookies", "CRMFLOW_SECURE_COOKIES")
	fs.DurationVar(&a.cfg.ConsoleIdleTimeout, "console-idle-timeout", console.DefaultIdleTimeout,
		"sign a console user out after this long without opening a page or sending a form (at most 8h after sign-in)")
	bindEnv(fs, "console-idle-timeout", "CRMFLOW_CONSOLE_IDLE_TIMEOUT")
	fs.Var(&a.cfg.TrustedProxies, "trusted-proxies",
		"addresses and CIDR ranges of the proxies in front whose X-Forwarded-For (the client the console's sign-in limit counts) "+
			"and X-Forwarded-Proto (https: Secure cookies) are believed, comma-separated; from any other peer they are ignored")
	bindEnv(fs, "trusted-proxies", "CRMFLOW_TRUSTED_PROXIES")
	a.storeFlags(fs)
	a.shutdownFlag(fs)
	a.limitFlags(fs)
}

// limitFlags defines the flags that bound the API's connections and requests (SPEC S27).
func (a *app) limitFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&a.cfg.RequestTimeout, "request-timeout", api.DefaultRequestTimeout,
		"deadline of every API request: one still running at it answers 503 with Retry-After")
	bindEnv(fs, "request-timeout", "CRMFLOW_REQUEST_TIMEOUT")
	fs.DurationVar(&a.cfg.PreviewBudget, "preview-budget", api.DefaultPreviewBudget,
		"how long a workflow preview's triggers may run over all its records; more answers 400 PREVIEW_TOO_EXPENSIVE with a ?maxRecords that fits")
	bindEnv(fs, "preview-budget", "CRMFLOW_PREVIEW_BUDGET")
	fs.DurationVar(&a.cfg.ReadHeaderTimeout, "read-header-timeout", defaultReadHeaderTimeout,
		"how long a client may take to send a request's headers")
	bindEnv(fs, "read-header-timeout", "CRMFLOW_READ_HEADER_TIMEOUT")
	fs.DurationVar(&a.cfg.ReadTimeout, "read-timeout", defaultReadTimeout,
		"how long a client may take to send a whole request, body included")
	bindEnv(fs, "read-timeout", "CRMFLOW_READ_TIMEOUT")
	fs.DurationVar(&a.cfg.WriteTimeout, "write-timeout", defaultWriteTimeout,
		"how long a request may take from its headers to the end of its answer; must exceed --request-timeout")
	bindEnv(fs, "write-timeout", "CRMFLOW_WRITE_TIMEOUT")
	fs.DurationVar(&a.cfg.IdleTimeout, "idle-timeout", defaultIdleTimeout,
		"how long an idle keep-alive connection stays open")
	bindEnv(fs, "idle-timeout", "CRMFLOW_IDLE_TIMEOUT")
	fs.IntVar(&a.cfg.MaxHeaderBytes, "max-header-bytes", defaultMaxHeaderBytes,
		"largest size of a request's headers, request line included, in bytes")
	bindEnv(fs, "max-header-bytes", "CRMFLOW_MAX_HEADER_BYTES")
	fs.IntVar(&a.cfg.MaxConnections, "max-connections", defaultMaxConnections,
		"most connections open at once; one more is closed at once")
	bindEnv(fs, "max-connections", "CRMFLOW_MAX_CONNECTIONS")
	fs.IntVar(&a.cfg.MaxTenantRequests, "max-tenant-requests", api.DefaultMaxTenantInFlight,
		"most API requests of one tenant running at once; one more answers 429 with Retry-After; must be below --max-connections "+
			"(when not given and --max-connections is at most 64: half of --max-connections)")
	bindEnv(fs, "max-tenant-requests", "CRMFLOW_MAX_TENANT_REQUESTS")
}

// storeFlags defines the flags of the commands that work on the store.
func (a *app) storeFlags(fs *pflag.FlagSet) {
	a.redisFlag(fs)
	a.evictionFlag(fs)
	a.retentionFlag(fs)
	a.saltFlag(fs)
	a.waitReplicasFlag(fs)
}

// waitReplicasFlag defines --wait-replicas.
func (a *app) waitReplicasFlag(fs *pflag.FlagSet) {
	fs.IntVar(&a.cfg.WaitReplicas, "wait-replicas", 0,
		"acknowledge a delete, restore, erasure or purge only once this many replicas of its Redis master have it (Redis WAIT, up to 2s; "+
			"a change not copied in time answers 503 NOT_REPLICATED and is safe to retry); 0 waits for none, and a failover may lose "+
			"the latest acknowledged changes")
	bindEnv(fs, "wait-replicas", "CRMFLOW_WAIT_REPLICAS")
}

// saltFlag defines --email-salt.
func (a *app) saltFlag(fs *pflag.FlagSet) {
	fs.StringVar(&a.cfg.EmailSalt, "email-salt", "",
		"secret salt of the blocklisted-email hashes, required on a real Redis: the same on every process of a deployment, "+
			"never changed; e.g. $(openssl rand -hex 32) (prefer the environment variable: flags show in ps)")
	bindEnv(fs, "email-salt", "CRMFLOW_EMAIL_SALT")
}

// evictionFlag defines --allow-eviction.
func (a *app) evictionFlag(fs *pflag.FlagSet) {
	fs.BoolVar(&a.cfg.AllowEviction, "allow-eviction", false,
		"start even when Redis's maxmemory-policy is not noeviction, with a warning (Redis may then drop records)")
	bindEnv(fs, "allow-eviction", "CRMFLOW_ALLOW_EVICTION")
}

// retentionFlag defines --retention: the deployment's retention, which the first process on a
// Redis stores there and every later one must match, or leave out (see settleRetention).
func (a *app) retentionFlag(fs *pflag.FlagSet) {
	a.cfg.Retention = crm.DefaultRetention
	fs.Var((*daysDuration)(&a.cfg.Retention), "retention", "how long a deleted record stays restorable: a duration such as 2160h, or days such as 90d; "+
		"the deployment's, kept in Redis by the first process: leave it out to use the stored one, which only `crmflow admin retention set` changes")
	bindEnv(fs, "retention", "CRMFLOW_RETENTION")
}

// shutdownFlag defines --shutdown-timeout.
func (a *app) shutdownFlag(fs *pflag.FlagSet) {
	fs.DurationVar(&a.cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second,
		"how long the graceful shutdown after SIGTERM or SIGINT may take")
	bindEnv(fs, "shutdown-timeout", "CRMFLOW_SHUTDOWN_TIMEOUT")
}

// serve runs the API alone, on the Redis of --redis or, with --embedded, on the embedded store.
func (a *app) serve(ctx context.Context) error {
	if err := a.cfg.validateServer(); err != nil {
		return err
	}
	if err := checkListenAddr("--admin-addr", a.cfg.AdminAddr, "127.0.0.1:9090"); err != nil {
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
			a.cfg.RedisURL = ""
		}
		if a.cfg.QueueRedisURL != "" {
			return usageErrorf("--embedded and --queue-redis exclude each other: the embedded store keeps its task queue in process")
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
	q, err := a.queueOf(b)
	if err != nil {
		return err
	}
	if err := a.checkQueue(ctx, q, b); err != nil {
		return err
	}
	if b.embedded != nil {
		a.logger.Warn("serve --embedded runs the API only: bulk delete jobs and confirmation emails stay queued, " +
			"since no worker can reach the in-process Redis; use `crmflow run` to run every role in one process")
	}
	tasks := worker.NewClient(q.opt)
	defer tasks.Close()
	return a.launch(ctx, launchSpec{
		command:  "serve",
		addr:     a.cfg.Addr,
		addrFlag: "--addr or CRMFLOW_ADDR",
		attrs:    append(b.logAttrs(), q.logAttrs()...),
		seed:     a.cfg.Embedded,
		backend:  b,
		build: func(ln net.Listener) ([]role, error) {
			reg, err := newRegistry()
			if err != nil {
				return nil, err
			}
			ready := a.readiness(redisChecks(b, q, tasks.Ping)...)
			r, err := a.apiRole(b, ln, reg, tasks, ready)
			if err != nil {
				return nil, err
			}
			admin, err := a.adminRole(reg, ready)
			if err != nil {
				r.abort()
				return nil, err
			}
			return []role{r, admin}, nil
		},
	})
}

// newRegistry returns a Prometheus registry holding the Go and process collectors.
func newRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("register go metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("register process metrics: %w", err)
	}
	return reg, nil
}

// apiRole returns the HTTP API serving on ln: the api handler at /, the operator console under
// /console/ (GET / leads there). The API registers its metrics on reg, which it does not serve:
// adminRole does, on another listener. Bulk delete jobs and confirmation emails
// are enqueued with tasks; ready is the check behind /readyz. It runs until its context ends, then
// shuts down gracefully within --shutdown-timeout.
func (a *app) apiRole(b *backend, ln net.Listener, reg *prometheus.Registry, tasks api.Tasks, ready func(context.Context) error) (role, error) {
	h, err := api.New(b.store, &api.Config{
		Clock:             clock.Real{},
		Logger:            a.logger,
		Ready:             ready,
		Registerer:        reg,
		MaxTenantInFlight: a.cfg.MaxTenantRequests,
		RequestTimeout:    a.cfg.RequestTimeout,
		PreviewBudget:     a.cfg.PreviewBudget,
		Tasks:             tasks,
		TrustedProxies:    a.cfg.TrustedProxies,
	})
	if err != nil {
		return role{}, fmt.Errorf("build the api: %w", err)
	}
	limited, err := newLimitListener(ln, a.cfg.MaxConnections, reg)
	if err != nil {
		return role{}, err
	}
	con, err := console.New(h, b.store, b.store, &console.Config{Logger: a.logger, Retention: a.cfg.Retention,
		SecureCookies: a.cfg.SecureCookies, IdleTimeout: a.cfg.ConsoleIdleTimeout, TrustedProxies: a.cfg.TrustedProxies})
	if err != nil {
		return role{}, fmt.Errorf("build the console: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", con)
	mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusSeeOther))
	mux.Handle("/", h)
	// Every answer on --addr carries the API's security headers, the redirects of GET / and of the
	// mux's own (/console, a path to clean) too, and Strict-Transport-Security when the request
	// came over HTTPS (publicOrigin); the console sets its own over them.
	return a.httpRole("api", limited, a.publicOrigin().Handler(mux), a.cfg.apiLimits()), nil
}

// publicOrigin is what serve and run know of the way requests reach --addr: over HTTPS when a
// proxy in front terminates TLS (--secure-cookies), or a trusted proxy (--trusted-proxies) says
// "X-Forwarded-Proto: https"; crmflow itself serves plain HTTP.
func (a *app) publicOrigin() httpsec.Origin {
	return httpsec.Origin{HTTPS: a.cfg.SecureCookies, TrustedProxies: a.cfg.TrustedProxies}
}

// adminHandler is the handler of --admin-addr: /healthz, /readyz (ready) and the metrics of reg at
// /metrics, each answer with the API's security headers. The listener is the operator's, never
// the public origin: it sends Strict-Transport-Security only on a request over TLS, which it
// does not serve.
func adminHandler(reg prometheus.Gatherer, ready func(context.Context) error) http.Handler {
	return httpsec.Origin{}.Handler(worker.AdminHandler(reg, ready))
}

// adminRole serves /healthz, /readyz (ready) and the metrics of reg at /metrics on --admin-addr:
// a listener of its own, kept off the API's port, as the worker's and the scheduler's are, so that
// the process's internals (request counts by route, the bin's sizes, Go's runtime) and the work a
// scrape costs are for the operator's Prometheus, not for whoever can reach the API.
func (a *app) adminRole(reg *prometheus.Registry, ready func(context.Context) error) (role, error) {
	ln, err := net.Listen("tcp", a.cfg.AdminAddr)
	if err != nil {
		return role{}, fmt.Errorf("listen on %s: %w; choose another address with --admin-addr or CRMFLOW_ADMIN_ADDR", a.cfg.AdminAddr, err)
	}
	return a.httpRole("admin", ln, adminHandler(reg, ready), adminLimits), nil
}

// httpRole serves h on ln within limits until its context ends, then shuts the server down
// gracefully within --shutdown-timeout.
func (a *app) httpRole(name string, ln net.Listener, h http.Handler, limits httpLimits) role {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: limits.readHeaderTimeout,
		ReadTimeout:       limits.readTimeout,
		WriteTimeout:      limits.writeTimeout,
		IdleTimeout:       limits.idleTimeout,
		MaxHeaderBytes:    limits.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	timeout := a.cfg.ShutdownTimeout
	return role{name: name, stop: func() { _ = ln.Close() }, run: func(ctx context.Context) error {
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		a.logger.Info(name+" listening", "addr", ln.Addr().String())
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
		a.logger.Info(name + " stopped")
		return nil
	}}
}
