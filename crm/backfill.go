package crm

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Backfill is the progress of a workflow's enroll-existing backfill, for people and for the CLI to
// wait on. The backfill's own cursor travels with its tasks; this is informational, and may lag one
// batch behind after a crash.
type Backfill struct {
	Revision int64
	// State is running, done (every record looked at) or stopped (the workflow was paused or
	// another revision activated).
	State string
	// Total is the number of live records when the backfill started; Done how many were looked at;
	// Enrolled how many of those enrolled.
	Total, Done, Enrolled int64
	StartedAt, UpdatedAt  time.Time
}

// SetBackfill records a backfill's progress.
func (s *RedisStore) SetBackfill(ctx context.Context, t TenantID, flow string, b Backfill) error {
	if err := s.rdb.HSet(ctx, FlowBackfillKey(t, flow), "revision", b.Revision, "state", b.State, "total", b.Total,
		"done", b.Done, "enrolled", b.Enrolled, "started_at", ms(b.StartedAt), "updated_at", ms(s.cfg.Clock.Now())).Err(); err != nil {
		return fmt.Errorf("record backfill of %s: %w", flow, err)
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
	return Backfill{Revision: num("revision"), State: h["state"], Total: num("total"), Done: num("done"), Enrolled: num("enrolled"),
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
