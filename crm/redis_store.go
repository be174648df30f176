package crm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/internal/clock"
)

// Config configures a RedisStore. The zero value works.
type Config struct {
	// Clock tells the time of every change. Defaults to the wall clock.
	Clock clock.Clock
	// EmailSalt salts the hashes of blocklisted emails. Defaults to a fixed salt; deployments should
	// set their own secret (CRMFLOW_EMAIL_SALT).
	EmailSalt string
	// Logger receives the store's warnings. Defaults to slog.Default().
	Logger *slog.Logger
	// Retention is how long a deleted record stays restorable. Defaults to DefaultRetention (90 days).
	Retention time.Duration
}

// RedisStore is the Store on Redis (a single server or Redis Cluster). Safe for concurrent use.
type RedisStore struct {
	rdb  redis.UniversalClient
	cfg  Config
	jobs jobCache
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store on rdb. It does not check the server; call CheckServer at start-up.
func NewRedisStore(rdb redis.UniversalClient, cfg *Config) (*RedisStore, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.EmailSalt == "" {
		c.EmailSalt = "crmflow-default-salt"
	}
	if c.Retention < 0 {
		return nil, fmt.Errorf("crm: Config.Retention must be positive, got %s", c.Retention)
	}
	if rdb == nil {
		return nil, errors.New("crm: NewRedisStore needs a Redis client")
	}
	return &RedisStore{rdb: rdb, cfg: c}, nil
}

// Redis returns the store's client.
func (s *RedisStore) Redis() redis.UniversalClient { return s.rdb }

// Retention returns how long a deleted record stays restorable.
func (s *RedisStore) Retention() time.Duration { return s.cfg.Retention }

// ServerCheck is what CheckServer found.
type ServerCheck struct {
	// EvictionPolicy is the server's maxmemory-policy.
	EvictionPolicy string
	// AOF is true when append-only persistence is on.
	AOF bool
	// Warnings are problems that do not stop the store (AOF off, an evicting policy allowed by flag).
	Warnings []string
}

// CheckServer reads the server's configuration. It returns ErrEvictionPolicy (wrapped, naming the
// policy and how to fix it) unless maxmemory-policy is noeviction, or only a warning when
// allowEviction is true. AOF persistence off is always a warning.
func (s *RedisStore) CheckServer(ctx context.Context, allowEviction bool) (ServerCheck, error) {
	var out ServerCheck
	// One section per call: servers differ in how many sections one INFO call may name.
	for _, section := range []string{"memory", "persistence"} {
		info, err := s.rdb.Info(ctx, section).Result()
		if err != nil {
			return out, fmt.Errorf("crm: read redis INFO %s: %w", section, err)
		}
		for _, line := range strings.Split(info, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if !ok {
				continue
			}
			switch k {
			case "maxmemory_policy":
				out.EvictionPolicy = v
			case "aof_enabled":
				out.AOF = v == "1"
			}
		}
	}
	if out.EvictionPolicy != "" && out.EvictionPolicy != "noeviction" {
		err := fmt.Errorf("%w: the server's policy is %q, so Redis may silently drop records under memory pressure; "+
			"run CONFIG SET maxmemory-policy noeviction (and put it in redis.conf), or pass --allow-eviction to run anyway",
			ErrEvictionPolicy, out.EvictionPolicy)
		if !allowEviction {
			return out, err
		}
		out.Warnings = append(out.Warnings, err.Error())
	}
	if !out.AOF {
		out.Warnings = append(out.Warnings, "redis append-only persistence (AOF) is off: a Redis restart can lose the latest changes; set appendonly yes")
	}
	return out, nil
}
