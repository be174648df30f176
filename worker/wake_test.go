package worker_test

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/worker"
)

// TestWakeUpDrainsAtOnce: a drain asked for through the Client wakes a waiting worker, which drains
// the tenant in process. The worker here polls its queue every 6 seconds (and its shutdown waits
// out a poll's sleep) and no sweep runs, so a change drained within the test's wait of 4 seconds
// was drained by the wake-up.
func TestWakeUpDrainsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.watch(t, b.tenant)
	cfg := b.config()
	cfg.PollInterval = 6 * time.Second
	b.startWorker(t, cfg)
	c := b.client(t)
	for i := range 3 {
		recs, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts,
			[]crm.RecordInput{{Properties: map[string]string{"firstname": "Wake"}}}, crm.Actor{User: "ops@example.com"})
		require.NoError(t, err)
		require.NoError(t, c.EnqueueChangesDrain(b.ctx, b.tenant, b.clock.Now()))
		require.Eventually(t, func() bool {
			cs, err := b.store.PendingChanges(b.ctx, b.tenant, 10)
			require.NoError(t, err)
			return len(cs) == 0
		}, 4*time.Second, 5*time.Millisecond, "write %d (contact %s) is drained", i, recs[0].ID)
	}
	// A drain's marks are acknowledged before it returns and counts its wake-up: wait for the count.
	require.Eventually(t, func() bool {
		return metricValue(t, b.reg, "crmflow_worker_wakeups_total", "drained") >= 3
	}, 4*time.Second, 5*time.Millisecond, "each wake-up counted as drained")
	require.Zero(t, metricValue(t, b.reg, "crmflow_worker_wakeups_total", "failed"))
	// The queue's drain task is still there for a wake-up that no worker takes.
	require.Equal(t, worker.TypeChangesDrain, b.pendingTypes(t)[0])
}

// TestWakeUpsAreBounded: with no worker waiting, the wake-up list keeps one entry per tenant, the
// newest first, and a bounded number of entries, and a drain is queued all the same.
func TestWakeUpsAreBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t)
	other := crm.TenantID(string(b.tenant) + "-other")
	for i := range 1000 {
		require.NoError(t, c.EnqueueChangesDrain(b.ctx, b.tenant, b.clock.Now()))
		if i == 10 {
			require.NoError(t, c.EnqueueChangesDrain(b.ctx, other, b.clock.Now()))
		}
	}
	got, err := b.rdb.LRange(b.ctx, worker.WakeKey, 0, -1).Result()
	require.NoError(t, err)
	require.Equal(t, []string{string(b.tenant), string(other)}, got,
		"a tenant that keeps writing keeps one entry, and buries no other tenant's")
	pipe := b.rdb.Pipeline()
	for i := range 10100 {
		pipe.LPush(b.ctx, worker.WakeKey, "t-many-"+strconv.Itoa(i))
	}
	_, err = pipe.Exec(b.ctx)
	require.NoError(t, err)
	require.NoError(t, c.EnqueueChangesDrain(b.ctx, b.tenant, b.clock.Now()))
	n, err := b.rdb.LLen(b.ctx, worker.WakeKey).Result()
	require.NoError(t, err)
	require.EqualValues(t, 10000, n)
	head, err := b.rdb.LIndex(b.ctx, worker.WakeKey, 0).Result()
	require.NoError(t, err)
	require.Equal(t, string(b.tenant), head)
	require.Contains(t, b.pendingTypes(t), worker.TypeChangesDrain)
}

// pendingTypes returns the types of the tasks pending in the default queue.
func (b *testBundle) pendingTypes(t *testing.T) []string {
	t.Helper()
	tasks, err := b.insp.ListPendingTasks(worker.QueueDefault)
	require.NoError(t, err)
	out := make([]string, len(tasks))
	for i, ti := range tasks {
		out[i] = ti.Type
	}
	return out
}

// TestWakeUpsWaitForAFreeSlot: a worker whose every slot runs a task leaves a wake-up on the list
// (for a worker with a free slot, or the queue's drain), and takes it once a slot is free: its
// drains never run beside its tasks past Concurrency.
func TestWakeUpsWaitForAFreeSlot(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.watch(t, b.tenant)
	// An SMTP server that accepts and says nothing until released holds a mail:send task.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	release := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				<-release
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	cfg := b.config()
	cfg.Concurrency, cfg.BulkConcurrency = 1, 1
	cfg.PollInterval = 6 * time.Second // the drain task waits in the queue: only the wake-up drains
	cfg.Mail = worker.MailConfig{From: "CRM <crm@example.com>", Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port,
		StartTLS: worker.StartTLSNever, Timeout: time.Minute, RetryBase: time.Millisecond, RetryMax: time.Millisecond}
	b.startWorker(t, cfg)
	c := b.client(t)
	task, err := worker.NewMailSendTask(worker.MailSendPayload{TenantID: b.tenant, To: "ann@example.com",
		Subject: "held", Body: "held", Kind: "test"})
	require.NoError(t, err)
	_, err = c.Enqueue(b.ctx, task)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := b.insp.GetQueueInfo(worker.QueueCritical)
		return err == nil && info.Active == 1
	}, 10*time.Second, 5*time.Millisecond, "the mail task holds the worker's one slot")

	_, err = b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts,
		[]crm.RecordInput{{Properties: map[string]string{"firstname": "Wait"}}}, crm.Actor{User: "ops@example.com"})
	require.NoError(t, err)
	require.NoError(t, c.EnqueueChangesDrain(b.ctx, b.tenant, b.clock.Now()))
	time.Sleep(300 * time.Millisecond)
	n, err := b.rdb.LLen(b.ctx, worker.WakeKey).Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "a worker with no free slot leaves the wake-up on the list")
	cs, err := b.store.PendingChanges(b.ctx, b.tenant, 10)
	require.NoError(t, err)
	require.Len(t, cs, 1)

	// Once the slot is free the worker takes the wake-up (the queue's drain task, in the same slot,
	// may drain the change first: the wake-up's drain then finds nothing, which is a drain too).
	releaseOnce.Do(func() { close(release) })
	require.Eventually(t, func() bool {
		n, err := b.rdb.LLen(b.ctx, worker.WakeKey).Result()
		require.NoError(t, err)
		cs, err := b.store.PendingChanges(b.ctx, b.tenant, 10)
		require.NoError(t, err)
		return n == 0 && len(cs) == 0 && metricValue(t, b.reg, "crmflow_worker_wakeups_total", "drained") >= 1
	}, 10*time.Second, 5*time.Millisecond, "the wake-up is taken and drained once the slot is free")
}
