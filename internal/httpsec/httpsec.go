// Package httpsec is what crmflow's HTTP listeners share about security: the headers every answer
// of the API and the admin listener carries ([SetHeaders]), and what a request says about where it
// came from ([Origin]): whether it reached the deployment over HTTPS (and so may be told
// Strict-Transport-Security), and which client address sent it through the trusted proxies in
// front.
package httpsec

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// HSTS is the Strict-Transport-Security of an answer to a request that came over HTTPS: browsers
// then use HTTPS alone for the host for a year. It names no subdomains (includeSubDomains), as the
// host's parent domain and its other hosts are not crmflow's to commit.
const HSTS = "max-age=31536000"

// SetHeaders sets the headers every answer of the API and of the admin listener carries, an
// error's and a redirect's too: its body is never to be sniffed as another type (a browser would
// otherwise run a body that looks like HTML), never kept by a browser or a shared cache (the
// answers are a user's, and hold personal data), and never shown in a frame, allowed to load
// anything or named in a Referer when a browser opens it.
func SetHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// Origin is what a listener knows of the way its requests reach it. The zero value trusts no
// proxy and knows of no TLS in front: only a request over the listener's own TLS is secure, and
// every client is its peer's address. Its methods are safe for concurrent use.
type Origin struct {
	// HTTPS says that the deployment's clients reach it over HTTPS only, through a proxy in front
	// that terminates TLS (crmflow serve's --secure-cookies): every request is then secure, though
	// it arrives over plain HTTP. Defaults to false.
	HTTPS bool
	// TrustedProxies are the addresses of the proxies in front whose X-Forwarded-For and
	// X-Forwarded-Proto are believed; from any other peer those headers are ignored, as a client
	// can send them. Defaults to none.
	TrustedProxies []netip.Prefix
}

// Handler returns a handler that sets SetHeaders' headers, and Strict-Transport-Security on a
// secure request (see SetHSTS), before next runs; next may set its own over them.
func (o Origin) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetHeaders(w.Header())
		o.SetHSTS(w.Header(), r)
		next.ServeHTTP(w, r)
	})
}

// SetHSTS sets Strict-Transport-Security (HSTS) on h when r is secure (see Secure). Browsers
// ignore it on plain HTTP, so it is not sent there.
func (o Origin) SetHSTS(h http.Header, r *http.Request) {
	if o.Secure(r) {
		h.Set("Strict-Transport-Security", HSTS)
	}
}

// Secure reports whether r reached the deployment over HTTPS: it came over TLS, Origin.HTTPS says
// every request does, or a trusted proxy says so with "X-Forwarded-Proto: https".
func (o Origin) Secure(r *http.Request) bool {
	if r.TLS != nil || o.HTTPS {
		return true
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https") && o.FromTrustedProxy(r)
}

// FromTrustedProxy reports whether r comes straight from one of Origin.TrustedProxies.
func (o Origin) FromTrustedProxy(r *http.Request) bool {
	addr, ok := remoteAddr(r)
	return ok && o.trusted(addr)
}

// trusted reports whether addr is one of Origin.TrustedProxies.
func (o Origin) trusted(addr netip.Addr) bool {
	for _, p := range o.TrustedProxies {
		if p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

// Client returns the client address a limit counts r against: its peer's or, from a trusted
// proxy, the last address of X-Forwarded-For that is not a trusted proxy (the ones before it are
// the client's to write). An IPv6 address counts by its /64, which one client commonly holds
// whole.
func (o Origin) Client(r *http.Request) string {
	addr, ok := remoteAddr(r)
	if !ok {
		return r.RemoteAddr
	}
	if o.trusted(addr) {
		var hops []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
		for i := len(hops) - 1; i >= 0; i-- {
			hop, ok := forwardedAddr(hops[i])
			if !ok {
				break // a proxy wrote what is not an address: count the request against the last one
			}
			addr = hop
			if !o.trusted(addr) {
				break
			}
		}
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// remoteAddr returns the address of r's peer.
func remoteAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	return addr.Unmap(), err == nil
}

// forwardedAddr parses one hop of X-Forwarded-For: an address, or an address and port as some
// proxies write it ("203.0.113.7:52114", "[2001:db8::1]:52114"), which would otherwise count every
// client behind such a proxy as the proxy itself.
func forwardedAddr(hop string) (netip.Addr, bool) {
	hop = strings.TrimSpace(hop)
	if a, err := netip.ParseAddr(hop); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
