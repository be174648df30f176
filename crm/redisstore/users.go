package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

const tokenPrefix = "cft_"

// normalizeUserEmail is how a user's email is stored and looked up.
func normalizeUserEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CreateUser implements Store.
func (s *Store) CreateUser(ctx context.Context, t crm.TenantID, email string, perms crm.Permissions, by string) (crm.User, error) {
	e, err := crm.NormalizeEmail(email)
	if err != nil {
		return crm.User{}, &crm.ValidationError{Field: "email", Code: "INVALID_EMAIL",
			Message: fmt.Sprintf("user email %q is not an email address: use one such as ops@example.com", email)}
	}
	now := s.cfg.Clock.Now()
	n, err := createUserScript.run(ctx, s, createUserCall{
		Tenant: TenantKey(t), User: UserKey(t, e), Users: UsersKey(t), Audit: AuditKey(t),
		Email: e, Perms: perms.String(), At: now.UnixMilli(), By: by, AuditMaxLen: auditMaxLen,
	}).Int()
	if err != nil {
		return crm.User{}, fmt.Errorf("create user: %w", err)
	}
	switch n {
	case -1:
		return crm.User{}, &crm.NotFoundError{Kind: "tenant", ID: string(t)}
	case 0:
		return crm.User{}, fmt.Errorf("create user %s in %s: %w", e, t, crm.ErrUserExists)
	}
	return crm.User{Tenant: t, Email: e, Permissions: perms, CreatedAt: now.UTC().Truncate(time.Millisecond)}, nil
}

// User implements Store.
func (s *Store) User(ctx context.Context, t crm.TenantID, email string) (crm.User, error) {
	e := normalizeUserEmail(email)
	h, err := s.rdb.HGetAll(ctx, UserKey(t, e)).Result()
	if err != nil {
		return crm.User{}, fmt.Errorf("read user: %w", err)
	}
	if len(h) == 0 {
		return crm.User{}, &crm.NotFoundError{Kind: "user", ID: e}
	}
	return userOf(t, e, h)
}

func userOf(t crm.TenantID, email string, h map[string]string) (crm.User, error) {
	perms, err := crm.ParsePermissions(h["perms"])
	if err != nil {
		return crm.User{}, fmt.Errorf("read user %s: stored permissions: %w", email, err)
	}
	return crm.User{Tenant: t, Email: email, Permissions: perms, CreatedAt: parseMS(h["created_at"]), Disabled: h["disabled"] == "1"}, nil
}

// Users implements Store.
func (s *Store) Users(ctx context.Context, t crm.TenantID) ([]crm.User, error) {
	emails, err := s.rdb.SMembers(ctx, UsersKey(t)).Result()
	if err != nil {
		return nil, fmt.Errorf("list users of %s: %w", t, err)
	}
	if len(emails) == 0 {
		if err := s.requireTenant(ctx, t); err != nil {
			return nil, err
		}
		return []crm.User{}, nil
	}
	sort.Strings(emails)
	cmds := make([]*redis.MapStringStringCmd, len(emails))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range emails {
			cmds[i] = p.HGetAll(ctx, UserKey(t, e))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list users of %s: %w", t, err)
	}
	out := make([]crm.User, 0, len(emails))
	for i, e := range emails {
		h := cmds[i].Val()
		if len(h) == 0 {
			continue
		}
		u, err := userOf(t, e, h)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// requireTenant returns a *NotFoundError unless tenant t exists.
func (s *Store) requireTenant(ctx context.Context, t crm.TenantID) error {
	n, err := s.rdb.Exists(ctx, TenantKey(t)).Result()
	if err != nil {
		return fmt.Errorf("read tenant %s: %w", t, err)
	}
	if n == 0 {
		return &crm.NotFoundError{Kind: "tenant", ID: string(t)}
	}
	return nil
}

// SetUserPermissions implements Store.
func (s *Store) SetUserPermissions(ctx context.Context, t crm.TenantID, email string, perms crm.Permissions, by string) (crm.User, error) {
	e := normalizeUserEmail(email)
	err := setUserPermsScript.run(ctx, s, setUserPermsCall{
		User: UserKey(t, e), Audit: AuditKey(t),
		Email: e, Perms: perms.String(), At: s.cfg.Clock.Now().UnixMilli(), By: by, AuditMaxLen: auditMaxLen,
	}).Err()
	if errors.Is(err, redis.Nil) {
		return crm.User{}, &crm.NotFoundError{Kind: "user", ID: e}
	}
	if err != nil {
		return crm.User{}, fmt.Errorf("set permissions of user %s in %s: %w", e, t, err)
	}
	return s.User(ctx, t, e)
}

// SetUserDisabled implements Store.
func (s *Store) SetUserDisabled(ctx context.Context, t crm.TenantID, email string, disabled bool, by string) (crm.User, error) {
	e := normalizeUserEmail(email)
	n, err := setUserDisabledScript.run(ctx, s, setUserDisabledCall{
		User: UserKey(t, e), Audit: AuditKey(t),
		Email: e, Disabled: disabled, At: s.cfg.Clock.Now().UnixMilli(), By: by, AuditMaxLen: auditMaxLen,
	}).Int()
	if err != nil {
		return crm.User{}, fmt.Errorf("disable or enable user %s in %s: %w", e, t, err)
	}
	if n == -1 {
		return crm.User{}, &crm.NotFoundError{Kind: "user", ID: e}
	}
	return s.User(ctx, t, e)
}

// CreateToken implements Store. A token reads "cft_<tenant>_<64 hex digits>"; its public id is
// TokenID(token).
func (s *Store) CreateToken(ctx context.Context, t crm.TenantID, email string, opts *crm.TokenOpts) (string, error) {
	var o crm.TokenOpts
	if opts != nil {
		o = *opts
	}
	if o.TTL < 0 {
		return "", &crm.ValidationError{Field: "ttl", Code: "INVALID_TTL",
			Message: fmt.Sprintf("token lifetime %s is negative: use a positive duration such as 720h, or 0 for a token that never expires", o.TTL)}
	}
	e := normalizeUserEmail(email)
	now := s.cfg.Clock.Now()
	var expires, ttl int64
	if o.TTL > 0 {
		ttl = max(o.TTL.Milliseconds(), 1)
		expires = now.Add(time.Duration(ttl) * time.Millisecond).UnixMilli()
	}
	for range 3 { // a second draw only if a 64-bit id collides
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("create token: %w", err)
		}
		token := tokenPrefix + string(t) + "_" + hex.EncodeToString(b[:])
		h := crm.HashToken(token)
		n, err := createTokenScript.run(ctx, s, createTokenCall{
			User: UserKey(t, e), Token: TokenKey(t, h), Tokens: TokensKey(t), Audit: AuditKey(t),
			Email: e, At: now.UnixMilli(), ExpiresAt: expires, TTL: ttl, ID: h[:crm.TokenIDLen], Hash: h, By: o.By,
			AuditMaxLen: auditMaxLen,
		}).Int()
		if err != nil {
			return "", fmt.Errorf("create token: %w", err)
		}
		switch n {
		case -1:
			if err := s.requireTenant(ctx, t); err != nil {
				return "", err
			}
			return "", &crm.NotFoundError{Kind: "user", ID: e}
		case -2:
			return "", fmt.Errorf("create a token for user %s in %s: the user is disabled; enable the user first (%s): %w", e, t, crm.EnableUserCommand(t, e), crm.ErrUserDisabled)
		case 1:
			return token, nil
		}
	}
	return "", fmt.Errorf("create token for %s in %s: could not draw an unused token id", e, t)
}

// Tokens implements Store.
func (s *Store) Tokens(ctx context.Context, t crm.TenantID, email string) ([]crm.TokenInfo, error) {
	e := normalizeUserEmail(email)
	if e != "" {
		if _, err := s.User(ctx, t, e); err != nil {
			if errors.Is(err, crm.ErrNotFound) {
				if terr := s.requireTenant(ctx, t); terr != nil {
					return nil, terr
				}
			}
			return nil, err
		}
	}
	idx, err := s.rdb.HGetAll(ctx, TokensKey(t)).Result()
	if err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", t, err)
	}
	if len(idx) == 0 && e == "" {
		if err := s.requireTenant(ctx, t); err != nil {
			return nil, err
		}
	}
	ids := make([]string, 0, len(idx))
	for id := range idx {
		ids = append(ids, id)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, TokenKey(t, idx[id]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", t, err)
	}
	out := []crm.TokenInfo{}
	var gone []string
	for i, id := range ids {
		h := cmds[i].Val()
		if len(h) == 0 {
			gone = append(gone, id) // expired: Redis dropped the token
			continue
		}
		if e != "" && h["user"] != e {
			continue
		}
		ti := crm.TokenInfo{ID: id, User: h["user"], CreatedAt: parseMS(h["created_at"])}
		if v := h["expires_at"]; v != "" && v != "0" {
			ti.ExpiresAt = parseMS(v)
		}
		out = append(out, ti)
	}
	if len(gone) > 0 {
		// Lazy clean-up of the index. A token with one of these ids cannot come back: ids are drawn
		// from new random tokens.
		if err := s.rdb.HDel(ctx, TokensKey(t), gone...).Err(); err != nil {
			s.cfg.Logger.Warn("clean expired tokens from the index failed", "tenant_id", string(t), "error", err.Error())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// RevokeToken implements Store.
func (s *Store) RevokeToken(ctx context.Context, t crm.TenantID, id, by string) error {
	id = strings.ToLower(strings.TrimSpace(id))
	err := revokeTokenScript.run(ctx, s, revokeTokenCall{
		Tokens: TokensKey(t), Audit: AuditKey(t),
		ID: id, TokenPrefix: tokenKeyPrefix(t), At: s.cfg.Clock.Now().UnixMilli(), By: by, AuditMaxLen: auditMaxLen,
	}).Err()
	if errors.Is(err, redis.Nil) {
		return &crm.NotFoundError{Kind: "token", ID: id}
	}
	if err != nil {
		return fmt.Errorf("revoke token %s in %s: %w", id, t, err)
	}
	return nil
}

// Authenticate implements Store. It reads the token and its user on every call, so a revoked
// token, an expired one and any token of a disabled user are refused from the next request on.
func (s *Store) Authenticate(ctx context.Context, token string) (crm.Principal, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return crm.Principal{}, crm.ErrUnauthenticated
	}
	tenant, secret, ok := strings.Cut(rest, "_")
	if !ok || len(secret) != 64 || crm.TenantID(tenant).Validate() != nil {
		return crm.Principal{}, crm.ErrUnauthenticated
	}
	t := crm.TenantID(tenant)
	hash := crm.HashToken(token)
	h, err := s.rdb.HGetAll(ctx, TokenKey(t, hash)).Result()
	if err != nil {
		return crm.Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if len(h) == 0 {
		return crm.Principal{}, crm.ErrUnauthenticated // unknown, revoked, or expired and dropped by Redis
	}
	if h["id"] == "" {
		// A token issued before tokens had public ids: index it now, so that Tokens lists it and
		// RevokeToken can name it from now on.
		if err := indexTokenScript.run(ctx, s, indexTokenCall{Token: TokenKey(t, hash), Tokens: TokensKey(t), ID: hash[:crm.TokenIDLen], Hash: hash}).Err(); err != nil {
			return crm.Principal{}, fmt.Errorf("authenticate: index token: %w", err)
		}
	}
	// Redis drops an expired token by itself; the check by the store's clock makes sure a Redis
	// whose clock is behind cannot extend a token's life.
	if v := h["expires_at"]; v != "" && v != "0" {
		if exp := parseMS(v); !s.cfg.Clock.Now().Before(exp) {
			return crm.Principal{}, &crm.UnauthenticatedError{Reason: fmt.Sprintf("the token expired at %s; ask an admin for a new token",
				exp.UTC().Format(time.RFC3339))}
		}
	}
	u, err := s.User(ctx, t, h["user"])
	if errors.Is(err, crm.ErrNotFound) {
		return crm.Principal{}, crm.ErrUnauthenticated
	}
	if err != nil {
		return crm.Principal{}, err
	}
	if u.Disabled {
		return crm.Principal{}, &crm.UnauthenticatedError{Reason: fmt.Sprintf("the token's user is disabled; ask an admin to enable the user (%s)",
			crm.EnableUserCommand(t, u.Email))}
	}
	return crm.Principal{Tenant: t, User: u}, nil
}
