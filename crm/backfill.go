package crm

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// BackfillState is the state of an enroll-existing backfill.
type BackfillState string

// The states of a backfill.
const (
	BackfillRunning BackfillState = "running" // records are still to be looked at
	BackfillDone    BackfillState = "done"    // every record was looked at
	BackfillStopped BackfillState = "stopped" // the workflow was paused, or another revision activated
)

// Backfill is the position and progress of a workflow's enroll-existing backfill: where a runner
// that takes it over continues, what people see, and what the CLI waits on.
type Backfill struct {
	Revision int64
	// State is BackfillRunning, BackfillDone or BackfillStopped.
	State BackfillState
	// Total is the number of live records when the backfill started; Done how many were looked at;
	// Enrolled how many of those enrolled (after a runner died, those whose steps ran before the
	// next runner took over may go uncounted).
	Total, Done, Enrolled int64
	// After is the id of the last record looked at ("" before the first batch). Prev is where the
	// batch counted last began: while it differs from After, that batch may not have been applied
	// yet, and the runner that takes the backfill over applies it again.
	After, Prev string
	// ActivatedAt is the activation the backfill belongs to (Flow.ActivatedAt): activating the same
	// revision again starts another backfill.
	ActivatedAt          time.Time
	StartedAt, UpdatedAt time.Time
}

// SetBackfill records a backfill's position and progress.
func (s *RedisStore) SetBackfill(ctx context.Context, t TenantID, flow string, b Backfill) error {
	if err := s.rdb.HSet(ctx, FlowBackfillKey(t, flow), s.backfillFields(b)...).Err(); err != nil {
		return fmt.Errorf("record backfill of %s: %w", flow, err)
	}
	return nil
}

// AdvanceBackfill records a backfill's position and progress if owner holds its lease (see
// LeaseBackfill), and reports whether it did.
func (s *RedisStore) AdvanceBackfill(ctx context.Context, t TenantID, flow, owner string, b Backfill) (bool, error) {
	n, err := advanceBackfillScript.Run(ctx, s.rdb, []string{FlowBackfillKey(t, flow), FlowBackfillLeaseKey(t, flow)},
		append([]any{owner}, s.backfillFields(b)...)...).Int()
	if err != nil {
		return false, fmt.Errorf("record backfill of %s: %w", flow, err)
	}
	return n == 1, nil
}

func (s *RedisStore) backfillFields(b Backfill) []any {
	return []any{"revision", b.Revision, "state", string(b.State), "total", b.Total, "done", b.Done, "enrolled", b.Enrolled,
		"after", b.After, "prev", b.Prev, "activated_at", ms(b.ActivatedAt), "started_at", ms(b.StartedAt),
		"updated_at", ms(s.cfg.Clock.Now())}
}

// LeaseBackfill takes, or renews, the lease of a workflow's backfill for owner for ttl, and reports
// whether owner holds it: one runner at a time advances a backfill, and one that dies frees it when
// the lease runs out.
func (s *RedisStore) LeaseBackfill(ctx context.Context, t TenantID, flow, owner string, ttl time.Duration) (bool, error) {
	n, err := leaseScript.Run(ctx, s.rdb, []string{FlowBackfillLeaseKey(t, flow)}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("lease backfill of %s: %w", flow, err)
	}
	return n == 1, nil
}

// ReleaseBackfill gives up the lease of a workflow's backfill if owner holds it.
func (s *RedisStore) ReleaseBackfill(ctx context.Context, t TenantID, flow, owner string) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{FlowBackfillLeaseKey(t, flow)}, owner).Err(); err != nil {
		return fmt.Errorf("release backfill of %s: %w", flow, err)
	}
	return nil
}

// Backfill returns the progress of a workflow's latest backfill, and false when it never had one.
func (s *RedisStore) Backfill(ctx context.Context, t TenantID, flow string) (Backfill, bool, error) {
	h, err := s.rdb.HGetAll(ctx, FlowBackfillKey(t, flow)).Result()
	if err != nil {
		return Backfill{}, false, fmt.Errorf("read backfill of %s: %w", flow, err)
	}
	if len(h) == 0 {
		return Backfill{}, false, nil
	}
	num := func(k string) int64 { n, _ := strconv.ParseInt(h[k], 10, 64); return n }
	return Backfill{Revision: num("revision"), State: BackfillState(h["state"]), Total: num("total"), Done: num("done"), Enrolled: num("enrolled"),
		After: h["after"], Prev: h["prev"], ActivatedAt: parseMS(h["activated_at"]),
		StartedAt: parseMS(h["started_at"]), UpdatedAt: parseMS(h["updated_at"])}, true, nil
}

// CountRecords counts the live records of a type.
func (s *RedisStore) CountRecords(ctx context.Context, t TenantID, o ObjectType) (int64, error) {
	n, err := s.rdb.ZCard(ctx, LiveKey(t, o)).Result()
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", o, err)
	}
	return n, nil
}
