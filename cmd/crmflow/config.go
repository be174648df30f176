package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/worker"
)

// Config is everything the binary reads from its flags and environment. A flag given on the
// command line wins over its environment variable, which wins over the default. Each field names
// its flag and variable; a command only defines the flags it uses.
type Config struct {
	// Addr is the HTTP listen address (--addr, CRMFLOW_ADDR). Defaults to ":8080" for serve and
	// "127.0.0.1:8080" for run, whose demo token has every permission.
	Addr string
	// AdminAddr is the listen address of the health and metrics endpoints of serve, worker,
	// scheduler and run (--admin-addr, CRMFLOW_ADMIN_ADDR). Defaults to "127.0.0.1:9090" for serve,
	// "127.0.0.1:9091" for worker and "127.0.0.1:9092" for scheduler, so that all fit on one host;
	// empty for run, which then serves no metrics.
	AdminAddr string
	// AdminBy names the acting admin in the audit trail of the admin commands' user and token
	// changes (--by, CRMFLOW_ADMIN_BY). Defaults to "admin-cli:" and the operating-system user.
	AdminBy string
	// AllowEviction downgrades a Redis maxmemory-policy other than noeviction from a refusal to
	// start to a warning (--allow-eviction, CRMFLOW_ALLOW_EVICTION). Defaults to false.
	AllowEviction bool
	// BulkConcurrency is how many of a worker's Concurrency tasks may come from the bulk queue at
	// once (--bulk-concurrency, CRMFLOW_BULK_CONCURRENCY); the other slots are kept for live work.
	// Defaults to 1.
	BulkConcurrency int
	// Concurrency is how many tasks a worker runs at once (--concurrency, CRMFLOW_CONCURRENCY).
	// Defaults to 10.
	Concurrency int
	// EmailSalt salts the hashes of blocklisted emails (--email-salt, CRMFLOW_EMAIL_SALT). Required
	// by every command on a real Redis but bench: the same secret on every process of a deployment,
	// checked against the fingerprint the first process stored. The embedded store draws a random one.
	EmailSalt string
	// WaitReplicas is redisstore.Config.WaitReplicas (--wait-replicas, CRMFLOW_WAIT_REPLICAS). Defaults to 0.
	WaitReplicas int
	// Embedded runs serve on an in-process Redis whose state is lost on exit (--embedded).
	Embedded bool
	// ConsoleIdleTimeout ends a console session not used for that long (--console-idle-timeout,
	// CRMFLOW_CONSOLE_IDLE_TIMEOUT). Defaults to console.DefaultIdleTimeout (30m).
	ConsoleIdleTimeout time.Duration
	// ChangesSweepSpec is when the scheduler looks for tenants with record changes the workflow
	// engine has not seen (--changes-sweep-spec, CRMFLOW_CHANGES_SWEEP_SPEC): it bounds the lag from
	// a write to an enrollment. Defaults to "@every 2s".
	ChangesSweepSpec string
	// IdleTimeout is how long the API keeps an idle keep-alive connection open (--idle-timeout,
	// CRMFLOW_IDLE_TIMEOUT). Defaults to 1m.
	IdleTimeout time.Duration
	// JobLease is how long the runner of a bulk delete job or of an enroll-existing backfill holds
	// it without renewing it (--job-lease, CRMFLOW_JOB_LEASE): a worker killed mid-job frees its job
	// this long after its last batch. Defaults to 15s.
	JobLease time.Duration
	// JobsSweepSpec is when the scheduler gives unfinished bulk jobs a runner again
	// (--jobs-sweep-spec, CRMFLOW_JOBS_SWEEP_SPEC). Defaults to "@every 30s".
	JobsSweepSpec string
	// LogFormat is "text" or "json" (--log-format, CRMFLOW_LOG_FORMAT). Defaults to "text".
	LogFormat string
	// LogLevel is debug, info, warn or error (--log-level, CRMFLOW_LOG_LEVEL). Defaults to info.
	LogLevel string
	// MailSweepSpec is when the scheduler re-enqueues the emails left pending
	// (--mail-sweep-spec, CRMFLOW_MAIL_SWEEP_SPEC). Defaults to "@every 5m".
	MailSweepSpec string
	// MaxConnections caps the API's open connections (--max-connections, CRMFLOW_MAX_CONNECTIONS):
	// one over the cap is closed at once. Defaults to 1024.
	MaxConnections int
	// MaxHeaderBytes bounds the size of a request's headers, request line included
	// (--max-header-bytes, CRMFLOW_MAX_HEADER_BYTES). Defaults to 65536 (64 KiB).
	MaxHeaderBytes int
	// MaxTenantRequests caps the API requests of one tenant running at once in this process
	// (--max-tenant-requests, CRMFLOW_MAX_TENANT_REQUESTS): one more answers 429 with Retry-After.
	// It must be below MaxConnections. Defaults to api.DefaultMaxTenantInFlight (64) or, when
	// MaxConnections is not above that, to half of MaxConnections (at least 1).
	MaxTenantRequests int
	// tenantRequestsGiven says MaxTenantRequests was given (flag or environment), not defaulted.
	tenantRequestsGiven bool
	// OutboxMax is the most emails a tenant's outbox keeps (--outbox-max, CRMFLOW_OUTBOX_MAX): past
	// it the oldest workflow notifications are dropped and counted. Defaults to crm.DefaultOutboxMax.
	OutboxMax int
	// OutboxRetention is how long a workflow notification stays in a tenant's outbox
	// (--outbox-retention, CRMFLOW_OUTBOX_RETENTION). Defaults to 720h (30 days).
	OutboxRetention time.Duration
	// PurgeSpec is when the scheduler purges the expired bin entries (--purge-spec,
	// CRMFLOW_PURGE_SPEC): five cron fields or a descriptor such as "@hourly". Defaults to "@hourly".
	PurgeSpec string
	// FullSweepEvery is how often the routine sweeps walk every tenant (--full-sweep-every,
	// CRMFLOW_FULL_SWEEP_EVERY); in between they walk the tenants with a change in the last two
	// periods. Defaults to worker.DefaultFullSweepEvery.
	FullSweepEvery time.Duration
	// WorkflowSweepGrace is how long past due an enrolled record's next step may be before the
	// workflow sweep enqueues it again, its task lost or held by a worker that died
	// (--workflow-sweep-grace, CRMFLOW_WORKFLOW_SWEEP_GRACE). Defaults to 1m.
	WorkflowSweepGrace time.Duration
	// WorkflowSweepSpec is when the scheduler re-enqueues workflow steps that are due and not running
	// (--workflow-sweep-spec, CRMFLOW_WORKFLOW_SWEEP_SPEC): lost tasks, and steps held while a
	// workflow was paused whose resume on activation was not queued. Defaults to "@every 30s".
	WorkflowSweepSpec string
	// QueueRedisURL is the task queue's Redis (--queue-redis, QUEUE_REDIS_URL). Empty means the
	// store's Redis (RedisURL).
	QueueRedisURL string
	// ReadHeaderTimeout bounds the reading of a request's headers (--read-header-timeout,
	// CRMFLOW_READ_HEADER_TIMEOUT). Defaults to 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the reading of a whole request, body included (--read-timeout,
	// CRMFLOW_READ_TIMEOUT): a body trickled slower is cut. Defaults to 30s.
	ReadTimeout time.Duration
	// PreviewBudget bounds the trigger work of one workflow preview (--preview-budget,
	// CRMFLOW_PREVIEW_BUDGET). Defaults to 5s.
	PreviewBudget time.Duration
	// RedisURL is the store's Redis, redis://[[USER]:PASSWORD@]HOST:PORT/DB or rediss://...
	// (--redis, REDIS_URL). Required by serve, worker, purge and admin; empty makes run use the
	// embedded store.
	RedisURL string
	// RequestTimeout is the deadline of every API request (--request-timeout,
	// CRMFLOW_REQUEST_TIMEOUT): one still running at it answers 503 with Retry-After. Defaults to 15s.
	RequestTimeout time.Duration
	// Retention is how long a deleted record stays restorable (--retention, CRMFLOW_RETENTION).
	// Defaults to 2160h (90 days).
	Retention time.Duration
	// SecureCookies marks the console's cookies Secure on every request (--secure-cookies,
	// CRMFLOW_SECURE_COOKIES), for a deployment behind a proxy that terminates TLS.
	SecureCookies bool
	// TrustedProxies are the proxies in front of the API whose X-Forwarded-For and
	// X-Forwarded-Proto the console believes (--trusted-proxies, CRMFLOW_TRUSTED_PROXIES; see
	// console.Config.TrustedProxies). Defaults to none.
	TrustedProxies prefixList
	// Seed creates the demo tenant, user and token on start (--seed). Implied by the embedded store.
	Seed bool
	// ShutdownTimeout bounds the graceful shutdown after SIGTERM or SIGINT (--shutdown-timeout,
	// CRMFLOW_SHUTDOWN_TIMEOUT). Defaults to 30s.
	ShutdownTimeout time.Duration
	// SMTPFrom is the sender of the worker's emails (--smtp-from, SMTP_FROM). Required with SMTPHost.
	SMTPFrom string
	// SMTPHost is the SMTP server of the worker's emails (--smtp-host, SMTP_HOST). Empty keeps every
	// email in the tenant's outbox (crmflow admin outbox list).
	SMTPHost string
	// SMTPPassword goes with SMTPUsername. It comes from SMTP_PASSWORD only, never from a flag,
	// so that it does not show in the process list.
	SMTPPassword string
	// SMTPPort is the SMTP server's port (--smtp-port, SMTP_PORT). Defaults to 587.
	SMTPPort int
	// SMTPStartTLS is opportunistic, mandatory or never (--smtp-starttls, SMTP_STARTTLS). Defaults
	// to opportunistic.
	SMTPStartTLS string
	// SMTPUsername authenticates to the SMTP server with AUTH PLAIN (--smtp-username, SMTP_USERNAME).
	SMTPUsername string
	// WriteTimeout bounds a request from the end of its headers to the end of its answer
	// (--write-timeout, CRMFLOW_WRITE_TIMEOUT). It must exceed RequestTimeout, so that the answer of
	// a request stopped at its deadline still gets out. Defaults to 30s.
	WriteTimeout time.Duration
}

// validateServer checks the fields of the long-running commands; it returns a usage error
// naming the flag.
func (c *Config) validateServer() error {
	if err := checkListenAddr("--addr", c.Addr, ":8080 or 127.0.0.1:8080"); err != nil {
		return err
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--read-header-timeout", c.ReadHeaderTimeout}, {"--read-timeout", c.ReadTimeout},
		{"--write-timeout", c.WriteTimeout}, {"--idle-timeout", c.IdleTimeout}, {"--request-timeout", c.RequestTimeout},
		{"--preview-budget", c.PreviewBudget}, {"--console-idle-timeout", c.ConsoleIdleTimeout},
	} {
		if d.v <= 0 {
			return usageErrorf("%s must be positive, got %s: use a duration such as 30s", d.flag, d.v)
		}
	}
	if c.WriteTimeout <= c.RequestTimeout {
		return usageErrorf("--write-timeout (%s) must exceed --request-timeout (%s), or the answer of a request "+
			"stopped at its deadline could not be written: raise --write-timeout", c.WriteTimeout, c.RequestTimeout)
	}
	if c.MaxConnections < 1 {
		return usageErrorf("--max-connections must be at least 1, got %d", c.MaxConnections)
	}
	if !c.tenantRequestsGiven && c.MaxTenantRequests >= c.MaxConnections {
		// The default is for the default connection cap: an operator who lowered only
		// --max-connections gets half of it per tenant, rather than a refusal to start.
		c.MaxTenantRequests = max(1, c.MaxConnections/2)
	}
	if c.MaxTenantRequests < 1 {
		return usageErrorf("--max-tenant-requests must be at least 1, got %d", c.MaxTenantRequests)
	}
	if c.tenantRequestsGiven && c.MaxTenantRequests >= c.MaxConnections {
		return usageErrorf("--max-tenant-requests (%d) must be below --max-connections (%d): each request in flight holds a connection, "+
			"so a cap at or above the connection cap lets one tenant take every connection; lower --max-tenant-requests "+
			"or raise --max-connections", c.MaxTenantRequests, c.MaxConnections)
	}
	if c.MaxHeaderBytes < 4096 {
		return usageErrorf("--max-header-bytes must be at least 4096, got %d", c.MaxHeaderBytes)
	}
	return c.validateLongRunning()
}

// validateLongRunning checks the fields every long-running command has.
func (c *Config) validateLongRunning() error {
	if c.Retention <= 0 {
		return usageErrorf("--retention must be positive, got %s: use a duration such as 2160h (90 days)", c.Retention)
	}
	if c.WaitReplicas < 0 {
		return usageErrorf("--wait-replicas must be 0 or more, got %d: the number of replicas that must have a destructive change before it is acknowledged", c.WaitReplicas)
	}
	if c.ShutdownTimeout <= 0 {
		return usageErrorf("--shutdown-timeout must be positive, got %s: use a duration such as 30s", c.ShutdownTimeout)
	}
	return nil
}

// validateWorker checks the fields of the worker role (crmflow worker, and crmflow run).
func (c *Config) validateWorker() error {
	if c.Concurrency <= 0 {
		return usageErrorf("--concurrency must be at least 1, got %d", c.Concurrency)
	}
	if c.BulkConcurrency < 1 || c.BulkConcurrency > c.Concurrency {
		return usageErrorf("--bulk-concurrency must be between 1 and --concurrency (%d), got %d",
			c.Concurrency, c.BulkConcurrency)
	}
	if c.JobLease <= 0 {
		return usageErrorf("--job-lease must be positive, got %s: use a duration such as 15s", c.JobLease)
	}
	if c.FullSweepEvery <= 0 {
		return usageErrorf("--full-sweep-every must be positive, got %s: use a duration such as 2h", c.FullSweepEvery)
	}
	if c.WorkflowSweepGrace <= 0 {
		return usageErrorf("--workflow-sweep-grace must be positive, got %s: use a duration such as 1m", c.WorkflowSweepGrace)
	}
	if c.OutboxMax < 1 {
		return usageErrorf("--outbox-max must be 1 or more, got %d: it is how many emails a tenant's outbox keeps (default %d)", c.OutboxMax, crm.DefaultOutboxMax)
	}
	if c.OutboxRetention <= 0 {
		return usageErrorf("--outbox-retention must be positive, got %s: use a duration such as 720h (30 days)", c.OutboxRetention)
	}
	if c.SMTPPort < 1 || c.SMTPPort > 65535 {
		return usageErrorf("--smtp-port %d is out of range 1..65535", c.SMTPPort)
	}
	switch worker.StartTLSPolicy(c.SMTPStartTLS) {
	case worker.StartTLSOpportunistic, worker.StartTLSMandatory, worker.StartTLSNever:
	default:
		return usageErrorf("--smtp-starttls %q is unknown: use opportunistic, mandatory or never", c.SMTPStartTLS)
	}
	if c.SMTPHost == "" {
		if c.SMTPUsername != "" || c.SMTPPassword != "" {
			return usageErrorf("SMTP credentials are set but --smtp-host (SMTP_HOST) is not: set the SMTP server, " +
				"or unset --smtp-username/SMTP_USERNAME and SMTP_PASSWORD to keep emails in the outbox")
		}
		return nil
	}
	if c.SMTPFrom == "" {
		return usageErrorf("--smtp-from (SMTP_FROM) is required with --smtp-host: give the sender address, e.g. crm@example.com")
	}
	if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
		return usageErrorf("--smtp-from %q is not an email address: %v", c.SMTPFrom, err)
	}
	if c.SMTPPassword != "" && c.SMTPUsername == "" {
		return usageErrorf("SMTP_PASSWORD is set but --smtp-username (SMTP_USERNAME) is not: set both, or neither")
	}
	return nil
}

// validateScheduler checks the cron specs of the scheduler role, naming the flag of a bad one.
func (c *Config) validateScheduler() error {
	for _, f := range []struct{ flag, spec string }{
		{"--purge-spec", c.PurgeSpec}, {"--jobs-sweep-spec", c.JobsSweepSpec}, {"--mail-sweep-spec", c.MailSweepSpec},
		{"--changes-sweep-spec", c.ChangesSweepSpec}, {"--workflow-sweep-spec", c.WorkflowSweepSpec},
	} {
		if _, err := worker.ParseSpec(f.spec); err != nil {
			return usageErrorf("%s %q is not a valid cron spec: %v; use five fields such as \"0 * * * *\", "+
				"or a descriptor such as \"@hourly\" or \"@every 30m\"", f.flag, f.spec, err)
		}
	}
	return nil
}

// apiLimits are the limits of the API's HTTP server.
func (c *Config) apiLimits() httpLimits {
	return httpLimits{
		readHeaderTimeout: c.ReadHeaderTimeout, readTimeout: c.ReadTimeout, writeTimeout: c.WriteTimeout,
		idleTimeout: c.IdleTimeout, maxHeaderBytes: c.MaxHeaderBytes,
	}
}

// mailConfig is the worker's SMTP configuration.
func (c *Config) mailConfig() worker.MailConfig {
	return worker.MailConfig{
		From:     c.SMTPFrom,
		Host:     c.SMTPHost,
		Password: c.SMTPPassword,
		Port:     c.SMTPPort,
		StartTLS: worker.StartTLSPolicy(c.SMTPStartTLS),
		Username: c.SMTPUsername,
	}
}

// errNoRedis is the refusal of a production role or admin command run without a Redis URL.
func errNoRedis(command string) error {
	return errNoRedisOr(command, "")
}

// errNoRedisOr is errNoRedis for a command that also takes another Redis URL instead, named by
// alternative ("--queue-redis or QUEUE_REDIS_URL").
func errNoRedisOr(command, alternative string) error {
	pass := "pass --redis redis://HOST:6379/0 or set REDIS_URL"
	if alternative != "" {
		pass += " (or " + alternative + ")"
	}
	return &exitError{code: exitUsage, err: fmt.Errorf(
		"%s needs a Redis: %s.\n"+
			"For a throwaway store whose state is lost on exit, use `crmflow run` or `crmflow serve --embedded`", command, pass)}
}

// logger builds the process logger, writing to w.
func (c *Config) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, usageErrorf("--log-level %q is unknown: use debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(c.LogFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usageErrorf("--log-format %q is unknown: use text or json", c.LogFormat)
	}
}

// redisURLError strips a URL parse error down to its reason: *url.Error repeats the whole URL,
// and with it the password.
func redisURLError(err error) error {
	var esc url.EscapeError
	if errors.As(err, &esc) {
		// url's message quotes the three characters at the %, which may be part of the password.
		return errors.New("a % in the URL is not followed by two hexadecimal digits: write a % in a password as %25 " +
			"(and @, :, / or ? as %40, %3A, %2F, %3F)")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// envAnnotation is the flag annotation that names a flag's environment variable.
const envAnnotation = "crmflow_env"

// checkListenAddr checks the shape of the listen address addr of flag: HOST:PORT, or :PORT, with a
// port from 0 to 65535. A malformed address can never work, so it is a usage error (exit 2, which
// a supervisor does not restart); an address taken or not local fails later, when listening.
func checkListenAddr(flag, addr, example string) error {
	if addr == "" {
		return usageErrorf("%s is empty: give a listen address such as %s", flag, example)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("%s %q is not a listen address (%v): give HOST:PORT such as %s", flag, addr, strings.TrimPrefix(err.Error(), "address "+addr+": "), example)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return usageErrorf("%s %q has no valid port: give a port from 1 to 65535, such as %s", flag, addr, example)
	}
	return nil
}

// daysDuration is a duration flag that also takes a number of days, as "90d" or "1.5d", beside Go's
// durations ("2160h"): the unit people think of retention periods in.
type daysDuration time.Duration

// Set implements pflag.Value.
func (d *daysDuration) Set(s string) error {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := crm.ParseNumber(days)
		if err != nil || days != strings.TrimSpace(days) || math.Abs(n) > 100*365 {
			return fmt.Errorf("%q is not a duration: use a duration such as 2160h or 30m, or days such as 90d", s)
		}
		*d = daysDuration(time.Duration(n * float64(24*time.Hour)))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration: use a duration such as 2160h or 30m, or days such as 90d", s)
	}
	*d = daysDuration(v)
	return nil
}

// String implements pflag.Value.
func (d *daysDuration) String() string { return time.Duration(*d).String() }

// Type implements pflag.Value.
func (d *daysDuration) Type() string { return "duration" }

// prefixList is a flag of comma-separated IP addresses and CIDR ranges ("10.0.0.5,10.1.0.0/16").
type prefixList []netip.Prefix

// Set implements pflag.Value.
func (l *prefixList) Set(s string) error {
	var out prefixList
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return fmt.Errorf("%q is not an IP address or a CIDR range: give addresses such as 10.0.0.5 or ranges such as 10.0.0.0/8, "+
				"separated by commas", item)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	*l = out
	return nil
}

// String implements pflag.Value.
func (l *prefixList) String() string {
	s := make([]string, len(*l))
	for i, p := range *l {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// Type implements pflag.Value.
func (l *prefixList) Type() string { return "addresses" }

// bindEnv lets the environment variable env set flag name when the flag is not given, and says so
// in the flag's help.
func bindEnv(fs *pflag.FlagSet, name, env string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("bindEnv: no flag " + name) // programmer error in hard-coded registration
	}
	f.Usage += " [env " + env + "]"
	_ = fs.SetAnnotation(name, envAnnotation, []string{env})
}

// applyEnv sets every flag of fs that was not given on the command line from its environment
// variable, when that is set and not empty. It returns the flags so set, by name, with their
// variables, and a usage error naming the variable when a value does not parse.
func applyEnv(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) (map[string]string, error) {
	fromEnv := map[string]string{}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		envs := f.Annotations[envAnnotation]
		if len(envs) == 0 || f.Changed {
			return
		}
		v, ok := lookupEnv(envs[0])
		if !ok || v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, usageErrorf("environment variable %s (for --%s) is invalid: %v%s", envs[0], f.Name, err, envHint(f.Value.Type())))
			return
		}
		fromEnv[f.Name] = envs[0]
	})
	return fromEnv, errors.Join(errs...)
}

// envHint says what a variable of a flag of type typ takes, for the values whose parse error
// (strconv's, time's) says only what was wrong; other types explain themselves.
func envHint(typ string) string {
	switch typ {
	case "bool":
		return ": use true or false"
	case "duration":
		return ": use a duration such as 30s, 15m or 2h"
	case "int", "int64", "uint", "uint64":
		return ": use a whole number"
	}
	return ""
}
