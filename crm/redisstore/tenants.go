package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func parseMS(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// CreateTenant implements Store.
func (s *Store) CreateTenant(ctx context.Context, t crm.TenantID, plan crm.Plan) (crm.Tenant, error) {
	if err := t.Validate(); err != nil {
		return crm.Tenant{}, err
	}
	if err := plan.Validate(); err != nil {
		return crm.Tenant{}, err
	}
	now := s.cfg.Clock.Now()
	// The registry entry goes first: one for a tenant whose creation then failed is harmless, while
	// a tenant missing from the registry would escape the sweeps.
	if err := s.rdb.SAdd(ctx, TenantsKey(), string(t)).Err(); err != nil {
		return crm.Tenant{}, fmt.Errorf("register tenant %s: %w", t, err)
	}
	n, err := createTenantScript.run(ctx, s, createTenantCall{Tenant: TenantKey(t), Plan: plan, At: now.UnixMilli()}).Int()
	if err != nil {
		// Never leave a half-made tenant: take the registry entry back unless the tenant exists
		// (the script may have run and only its answer been lost). On a cluster the two keys live
		// on different masters, so one script cannot do both.
		if exists, xerr := s.rdb.Exists(context.WithoutCancel(ctx), TenantKey(t)).Result(); xerr == nil && exists == 0 {
			_ = s.rdb.SRem(context.WithoutCancel(ctx), TenantsKey(), string(t)).Err()
		}
		return crm.Tenant{}, fmt.Errorf("create tenant %s: %w", t, err)
	}
	if n == 0 {
		return crm.Tenant{}, fmt.Errorf("create tenant %s: %w", t, crm.ErrTenantExists)
	}
	return crm.Tenant{ID: t, Plan: plan, CreatedAt: now.UTC().Truncate(time.Millisecond), DeletionLimit: crm.DefaultDeletionLimit}, nil
}

// Tenant implements Store.
func (s *Store) Tenant(ctx context.Context, t crm.TenantID) (crm.Tenant, error) {
	h, err := s.rdb.HGetAll(ctx, TenantKey(t)).Result()
	if err != nil {
		return crm.Tenant{}, fmt.Errorf("read tenant %s: %w", t, err)
	}
	if len(h) == 0 {
		return crm.Tenant{}, &crm.NotFoundError{Kind: "tenant", ID: string(t)}
	}
	out := crm.Tenant{ID: t, Plan: crm.Plan(h["plan"]), CreatedAt: parseMS(h["created_at"]), DeletionLimit: crm.DefaultDeletionLimit}
	if v, ok := h["max_deletions"]; ok {
		n, err1 := strconv.Atoi(v)
		per, err2 := strconv.ParseInt(h["deletions_per"], 10, 64)
		if err1 != nil || err2 != nil {
			return crm.Tenant{}, fmt.Errorf("read tenant %s: its deletion limit %q per %q ms does not parse: set it again with crmflow admin tenant set-limits", t, v, h["deletions_per"])
		}
		out.DeletionLimit = crm.DeletionLimit{Max: n, Per: time.Duration(per) * time.Millisecond}
	}
	return out, nil
}

// SetDeletionLimit implements Store.
func (s *Store) SetDeletionLimit(ctx context.Context, t crm.TenantID, l crm.DeletionLimit) (crm.Tenant, error) {
	if err := l.Validate(); err != nil {
		return crm.Tenant{}, err
	}
	n, err := setDeletionLimitScript.run(ctx, s, setDeletionLimitCall{Tenant: TenantKey(t), Max: l.Max, Per: l.Per.Milliseconds()}).Int()
	if err != nil {
		return crm.Tenant{}, fmt.Errorf("set the deletion limit of %s: %w", t, err)
	}
	if n == 0 {
		return crm.Tenant{}, &crm.NotFoundError{Kind: "tenant", ID: string(t)}
	}
	return s.Tenant(ctx, t)
}

// SetPlan implements Store. A plan without workflows pauses the tenant's active workflows in the
// same step; they are never deleted.
func (s *Store) SetPlan(ctx context.Context, t crm.TenantID, plan crm.Plan) (crm.Tenant, error) {
	if err := plan.Validate(); err != nil {
		return crm.Tenant{}, err
	}
	prev, err := s.Tenant(ctx, t)
	if err != nil {
		return crm.Tenant{}, err
	}
	res, err := setPlanScript.run(ctx, s, setPlanCall{
		Tenant: TenantKey(t), Flows: FlowsKey(t), Plan: plan, AllowsWorkflows: plan.AllowsWorkflows(),
		At: s.cfg.Clock.Now().UnixMilli(), FlowPrefix: flowKeyPrefix(t), ActiveFlowsPrefix: activeFlowsKeyPrefix(t),
		TrigReadsPrefix: trigReadsKeyPrefix(t),
	}).StringSlice()
	if errors.Is(err, redis.Nil) {
		return crm.Tenant{}, &crm.NotFoundError{Kind: "tenant", ID: string(t)}
	}
	if err != nil {
		return crm.Tenant{}, fmt.Errorf("set plan of %s: %w", t, err)
	}
	prev.Plan = crm.Plan(res[0])
	if len(res) > 1 {
		s.cfg.Logger.Info("plan change paused workflows", "tenant_id", string(t), "plan", string(plan), "paused", strings.Join(res[1:], ","))
	}
	return prev, nil
}

// Tenants implements Store.
func (s *Store) Tenants(ctx context.Context) ([]crm.TenantID, error) {
	ids, err := s.rdb.SMembers(ctx, TenantsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	sort.Strings(ids)
	return s.existing(ctx, ids)
}

// existing returns the tenants of ids that exist, in order: a registry entry whose creation failed
// half-way (and could not be taken back) is no tenant, and no sweep should work on it.
func (s *Store) existing(ctx context.Context, ids []string) ([]crm.TenantID, error) {
	pipe := s.rdb.Pipeline()
	exists := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		exists[i] = pipe.Exists(ctx, TenantKey(crm.TenantID(id)))
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
	}
	out := make([]crm.TenantID, 0, len(ids))
	for i, id := range ids {
		if exists[i].Val() > 0 {
			out = append(out, crm.TenantID(id))
		}
	}
	return out, nil
}
