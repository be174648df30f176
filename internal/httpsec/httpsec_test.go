package httpsec_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/internal/httpsec"
)

// Every answer carries the security headers, a 404 of the handler behind too;
// Strict-Transport-Security only on a request that reached the deployment over HTTPS.
func TestOriginHandler(t *testing.T) {
	t.Parallel()
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	for _, tc := range []struct {
		name   string
		origin httpsec.Origin
		tls    bool
		proto  string
		hsts   bool
	}{
		{"PlainHTTP", httpsec.Origin{}, false, "", false},
		{"OverTLS", httpsec.Origin{}, true, "", true},
		{"ProxyTerminatesTLS", httpsec.Origin{HTTPS: true}, false, "", true},
		{"TrustedProxySaysHTTPS", httpsec.Origin{TrustedProxies: loopback}, false, "https", true},
		{"TrustedProxySaysHTTP", httpsec.Origin{TrustedProxies: loopback}, false, "http", false},
		{"UntrustedPeerSaysHTTPS", httpsec.Origin{}, false, "https", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := tc.origin.Handler(http.NotFoundHandler())
			ts := httptest.NewUnstartedServer(h)
			if tc.tls {
				ts.StartTLS()
			} else {
				ts.Start()
			}
			t.Cleanup(ts.Close)
			req, err := http.NewRequest(http.MethodGet, ts.URL+"/nothing", nil)
			require.NoError(t, err)
			if tc.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			res, err := ts.Client().Do(req)
			require.NoError(t, err)
			require.NoError(t, res.Body.Close())
			require.Equal(t, http.StatusNotFound, res.StatusCode)
			for name, want := range map[string]string{
				"X-Content-Type-Options":  "nosniff",
				"Cache-Control":           "no-store",
				"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
			} {
				require.Equal(t, want, res.Header.Get(name), name)
			}
			want := ""
			if tc.hsts {
				want = httpsec.HSTS
			}
			require.Equal(t, want, res.Header.Get("Strict-Transport-Security"))
		})
	}
}
