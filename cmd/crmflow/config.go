package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config is everything the binary reads from its flags and environment. A flag given on the
// command line wins over its environment variable, which wins over the default. Each field names
// its flag and variable; a command only defines the flags it uses.
type Config struct {
	// Addr is the HTTP listen address (--addr, CRMFLOW_ADDR). Defaults to ":8080" for serve and
	// "127.0.0.1:8080" for run, whose demo token has every permission.
	Addr string
	// AllowEviction downgrades a Redis maxmemory-policy other than noeviction from a refusal to
	// start to a warning (--allow-eviction, CRMFLOW_ALLOW_EVICTION). Defaults to false.
	AllowEviction bool
	// EmailSalt salts the hashes of blocklisted emails (--email-salt, CRMFLOW_EMAIL_SALT). Empty
	// means the store's fixed default; deployments should set their own secret.
	EmailSalt string
	// Embedded runs serve on an in-process Redis whose state is lost on exit (--embedded).
	Embedded bool
	// LogFormat is "text" or "json" (--log-format, CRMFLOW_LOG_FORMAT). Defaults to "text".
	LogFormat string
	// LogLevel is debug, info, warn or error (--log-level, CRMFLOW_LOG_LEVEL). Defaults to info.
	LogLevel string
	// RedisURL is the store's Redis, redis://[[USER]:PASSWORD@]HOST:PORT/DB or rediss://...
	// (--redis, REDIS_URL). Required by serve and admin; empty makes run use the embedded store.
	RedisURL string
	// Retention is how long a deleted record stays restorable (--retention, CRMFLOW_RETENTION).
	// Defaults to 2160h (90 days).
	Retention time.Duration
	// Seed creates the demo tenant, user and token on start (--seed). Implied by the embedded store.
	Seed bool
	// ShutdownTimeout bounds the graceful shutdown after SIGTERM or SIGINT (--shutdown-timeout,
	// CRMFLOW_SHUTDOWN_TIMEOUT). Defaults to 30s.
	ShutdownTimeout time.Duration
}

// validateServer checks the fields of the long-running commands; it returns a usage error
// naming the flag.
func (c *Config) validateServer() error {
	if c.Addr == "" {
		return usageErrorf("--addr is empty: give a listen address such as :8080 or 127.0.0.1:8080")
	}
	if c.Retention <= 0 {
		return usageErrorf("--retention must be positive, got %s: use a duration such as 2160h (90 days)", c.Retention)
	}
	if c.ShutdownTimeout <= 0 {
		return usageErrorf("--shutdown-timeout must be positive, got %s: use a duration such as 30s", c.ShutdownTimeout)
	}
	return nil
}

// errNoRedis is the refusal of a production role or admin command run without a Redis URL.
func errNoRedis(command string) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(
		"%s needs a Redis: pass --redis redis://HOST:6379/0 or set REDIS_URL.\n"+
			"For a throwaway store whose state is lost on exit, use `crmflow run` or `crmflow serve --embedded`", command)}
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
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// envAnnotation is the flag annotation that names a flag's environment variable.
const envAnnotation = "crmflow_env"

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
			// The value is not repeated: it may be a secret.
			errs = append(errs, usageErrorf("environment variable %s (for --%s) is invalid: %v", envs[0], f.Name, err))
			return
		}
		fromEnv[f.Name] = envs[0]
	})
	return fromEnv, errors.Join(errs...)
}
