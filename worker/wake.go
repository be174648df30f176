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

// wakeWait is how long one BLPOP of wakeLoop blocks: the idle cost of a worker's wake-ups is one
// command per wakeWait, and a stopping worker leaves the loop within it.
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
		got, err := w.rc.BLPop(ctx, wakeWait, WakeKey).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			if !failing {
				log.Warn("waiting for wake-ups failed: writes are drained from the queue meanwhile", "error", err.Error())
			}
			failing = true
			select {
			case <-ctx.Done():
			case <-time.After(wakeWait):
			}
			continue
		}
		failing = false
		popped := []string{got[1]}
		if more, err := w.rc.LPopCount(ctx, WakeKey, wakeBatch-1).Result(); err == nil {
			popped = append(popped, more...)
		}
		seen := map[crm.TenantID]bool{}
		var back []any
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
			// Back at the head, in the order they were popped; a failure leaves them to the queue.
			slices.Reverse(back)
			if err := w.rc.LPush(ctx, WakeKey, back...).Err(); err != nil && ctx.Err() == nil {
				log.Warn("putting back wake-ups failed: the queue's drains take them", "error", err.Error(), "wakeups", len(back))
			}
			w.metrics.wakeups.WithLabelValues("busy").Add(float64(len(back)))
		}
	}
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
