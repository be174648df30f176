package api

import (
	"crypto/sha256"
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

// The tokens accepted are kept by hash, at most max of them, each for ttl after it was last
// accepted: one more forgets the one accepted longest ago, a token accepted again goes to the back,
// the tokens past ttl go first, and a token the store refused is forgotten.
func TestKnownTokensBounded(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	k := newKnownTokens(3, 10*time.Minute)
	h := func(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }
	known := func(at time.Time, tokens ...string) []string {
		var got []string
		for _, tok := range tokens {
			if k.known(h(tok), at) {
				got = append(got, tok)
			}
		}
		return got
	}

	k.accepted(h("a"), t0)
	k.accepted(h("b"), t0.Add(time.Second))
	k.accepted(h("c"), t0.Add(2*time.Second))
	k.accepted(h("a"), t0.Add(3*time.Second)) // a again: b is now the one accepted longest ago
	k.accepted(h("d"), t0.Add(4*time.Second)) // full: b goes
	require.Len(t, k.tokens, 3)
	require.Equal(t, []string{"a", "c", "d"}, known(t0.Add(4*time.Second), "a", "b", "c", "d"))

	// Ten minutes after c and a were last accepted they are no longer known, and the next
	// acceptance forgets them both, not only the one it needs room for.
	later := t0.Add(10*time.Minute + 3*time.Second)
	require.Equal(t, []string{"d"}, known(later, "a", "c", "d"))
	k.accepted(h("e"), later)
	require.Len(t, k.tokens, 2)
	require.Equal(t, []string{"d", "e"}, known(later, "a", "c", "d", "e"))

	k.refused(h("d"))
	k.refused(h("never"))
	require.Len(t, k.tokens, 1)
	require.Equal(t, []string{"e"}, known(later, "d", "e"))

	for i := range 1000 {
		k.accepted(h(strconv.Itoa(i)), t0.Add(11*time.Minute))
	}
	require.Len(t, k.tokens, 3)
	require.Equal(t, 3, k.order.Len())
	require.Equal(t, []string{"997", "998", "999"}, known(t0.Add(11*time.Minute), "e", "996", "997", "998", "999"))
	require.Empty(t, known(t0.Add(21*time.Minute), "997", "998", "999"))
}

func TestSpellDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		time.Minute:                        "1 minute",
		10 * time.Minute:                   "10 minutes",
		time.Second:                        "1 second",
		30 * time.Second:                   "30 seconds",
		90 * time.Second:                   "90 seconds",
		time.Hour:                          "1 hour",
		2 * time.Hour:                      "2 hours",
		90 * time.Minute:                   "90 minutes",
		1500 * time.Millisecond:            "1.5s",
		time.Minute + 500*time.Millisecond: "1m0.5s",
	} {
		require.Equal(t, want, spellDuration(d), "%s", d)
	}
}
