package console_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
)

// apiStatus is the status of GET path on the API with token.
func (b *testBundle) apiStatus(t *testing.T, path, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

// holdCreate sends a create of the tenant with its headers and part of its body, then nothing
// more: it waits in its handler, holding one of the tenant's slots, until the connection closes.
func (b *testBundle) holdCreate(t *testing.T) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.base, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /crm/v3/objects/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", b.token)
	require.NoError(t, err)
	return conn
}

// untilAPIStatus polls GET path on the API with token until it answers want, for at most 20 s:
// the server takes in (or sees the end of) a held create a moment after the client sends it.
// After each other answer, a create of held that was answered (refused, as it came while a poll
// held a slot) is sent again.
func (b *testBundle) untilAPIStatus(t *testing.T, path, token string, want int, held []net.Conn) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for got := b.apiStatus(t, path, token); got != want; got = b.apiStatus(t, path, token) {
		require.True(t, time.Now().Before(deadline), "no %d within 20s: the last answer was %d", want, got)
		for i, c := range held {
			require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Millisecond)))
			if n, _ := c.Read(make([]byte, 1)); n > 0 {
				_ = c.Close()
				held[i] = b.holdCreate(t)
				continue
			}
			require.NoError(t, c.SetReadDeadline(time.Time{}))
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// A page whose calls to the API are refused because the tenant has too many requests in flight
// answers 429 with the API's message (in Swedish, the catalog's sentence before it), not a blank
// page or a 500; a workflow being saved keeps its text on the page, and nothing is stored. Once
// the tenant's requests end, the pages work again.
func TestPagesWhenTheTenantHasTooManyRequestsInFlight(t *testing.T) {
	t.Parallel()
	b := setupWith(t, api.Config{MaxTenantInFlight: 2})
	ctx := context.Background()
	_, err := b.store.CreateUser(ctx, b.tenant, "flows@example.com", crm.Permissions{crm.PermRead, crm.PermWorkflows}, "test")
	require.NoError(t, err)
	token, err := b.store.CreateToken(ctx, b.tenant, "flows@example.com", nil)
	require.NoError(t, err)
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(token).StatusCode)
	csrf := br.csrf()
	sv := b.browser(t)
	sv.lang = "sv"
	require.Equal(t, http.StatusSeeOther, sv.signIn(b.readerToken).StatusCode)

	// Two creates of the tenant whose bodies stall: both of its slots are taken.
	held := []net.Conn{b.holdCreate(t), b.holdCreate(t)}
	b.untilAPIStatus(t, "/crm/v3/objects/contacts", b.token, http.StatusTooManyRequests, held)

	const said = "too many requests in flight: this tenant already has 2 requests running at once, the most it may have; " +
		"retry after 1 second, or send fewer requests at once"
	resp, page := br.get("/console/objects/contacts")
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Contains(t, page, `<p class="error" role="alert" data-status="429">`+said+`</p>`)

	resp, page = sv.get("/console/objects/contacts")
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Contains(t, page, "Din organisation har för många förfrågningar igång samtidigt (högst 2): vänta en sekund och försök igen. "+
		"(API:t svarade på engelska: "+said+")")

	// A new workflow being saved: whether its name is taken cannot be checked, so nothing is
	// stored, and the page keeps the text and says why.
	src := "name: busy\nobject_type: contacts\ntrigger: lifecyclestage == \"lead\"\nactions:\n  - type: delete_contact\n"
	resp, page = br.post("/console/workflows/save", url.Values{"csrf": {csrf}, "do": {"save"}, "source": {src}})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Contains(t, page, said)
	require.Contains(t, page, "name: busy\nobject_type: contacts\ntrigger: lifecyclestage == &#34;lead&#34;")
	_, err = b.store.Flow(ctx, b.tenant, "busy")
	require.ErrorIs(t, err, crm.ErrNotFound)

	for _, c := range held {
		require.NoError(t, c.Close())
	}
	b.untilAPIStatus(t, "/crm/v3/objects/contacts", b.token, http.StatusOK, nil)
	resp, _ = br.get("/console/objects/contacts")
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
