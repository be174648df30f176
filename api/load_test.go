package api_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
)

// exposition returns the text exposition of the bundle's metrics registry, as /metrics serves it.
func (b *testBundle) exposition(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	return rec.Body.String()
}

// A flood of made-up methods, without a token, adds one series (method="OTHER") and no more: the
// method label comes from a fixed set, and so does the log line's method.
func TestMetricsMethodFloodIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, http.StatusOK, b.call(t, "GET", "/healthz", "", nil).status)
	before := b.exposition(t)

	const requests = 2000
	letters := "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			for range requests / 8 {
				m := make([]byte, 4+rng.IntN(12))
				for i := range m {
					m[i] = letters[rng.IntN(len(letters))]
				}
				req, err := http.NewRequest(string(m), b.url+"/healthz", nil)
				if err == nil {
					var res *http.Response
					if res, err = b.client.Do(req); err == nil {
						_ = res.Body.Close()
					}
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	// One long made-up method: answered, and neither logged nor echoed whole.
	long := strings.Repeat("X", 64<<10)
	r := b.raw(t, long, "/healthz", "", nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	require.Less(t, len(r.body), 1024, "the answer echoes the method whole")
	require.NotContains(t, b.logs.String(), strings.Repeat("X", 100))

	after := b.exposition(t)
	series := regexp.MustCompile(`(?m)^crmflow_http_requests_total\{.*$`)
	added := len(series.FindAllString(after, -1)) - len(series.FindAllString(before, -1))
	require.Equal(t, 1, added, "series of crmflow_http_requests_total added by the flood:\n%s", after)
	require.Contains(t, after, fmt.Sprintf(`crmflow_http_requests_total{method="OTHER",route="unmatched",status="405"} %d`, requests+1))
	require.Less(t, len(after), 64<<10, "exposition size")

	// The log lines name the method OTHER.
	require.Equal(t, requests+1, bytes.Count([]byte(b.logs.String()), []byte(`"method":"OTHER"`)))
}
