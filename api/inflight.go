package api

import (
	"sync"

	"github.com/crmflow/crmflow/crm"
)

// DefaultMaxTenantInFlight is the default of Config.MaxTenantInFlight.
const DefaultMaxTenantInFlight = 64

// retryInFlight is the Retry-After, in seconds, of a request refused because its tenant had too
// many requests in flight: the requests that hold the slots usually end within it.
const retryInFlight = 1

// inFlight counts the requests of each tenant running now in this process, so that one tenant's
// burst of expensive requests cannot take every connection and all of the store's time from the
// others (SPEC S27). A tenant with no request in flight has no entry: the map grows with the
// tenants busy at once, not with the tenants there are. It is safe for concurrent use.
type inFlight struct {
	max int
	mu  sync.Mutex
	n   map[crm.TenantID]int
}

func newInFlight(maxPerTenant int) *inFlight {
	return &inFlight{max: maxPerTenant, n: map[crm.TenantID]int{}}
}

// acquire takes one of tenant t's slots and reports whether there was one free. Every acquire that
// returns true must be followed by one release of t.
func (f *inFlight) acquire(t crm.TenantID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[t] >= f.max {
		return false
	}
	f.n[t]++
	return true
}

// release gives back one of tenant t's slots, and forgets t once it has none in flight.
func (f *inFlight) release(t crm.TenantID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[t] <= 1 {
		delete(f.n, t)
		return
	}
	f.n[t]--
}
