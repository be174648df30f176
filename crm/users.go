package crm

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// TokenOpts are options of CreateToken. nil means the defaults.
type TokenOpts struct {
	// By names who issues the token, for the audit trail (an admin: "admin-cli:alice", say).
	// Defaults to "".
	By string
	// TTL is how long the token is valid from its creation. Zero means it never expires; a
	// negative TTL is a *ValidationError.
	TTL time.Duration
}

// TokenInfo describes an API token without its secret.
type TokenInfo struct {
	// ID is the token's public id: the first TokenIDLen hex digits of the token's SHA-256, unique in
	// its tenant. It names the token in listings, revocations and the audit trail; it cannot be
	// turned back into the token.
	ID        string
	User      string
	CreatedAt time.Time
	// ExpiresAt is when the token stops being accepted; zero for a token that never expires.
	ExpiresAt time.Time
}

// Expired reports whether the token has expired at now.
func (ti TokenInfo) Expired(now time.Time) bool {
	return !ti.ExpiresAt.IsZero() && !now.Before(ti.ExpiresAt)
}

// TokenIDLen is the length of a token's public id, in hex digits (64 bits).
const TokenIDLen = 16

// TokenID returns the public id of a token (see TokenInfo.ID). It is what CreateToken indexed the
// token under, so an admin can name the token just issued.
func TokenID(token string) string { return HashToken(token)[:TokenIDLen] }

// HashToken returns the hex SHA-256 of an API token: the only form in which a store keeps a
// token, keys it (a token is looked up by its hash) and names it (TokenID is a prefix of it), so
// that reading the store, its backups or its keys never gives a usable token. An unsalted, fast
// hash is safe here because a token is not a password: it is 256 random bits drawn by
// CreateToken, so no guess or precomputed table reaches one from its hash, and the lookup by hash
// compares no secret byte by byte in Go. It is a pure function, safe for concurrent use.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// EnableUserCommand is the admin command that enables the disabled user email of tenant t again,
// as the refusals of a disabled user's requests and jobs name it.
func EnableUserCommand(t TenantID, email string) string {
	return "crmflow admin user enable " + string(t) + " " + shellWord(email)
}

// shellWord is s as one word of a POSIX shell command line: as it is when it holds only letters,
// digits and @%+=:,./_-, else in single quotes (a quote in it written '\”).
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
