package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/clock"
)

// AdminHandler serves the admin endpoints of a worker, scheduler or API process:
//
//	GET /healthz   200 "ok" while the process serves HTTP (liveness)
//	GET /readyz    200 "ready" when ready(ctx) returns nil within 1s, else 503 with the error, or
//	               "redis unavailable" when it did not return in time (readiness)
//	GET /metrics   the metrics of reg in the Prometheus text format
//
// reg nil means prometheus.DefaultGatherer; ready nil means always ready. Pass Worker.Ping or
// Scheduler.Ping as ready. Safe for concurrent use.
func AdminHandler(reg prometheus.Gatherer, ready func(ctx context.Context) error) http.Handler {
	if reg == nil {
		reg = prometheus.DefaultGatherer
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready != nil {
			if err := readyWithin(r.Context(), ready, readyTimeout); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
				return
			}
		}
		_, _ = fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	return mux
}

// readyTimeout bounds a readiness probe: a supervisor's probe gets its answer within it even when
// Redis hangs.
const readyTimeout = time.Second

// readyWithin runs ready with a deadline of d and returns at the deadline even if ready goes on (a
// client that does not honour its context); its answer is then dropped.
func readyWithin(ctx context.Context, ready func(context.Context) error, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	done := make(chan error, 1)
	go func() {
		defer cancel()
		done <- ready(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errors.New("redis unavailable")
	}
}

// BinSizeConfig configures a bin-size collector. The zero value works.
type BinSizeConfig struct {
	// Clock tells the age of the last sample. Defaults to the wall clock.
	Clock clock.Clock
	// Logger receives a warning when a sample fails. Defaults to slog.Default().
	Logger *slog.Logger
	// MaxAge is how long a sample answers the scrapes that follow it. Defaults to 10s.
	MaxAge time.Duration
	// Timeout bounds one sample (every tenant's every type). Defaults to 5s.
	Timeout time.Duration
}

// BinSizeCollector is a Prometheus collector of the number of records in the recycle bin per object
// type, summed over every tenant (crm.Store.BinSize), sampled at scrape time. It reports
//
//	crmflow_trash_bin_records{object_type}   records in the bins of that type
//	crmflow_trash_bin_sample_ok              1 if the last sample succeeded within its timeout, else 0
//
// A failed or timed-out sample reports no bin_records (rather than a partial sum) and sample_ok 0.
// A sample walks every tenant, so it is taken at most once per BinSizeConfig.MaxAge, and one at a
// time: the scrapes within MaxAge of a sample, and those that arrive while one is taken, answer
// with it. However often and however many at once the admin endpoint is scraped, the store sees
// at most one walk per MaxAge. Safe for concurrent use.
type BinSizeCollector struct {
	ctx     context.Context
	store   crm.Store
	log     *slog.Logger
	clock   clock.Clock
	maxAge  time.Duration
	timeout time.Duration
	records *prometheus.Desc
	ok      *prometheus.Desc

	mu      sync.Mutex // held while a sample is taken
	sampled time.Time  // when the last sample was taken; zero before the first
	sizes   map[string]int64
	err     error
}

var _ prometheus.Collector = (*BinSizeCollector)(nil)

// NewBinSizeCollector returns a collector sampling store. ctx is the parent of every sample's
// context (cancel it to stop sampling at shutdown); cfg may be nil. Register it on the registry
// that AdminHandler serves.
func NewBinSizeCollector(ctx context.Context, store crm.Store, cfg *BinSizeConfig) *BinSizeCollector {
	var c BinSizeConfig
	if cfg != nil {
		c = *cfg
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 10 * time.Second
	}
	return &BinSizeCollector{
		ctx: ctx, store: store, log: c.Logger, clock: c.Clock, maxAge: c.MaxAge, timeout: c.Timeout,
		records: prometheus.NewDesc("crmflow_trash_bin_records",
			"Records in the recycle bin, summed over every tenant, by object type (sampled at scrape time).",
			[]string{"object_type"}, nil),
		ok: prometheus.NewDesc("crmflow_trash_bin_sample_ok",
			"1 if the last sample of crmflow_trash_bin_records succeeded within its timeout, else 0.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *BinSizeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.records
	ch <- c.ok
}

// Collect implements prometheus.Collector: it reports the last sample, taken anew (within the
// configured timeout) when it is older than MaxAge.
func (c *BinSizeCollector) Collect(ch chan<- prometheus.Metric) {
	sizes, err := c.recent()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.ok, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.ok, prometheus.GaugeValue, 1)
	for o, n := range sizes {
		ch <- prometheus.MustNewConstMetric(c.records, prometheus.GaugeValue, float64(n), o)
	}
}

// recent returns the last sample, or a new one when the last is MaxAge old or more. A scrape that
// arrives while a sample is taken waits for it.
func (c *BinSizeCollector) recent() (map[string]int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.sampled.IsZero() && c.clock.Now().Sub(c.sampled) < c.maxAge {
		return c.sizes, c.err
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	defer cancel()
	c.sizes, c.err = c.sample(ctx)
	c.sampled = c.clock.Now()
	if c.err != nil {
		c.log.Warn("could not sample the recycle bin sizes", "error", c.err)
	}
	return c.sizes, c.err
}

func (c *BinSizeCollector) sample(ctx context.Context) (map[string]int64, error) {
	tenants, err := c.store.Tenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	sizes := make(map[string]int64, len(crm.StandardObjectTypes)+1)
	for _, o := range crm.StandardObjectTypes {
		sizes[string(o)] = 0
	}
	for _, t := range tenants {
		types, err := c.store.AllObjectTypes(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("object types of tenant %s: %w", t, err)
		}
		for _, o := range types {
			n, err := c.store.BinSize(ctx, t, o)
			if err != nil {
				return nil, fmt.Errorf("bin size of tenant %s, %s: %w", t, o, err)
			}
			sizes[objectTypeLabel(o)] += n
		}
	}
	return sizes, nil
}
