package api_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
)

// heldCreates are creates of tenant A held in flight: each sent its headers and part of its body,
// then nothing more, so that it waits in its handler until its connection is closed.
type heldCreates struct {
	t     *testing.T
	b     *testBundle
	conns []net.Conn
}

// holdCreates sends n held creates of tenant A.
func (b *testBundle) holdCreates(t *testing.T, n int) *heldCreates {
	t.Helper()
	h := &heldCreates{t: t, b: b}
	for range n {
		h.conns = append(h.conns, h.send())
	}
	return h
}

func (h *heldCreates) send() net.Conn {
	h.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.b.url, "http://"))
	require.NoError(h.t, err)
	h.t.Cleanup(func() { _ = conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /crm/v3/objects/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"properties\":", h.b.tokens[tokAll])
	require.NoError(h.t, err)
	return conn
}

// resend sends again each held create that was answered: one that came while a probe of the
// tenant held a slot was refused.
func (h *heldCreates) resend() {
	h.t.Helper()
	for i, c := range h.conns {
		require.NoError(h.t, c.SetReadDeadline(time.Now().Add(time.Millisecond)))
		if n, _ := c.Read(make([]byte, 1)); n > 0 {
			_ = c.Close()
			h.conns[i] = h.send()
			continue
		}
		require.NoError(h.t, c.SetReadDeadline(time.Time{}))
	}
}

// close closes the held creates' connections: their clients go away.
func (h *heldCreates) close() {
	h.t.Helper()
	for _, c := range h.conns {
		require.NoError(h.t, c.Close())
	}
}

// untilStatus sends GET path as who until it answers want, and returns that answer. Any status
// but want and pass fails the test, and so does no answer of want within 20 seconds. A held or
// freed slot shows on the next request after the server has read the held request (or seen its
// connection close), a moment the client cannot know: hence the polling. After each answer of
// pass, the creates of held (if any) that were refused are sent again.
func (b *testBundle) untilStatus(t *testing.T, path, who string, want, pass int, held *heldCreates) response {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := b.call(t, "GET", path, who, nil)
		if r.status == want {
			return r
		}
		require.Equal(t, pass, r.status, "body: %s", r.body)
		require.True(t, time.Now().Before(deadline), "no %d within 20s: the last answer was %d %s", want, r.status, r.body)
		if held != nil {
			held.resend()
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// expectTooManyInFlight checks the refusal of a request over its tenant's cap of max.
func expectTooManyInFlight(t *testing.T, r response, max int) {
	t.Helper()
	e := expectError(t, r, http.StatusTooManyRequests, "RATE_LIMITS")
	require.Equal(t, "1", r.header.Get("Retry-After"))
	require.Equal(t, fmt.Sprintf("too many requests in flight: this tenant already has %d requests running at once, "+
		"the most it may have; retry after 1 second, or send fewer requests at once", max), e.Message)
	require.Len(t, e.Errors, 1)
	require.Equal(t, "TOO_MANY_IN_FLIGHT", e.Errors[0].Code)
	require.Equal(t, map[string][]string{"maxInFlight": {fmt.Sprint(max)}}, e.Context)
}

// A tenant has at most MaxTenantInFlight requests running at once: with three of tenant A's
// requests held in flight, A's next request (of any of its users) is refused at once with 429
// RATE_LIMITS and Retry-After, without its body being read, while tenant B is served as usual.
// Once A's held requests end (their clients gone), A is served again (SPEC S27).
func TestTenantInFlightCap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const max = 3
	b.serve(t, &api.Config{Clock: b.clock, Logger: slog.New(slog.NewJSONHandler(b.logs, nil)), Registerer: b.reg,
		Tasks: b.tasks, MaxTenantInFlight: max})
	const contacts = "/crm/v3/objects/contacts"

	held := b.holdCreates(t, max)
	expectTooManyInFlight(t, b.untilStatus(t, contacts, tokAll, http.StatusTooManyRequests, http.StatusOK, held), max)
	// The cap is the tenant's, whichever user asks.
	expectTooManyInFlight(t, b.call(t, "GET", contacts, tokRead, nil), max)

	// Another tenant is served meanwhile, reads and writes.
	require.Equal(t, http.StatusOK, b.call(t, "GET", contacts, tokBAll, nil).status)
	expect[record](t, b.call(t, "POST", contacts, tokBAll,
		map[string]any{"properties": map[string]string{"email": "b@b.example"}}), http.StatusCreated)

	// A request over the cap is answered before its body arrives, and its connection is closed.
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second))) // no answer until the body came fails the test
	_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: 100000\r\n\r\n{", contacts, b.tokens[tokAll])
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	expectTooManyInFlight(t, response{status: res.StatusCode, header: res.Header, body: raw}, max)
	require.True(t, res.Close, "the connection is closed after the refusal")

	// The refusals are counted in the request metrics, with no label naming the tenant.
	exp := b.exposition(t)
	require.Contains(t, exp, `crmflow_http_requests_total{method="GET",route="/crm/v3/objects/{objectType}",status="429"}`)
	require.Contains(t, exp, `crmflow_http_requests_total{method="POST",route="/crm/v3/objects/{objectType}",status="429"}`)
	require.NotContains(t, exp, string(b.tenantA))
	require.Contains(t, b.logs.String(), `"status":429`)

	// The held requests' clients go away: the tenant is served again.
	held.close()
	b.untilStatus(t, contacts, tokAll, http.StatusOK, http.StatusTooManyRequests, nil)
	expect[record](t, b.call(t, "POST", contacts, tokAll,
		map[string]any{"properties": map[string]string{"email": "a@a.example"}}), http.StatusCreated)
	got := expect[page[record]](t, b.call(t, "GET", contacts, tokAll, nil), http.StatusOK)
	require.Len(t, got.Results, 1, "no held request created anything")
}

// A request stopped at its deadline (Config.RequestTimeout) gives its slot back: with a cap of one,
// a preview too heavy for the deadline holds the slot while it runs, so that the tenant's other
// requests are refused, and once it has answered 503 TIMEOUT the tenant is served again.
// Requests are sent one at a time besides the preview, so a 429 means the preview holds the slot.
func TestTenantInFlightReleasedAtDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.serve(t, &api.Config{Logger: slog.New(slog.NewJSONHandler(b.logs, nil)), RequestTimeout: 3 * time.Second,
		MaxTenantInFlight: 1})
	in := make([]crm.RecordInput, 500)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"firstname": fmt.Sprint("C", i)}}
	}
	_, err := b.store.CreateRecords(b.ctx, b.tenantA, crm.Contacts, in, crm.Actor{User: userEmail})
	require.NoError(t, err)

	heavy := "name: heavy\nobject_type: contacts\ntrigger: 'any(1..1000, {any(1..1000, {# == -1})})'\nactions:\n  - type: delete_contact\n"
	type answer struct {
		res response
		err error
	}
	done := make(chan answer, 1)
	// The preview is sent until it gets the slot: a probe below may hold it for a moment.
	go func() {
		for deadline := time.Now().Add(20 * time.Second); ; {
			req, err := http.NewRequestWithContext(b.ctx, "POST", b.url+"/automation/v4/flows/preview", strings.NewReader(heavy))
			if err != nil {
				done <- answer{err: err}
				return
			}
			req.Header.Set("Authorization", "Bearer "+b.tokens[tokRead])
			req.Header.Set("Content-Type", "application/yaml")
			res, err := b.client.Do(req)
			if err != nil {
				done <- answer{err: err}
				return
			}
			raw, err := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if res.StatusCode != http.StatusTooManyRequests || err != nil || time.Now().After(deadline) {
				done <- answer{res: response{status: res.StatusCode, header: res.Header, body: raw}, err: err}
				return
			}
		}
	}()

	// While the preview runs, it holds the tenant's one slot.
	var ended *answer
	for seen := false; !seen; {
		r := b.call(t, "GET", "/crm/v3/objects/contacts?limit=1", tokAll, nil)
		switch r.status {
		case http.StatusTooManyRequests:
			expectTooManyInFlight(t, r, 1)
			seen = true
		case http.StatusOK:
			select {
			case a := <-done:
				ended = &a
				require.Failf(t, "the preview ended before its slot was seen taken", "preview: %d %s", a.res.status, a.res.body)
			case <-time.After(10 * time.Millisecond): // poll interval
			}
		default:
			require.Failf(t, "unexpected answer", "%d %s", r.status, r.body)
		}
	}
	require.Nil(t, ended)
	a := <-done
	require.NoError(t, a.err)
	e := expectError(t, a.res, http.StatusServiceUnavailable, "TIMEOUT")
	require.Contains(t, e.Message, "deadline")

	// Its slot is free again.
	b.untilStatus(t, "/crm/v3/objects/contacts?limit=1", tokAll, http.StatusOK, http.StatusTooManyRequests, nil)
	require.Equal(t, http.StatusOK, b.call(t, "GET", "/crm/v3/objects/contacts?limit=1", tokAll, nil).status)
}
