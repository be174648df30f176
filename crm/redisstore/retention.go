package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
)

// setRetentionScript sets the deployment's retention if it is still the one the caller read.
// See lua/set_retention.lua for its KEYS and ARGV.
var setRetentionScript = newScript[setRetentionCall]("set_retention").quiet()

// setRetentionCall is a call of setRetentionScript (lua/set_retention.lua).
type setRetentionCall struct {
	Retention string

	Expected string // ms, or "" for none stored
	New      int64  // ms
}

func (c setRetentionCall) keys() []string { return []string{c.Retention} }
func (c setRetentionCall) argv() []any    { return []any{c.Expected, c.New} }

// retentionBatch is how many tenants one pipeline of SetRetention counts or audits.
const retentionBatch = 200

// CheckRetentionOpts are options of CheckRetention. nil means the defaults.
type CheckRetentionOpts struct {
	// Given says the process was given Config.Retention explicitly (a flag or an environment
	// variable): it must then be the deployment's. Without it, the store takes the deployment's.
	Given bool
	// NoStore leaves a Redis that holds no retention as it is, for one-off commands (a purge) that
	// must not decide the deployment's retention: the deployment's is then crm.DefaultRetention.
	NoStore bool
}

// StoredRetention returns the deployment's retention, and false when the Redis holds none yet
// (the retention is then crm.DefaultRetention). A stored value that is not a positive number of
// milliseconds is an error naming RetentionKey.
func (s *Store) StoredRetention(ctx context.Context) (time.Duration, bool, error) {
	d, raw, err := s.storedRetention(ctx)
	return d, raw != "", err
}

// storedRetention is StoredRetention, with the value as stored ("" for none).
func (s *Store) storedRetention(ctx context.Context) (time.Duration, string, error) {
	raw, err := s.rdb.Get(ctx, RetentionKey()).Result()
	if errors.Is(err, redis.Nil) {
		return crm.DefaultRetention, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("crm: read the deployment's retention: %w", err)
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n <= 0 {
		return 0, "", fmt.Errorf("crm: the deployment's retention at %s is %q, not a positive number of milliseconds: delete the key, then start a process with the deployment's retention to store it again", RetentionKey(), raw)
	}
	return time.Duration(n) * time.Millisecond, raw, nil
}

// CheckRetention makes the store's retention the deployment's, which the Redis holds at
// RetentionKey. On a Redis that holds none, the first call stores Config.Retention (unless
// opts.NoStore). On one that holds a retention, a Config.Retention given explicitly (opts.Given)
// that differs from it is refused with a *crm.RetentionMismatchError, and otherwise the store
// takes the stored one. It returns the retention the store now uses (Store.Retention).
//
// Call it at start-up: a running store keeps the retention it took until CheckRetention is called
// again. Safe for concurrent use; two first calls with different retentions cannot both store
// theirs (the second one given explicitly is refused, one not given takes the first's).
func (s *Store) CheckRetention(ctx context.Context, opts *CheckRetentionOpts) (time.Duration, error) {
	var o CheckRetentionOpts
	if opts != nil {
		o = *opts
	}
	mine := s.cfg.Retention
	if !o.NoStore {
		first, err := s.rdb.SetNX(ctx, RetentionKey(), mine.Milliseconds(), 0).Result()
		if err != nil {
			return 0, fmt.Errorf("crm: check the deployment's retention: %w", err)
		}
		if first {
			s.retention.Store(int64(mine))
			return mine, nil
		}
	}
	stored, held, err := s.StoredRetention(ctx)
	if err != nil {
		return 0, err
	}
	if o.Given && stored != mine {
		return 0, &crm.RetentionMismatchError{Given: mine, Deployment: stored, Unset: !held}
	}
	s.retention.Store(int64(stored))
	return stored, nil
}

// SetRetentionParams are the input of SetRetention.
type SetRetentionParams struct {
	// AllowShorter allows a retention shorter than the deployment's: the bin entries deleted
	// between the two horizons become purgeable at once, and can no longer be restored.
	AllowShorter bool
	// By is the acting admin, for the audit trail. Required.
	By string
	// Retention is the new retention. Required, positive, whole milliseconds.
	Retention time.Duration
}

// RetentionChange is what SetRetention did, or would have done.
type RetentionChange struct {
	// Previous is the deployment's retention before (crm.DefaultRetention when none was stored),
	// Retention the one asked for.
	Previous, Retention time.Duration
	// Changed is false when nothing was written: the retention asked for was stored already, or
	// the change was refused.
	Changed bool
	// Purgeable is, per tenant with any, how many bin entries a shortening makes purgeable at once:
	// deleted after now minus Previous and at or before now minus Retention. Empty when lengthening.
	Purgeable map[crm.TenantID]int64
	// Audited is how many tenants' audit trails got the entry of the change.
	Audited int
}

// PurgeableTotal is the sum of Purgeable.
func (c RetentionChange) PurgeableTotal() int64 {
	var n int64
	for _, v := range c.Purgeable {
		n += v
	}
	return n
}

// SetRetention changes the deployment's retention (RetentionKey) and writes a crm.AuditRetentionSet
// entry to every tenant's audit trail. Lengthening is always allowed. Shortening counts, in
// batches of tenants, the bin entries it makes purgeable at once, and without p.AllowShorter is
// refused with crm.ErrRetentionShorter (wrapped), changing nothing; the change returned has the
// counts either way. A retention equal to the stored one changes nothing and audits nothing.
//
// Processes already running keep the retention they read at start-up until restarted. A change
// made by another caller between the read and the write is refused (run it again). If the
// retention was written but an audit entry could not be, the error says so and the change stands.
func (s *Store) SetRetention(ctx context.Context, p SetRetentionParams) (RetentionChange, error) {
	switch {
	case p.Retention <= 0 || p.Retention%time.Millisecond != 0:
		return RetentionChange{}, &crm.ValidationError{Field: "retention", Code: "INVALID_RETENTION",
			Message: fmt.Sprintf("retention %s is invalid: give a positive duration of whole milliseconds, such as 90d", p.Retention)}
	case p.By == "":
		return RetentionChange{}, errors.New("crm: SetRetention needs By, the acting admin")
	}
	prev, raw, err := s.storedRetention(ctx)
	if err != nil {
		return RetentionChange{}, err
	}
	out := RetentionChange{Previous: prev, Retention: p.Retention, Purgeable: map[crm.TenantID]int64{}}
	if raw != "" && prev == p.Retention {
		return out, nil
	}
	tenants, err := s.Tenants(ctx)
	if err != nil {
		return out, err
	}
	now := s.cfg.Clock.Now()
	if p.Retention < prev {
		if out.Purgeable, err = s.countBetween(ctx, tenants, now.Add(-prev), now.Add(-p.Retention)); err != nil {
			return out, err
		}
		if !p.AllowShorter {
			return out, fmt.Errorf("%w: from %s to %s makes %d bin entries purgeable at once", crm.ErrRetentionShorter,
				crm.FormatWindow(prev), crm.FormatWindow(p.Retention), out.PurgeableTotal())
		}
	}
	n, err := setRetentionScript.run(ctx, s, setRetentionCall{Retention: RetentionKey(), Expected: raw, New: p.Retention.Milliseconds()}).Int()
	if err != nil {
		return out, fmt.Errorf("crm: set the deployment's retention: %w", err)
	}
	if n == 0 {
		return out, errors.New("crm: the deployment's retention changed while this change was being made: read it again and retry")
	}
	out.Changed = true
	out.Audited, err = s.auditRetention(ctx, tenants, out, p.By, now)
	if err != nil {
		return out, fmt.Errorf("crm: the retention is now %s, but the audit entries of %d of %d tenants could not be written: %w",
			crm.FormatWindow(p.Retention), len(tenants)-out.Audited, len(tenants), err)
	}
	return out, nil
}

// countBetween counts, per tenant with any, the bin entries of every object type deleted after
// from and at or before to, a batch of tenants per pipeline.
func (s *Store) countBetween(ctx context.Context, tenants []crm.TenantID, from, to time.Time) (map[crm.TenantID]int64, error) {
	out := map[crm.TenantID]int64{}
	for start := 0; start < len(tenants); start += retentionBatch {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		batch := tenants[start:min(start+retentionBatch, len(tenants))]
		pipe := s.rdb.Pipeline()
		types := make([]*redis.StringSliceCmd, len(batch))
		for i, t := range batch {
			types[i] = pipe.HKeys(ctx, ObjectTypesKey(t))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return out, fmt.Errorf("crm: read object types: %w", err)
		}
		pipe = s.rdb.Pipeline()
		counts := make([][]*redis.IntCmd, len(batch))
		for i, t := range batch {
			for _, o := range objectTypes(types[i].Val()) {
				counts[i] = append(counts[i], pipe.ZCount(ctx, TrashKey(t, o), "("+ms(from), ms(to)))
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return out, fmt.Errorf("crm: count bin entries: %w", err)
		}
		for i, t := range batch {
			var n int64
			for _, c := range counts[i] {
				n += c.Val()
			}
			if n > 0 {
				out[t] = n
			}
		}
	}
	return out, nil
}

// auditRetention writes the entry of change c to the audit trail of every tenant, a batch of
// tenants per pipeline, and returns how many were written. by is the acting admin.
func (s *Store) auditRetention(ctx context.Context, tenants []crm.TenantID, c RetentionChange, by string, now time.Time) (int, error) {
	maxLen, _ := strconv.ParseInt(auditMaxLen, 10, 64)
	done := 0
	for start := 0; start < len(tenants); start += retentionBatch {
		batch := tenants[start:min(start+retentionBatch, len(tenants))]
		pipe := s.rdb.Pipeline()
		for _, t := range batch {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: AuditKey(t), MaxLen: maxLen, Approx: true, Values: []any{
				"action", crm.AuditRetentionSet, "by", by, "count", c.Purgeable[t],
				"retention", c.Retention.Milliseconds(), "prev_retention", c.Previous.Milliseconds(), "at", now.UnixMilli()}})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return done, err
		}
		done += len(batch)
	}
	return done, nil
}
