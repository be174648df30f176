package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// tenantsInFlight is how many tenants have an entry in the count of requests in flight.
func (f *inFlight) tenantsInFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.n)
}

// A request gives its slot back however it ends (an answer, a panic, its client gone), and a
// tenant with nothing in flight has no entry left in the count, so that it does not grow with
// the number of tenants.
func TestInFlightSlotsAreGivenBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	tn := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	perms, err := crm.ParsePermissions("all")
	require.NoError(t, err)
	_, err = st.CreateUser(ctx, tn, "all@a.example", perms, "test")
	require.NoError(t, err)
	token, err := st.CreateToken(ctx, tn, "all@a.example", nil)
	require.NoError(t, err)

	s, err := New(st, &Config{Logger: slog.New(slog.DiscardHandler), MaxTenantInFlight: 2})
	require.NoError(t, err)
	entered := make(chan struct{})
	free := make(chan struct{})
	s.handle("GET /test/hold", crm.PermRead, func(w http.ResponseWriter, r *http.Request, _ crm.Principal) error {
		entered <- struct{}{}
		select {
		case <-free:
			w.WriteHeader(http.StatusNoContent)
			return nil
		case <-r.Context().Done():
			return r.Context().Err()
		}
	})
	s.handle("GET /test/stall", crm.PermRead, func(_ http.ResponseWriter, r *http.Request, _ crm.Principal) error {
		entered <- struct{}{}
		<-r.Context().Done()
		return r.Context().Err()
	})
	s.handle("GET /test/panic", crm.PermRead, func(http.ResponseWriter, *http.Request, crm.Principal) error {
		panic("boom")
	})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)

	get := func(ctx context.Context, path string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := ts.Client().Do(req)
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		_, err = io.Copy(io.Discard, res.Body)
		return res.StatusCode, err
	}
	status := func(path string) int {
		t.Helper()
		code, err := get(ctx, path)
		require.NoError(t, err)
		return code
	}
	// hold starts two requests of path that wait in their handler, and returns once both are there.
	hold := func(ctx context.Context, path string) (wait func() []int) {
		var (
			wg    sync.WaitGroup
			codes = make([]int, 2)
		)
		for i := range 2 {
			wg.Go(func() { codes[i], _ = get(ctx, path) })
		}
		<-entered
		<-entered
		return func() []int { wg.Wait(); return codes }
	}

	// Answered: both slots taken, a third request refused; once they answer, both are free.
	wait := hold(ctx, "/test/hold")
	require.Equal(t, http.StatusTooManyRequests, status("/crm/v3/objects/contacts"))
	require.Equal(t, 1, s.inFlight.tenantsInFlight())
	close(free)
	require.Equal(t, []int{http.StatusNoContent, http.StatusNoContent}, wait())
	require.Equal(t, 0, s.inFlight.tenantsInFlight())
	require.Equal(t, http.StatusOK, status("/crm/v3/objects/contacts"))

	// A panic: the request answers 500 and its slot is free.
	for range 3 {
		require.Equal(t, http.StatusInternalServerError, status("/test/panic"))
		require.Equal(t, 0, s.inFlight.tenantsInFlight())
	}

	// The clients go away: their handlers end, and the slots are free.
	cctx, cancel := context.WithCancel(ctx)
	wait = hold(cctx, "/test/stall")
	require.Equal(t, http.StatusTooManyRequests, status("/crm/v3/objects/contacts"))
	cancel()
	wait()
	deadline := time.Now().Add(20 * time.Second)
	for s.inFlight.tenantsInFlight() != 0 { // the server sees the connections close a moment later
		require.True(t, time.Now().Before(deadline), "the slots of requests whose clients went away were not freed")
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	require.Equal(t, http.StatusOK, status("/crm/v3/objects/contacts"))
}
