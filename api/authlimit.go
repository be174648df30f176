package api

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// Defaults of the limit of failed bearer authentications: Config.AuthFailureLimit failures from
// one client address in Config.AuthFailureWindow.
const (
	DefaultAuthFailureLimit  = 30
	DefaultAuthFailureWindow = time.Minute
)

// maxAuthClients is the most client addresses an authLimit keeps at once; one more makes it
// forget the address whose window began first. About 100 bytes each: a megabyte or so in all.
const maxAuthClients = 10_000

// authLimit counts the failed bearer authentications of each client address in this process, so
// that a client flooding the API with made-up tokens costs the store one lookup per failure only
// until its limit, and none after (SPEC S27). Only failures are counted, in memory: a valid token
// costs no more than the lookup it needs anyway. A window begins with an address's first failure
// and lasts window; past max failures in it, the address is refused until it ends, but for the
// tokens this process accepted recently (knownTokens), which are looked up as usual. Requests
// already running when the limit is reached may still fail and be counted, so an address gets at
// most max plus the requests it has in flight at once (bounded by the server's connections).
//
// It keeps at most maxClients addresses, in the order their windows began, and forgets the first
// one to make room. It is safe for concurrent use.
type authLimit struct {
	max        int
	window     time.Duration
	maxClients int

	mu      sync.Mutex
	clients map[string]*list.Element // of *authFailures
	order   *list.List               // of *authFailures, the window that began first in front
}

// authFailures are the failures of one client address in its window.
type authFailures struct {
	client string
	start  time.Time
	n      int
}

func newAuthLimit(maxFailures int, window time.Duration, maxClients int) *authLimit {
	return &authLimit{max: maxFailures, window: window, maxClients: maxClients,
		clients: map[string]*list.Element{}, order: list.New()}
}

// refusedUntil returns the end of client's window when it has failed max times in it already, at
// now: its bearer attempts are then refused without a lookup. It returns false otherwise.
func (l *authLimit) refusedUntil(client string, now time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.clients[client]
	if !ok {
		return time.Time{}, false
	}
	f := e.Value.(*authFailures)
	end := f.start.Add(l.window)
	if !now.Before(end) || f.n < l.max {
		return time.Time{}, false
	}
	return end, true
}

// fail counts a failed authentication of client at now.
func (l *authLimit) fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Forget the windows that are over: they began first, so they are in front.
	for e := l.order.Front(); e != nil && !now.Before(e.Value.(*authFailures).start.Add(l.window)); e = l.order.Front() {
		l.forget(e)
	}
	if e, ok := l.clients[client]; ok {
		e.Value.(*authFailures).n++
		return
	}
	if l.order.Len() >= l.maxClients {
		l.forget(l.order.Front())
	}
	l.clients[client] = l.order.PushBack(&authFailures{client: client, start: now, n: 1})
}

func (l *authLimit) forget(e *list.Element) {
	delete(l.clients, e.Value.(*authFailures).client)
	l.order.Remove(e)
}

// Bounds of the tokens a Server remembers as seen valid (knownTokens): the last maxKnownTokens
// seen, each for knownTokenTTL after it was last accepted.
const (
	maxKnownTokens = 10_000
	knownTokenTTL  = 10 * time.Minute
)

// knownTokens remembers the bearer tokens this process accepted recently, by the SHA-256 of the
// token (the hash the store keys tokens by; never the token itself), so that a client address
// over its limit of failures keeps serving the tokens already in use from it: one careless
// client behind a NAT or a proxy, retrying a revoked token, does not lock out the others. A
// token guessed has never been accepted, so it is not here. A remembered token is still looked
// up on each request: a revoked or expired one is refused, counted, and forgotten.
//
// It keeps at most max tokens, each for ttl after it was last accepted, and forgets the one
// accepted longest ago to make room: about 190 bytes a token, two megabytes in all. It
// is safe for concurrent use.
type knownTokens struct {
	max int
	ttl time.Duration

	mu     sync.Mutex
	tokens map[[sha256.Size]byte]*list.Element // of *knownToken
	order  *list.List                          // of *knownToken, the one accepted longest ago in front
}

// knownToken is one token accepted, and when it last was.
type knownToken struct {
	hash [sha256.Size]byte
	seen time.Time
}

func newKnownTokens(maxTokens int, ttl time.Duration) *knownTokens {
	return &knownTokens{max: maxTokens, ttl: ttl, tokens: map[[sha256.Size]byte]*list.Element{}, order: list.New()}
}

// accepted remembers that the token of hash h was accepted at now.
func (k *knownTokens) accepted(h [sha256.Size]byte, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.expire(now)
	if e, ok := k.tokens[h]; ok {
		e.Value.(*knownToken).seen = now
		k.order.MoveToBack(e)
		return
	}
	if k.order.Len() >= k.max {
		k.remove(k.order.Front())
	}
	k.tokens[h] = k.order.PushBack(&knownToken{hash: h, seen: now})
}

// known reports whether the token of hash h was accepted within ttl before now.
func (k *knownTokens) known(h [sha256.Size]byte, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.tokens[h]
	return ok && now.Before(e.Value.(*knownToken).seen.Add(k.ttl))
}

// refused forgets the token of hash h: the store refused it.
func (k *knownTokens) refused(h [sha256.Size]byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.tokens[h]; ok {
		k.remove(e)
	}
}

// expire forgets the tokens not accepted within ttl before now: they are in front.
func (k *knownTokens) expire(now time.Time) {
	for e := k.order.Front(); e != nil && !now.Before(e.Value.(*knownToken).seen.Add(k.ttl)); e = k.order.Front() {
		k.remove(e)
	}
}

func (k *knownTokens) remove(e *list.Element) {
	delete(k.tokens, e.Value.(*knownToken).hash)
	k.order.Remove(e)
}
