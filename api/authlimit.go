package api

import (
	"container/list"
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
// and lasts window; past max failures in it, the address is refused until it ends. Requests
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
