package worker_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/redistest"
	"github.com/crmflow/crmflow/internal/smtptest"
	"github.com/crmflow/crmflow/worker"
)

func TestAdminHandler(t *testing.T) {
	t.Parallel()

	get := func(t *testing.T, url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url) //nolint:noctx // a test against a loopback server
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}

	t.Run("HealthReadinessAndMetrics", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := startSMTP(t, smtptest.Options{})
		cfg := b.config()
		cfg.Mail = srv.mailConfig()
		w := b.startWorker(t, cfg)
		task, err := worker.NewPermanentDeleteConfirmation(b.tenant, "admin@example.com", "1", t0)
		require.NoError(t, err)
		require.NoError(t, w.ProcessTask(b.ctx, task))

		hs := httptest.NewServer(worker.AdminHandler(b.reg, w.Ping))
		t.Cleanup(hs.Close)
		code, body := get(t, hs.URL+"/healthz")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "ok\n", body)
		code, body = get(t, hs.URL+"/readyz")
		require.Equal(t, http.StatusOK, code, body)
		code, body = get(t, hs.URL+"/metrics")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, `crmflow_worker_tasks_processed_total{type="mail:send"} 1`)
		require.Contains(t, body, `crmflow_mail_sent_total{kind="permanent_delete_confirmation"} 1`)
		require.Contains(t, body, `crmflow_worker_task_duration_seconds_count{type="mail:send"} 1`)
	})

	t.Run("NotReady", func(t *testing.T) {
		t.Parallel()
		hs := httptest.NewServer(worker.AdminHandler(prometheus.NewRegistry(), func(context.Context) error {
			return errors.New("queue redis unreachable")
		}))
		t.Cleanup(hs.Close)
		code, body := get(t, hs.URL+"/readyz")
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.Equal(t, "not ready: queue redis unreachable\n", body)
		code, _ = get(t, hs.URL+"/healthz")
		require.Equal(t, http.StatusOK, code, "alive even when not ready")
	})

	t.Run("HungProbe", func(t *testing.T) {
		t.Parallel()
		// A check that ignores its context (a hung Redis behind a client without deadlines): the
		// probe still answers, not ready, long before the check returns.
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		hs := httptest.NewServer(worker.AdminHandler(prometheus.NewRegistry(), func(context.Context) error {
			<-release
			return nil
		}))
		t.Cleanup(hs.Close)
		began := time.Now()
		code, body := get(t, hs.URL+"/readyz")
		t.Logf("a hung readiness check answered after %s", time.Since(began).Round(time.Millisecond))
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.Equal(t, "not ready: redis unavailable\n", body)
	})
}

func TestBinSizeCollector(t *testing.T) {
	t.Parallel()

	t.Run("SumsEveryTenantByType", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		other := crm.TenantID(redistest.Tenant(t))
		_, err := b.store.CreateTenant(b.ctx, other, crm.PlanFree)
		require.NoError(t, err)
		binFixture(t, b, b.tenant) // 10 companies, 2 pets in the bin
		b.archive(t, other, crm.Companies, b.companies(t, other, 3))

		reg := prometheus.NewRegistry()
		reg.MustRegister(worker.NewBinSizeCollector(b.ctx, b.store, &worker.BinSizeConfig{Clock: b.clock, Logger: b.logger}))
		require.InDelta(t, 1, metricValue(t, reg, "crmflow_trash_bin_sample_ok", ""), 0)
		require.InDelta(t, 13, metricValue(t, reg, "crmflow_trash_bin_records", "companies"), 0)
		// Custom types (pets) are tenant data: they are summed under "custom", never named.
		require.InDelta(t, 2, metricValue(t, reg, "crmflow_trash_bin_records", "custom"), 0)
		require.InDelta(t, 0, metricValue(t, reg, "crmflow_trash_bin_records", "contacts"), 0)
		n, err := testutil.GatherAndCount(reg, "crmflow_trash_bin_records")
		require.NoError(t, err)
		require.Equal(t, len(crm.StandardObjectTypes)+1, n, "one series per standard type, and custom")

		// Sampled at scrape time, at most once per MaxAge (10s): a purge shows at the first scrape
		// after it that comes 10s or more after the last sample.
		_, err = worker.Purge(b.ctx, b.store, worker.AllTenants, t0.Add(retention), nil)
		require.NoError(t, err)
		require.InDelta(t, 13, metricValue(t, reg, "crmflow_trash_bin_records", "companies"), 0)
		b.clock.Advance(10 * time.Second)
		require.InDelta(t, 7, metricValue(t, reg, "crmflow_trash_bin_records", "companies"), 0)
	})

	// Each sample walks every tenant of the store: scrapes of an admin endpoint reachable from the
	// network, however many at once and however often, walk it at most once per MaxAge.
	t.Run("ScrapesShareOneSample", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		st := &walkCountingStore{Store: b.store}
		reg := prometheus.NewRegistry()
		reg.MustRegister(worker.NewBinSizeCollector(b.ctx, st, &worker.BinSizeConfig{Clock: b.clock, Logger: b.logger, MaxAge: time.Minute}))
		var scrapes sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			scrapes.Go(func() { _, errs[i] = reg.Gather() })
		}
		scrapes.Wait()
		require.NoError(t, errors.Join(errs...))
		require.InDelta(t, 1, metricValue(t, reg, "crmflow_trash_bin_sample_ok", ""), 0)
		require.Equal(t, int64(1), st.walks.Load(), "nine scrapes within MaxAge, one walk")
		b.clock.Advance(time.Minute)
		require.InDelta(t, 1, metricValue(t, reg, "crmflow_trash_bin_sample_ok", ""), 0)
		require.Equal(t, int64(2), st.walks.Load(), "a scrape MaxAge after the sample walks again")
	})

	t.Run("AFailedSampleReportsNotOK", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ctx, cancel := context.WithCancel(b.ctx)
		cancel() // a sample that cannot finish in time
		reg := prometheus.NewRegistry()
		reg.MustRegister(worker.NewBinSizeCollector(ctx, b.store, &worker.BinSizeConfig{Logger: b.logger}))
		families, err := reg.Gather()
		require.NoError(t, err)
		require.Len(t, families, 1)
		require.Equal(t, "crmflow_trash_bin_sample_ok", families[0].GetName())
		require.InDelta(t, 0, families[0].GetMetric()[0].GetGauge().GetValue(), 0)
	})
}

// walkCountingStore counts the walks over every tenant (the calls of Tenants) of the store it wraps.
type walkCountingStore struct {
	crm.Store
	walks atomic.Int64
}

func (s *walkCountingStore) Tenants(ctx context.Context) ([]crm.TenantID, error) {
	s.walks.Add(1)
	return s.Store.Tenants(ctx)
}
