package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
)

// touchEvery is how often one store process marks one tenant in ActiveKey at most: a busy
// tenant costs a ZADD a second per process, not one per write.
const touchEvery = time.Second

// activeHorizon is how long a tenant stays in ActiveKey without a change: a full walk drops the
// older ones.
const activeHorizon = 24 * time.Hour

// touch marks the tenant of keys (a script's keys, the tenant in the first's hash tag) active in
// ActiveKey, at most once per touchEvery per tenant from this process. It is the cheap half of the
// sweeps' bookkeeping: a mark lost (a process dying after its write, a Redis error) delays the
// tenant's sweeps until the next full walk, and loses nothing.
func (s *Store) touch(ctx context.Context, keys []string) {
	if len(keys) == 0 {
		return
	}
	rest, ok := strings.CutPrefix(keys[0], "crm:{")
	if !ok {
		return
	}
	t, _, ok := strings.Cut(rest, "}")
	if !ok || t == "" {
		return
	}
	now := s.cfg.Clock.Now().UnixMilli()
	if last, ok := s.touched.Load(t); ok {
		if d := now - last.(int64); d >= 0 && d < touchEvery.Milliseconds() {
			return
		}
	}
	s.touched.Store(t, now)
	if err := s.rdb.ZAdd(ctx, ActiveKey(), redis.Z{Score: float64(now), Member: t}).Err(); err != nil {
		s.touched.Delete(t)
		s.cfg.Logger.DebugContext(ctx, "marking a tenant active failed: its sweeps wait for the next full walk",
			"tenant_id", t, "error", err.Error())
	}
}

// ActiveTenants implements Store.
func (s *Store) ActiveTenants(ctx context.Context, since time.Time) ([]crm.TenantID, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, ActiveKey(), &redis.ZRangeBy{Min: strconv.FormatInt(since.UnixMilli(), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("list active tenants: %w", err)
	}
	return s.existing(ctx, ids)
}

// ClaimFullSweep implements Store. The claim is one script on FullSweepKey, so that of the workers
// running sweeps of one kind at once, one walks every tenant; the one that does also drops the
// tenants without a change for activeHorizon from ActiveKey.
func (s *Store) ClaimFullSweep(ctx context.Context, kind string, at time.Time, every time.Duration) (bool, error) {
	ok, err := claimFullSweepScript.run(ctx, s, claimFullSweepCall{Sweeps: FullSweepKey(), Kind: kind, At: at.UnixMilli(),
		Every: every.Milliseconds()}).Int()
	if err != nil {
		return false, fmt.Errorf("claim the full %s sweep: %w", kind, err)
	}
	if ok != 1 {
		return false, nil
	}
	if err := s.rdb.ZRemRangeByScore(ctx, ActiveKey(), "-inf", "("+strconv.FormatInt(at.Add(-activeHorizon).UnixMilli(), 10)).Err(); err != nil {
		return true, fmt.Errorf("drop the tenants long inactive: %w", err)
	}
	return true, nil
}

// claimFullSweepScript claims a sweep kind's full walk. See lua/claim_full_sweep.lua for its KEYS
// and ARGV.
var claimFullSweepScript = newScript[claimFullSweepCall]("claim_full_sweep").quiet()

// claimFullSweepCall is a call of claimFullSweepScript (lua/claim_full_sweep.lua).
type claimFullSweepCall struct {
	Sweeps string

	Kind  string
	At    int64 // unix ms
	Every int64 // ms
}

func (c claimFullSweepCall) keys() []string { return []string{c.Sweeps} }
func (c claimFullSweepCall) argv() []any    { return []any{c.Kind, c.At, c.Every} }
