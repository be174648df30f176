package worker_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/smtptest"
	"github.com/crmflow/crmflow/worker"
)

func TestNew(t *testing.T) {
	t.Parallel()

	t.Run("DefaultsWork", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		w, err := worker.New(b.store, b.queue, &worker.Config{Registerer: b.reg, Logger: b.logger})
		require.NoError(t, err)
		runAndStop(t, w)
		// The worker's two task servers each log their start: the lines name their pool, so
		// that none reads as a line written twice.
		logs := b.logs.String()
		require.Contains(t, logs, `"component":"asynq","pool":"bulk"`)
		require.Contains(t, logs, `"component":"asynq","pool":"live"`)
	})

	t.Run("InvalidConfigNamesTheField", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for name, tc := range map[string]struct {
			cfg  worker.Config
			want string
		}{
			"NegativeConcurrency": {worker.Config{Concurrency: -1}, "Config.Concurrency"},
			"BulkOverConcurrency": {worker.Config{Concurrency: 4, BulkConcurrency: 5}, "Config.BulkConcurrency must be between 1 and Config.Concurrency (4), got 5"},
			"QueueMissing":        {worker.Config{Queues: map[string]int{"critical": 1, "default": 1}}, `Config.Queues must give queue "bulk"`},
			"ZeroWeight":          {worker.Config{Queues: map[string]int{"critical": 1, "default": 1, "bulk": 1, "x": 0}}, `queue "x" with weight 0`},
			"NegativeRetention":   {worker.Config{Retention: -time.Hour}, "Config.Retention"},
			"NegativeShutdown":    {worker.Config{ShutdownTimeout: -time.Second}, "Config.ShutdownTimeout"},
			"NoFrom":              {worker.Config{Mail: worker.MailConfig{Host: "smtp.example.com"}}, "Config.Mail.From is required"},
			"BadFrom":             {worker.Config{Mail: worker.MailConfig{Host: "smtp.example.com", From: "nope"}}, "Config.Mail.From"},
			"BadPolicy":           {worker.Config{Mail: worker.MailConfig{StartTLS: "sometimes"}}, "Config.Mail.StartTLS"},
			"BadPort":             {worker.Config{Mail: worker.MailConfig{Port: 70000}}, "Config.Mail.Port"},
			"ClearTextCredentials": {worker.Config{Mail: worker.MailConfig{Host: "smtp.example.com", From: "a@example.com",
				Username: "u", StartTLS: worker.StartTLSNever}}, "clear text"},
		} {
			tc.cfg.Registerer = b.reg
			_, err := worker.New(b.store, b.queue, &tc.cfg)
			require.ErrorContains(t, err, tc.want, name)
		}
		_, err := worker.New(nil, b.queue, nil)
		require.ErrorContains(t, err, "store")
		_, err = worker.New(b.store, nil, nil)
		require.ErrorContains(t, err, "queue")
		_, err = worker.New(storeOnly{b.store}, b.queue, b.config())
		require.ErrorContains(t, err, "Config.MailStore")
	})

	t.Run("WorkersOfOneProcessShareMetrics", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		w1, err := worker.New(b.store, b.queue, b.config())
		require.NoError(t, err)
		w2, err := worker.New(b.store, b.queue, b.config())
		require.NoError(t, err)
		require.NoError(t, w1.Close())
		require.NoError(t, w2.Close())
	})

	t.Run("RunOnceCloseAnyTime", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		w, err := worker.New(b.store, b.queue, b.config())
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(b.ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		require.NoError(t, w.Ping(b.ctx))
		require.ErrorContains(t, w.Close(), "cancel Run's context")
		require.ErrorContains(t, w.Run(ctx), "Run called twice")
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, w.Close(), "Close after Run is a no-op")
		require.ErrorContains(t, w.Ping(b.ctx), "closed")

		w2, err := worker.New(b.store, b.queue, b.config())
		require.NoError(t, err)
		require.NoError(t, w2.Close())
		require.NoError(t, w2.Close())
		require.ErrorContains(t, w2.Run(b.ctx), "after Close")
	})
}

// storeOnly hides the mail methods of a redisstore.Store.
type storeOnly struct{ crm.Store }

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()

	// A task in flight when the worker is told to stop (SIGTERM, in cmd) finishes; a task still
	// queued is not fetched.
	t.Run("FinishesTheTaskInFlight", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		gate, started := make(chan struct{}), make(chan struct{})
		srv := startSMTP(t, smtptest.Options{Gate: gate, MailStarted: started})
		release := sync.OnceFunc(func() { close(gate) })
		t.Cleanup(release)
		cfg := b.config()
		cfg.Mail = srv.mailConfig()
		cfg.Concurrency = 1
		cfg.ShutdownTimeout = 20 * time.Second
		w, err := worker.New(b.store, b.queue, cfg)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(b.ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		t.Cleanup(cancel)

		c := b.client(t)
		first := enqueueMail(t, b, c, "first")
		<-started
		second := enqueueMail(t, b, c, "second")
		cancel()
		eventually(t, 10*time.Second, "asynq to stop fetching", func() bool {
			return strings.Contains(b.logs.String(), "Waiting for all workers to finish")
		})
		release()
		require.NoError(t, <-done)

		require.Len(t, srv.Messages(), 1)
		require.Equal(t, "gone", b.taskState(t, worker.QueueCritical, first.ID))
		require.Equal(t, "pending", b.taskState(t, worker.QueueCritical, second.ID))
	})

	// A task still running when the shutdown timeout is up goes back to the queue, its handler's
	// context is cancelled, and the next worker delivers it exactly once.
	t.Run("HandsBackWhatOutlivesTheTimeout", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		gate, started := make(chan struct{}), make(chan struct{})
		srv := startSMTP(t, smtptest.Options{Gate: gate, MailStarted: started})
		release := sync.OnceFunc(func() { close(gate) })
		t.Cleanup(release)
		cfg := b.config()
		cfg.Mail = srv.mailConfig()
		cfg.ShutdownTimeout = 300 * time.Millisecond
		w, err := worker.New(b.store, b.queue, cfg)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(b.ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()

		task := enqueueMail(t, b, b.client(t), "slow")
		<-started
		cancel()
		require.NoError(t, <-done)
		require.Equal(t, "pending", b.taskState(t, worker.QueueCritical, task.ID))
		info, err := b.insp.GetTaskInfo(worker.QueueCritical, task.ID)
		require.NoError(t, err)
		require.Equal(t, 0, info.Retried, "a task handed back is not a failure")
		require.Empty(t, srv.Messages())

		// The stalled server recovers; the next worker delivers the email once.
		release()
		srv2 := startSMTP(t, smtptest.Options{})
		cfg2 := b.config()
		cfg2.Mail = srv2.mailConfig()
		b.startWorker(t, cfg2)
		eventually(t, 10*time.Second, "the email to arrive", func() bool { return len(srv2.Messages()) == 1 })
		eventually(t, 10*time.Second, "the task to finish", func() bool {
			return b.taskState(t, worker.QueueCritical, task.ID) == "gone"
		})
		require.Len(t, srv2.Messages(), 1)
		require.Empty(t, srv.Messages())
	})
}

func enqueueMail(t *testing.T, b *testBundle, c *worker.Client, key string) *asynq.TaskInfo {
	t.Helper()
	info, err := c.EnqueueMailSend(b.ctx, worker.MailSendPayload{TenantID: b.tenant, To: "admin@example.com",
		Subject: "Hello " + key, Body: "Hi", Kind: "test", IdempotencyKey: key})
	require.NoError(t, err)
	return info
}
