package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
)

// WakeKey is the list, on the queue's Redis, that wakes an idle worker at once for a tenant's record
// changes. Client.EnqueueChangesDrain pushes the tenant's id on it beside the changes:drain task;
// every worker waits on it with BLPOP (wakeLoop) and drains that tenant in process, without waiting
// for its next poll of the queue. The list only shortens the lag from a write to the enrollments it
// causes: the task still runs, finding little, and a wake-up popped by a worker that dies is
// covered by the task and by the changes:sweep. The key is the queue's, like asynq's, not a
// tenant's: it holds tenant ids, never record data.
const WakeKey = "crmflow:wake"

// wakeMax bounds WakeKey: with no worker waiting, the list keeps the newest wakeMax wake-ups (the
// older ones' changes are drained by their tasks and the sweep all the same). A tenant has one
// entry at most (see wake), so these are the wakeMax tenants that wrote last.
const wakeMax = 10000

// wakeWait is how long one BLPOP of wakeLoop blocks (Worker.wakeWait, which tests may lengthen):
// the idle cost of a worker's wake-ups is one command per wakeWait. A stopping worker does not wait
// it out: the BLPOP runs on a connection of its own (wakeConn), closed when the worker stops.
const wakeWait = time.Second

// wakeBatch is how many wake-ups one turn of wakeLoop takes at most: the one BLPOP returned and
// the rest by LPOP.
const wakeBatch = 100

// wakeBusyPause is how long wakeLoop waits, without a command, before it looks again for a free
// slot when every slot of the worker is taken.
const wakeBusyPause = 20 * time.Millisecond

// wake pushes tenant t on WakeKey, trimmed to wakeMax, in one round trip. It first takes out the
// tenant's older entry: a tenant that writes without pause keeps one entry, at the head, and cannot
// bury the other tenants' wake-ups under its own (nor push them past wakeMax).
func (c *Client) wake(ctx context.Context, t crm.TenantID) error {
	pipe := c.rc.Pipeline()
	pipe.LRem(ctx, WakeKey, 0, string(t))
	pipe.LPush(ctx, WakeKey, string(t))
	pipe.LTrim(ctx, WakeKey, 0, wakeMax-1)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("wake a worker for tenant %s: %w", t, err)
	}
	return nil
}

// wakeLoop waits on WakeKey until ctx ends and drains each tenant it pops in process, up to slots
// tenants at once, and only in the slots that the worker's tasks leave free: with the tasks
// running, the drains never pass Config.Concurrency. While every slot is taken it does not wait on
// the list, and puts back what it popped and cannot start, so that a worker with a free slot (or
// the queue's drain) takes it. A tenant already being drained by the loop is drained once more
// when its drain ends, so that a change made while a drain finishes is not left to the sweep.
// Errors are logged: the tasks and the sweep drain what a failed wake-up left.
func (w *Worker) wakeLoop(ctx context.Context, slots int) {
	log := w.log.With("component", "wake")
	sem := make(chan struct{}, slots)
	// free is how many more drains may start now. Only this loop adds to sem, so a drain it
	// starts when free is positive never waits for sem.
	free := func() int {
		return min(slots, w.cfg.Concurrency-int(w.busy.Load())) - len(sem)
	}
	var (
		mu      sync.Mutex
		running = map[crm.TenantID]bool{}
		again   = map[crm.TenantID]bool{}
		wg      sync.WaitGroup
	)
	defer wg.Wait()
	conn := newWakeConn(w.rc)
	defer conn.close()
	failing := false
	for ctx.Err() == nil {
		if free() <= 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wakeBusyPause):
			}
			continue
		}
		got, err := conn.blpop(ctx, w.wakeWait)
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			if ctx.Err() != nil {
				// The connection was closed under the BLPOP: a wake-up that Redis popped and sent
				// on it is lost with it, and left to its changes:drain task and the changes:sweep.
				return
			}
			if !failing {
				log.Warn("waiting for wake-ups failed: writes are drained from the queue meanwhile", "error", err.Error())
			}
			failing = true
			select {
			case <-ctx.Done():
			case <-time.After(w.wakeWait):
			}
			continue
		}
		failing = false
		popped := []string{got[1]}
		if more, err := w.rc.LPopCount(ctx, WakeKey, wakeBatch-1).Result(); err == nil {
			popped = append(popped, more...)
		}
		if ctx.Err() != nil {
			// Stopping: a drain started now would end at once. Put the wake-ups back for the
			// other workers; a failure leaves them to the queue's drains and the sweep.
			w.putBack(context.WithoutCancel(ctx), log, popped)
			return
		}
		seen := map[crm.TenantID]bool{}
		var back []string
		for _, raw := range popped {
			t := crm.TenantID(raw)
			if seen[t] || t.Validate() != nil {
				continue
			}
			seen[t] = true
			mu.Lock()
			if running[t] {
				again[t] = true
				mu.Unlock()
				continue
			}
			if free() <= 0 {
				mu.Unlock()
				back = append(back, raw)
				continue
			}
			running[t] = true
			mu.Unlock()
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				for {
					w.drainOnWake(ctx, log, t)
					mu.Lock()
					if !again[t] || ctx.Err() != nil {
						delete(running, t)
						delete(again, t)
						mu.Unlock()
						return
					}
					delete(again, t)
					mu.Unlock()
				}
			})
		}
		if len(back) > 0 {
			w.putBack(ctx, log, back)
			w.metrics.wakeups.WithLabelValues("busy").Add(float64(len(back)))
		}
	}
}

// putBack pushes popped wake-ups back at the head of WakeKey, in the order they were popped, in
// one command; a failure is logged and leaves them to the queue's drains.
func (w *Worker) putBack(ctx context.Context, log *slog.Logger, popped []string) {
	back := make([]any, 0, len(popped))
	for _, raw := range slices.Backward(popped) {
		back = append(back, raw)
	}
	ctx, cancel := context.WithTimeout(ctx, wakeWait)
	defer cancel()
	if err := w.rc.LPush(ctx, WakeKey, back...).Err(); err != nil && ctx.Err() == nil {
		log.Warn("putting back wake-ups failed: the queue's drains take them", "error", err.Error(), "wakeups", len(back))
	}
}

// wakeConn is the connection wakeLoop waits on: a client of its own, with one connection, to the
// queue's Redis (to the master that holds WakeKey on a cluster), closed when the loop's context
// ends. go-redis does not interrupt a command blocked in a read when its context ends; closing the
// connection does, so a stopping worker leaves the loop at once instead of after its BLPOP's
// wakeWait. A BLPOP that fails drops the client (a dropped connection, a failover, a slot moved)
// and the next one makes a new client. Used by one goroutine.
type wakeConn struct {
	rc   redis.UniversalClient
	c    *redis.Client
	stop func() bool // cancels the close of c on the context's end
}

func newWakeConn(rc redis.UniversalClient) *wakeConn { return &wakeConn{rc: rc} }

// blpop runs BLPOP WakeKey timeout on the connection, making it first if there is none. Where it
// cannot make one (a client of another type), it runs the BLPOP on the shared client, as a
// stopping worker then waits for it to return.
func (wc *wakeConn) blpop(ctx context.Context, timeout time.Duration) ([]string, error) {
	if wc.c == nil {
		c, err := wc.dial(ctx)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return wc.rc.BLPop(ctx, timeout, WakeKey).Result()
		}
		wc.c = c
		wc.stop = context.AfterFunc(ctx, func() { _ = c.Close() })
	}
	got, err := wc.c.BLPop(ctx, timeout, WakeKey).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		wc.close()
	}
	return got, err
}

// dial returns a new client of one connection to the Redis that holds WakeKey, with the options of
// the shared client (address, credentials, TLS, a Sentinel's master lookup), or nil for a shared
// client of a type it does not know. It does not dial yet: the BLPOP does.
func (wc *wakeConn) dial(ctx context.Context) (*redis.Client, error) {
	var base *redis.Client
	switch rc := wc.rc.(type) {
	case *redis.Client:
		base = rc
	case *redis.ClusterClient:
		node, err := rc.MasterForKey(ctx, WakeKey)
		if err != nil {
			return nil, fmt.Errorf("find the master of %s: %w", WakeKey, err)
		}
		base = node
	default:
		return nil, nil
	}
	opt := *base.Options()
	opt.PoolSize, opt.MinIdleConns, opt.MaxIdleConns, opt.MaxActiveConns = 1, 0, 1, 1
	// Its own push processor (the shared client's has its handlers already) and no shared cache.
	opt.PushNotificationProcessor, opt.ClientSideCache, opt.ClientSideCacheConfig = nil, nil, nil
	return redis.NewClient(&opt), nil
}

// close closes the connection, if there is one.
func (wc *wakeConn) close() {
	if wc.c == nil {
		return
	}
	wc.stop()
	_ = wc.c.Close()
	wc.c, wc.stop = nil, nil
}

// drainOnWake drains tenant t for a wake-up, counting the outcome; a panic is logged, not fatal.
func (w *Worker) drainOnWake(ctx context.Context, log *slog.Logger, t crm.TenantID) {
	log = log.With("tenant_id", string(t))
	defer func() {
		if r := recover(); r != nil {
			w.metrics.wakeups.WithLabelValues("failed").Inc()
			log.Error("drain on a wake-up panicked: the queue's drain and the sweep take it over", "panic", fmt.Sprint(r))
		}
	}()
	if err := w.drainTenant(ctx, log, ChangesDrainPayload{TenantID: t, At: w.clock.Now().UTC()}); err != nil {
		if ctx.Err() == nil {
			w.metrics.wakeups.WithLabelValues("failed").Inc()
			log.Warn("drain on a wake-up failed: the queue's drain and the sweep take it over", "error", err.Error())
		}
		return
	}
	w.metrics.wakeups.WithLabelValues("drained").Inc()
}
