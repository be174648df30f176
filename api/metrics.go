package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Prometheus collectors of a Server. A nil *metrics records nothing.
type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	authRefusal *prometheus.CounterVec
}

// The reasons of crmflow_http_auth_refusals_total.
const (
	authRefusedInvalid = "invalid_token" // the store does not accept the token (a 401)
	authRefusedLimited = "rate_limited"  // the client address is past its limit of failures (a 429)
)

// newMetrics registers the request metrics with reg. Collectors already registered by another
// Server on the same registry are reused, so two servers may share one registry.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crmflow_http_requests_total",
		Help: "HTTP requests served, by route pattern, method and status code.",
	}, []string{"route", "method", "status"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "crmflow_http_request_duration_seconds",
		Help:    "Latency of HTTP requests, by route pattern.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route"})
	authRefusal := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crmflow_http_auth_refusals_total",
		Help: "Bearer tokens refused: invalid_token (the store does not accept it), rate_limited (its client address " +
			"failed too often in the window, and it was not looked up).",
	}, []string{"reason"})
	var err error
	if requests, err = register(reg, requests); err != nil {
		return nil, err
	}
	if duration, err = register(reg, duration); err != nil {
		return nil, err
	}
	if authRefusal, err = register(reg, authRefusal); err != nil {
		return nil, err
	}
	for _, reason := range []string{authRefusedInvalid, authRefusedLimited} {
		authRefusal.WithLabelValues(reason) // a series from the start, at 0
	}
	return &metrics{requests: requests, duration: duration, authRefusal: authRefusal}, nil
}

// authRefused counts a refused bearer token; reason is authRefusedInvalid or authRefusedLimited.
func (m *metrics) authRefused(reason string) {
	if m == nil {
		return
	}
	m.authRefusal.WithLabelValues(reason).Inc()
}

// register registers c with reg, or returns the collector of the same description already there.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register collector: %w", err)
}

// observe records one request. method is a methodLabel, route a routeLabel: both come from
// bounded sets, so a client cannot add series of its own.
func (m *metrics) observe(method, route string, status int, elapsed time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(elapsed.Seconds())
}

// methodOther is the method label (and log value) of any method but the known ones.
const methodOther = "OTHER"

// methodLabel is the request method as the metrics and the log line name it: one of the methods
// of RFC 9110 that the API knows (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS), or "OTHER", so
// that a client sending made-up methods adds no series and no long log values.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return methodOther
}
