package console

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
)

const (
	// sessionCookie holds "<tenant>.<secret>": the tenant names where the session is stored, the
	// secret (64 hex digits) is known only to the browser. The store keeps a hash of it as the
	// session's id, and the token sealed with a key derived from it.
	sessionCookie = "crmflow_session"
	// loginCookie holds the double-submit token of the sign-in form.
	loginCookie = "crmflow_login"
	// csrfField is the name of the form field that carries the CSRF token.
	csrfField = "csrf"
	// cookiePath scopes the console's cookies to its pages on plain HTTP.
	cookiePath = "/console/"
	// hostPrefix starts the name of every cookie the console sets on a secure request (see
	// Console.secure). A browser takes a "__Host-" cookie only when it is Secure, set over HTTPS,
	// without a Domain and with the Path "/", so no other host (a sibling subdomain) and no plain
	// HTTP answer can set or shadow it; the console then reads only the prefixed names.
	hostPrefix = "__Host-"
)

// session is a signed-in user's session, opened for one request.
type session struct {
	tenant crm.TenantID
	id     string // the store's id: a hash of the secret
	token  string // the user's API token, unsealed
	csrf   string
	user   string
	secret string // the cookie's, which seals what the store keeps for the browser
}

// newSecret returns 32 random bytes as hex.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics if the system's source does)
	return hex.EncodeToString(b)
}

// sessionID is the store's id of the session of secret.
func sessionID(secret string) string {
	sum := sha256.Sum256([]byte("crmflow console session id\x00" + secret))
	return hex.EncodeToString(sum[:])
}

// sealKey is the key that seals the token of the session of secret.
func sealKey(secret string) []byte {
	sum := sha256.Sum256([]byte("crmflow console session key\x00" + secret))
	return sum[:]
}

// draftKey is the key that seals the draft kept for the session of secret (see draft.go).
func draftKey(secret string) []byte {
	sum := sha256.Sum256([]byte("crmflow console draft key\x00" + secret))
	return sum[:]
}

func newGCM(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // AES has a 16-byte block
	}
	return gcm
}

// seal encrypts token with the key of secret; the nonce leads the result.
func seal(secret, token string) []byte { return sealWith(sealKey(secret), []byte(token)) }

// unseal decrypts what seal made with the same secret.
func unseal(secret string, sealed []byte) (string, error) {
	plain, err := unsealWith(sealKey(secret), sealed)
	if err != nil {
		return "", fmt.Errorf("unseal token: %w", err)
	}
	return string(plain), nil
}

// sealWith encrypts plain with key (AES-GCM); the nonce leads the result.
func sealWith(key, plain []byte) []byte {
	gcm := newGCM(key)
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	return gcm.Seal(nonce, nonce, plain, nil)
}

// unsealWith decrypts what sealWith made with the same key.
func unsealWith(key, sealed []byte) ([]byte, error) {
	gcm := newGCM(key)
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("sealed value too short")
	}
	return gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
}

// parseSessionCookie splits the session cookie's value into its tenant and secret.
func parseSessionCookie(v string) (crm.TenantID, string, bool) {
	tenant, secret, ok := strings.Cut(v, ".")
	if !ok || len(secret) != 64 || crm.TenantID(tenant).Validate() != nil {
		return "", "", false
	}
	if _, err := hex.DecodeString(secret); err != nil {
		return "", "", false
	}
	return crm.TenantID(tenant), secret, true
}

// openSession returns the session of r's cookie, or nil when there is none or it has ended. A
// store failure is an error.
func (c *Console) openSession(ctx context.Context, r *http.Request) (*session, error) {
	ck, err := c.cookie(r, sessionCookie)
	if err != nil {
		return nil, nil
	}
	tenant, secret, ok := parseSessionCookie(ck.Value)
	if !ok {
		return nil, nil
	}
	id := sessionID(secret)
	stored, err := c.sessions.Session(ctx, tenant, id)
	if errors.Is(err, crm.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	now := c.cfg.Clock.Now()
	if !now.Before(stored.ExpiresAt) || (!stored.IdleExpiresAt.IsZero() && !now.Before(stored.IdleExpiresAt)) {
		return nil, nil
	}
	token, err := unseal(secret, stored.SealedToken)
	if err != nil {
		return nil, nil // not this secret's session: treat as signed out
	}
	return &session{tenant: tenant, id: id, token: token, csrf: stored.CSRF, user: stored.User, secret: secret}, nil
}

// startSession stores a new session for principal p with token, with its trace (see draft.go),
// sets its cookie on w, and returns its id and secret. The cookie lasts as long as the trace: past
// the session's end it opens nothing, and tells only which ended session a form comes from.
func (c *Console) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, p crm.Principal, token string) (id, secret string, err error) {
	secret = newSecret()
	id = sessionID(secret)
	now := c.cfg.Clock.Now()
	err = c.sessions.PutSession(ctx, p.Tenant, id, crm.Session{
		User: p.User.Email, SealedToken: seal(secret, token), CSRF: newSecret(),
		CreatedAt: now, ExpiresAt: now.Add(c.cfg.SessionTTL), IdleExpiresAt: now.Add(c.cfg.IdleTimeout),
		KeepUntil: now.Add(c.cfg.SessionTTL + traceKeep),
	})
	if err != nil {
		return "", "", fmt.Errorf("start session: %w", err)
	}
	c.setCookie(w, r, sessionCookie, string(p.Tenant)+"."+secret, int((c.cfg.SessionTTL+traceKeep)/time.Second), http.SameSiteStrictMode)
	return id, secret, nil
}

// secure says whether the console's cookies carry Secure (and the __Host- prefix): on a request
// over TLS, on every request when Config.SecureCookies says a proxy in front terminates TLS, and
// on a request from a trusted proxy that says it came over HTTPS (X-Forwarded-Proto: https).
func (c *Console) secure(r *http.Request) bool {
	return c.origin().Secure(r)
}

// setCookie sets the console's cookie name on w, HttpOnly, for maxAge seconds: on a secure
// request Secure, named with hostPrefix, for the path "/" (which that prefix requires); else for
// the console's pages only.
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int, sameSite http.SameSite) {
	ck := &http.Cookie{Name: name, Value: value, Path: cookiePath, MaxAge: maxAge, HttpOnly: true, SameSite: sameSite}
	if c.secure(r) {
		ck.Name, ck.Path, ck.Secure = hostPrefix+name, "/", true
	}
	http.SetCookie(w, ck)
}

// cookie returns the console's cookie name of r: on a secure request only the one named with
// hostPrefix, which no other host nor plain HTTP page can have set.
func (c *Console) cookie(r *http.Request, name string) (*http.Cookie, error) {
	if c.secure(r) {
		name = hostPrefix + name
	}
	return r.Cookie(name)
}

// clearCookie removes cookie name from the browser.
func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	c.setCookie(w, r, name, "", -1, http.SameSiteStrictMode)
}

// validCSRF reports whether the form of r carries want. r's form must be parsed.
func validCSRF(r *http.Request, want string) bool {
	got := r.PostForm.Get(csrfField)
	return want != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
