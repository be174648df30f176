package api

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The limit keeps at most maxClients addresses: a flood of new addresses makes it forget the one
// whose window began first, the windows that are over before any other, and never more.
func TestAuthLimitBoundedMemory(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := newAuthLimit(2, time.Minute, 3)
	refused := func(client string, at time.Time) bool {
		_, r := l.refusedUntil(client, at)
		return r
	}

	l.fail("a", t0)
	l.fail("a", t0)
	require.True(t, refused("a", t0.Add(time.Second)))
	l.fail("b", t0.Add(time.Second))
	l.fail("b", t0.Add(time.Second))
	l.fail("c", t0.Add(2*time.Second))
	require.Len(t, l.clients, 3)

	l.fail("d", t0.Add(3*time.Second)) // full: a, whose window began first, goes
	require.Len(t, l.clients, 3)
	require.False(t, refused("a", t0.Add(3*time.Second)))
	require.True(t, refused("b", t0.Add(3*time.Second)))

	// Past b's and c's windows, a failure of d forgets them, and d's own window goes on.
	l.fail("d", t0.Add(62*time.Second))
	require.Len(t, l.clients, 1)
	require.True(t, refused("d", t0.Add(62*time.Second)))

	for i := range 1000 {
		l.fail(strconv.Itoa(i), t0.Add(63*time.Second))
	}
	require.Len(t, l.clients, 3)
	require.Equal(t, 3, l.order.Len())
}
