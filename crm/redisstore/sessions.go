package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
)

// PutSession implements crm.SessionStore: one HASH that Redis drops at the session's end (the
// earlier of its ExpiresAt and IdleExpiresAt), and, when KeepUntil is after ExpiresAt, the
// trace's HASH, which Redis drops at KeepUntil.
func (s *Store) PutSession(ctx context.Context, t crm.TenantID, id string, sess crm.Session) error {
	end := sess.ExpiresAt
	if !sess.IdleExpiresAt.IsZero() && sess.IdleExpiresAt.Before(end) {
		end = sess.IdleExpiresAt
	}
	ttl := end.Sub(s.cfg.Clock.Now())
	if ttl <= 0 {
		return nil
	}
	key := SessionKey(t, id)
	fields := map[string]any{
		"user":       sess.User,
		"token":      sess.SealedToken,
		"csrf":       sess.CSRF,
		"created_at": strconv.FormatInt(sess.CreatedAt.UnixMilli(), 10),
		"expires_at": strconv.FormatInt(sess.ExpiresAt.UnixMilli(), 10),
	}
	if !sess.IdleExpiresAt.IsZero() {
		fields["idle_expires_at"] = strconv.FormatInt(end.UnixMilli(), 10)
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, fields)
		p.PExpire(ctx, key, ttl)
		if sess.KeepUntil.After(sess.ExpiresAt) {
			trace := SessionTraceKey(t, id)
			p.Del(ctx, trace)
			p.HSet(ctx, trace, "user", sess.User, "csrf", sess.CSRF, "keep_until", strconv.FormatInt(sess.KeepUntil.UnixMilli(), 10))
			p.PExpire(ctx, trace, sess.KeepUntil.Sub(s.cfg.Clock.Now()))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put session in %s: %w", t, err)
	}
	return nil
}

// Session implements crm.SessionStore. A session past its expires_at or idle_expires_at by the
// store's clock is not returned, even if Redis has not dropped it yet.
func (s *Store) Session(ctx context.Context, t crm.TenantID, id string) (crm.Session, error) {
	h, err := s.rdb.HGetAll(ctx, SessionKey(t, id)).Result()
	if err != nil {
		return crm.Session{}, fmt.Errorf("read session in %s: %w", t, err)
	}
	if len(h) == 0 {
		return crm.Session{}, &crm.NotFoundError{Kind: "session", ID: "(hidden)"}
	}
	sess := crm.Session{User: h["user"], SealedToken: []byte(h["token"]), CSRF: h["csrf"],
		CreatedAt: parseMS(h["created_at"]), ExpiresAt: parseMS(h["expires_at"])}
	if v := h["idle_expires_at"]; v != "" {
		sess.IdleExpiresAt = parseMS(v)
	}
	now := s.cfg.Clock.Now()
	if !now.Before(sess.ExpiresAt) || (!sess.IdleExpiresAt.IsZero() && !now.Before(sess.IdleExpiresAt)) {
		return crm.Session{}, &crm.NotFoundError{Kind: "session", ID: "(hidden)"}
	}
	return sess, nil
}

// SessionTrace implements crm.SessionStore. A trace past its keep_until by the store's clock is not
// returned, even if Redis has not dropped it yet.
func (s *Store) SessionTrace(ctx context.Context, t crm.TenantID, id string) (crm.SessionTrace, error) {
	h, err := s.rdb.HGetAll(ctx, SessionTraceKey(t, id)).Result()
	if err != nil {
		return crm.SessionTrace{}, fmt.Errorf("read session trace in %s: %w", t, err)
	}
	if len(h) == 0 || !s.cfg.Clock.Now().Before(parseMS(h["keep_until"])) {
		return crm.SessionTrace{}, &crm.NotFoundError{Kind: "session trace", ID: "(hidden)"}
	}
	tr := crm.SessionTrace{User: h["user"], CSRF: h["csrf"]}
	if d, ok := h["draft"]; ok && d != "" {
		tr.Draft = []byte(d)
	}
	return tr, nil
}

// SetSessionDraft implements crm.SessionStore.
func (s *Store) SetSessionDraft(ctx context.Context, t crm.TenantID, id string, draft []byte) error {
	err := setSessionDraftScript.run(ctx, s, setSessionDraftCall{Trace: SessionTraceKey(t, id), Draft: draft,
		Now: s.cfg.Clock.Now().UnixMilli()}).Err()
	if err != nil {
		return fmt.Errorf("set session draft in %s: %w", t, err)
	}
	return nil
}

// TouchSession implements crm.SessionStore.
func (s *Store) TouchSession(ctx context.Context, t crm.TenantID, id string, idleExpiresAt time.Time) error {
	err := touchSessionScript.run(ctx, s, touchSessionCall{Session: SessionKey(t, id),
		IdleExpiresAt: idleExpiresAt.UnixMilli(), Now: s.cfg.Clock.Now().UnixMilli()}).Err()
	if err != nil {
		return fmt.Errorf("touch session in %s: %w", t, err)
	}
	return nil
}

// DeleteSession implements crm.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, t crm.TenantID, id string) error {
	if err := s.rdb.Del(ctx, SessionKey(t, id), SessionTraceKey(t, id)).Err(); err != nil {
		return fmt.Errorf("delete session in %s: %w", t, err)
	}
	return nil
}

// CountSignIn implements crm.SessionStore, by the store's clock.
func (s *Store) CountSignIn(ctx context.Context, client string, max int, window time.Duration) (crm.SignInCount, error) {
	if max < 1 || window <= 0 {
		return crm.SignInCount{}, fmt.Errorf("count sign-in: the bound must be positive, got %d in %s", max, window)
	}
	res, err := countSignInScript.run(ctx, s, countSignInCall{SignIn: SignInKey(client),
		Now: s.cfg.Clock.Now().UnixMilli(), Window: window.Milliseconds(), Max: max}).Int64Slice()
	if err != nil {
		return crm.SignInCount{}, fmt.Errorf("count sign-in: %w", err)
	}
	if len(res) != 2 {
		return crm.SignInCount{}, fmt.Errorf("count sign-in: unexpected reply %v", res)
	}
	start := time.UnixMilli(res[1]).UTC()
	return crm.SignInCount{Allowed: res[0] == 1, WindowStart: start, RetryAt: start.Add(window)}, nil
}

// UncountSignIn implements crm.SessionStore.
func (s *Store) UncountSignIn(ctx context.Context, client string, c crm.SignInCount) error {
	err := uncountSignInScript.run(ctx, s, uncountSignInCall{SignIn: SignInKey(client), WindowStart: c.WindowStart.UnixMilli()}).Err()
	if err != nil {
		return fmt.Errorf("uncount sign-in: %w", err)
	}
	return nil
}

var _ crm.SessionStore = (*Store)(nil)
