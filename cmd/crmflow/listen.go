package main

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpLimits bound the connections and requests of an HTTP server (SPEC S27).
type httpLimits struct {
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
	maxHeaderBytes    int
}

// Defaults of the API server's limits (flags of serve and run). The admin endpoints of the worker
// and the scheduler use them too.
const (
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = 30 * time.Second
	defaultWriteTimeout      = 30 * time.Second
	defaultIdleTimeout       = time.Minute
	defaultMaxHeaderBytes    = 64 << 10
	defaultMaxConnections    = 1024
)

// adminLimits are the limits of the admin endpoints of the worker and the scheduler.
var adminLimits = httpLimits{
	readHeaderTimeout: defaultReadHeaderTimeout, readTimeout: defaultReadTimeout, writeTimeout: defaultWriteTimeout,
	idleTimeout: defaultIdleTimeout, maxHeaderBytes: defaultMaxHeaderBytes,
}

// limitListener accepts at most cap(sem) connections at once. A connection over the cap is closed
// as soon as it is accepted, before anything is read from it, and counted in refused: a client
// sees its connection closed at once rather than queued without an answer. A slot is freed when
// the server closes the connection (at its idle, read or write timeout, or after its last
// answer). Safe for concurrent use.
type limitListener struct {
	net.Listener
	sem     chan struct{}
	refused prometheus.Counter
}

// newLimitListener returns ln capped at max connections, registering its metrics on reg:
// crmflow_http_connections_open and crmflow_http_connections_refused_total.
func newLimitListener(ln net.Listener, maxConns int, reg prometheus.Registerer) (*limitListener, error) {
	l := &limitListener{
		Listener: ln,
		sem:      make(chan struct{}, maxConns),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmflow_http_connections_refused_total",
			Help: "Connections to the API closed at once because --max-connections were open.",
		}),
	}
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "crmflow_http_connections_open",
		Help: "Connections to the API open now (at most --max-connections).",
	}, func() float64 { return float64(len(l.sem)) })
	for _, c := range []prometheus.Collector{l.refused, open} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register connection metrics: %w", err)
		}
	}
	return l, nil
}

// Accept returns the next connection within the cap, closing those over it.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			_ = c.Close()
			l.refused.Inc()
		}
	}
}

// limitConn frees its slot of the cap when it is closed, once.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
