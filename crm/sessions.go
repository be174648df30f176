package crm

import (
	"context"
	"time"
)

// Session is a signed-in user's session of the operator console. The console keeps the user's API
// token only sealed (encrypted with a key derived from the session's secret, which only the
// browser's cookie holds), so that the store alone never reveals a token.
type Session struct {
	// User is the email of the signed-in user, for display and the log.
	User string
	// SealedToken is the user's API token, encrypted by the console.
	SealedToken []byte
	// CSRF is the session's anti-forgery token, which every form that changes something carries.
	CSRF string
	// CreatedAt is when the user signed in.
	CreatedAt time.Time
	// ExpiresAt is when the session ends; the store drops it then.
	ExpiresAt time.Time
	// IdleExpiresAt is when the session ends unless it is used before (see
	// SessionStore.TouchSession), never after ExpiresAt; the store drops it then. Zero means it
	// ends at ExpiresAt only.
	IdleExpiresAt time.Time
}

// SessionStore keeps the console's sessions, by tenant and session id (a hash of the session's
// secret, never the secret itself). Implementations are safe for concurrent use. It is not part of
// Store: only the console uses it.
type SessionStore interface {
	// PutSession stores s under id until s.ExpiresAt (a session already expired is not stored).
	PutSession(ctx context.Context, t TenantID, id string, s Session) error
	// Session returns the session id of tenant t, or a *NotFoundError when there is none (never
	// created, signed out, or past its ExpiresAt or IdleExpiresAt).
	Session(ctx context.Context, t TenantID, id string) (Session, error)
	// DeleteSession ends session id of tenant t. Ending a session that does not exist is no error.
	DeleteSession(ctx context.Context, t TenantID, id string) error
	// TouchSession moves the IdleExpiresAt of session id of tenant t to idleExpiresAt (at most its
	// ExpiresAt), as it is used. A session that has ended (gone, or past either end) stays ended:
	// touching it is no error and brings nothing back.
	TouchSession(ctx context.Context, t TenantID, id string, idleExpiresAt time.Time) error
}
