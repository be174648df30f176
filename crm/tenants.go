package crm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

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
func (s *RedisStore) CreateTenant(ctx context.Context, t TenantID, plan Plan) (Tenant, error) {
	if err := t.Validate(); err != nil {
		return Tenant{}, err
	}
	if err := plan.Validate(); err != nil {
		return Tenant{}, err
	}
	now := s.cfg.Clock.Now()
	// The registry entry goes first: one for a tenant whose creation then failed is harmless, while
	// a tenant missing from the registry would escape the sweeps.
	if err := s.rdb.SAdd(ctx, TenantsKey(), string(t)).Err(); err != nil {
		return Tenant{}, fmt.Errorf("register tenant %s: %w", t, err)
	}
	n, err := createTenantScript.Run(ctx, s.rdb, []string{TenantKey(t)}, string(plan), ms(now)).Int()
	if err != nil {
		return Tenant{}, fmt.Errorf("create tenant %s: %w", t, err)
	}
	if n == 0 {
		return Tenant{}, fmt.Errorf("create tenant %s: %w", t, ErrTenantExists)
	}
	return Tenant{ID: t, Plan: plan, CreatedAt: now.UTC().Truncate(time.Millisecond)}, nil
}

// Tenant implements Store.
func (s *RedisStore) Tenant(ctx context.Context, t TenantID) (Tenant, error) {
	h, err := s.rdb.HGetAll(ctx, TenantKey(t)).Result()
	if err != nil {
		return Tenant{}, fmt.Errorf("read tenant %s: %w", t, err)
	}
	if len(h) == 0 {
		return Tenant{}, &NotFoundError{Kind: "tenant", ID: string(t)}
	}
	return Tenant{ID: t, Plan: Plan(h["plan"]), CreatedAt: parseMS(h["created_at"])}, nil
}

// SetPlan implements Store. A plan without workflows pauses the tenant's active workflows in the
// same step; they are never deleted.
func (s *RedisStore) SetPlan(ctx context.Context, t TenantID, plan Plan) (Tenant, error) {
	if err := plan.Validate(); err != nil {
		return Tenant{}, err
	}
	prev, err := s.Tenant(ctx, t)
	if err != nil {
		return Tenant{}, err
	}
	allows := "0"
	if plan.AllowsWorkflows() {
		allows = "1"
	}
	res, err := setPlanScript.Run(ctx, s.rdb, []string{TenantKey(t), FlowsKey(t)}, string(plan), allows,
		ms(s.cfg.Clock.Now()), flowKeyPrefix(t), activeFlowsKeyPrefix(t), trigReadsKeyPrefix(t)).StringSlice()
	if errors.Is(err, redis.Nil) {
		return Tenant{}, &NotFoundError{Kind: "tenant", ID: string(t)}
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("set plan of %s: %w", t, err)
	}
	prev.Plan = Plan(res[0])
	if len(res) > 1 {
		s.cfg.Logger.Info("plan change paused workflows", "tenant_id", string(t), "plan", string(plan), "paused", strings.Join(res[1:], ","))
	}
	return prev, nil
}

// Tenants implements Store.
func (s *RedisStore) Tenants(ctx context.Context) ([]TenantID, error) {
	ids, err := s.rdb.SMembers(ctx, TenantsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	sort.Strings(ids)
	out := make([]TenantID, len(ids))
	for i, id := range ids {
		out[i] = TenantID(id)
	}
	return out, nil
}

// CreateUser implements Store.
func (s *RedisStore) CreateUser(ctx context.Context, t TenantID, email string, perms Permissions) (User, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return User{}, &ValidationError{Field: "email", Code: "INVALID_EMAIL",
			Message: fmt.Sprintf("user email %q is not an email address: use one such as ops@example.com", email)}
	}
	now := s.cfg.Clock.Now()
	n, err := createUserScript.Run(ctx, s.rdb, []string{TenantKey(t), UserKey(t, e), UsersKey(t)},
		e, perms.String(), ms(now)).Int()
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	switch n {
	case -1:
		return User{}, &NotFoundError{Kind: "tenant", ID: string(t)}
	case 0:
		return User{}, fmt.Errorf("create user %s in %s: %w", e, t, ErrUserExists)
	}
	return User{Tenant: t, Email: e, Permissions: perms, CreatedAt: now.UTC().Truncate(time.Millisecond)}, nil
}

// User implements Store.
func (s *RedisStore) User(ctx context.Context, t TenantID, email string) (User, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	h, err := s.rdb.HGetAll(ctx, UserKey(t, e)).Result()
	if err != nil {
		return User{}, fmt.Errorf("read user: %w", err)
	}
	if len(h) == 0 {
		return User{}, &NotFoundError{Kind: "user", ID: e}
	}
	perms, err := ParsePermissions(h["perms"])
	if err != nil {
		return User{}, fmt.Errorf("read user %s: stored permissions: %w", e, err)
	}
	return User{Tenant: t, Email: e, Permissions: perms, CreatedAt: parseMS(h["created_at"]), Disabled: h["disabled"] == "1"}, nil
}

const tokenPrefix = "cft_"

// CreateToken implements Store. A token reads "cft_<tenant>_<64 hex digits>".
func (s *RedisStore) CreateToken(ctx context.Context, t TenantID, email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	token := tokenPrefix + string(t) + "_" + hex.EncodeToString(b[:])
	n, err := createTokenScript.Run(ctx, s.rdb, []string{UserKey(t, e), TokenKey(t, hashToken(token))},
		e, ms(s.cfg.Clock.Now())).Int()
	if err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	if n == -1 {
		return "", &NotFoundError{Kind: "user", ID: e}
	}
	return token, nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Authenticate implements Store.
func (s *RedisStore) Authenticate(ctx context.Context, token string) (Principal, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return Principal{}, ErrUnauthenticated
	}
	tenant, secret, ok := strings.Cut(rest, "_")
	if !ok || len(secret) != 64 || TenantID(tenant).Validate() != nil {
		return Principal{}, ErrUnauthenticated
	}
	t := TenantID(tenant)
	email, err := s.rdb.HGet(ctx, TokenKey(t, hashToken(token)), "user").Result()
	if errors.Is(err, redis.Nil) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	u, err := s.User(ctx, t, email)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}
	return Principal{Tenant: t, User: u}, nil
}
