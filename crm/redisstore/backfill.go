package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// SetBackfill records a backfill's position and progress.
func (s *Store) SetBackfill(ctx context.Context, t crm.TenantID, flow string, b crm.Backfill) error {
	if err := s.rdb.HSet(ctx, FlowBackfillKey(t, flow), backfillFields(b, s.cfg.Clock.Now())...).Err(); err != nil {
		return fmt.Errorf("record backfill of %s: %w", flow, err)
	}
	return nil
}

// AdvanceBackfill records a backfill's position and progress if owner holds its lease (see
// LeaseBackfill), and reports whether it did.
func (s *Store) AdvanceBackfill(ctx context.Context, t crm.TenantID, flow, owner string, b crm.Backfill) (bool, error) {
	n, err := advanceBackfillScript.run(ctx, s, advanceBackfillCall{
		Backfill: FlowBackfillKey(t, flow), Lease: FlowBackfillLeaseKey(t, flow), Owner: owner,
		State: b, UpdatedAt: s.cfg.Clock.Now(),
	}).Int()
	if err != nil {
		return false, fmt.Errorf("record backfill of %s: %w", flow, err)
	}
	return n == 1, nil
}

// backfillFields are the fields of a backfill's hash, as HSET takes them (name, value, ...), updated
// at updated.
func backfillFields(b crm.Backfill, updated time.Time) []any {
	return []any{"revision", b.Revision, "state", string(b.State), "total", b.Total, "done", b.Done, "enrolled", b.Enrolled,
		"after", b.After, "prev", b.Prev, "activated_at", ms(b.ActivatedAt), "started_at", ms(b.StartedAt),
		"updated_at", ms(updated)}
}

// LeaseBackfill takes, or renews, the lease of a workflow's backfill for owner for ttl, and reports
// whether owner holds it: one runner at a time advances a backfill, and one that dies frees it when
// the lease runs out.
func (s *Store) LeaseBackfill(ctx context.Context, t crm.TenantID, flow, owner string, ttl time.Duration) (bool, error) {
	n, err := leaseScript.run(ctx, s, leaseCall{Lease: FlowBackfillLeaseKey(t, flow), Owner: owner, TTL: ttl.Milliseconds()}).Int()
	if err != nil {
		return false, fmt.Errorf("lease backfill of %s: %w", flow, err)
	}
	return n == 1, nil
}

// LeaseBackfillFlow reads a workflow and takes, or renews, the lease of its backfill for owner for
// ttl (as LeaseBackfill), in one round trip, and reports whether owner holds the lease. A
// *crm.NotFoundError when the workflow does not exist (no lease is then taken).
func (s *Store) LeaseBackfillFlow(ctx context.Context, t crm.TenantID, flow, owner string, ttl time.Duration) (crm.Flow, bool, error) {
	res, err := leaseBackfillFlowScript.run(ctx, s, leaseBackfillFlowCall{Flow: FlowKey(t, flow), Lease: FlowBackfillLeaseKey(t, flow),
		Owner: owner, TTL: ttl.Milliseconds()}).Slice()
	if err != nil {
		return crm.Flow{}, false, fmt.Errorf("lease backfill of %s: %w", flow, err)
	}
	if len(res) < 3 {
		return crm.Flow{}, false, &crm.NotFoundError{Kind: "workflow", ID: flow}
	}
	held, _ := res[0].(int64)
	h := make(map[string]string, (len(res)-1)/2)
	for i := 1; i+1 < len(res); i += 2 {
		k, _ := res[i].(string)
		v, _ := res[i+1].(string)
		h[k] = v
	}
	return flowFromHash(flow, h), held == 1, nil
}

// ReleaseBackfill gives up the lease of a workflow's backfill if owner holds it.
func (s *Store) ReleaseBackfill(ctx context.Context, t crm.TenantID, flow, owner string) error {
	if err := releaseScript.run(ctx, s, releaseCall{Lease: FlowBackfillLeaseKey(t, flow), Owner: owner}).Err(); err != nil {
		return fmt.Errorf("release backfill of %s: %w", flow, err)
	}
	return nil
}

// Backfill returns the progress of a workflow's latest backfill, and false when it never had one.
func (s *Store) Backfill(ctx context.Context, t crm.TenantID, flow string) (crm.Backfill, bool, error) {
	h, err := s.rdb.HGetAll(ctx, FlowBackfillKey(t, flow)).Result()
	if err != nil {
		return crm.Backfill{}, false, fmt.Errorf("read backfill of %s: %w", flow, err)
	}
	if len(h) == 0 {
		return crm.Backfill{}, false, nil
	}
	num := func(k string) int64 { n, _ := strconv.ParseInt(h[k], 10, 64); return n }
	return crm.Backfill{Revision: num("revision"), State: crm.BackfillState(h["state"]), Total: num("total"), Done: num("done"), Enrolled: num("enrolled"),
		After: h["after"], Prev: h["prev"], ActivatedAt: parseMS(h["activated_at"]),
		StartedAt: parseMS(h["started_at"]), UpdatedAt: parseMS(h["updated_at"])}, true, nil
}

// CountRecords counts the live records of a type.
func (s *Store) CountRecords(ctx context.Context, t crm.TenantID, o crm.ObjectType) (int64, error) {
	n, err := s.rdb.ZCard(ctx, LiveKey(t, o)).Result()
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", o, err)
	}
	return n, nil
}
