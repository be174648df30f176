package redisstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
)

// PutSession implements crm.SessionStore: one HASH that Redis drops at the session's end.
func (s *Store) PutSession(ctx context.Context, t crm.TenantID, id string, sess crm.Session) error {
	ttl := sess.ExpiresAt.Sub(s.cfg.Clock.Now())
	if ttl <= 0 {
		return nil
	}
	key := SessionKey(t, id)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, map[string]any{
			"user":       sess.User,
			"token":      sess.SealedToken,
			"csrf":       sess.CSRF,
			"created_at": strconv.FormatInt(sess.CreatedAt.UnixMilli(), 10),
			"expires_at": strconv.FormatInt(sess.ExpiresAt.UnixMilli(), 10),
		})
		p.PExpire(ctx, key, ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("put session in %s: %w", t, err)
	}
	return nil
}

// Session implements crm.SessionStore. A session past its expires_at by the store's clock is not
// returned, even if Redis has not dropped it yet.
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
	if !s.cfg.Clock.Now().Before(sess.ExpiresAt) {
		return crm.Session{}, &crm.NotFoundError{Kind: "session", ID: "(hidden)"}
	}
	return sess, nil
}

// DeleteSession implements crm.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, t crm.TenantID, id string) error {
	if err := s.rdb.Del(ctx, SessionKey(t, id)).Err(); err != nil {
		return fmt.Errorf("delete session in %s: %w", t, err)
	}
	return nil
}

var _ crm.SessionStore = (*Store)(nil)
