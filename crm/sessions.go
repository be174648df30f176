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
	// KeepUntil is how long the store keeps the session's trace (see SessionTrace): its user and
	// CSRF token, never its token, past the session's end. Zero, or not after ExpiresAt, keeps no
	// trace.
	KeepUntil time.Time
}

// SessionTrace is what the store keeps of a console session until its Session.KeepUntil, whether
// the session has ended or not: whose it was and its CSRF token, never the API token, so that the
// console can tell a form the session's own page sent after the session ended (its browser still
// has the cookie) from any other; and the draft the console keeps for the session's user.
type SessionTrace struct {
	// User is the email of the session's user.
	User string
	// CSRF is the session's CSRF token.
	CSRF string
	// Draft is what the console keeps for the user (SessionStore.SetSessionDraft), sealed by the
	// console; nil for none.
	Draft []byte
}

// SignInCount is what SessionStore.CountSignIn answers about one sign-in attempt.
type SignInCount struct {
	// Allowed says the attempt was counted and may go on. False means the client has used up its
	// attempts of the window: it may try again at RetryAt.
	Allowed bool
	// WindowStart is when the client's window began: the time of its first attempt counted in it.
	// SessionStore.UncountSignIn needs it.
	WindowStart time.Time
	// RetryAt is when the window ends.
	RetryAt time.Time
}

// SessionStore keeps the console's sessions, by tenant and session id (a hash of the session's
// secret, never the secret itself), and counts its sign-in attempts by client. Implementations are
// safe for concurrent use, and every process on one store shares their state. It is not part of
// Store: only the console uses it.
type SessionStore interface {
	// CountSignIn counts a sign-in attempt of client (a network address, never a token) against
	// at most max attempts in a window of length window that begins at the client's first attempt
	// counted in it. An attempt past max is not counted and not Allowed: the client waits until the
	// window ends. Count every attempt before checking its token, so that attempts made at once
	// cannot pass the bound, and take back the ones that succeed (UncountSignIn).
	CountSignIn(ctx context.Context, client string, max int, window time.Duration) (SignInCount, error)
	// UncountSignIn takes back the attempt of client that CountSignIn counted as c, which did not
	// fail, so that only failed sign-ins use up the attempts; a success never clears failures
	// already counted. It takes nothing from a later window.
	UncountSignIn(ctx context.Context, client string, c SignInCount) error
	// PutSession stores s under id until s.ExpiresAt, and its trace until s.KeepUntil (a session
	// already expired is not stored).
	PutSession(ctx context.Context, t TenantID, id string, s Session) error
	// Session returns the session id of tenant t, or a *NotFoundError when there is none (never
	// created, signed out, or past its ExpiresAt or IdleExpiresAt).
	Session(ctx context.Context, t TenantID, id string) (Session, error)
	// SessionTrace returns the trace of session id of tenant t, which lasts past the session's end
	// until its KeepUntil, or a *NotFoundError when there is none (never created, stored without
	// KeepUntil, signed out, or past its KeepUntil).
	SessionTrace(ctx context.Context, t TenantID, id string) (SessionTrace, error)
	// SetSessionDraft keeps draft on the trace of session id of tenant t, in place of the one kept
	// before; nil removes it. A trace that is gone stays gone: setting its draft is no error and
	// keeps nothing.
	SetSessionDraft(ctx context.Context, t TenantID, id string, draft []byte) error
	// DeleteSession ends session id of tenant t and drops its trace. Ending a session that does not
	// exist is no error.
	DeleteSession(ctx context.Context, t TenantID, id string) error
	// TouchSession moves the IdleExpiresAt of session id of tenant t to idleExpiresAt (at most its
	// ExpiresAt), as it is used. A session that has ended (gone, or past either end) stays ended:
	// touching it is no error and brings nothing back.
	TouchSession(ctx context.Context, t TenantID, id string, idleExpiresAt time.Time) error
}
