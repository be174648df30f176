package redisstore

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/clock"
)

// Config configures a Store. The zero value works.
type Config struct {
	// AssociationReadBudget is the most associations, over every type, the records of one
	// ReadAssociations call (a batch read of associations) may have in all: past it the read is
	// refused with a *crm.ValidationError, since the script looks at each of them in one step of
	// Redis. Defaults to crm.DefaultAssociationReadBudget; one below MaxAssociations is raised to
	// it, so that the associations of any one record can be read.
	AssociationReadBudget int
	// Clock tells the time of every change. Defaults to the wall clock.
	Clock clock.Clock
	// EmailSalt salts the hashes of blocklisted emails. Required: New returns an error
	// without it. It is a secret of the deployment, the same for every process on one Redis and never
	// changed (CheckEmailSalt refuses a process whose salt differs from the one first used); a
	// known salt would let anyone who reads Redis test whether an address was erased.
	EmailSalt string
	// ErasureBatch is how many calls associated with a contact one step of a permanent delete
	// erases at most: each step is one script, so a contact with many calls never holds Redis for
	// long. Defaults to 200.
	ErasureBatch int
	// Logger receives the store's warnings. Defaults to slog.Default().
	Logger *slog.Logger
	// Retention is how long a deleted record stays restorable. Defaults to DefaultRetention (90 days).
	// It is a setting of the deployment, kept in Redis (RetentionKey): CheckRetention stores it on a
	// Redis that holds none, or else refuses or takes the stored one.
	Retention time.Duration
	// MaxAssociations is the most records one record may be associated with, over every type: an
	// association past it is refused with a *crm.ValidationError naming the record. Defaults to
	// crm.DefaultMaxAssociations.
	MaxAssociations int
	// SearchCallWork is the most work one call of the search script does, in units of about a
	// record's index read or a filter's test (a record's hash read counts 4): a search whose
	// records times its filters pass it runs in several calls, each of at most this work, so that
	// no search holds Redis for long (S27). Defaults to DefaultSearchCallWork.
	SearchCallWork int
	// SearchWorkBudget is the most records one search may read from its indexes before testing
	// the rest of its filters (see Store.Search). Defaults to DefaultSearchWorkBudget.
	SearchWorkBudget int
	// WaitReplicas, when above 0, makes every destructive change (a move to the bin, a restore, a
	// permanent delete, a purge) wait until that many replicas of its master have it (Redis WAIT)
	// before it is acknowledged: a failover then cannot lose it. 0 (the default) waits for none,
	// and a change acknowledged just before its master dies may be lost with it.
	WaitReplicas int
	// WaitReplicasTimeout bounds that wait. Defaults to 2s; past it the change is made but the call
	// returns ErrNotReplicated.
	WaitReplicasTimeout time.Duration
}

// Store is the crm.Store on Redis (a single server or Redis Cluster). Safe for concurrent use.
type Store struct {
	rdb  redis.UniversalClient
	cfg  Config
	jobs jobCache
	// touched holds, per tenant, when this process last marked it in ActiveKey (unix ms).
	touched sync.Map
	// retention is Config.Retention, or the deployment's once CheckRetention took it.
	retention atomic.Int64
}

var _ crm.Store = (*Store)(nil)

// New returns a store on rdb. It returns ErrNoEmailSalt when cfg has no EmailSalt. It
// does not check the server; call CheckServer and CheckEmailSalt at start-up.
//
// It adds a hook to rdb that wraps the errors of a Redis in trouble, so that every caller of rdb
// can tell them with errors.Is: ErrStoreUnavailable (down, hung, loading) and ErrStoreFull (out of
// memory for a write). Give rdb ContextTimeoutEnabled and short dial, read and write timeouts so
// that a hung Redis fails a call within its context's deadline.
func New(rdb redis.UniversalClient, cfg *Config) (*Store, error) {
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
	if c.WaitReplicas < 0 {
		return nil, fmt.Errorf("crm: Config.WaitReplicas is %d: give 0 or more replicas", c.WaitReplicas)
	}
	if c.WaitReplicasTimeout <= 0 {
		c.WaitReplicasTimeout = 2 * time.Second
	}
	if c.MaxAssociations <= 0 {
		c.MaxAssociations = crm.DefaultMaxAssociations
	}
	if c.AssociationReadBudget <= 0 {
		c.AssociationReadBudget = crm.DefaultAssociationReadBudget
	}
	c.AssociationReadBudget = max(c.AssociationReadBudget, c.MaxAssociations)
	if c.SearchCallWork <= 0 {
		c.SearchCallWork = DefaultSearchCallWork
	}
	if c.SearchWorkBudget <= 0 {
		c.SearchWorkBudget = crm.DefaultSearchWorkBudget
	}
	if c.Retention == 0 {
		c.Retention = crm.DefaultRetention
	}
	if c.EmailSalt == "" {
		return nil, crm.ErrNoEmailSalt
	}
	if c.Retention < 0 {
		return nil, fmt.Errorf("crm: Config.Retention must be positive, got %s", c.Retention)
	}
	if rdb == nil {
		return nil, errors.New("redisstore: New needs a Redis client")
	}
	rdb.AddHook(troubleHook{})
	s := &Store{rdb: rdb, cfg: c}
	s.retention.Store(int64(c.Retention))
	return s, nil
}

// Redis returns the store's client.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Retention returns how long a deleted record stays restorable: Config.Retention, or the
// deployment's once CheckRetention took it.
func (s *Store) Retention() time.Duration { return time.Duration(s.retention.Load()) }

// CheckServer reads the server's configuration. It returns ErrEvictionPolicy (wrapped, naming the
// policy and how to fix it) unless maxmemory-policy is noeviction, or only a warning when
// allowEviction is true. AOF persistence off is always a warning, and so is Config.WaitReplicas
// above the replicas connected now: each destructive change would wait WaitReplicasTimeout and
// come back ErrNotReplicated.
func (s *Store) CheckServer(ctx context.Context, allowEviction bool) (ServerCheck, error) {
	check, err := CheckServer(ctx, s.rdb, allowEviction)
	if err == nil && s.cfg.WaitReplicas > check.Replicas {
		check.Warnings = append(check.Warnings, fmt.Sprintf("wait-replicas is %d but the Redis has %d connected replica(s): "+
			"each delete, restore, erasure and purge will wait %s for them and report that it is not replicated "+
			"(the API answers 503 NOT_REPLICATED) until enough replicas connect; lower --wait-replicas or add replicas",
			s.cfg.WaitReplicas, check.Replicas, s.cfg.WaitReplicasTimeout))
	}
	return check, err
}

// CheckServer is Store.CheckServer for a Redis without a store, such as a task queue's. On a
// Redis Cluster it checks every master: the first that may evict is the error, and the warnings
// name the master they are about.
func CheckServer(ctx context.Context, rdb redis.UniversalClient, allowEviction bool) (ServerCheck, error) {
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		return checkOneServer(ctx, rdb, allowEviction)
	}
	var (
		mu    sync.Mutex
		out   = ServerCheck{AOF: true}
		first = true
	)
	err := EachServer(ctx, rdb, func(ctx context.Context, m redis.UniversalClient) error {
		check, err := checkOneServer(ctx, m, allowEviction)
		mu.Lock()
		defer mu.Unlock()
		addr := m.(*redis.Client).Options().Addr
		for _, w := range check.Warnings {
			out.Warnings = append(out.Warnings, "master "+addr+": "+w)
		}
		if out.EvictionPolicy == "" || check.EvictionPolicy != "noeviction" {
			out.EvictionPolicy = check.EvictionPolicy
		}
		out.AOF = out.AOF && check.AOF
		if first || check.Replicas < out.Replicas {
			out.Replicas = check.Replicas
		}
		first = false
		return err
	})
	slices.Sort(out.Warnings)
	return out, err
}

// checkOneServer is CheckServer on one server.
func checkOneServer(ctx context.Context, rdb redis.UniversalClient, allowEviction bool) (ServerCheck, error) {
	var out ServerCheck
	// One section per call: servers differ in how many sections one INFO call may name.
	for _, section := range []string{"memory", "persistence", "replication"} {
		info, err := rdb.Info(ctx, section).Result()
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
			case "connected_slaves":
				out.Replicas, _ = strconv.Atoi(v)
			}
		}
	}
	if out.EvictionPolicy != "" && out.EvictionPolicy != "noeviction" {
		err := fmt.Errorf("%w: the server's policy is %q, so Redis may silently drop records under memory pressure; "+
			"run CONFIG SET maxmemory-policy noeviction (and put it in redis.conf), or pass --allow-eviction to run anyway",
			crm.ErrEvictionPolicy, out.EvictionPolicy)
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

// CheckEmailSalt makes sure the store's email salt is the deployment's: the first call on a Redis
// stores the salt's fingerprint (never the salt), and every later call compares with it. A
// process started with another salt would not recognise the blocklisted emails of erased contacts
// and would let them back in, so it must not start: CheckEmailSalt then returns
// ErrEmailSaltMismatch, wrapped with what to do. Safe for concurrent use; two first calls with
// different salts cannot both succeed.
func (s *Store) CheckEmailSalt(ctx context.Context) error {
	fp := crm.SaltFingerprint(s.cfg.EmailSalt)
	first, err := s.rdb.SetNX(ctx, SaltFingerprintKey(), fp, 0).Result()
	if err != nil {
		return fmt.Errorf("crm: check the email salt: %w", err)
	}
	if first {
		return nil
	}
	stored, err := s.rdb.Get(ctx, SaltFingerprintKey()).Result()
	if err != nil {
		return fmt.Errorf("crm: check the email salt: %w", err)
	}
	if !hmac.Equal([]byte(stored), []byte(fp)) {
		return fmt.Errorf("%w: this Redis was first used with another email salt (its fingerprint is kept at %s); "+
			"give this process the deployment's salt (CRMFLOW_EMAIL_SALT), the same on every process", crm.ErrEmailSaltMismatch, SaltFingerprintKey())
	}
	return nil
}

// ServerCheck is what CheckServer found.
type ServerCheck struct {
	// EvictionPolicy is the server's maxmemory-policy.
	EvictionPolicy string
	// AOF is true when append-only persistence is on.
	AOF bool
	// Replicas is how many replicas are connected to the server (on a cluster, to the master with
	// the fewest).
	Replicas int
	// Warnings are problems that do not stop the store (AOF off, an evicting policy allowed by
	// flag, more replicas waited for than connected).
	Warnings []string
}

// EachServer calls fn with the server of rdb or, on a Redis Cluster, with each of its masters, at
// the same time (fn must be safe for concurrent use): what a server holds or reports for itself
// (INFO, SCAN, SLOWLOG, a PING) is per master on a cluster. It returns the first error, prefixed
// with the master's address.
func EachServer(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, c redis.UniversalClient) error) error {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return fn(ctx, rdb)
	}
	return cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		if err := fn(ctx, m); err != nil {
			return fmt.Errorf("master %s: %w", m.Options().Addr, err)
		}
		return nil
	})
}
