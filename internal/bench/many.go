package bench

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/worker"
)

// ManyTenantsIdle is how many idle tenants the many-tenants scenario keeps beside its active ones.
const ManyTenantsIdle = 10000

// manyTenantsActive is how many active tenants the many-tenants scenario has.
const manyTenantsActive = 10

// ManyTenantsOpts sizes the many-tenants scenario; zero fields take the defaults.
type ManyTenantsOpts struct {
	// Idle is the number of idle tenants (default ManyTenantsIdle).
	Idle int
	// Window is how long the Redis commands are counted while nothing happens (default 20s).
	Window time.Duration
	// Writes is the number of writes whose lag is measured, at 50 a second (default 1000).
	Writes int
}

func (o *ManyTenantsOpts) withDefaults() ManyTenantsOpts {
	var out ManyTenantsOpts
	if o != nil {
		out = *o
	}
	if out.Idle == 0 {
		out.Idle = ManyTenantsIdle
	}
	if out.Window == 0 {
		out.Window = 20 * time.Second
	}
	if out.Writes == 0 {
		out.Writes = 1000
	}
	return out
}

// ManyTenants measures whether the cost of crmflow follows activity rather than the number of
// tenants. A worker and a scheduler with the defaults of `crmflow worker` and `crmflow scheduler`
// serve manyTenantsActive tenants (one of them the lag's, with an active workflow); the Redis
// commands a second are counted over opts.Window while nothing happens, and the write-to-enrollment
// lag over opts.Writes writes. Then opts.Idle idle tenants are added (each with one contact, and no
// change for a day: their activity marks are dropped, as a full walk drops those older than a day)
// and both are measured again. The ratio is the larger of the two "with the idle tenants over
// without" ratios: of the commands a second (with the idle tenants, their full walks counted,
// spread over worker.DefaultFullSweepEvery) and of the p99 lags. Lower is better, and the goal is
// at most 1.2. Extra also
// gives the commands of one full walk (the routine sweeps walking every tenant, once per
// --full-sweep-every) while nothing happens, measured by running the four once with their walks
// claimed, after a first full walk has drained the idle tenants' change marks.
func ManyTenants(ctx context.Context, rdb redis.UniversalClient, queue asynq.RedisConnOpt, opts *ManyTenantsOpts) (Result, error) {
	o := opts.withDefaults()
	res := Result{Name: "many-tenants", Records: o.Idle, Goal: 1.2, LowerIsBetter: true, Extra: map[string]float64{}}
	s, err := startStackOn(ctx, rdb, queue, "bench-many", crm.PlanProfessional)
	if err != nil {
		return res, err
	}
	defer s.close(rdb, queue)
	defer func() { _ = rdb.Del(context.WithoutCancel(ctx), redisstore.FullSweepKey()).Err() }()
	sched, err := worker.NewScheduler(queue, &worker.SchedulerConfig{Logger: discardLogger()})
	if err != nil {
		return res, err
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	schedDone := make(chan error, 1)
	go func() { schedDone <- sched.Run(sctx) }()
	defer func() { stop(); <-schedDone }()

	// The active tenants: the stack's, with the lag's workflow and a contact per write, and the others.
	ids, err := seedContacts(ctx, s.store, s.tenant, 2*o.Writes)
	if err != nil {
		return res, err
	}
	if err := s.activateLagFlow(ctx); err != nil {
		return res, err
	}
	var others []crm.TenantID
	defer func() {
		for _, t := range others {
			_ = Drop(context.WithoutCancel(ctx), rdb, t)
		}
	}()
	for range manyTenantsActive - 1 {
		t := randomTenant("bench-many")
		others = append(others, t)
		if _, err := Seed(ctx, s.store, t, 10); err != nil {
			return res, err
		}
	}
	// The first sweeps of each kind walk every tenant (no full walk is recorded yet): let them, so
	// that the windows below see the routine sweeps alone.
	if err := fullWalk(ctx, rdb, queue, sched); err != nil {
		return res, err
	}

	measure := func(phase string, writes []crm.RecordID) error {
		cmds, err := commandsPerSecond(ctx, rdb, o.Window)
		if err != nil {
			return err
		}
		sent, err := s.sendWrites(ctx, writes, 50, nil)
		if err != nil {
			return err
		}
		lags, err := s.enrollLags(ctx, s.tenant, "bench-lag", writes, sent)
		if err != nil {
			return err
		}
		res.Extra[phase+"_commands_per_s"] = cmds
		res.Extra[phase+"_p50_ms"], res.Extra[phase+"_p99_ms"] = percentile(lags, 0.50), percentile(lags, 0.99)
		return nil
	}
	if err := measure("alone", ids[:o.Writes]); err != nil {
		return res, err
	}

	// The idle tenants, then their activity marks as a day's idleness leaves them: gone.
	start := time.Now()
	run := strings.TrimPrefix(string(randomTenant("")), "-")
	idle := make([]string, 0, o.Idle)
	defer func() { dropMany(context.WithoutCancel(ctx), rdb, "bench-idle-"+run+"-", idle) }()
	for i := range o.Idle {
		t := crm.TenantID("bench-idle-" + run + "-" + strconv.Itoa(i))
		idle = append(idle, string(t))
		if _, err := s.store.CreateTenant(ctx, t, crm.PlanProfessional); err != nil {
			return res, err
		}
		if _, err := s.store.CreateRecords(ctx, t, crm.Contacts, []crm.RecordInput{{Properties: ContactProps(i)}}, crm.Actor{User: benchUser}); err != nil {
			return res, err
		}
	}
	for i := 0; i < len(idle); i += 1000 {
		if err := rdb.ZRem(ctx, redisstore.ActiveKey(), strArgs(idle[i:min(i+1000, len(idle))])...).Err(); err != nil {
			return res, err
		}
	}
	res.Seconds = time.Since(start).Seconds()
	// Their change marks are drained by the next full walk; the one after it, measured, is what a
	// full walk costs while nothing happens.
	if err := fullWalk(ctx, rdb, queue, sched); err != nil {
		return res, err
	}
	before, err := totalCommands(ctx, rdb)
	if err != nil {
		return res, err
	}
	walkStart := time.Now()
	if err := fullWalk(ctx, rdb, queue, sched); err != nil {
		return res, err
	}
	after, err := totalCommands(ctx, rdb)
	if err != nil {
		return res, err
	}
	walk := float64(after-before) - res.Extra["alone_commands_per_s"]*time.Since(walkStart).Seconds()
	res.Extra["full_walk_commands"] = walk
	res.Extra["full_walk_commands_per_s"] = walk / worker.DefaultFullSweepEvery.Seconds()

	if err := measure("with_idle", ids[o.Writes:]); err != nil {
		return res, err
	}
	// The idle cost with the idle tenants counts their full walks, spread over their period.
	cmdRatio := (res.Extra["with_idle_commands_per_s"] + res.Extra["full_walk_commands_per_s"]) / res.Extra["alone_commands_per_s"]
	lagRatio := res.Extra["with_idle_p99_ms"] / res.Extra["alone_p99_ms"]
	res.Extra["commands_ratio"], res.Extra["lag_ratio"] = cmdRatio, lagRatio
	res.Ratio = max(cmdRatio, lagRatio)
	res.Rate = res.Extra["with_idle_commands_per_s"]
	res.RawRate = res.Extra["alone_commands_per_s"]
	return res, nil
}

// fullWalk makes the next sweep of each routine kind walk every tenant (it forgets their last full
// walks), runs the four at once through sched, and waits until the worker has run them and what
// they enqueued.
func fullWalk(ctx context.Context, rdb redis.UniversalClient, queue asynq.RedisConnOpt, sched *worker.Scheduler) error {
	if err := rdb.Del(ctx, redisstore.FullSweepKey()).Err(); err != nil {
		return err
	}
	now := time.Now()
	for _, run := range []func(context.Context, time.Time) (*asynq.TaskInfo, error){
		sched.RunChangesSweepOnce, sched.RunJobsSweepOnce, sched.RunWorkflowSweepOnce, sched.RunMailSweepOnce,
	} {
		if _, err := run(ctx, now); err != nil && !strings.Contains(err.Error(), "already") {
			return err
		}
	}
	insp := asynq.NewInspector(queue)
	defer insp.Close()
	// Done when a sweep of each kind claimed its full walk (one of these, or the stack's own
	// scheduler's next tick when one of these was a duplicate of its task) and nothing is queued.
	kinds := []string{worker.TypeChangesSweep, worker.TypeJobsSweep, worker.TypeWorkflowSweep, worker.TypeMailSweep}
	return waitFor(ctx, 5*time.Minute, "the full walk's sweeps", func() (bool, error) {
		claimed, err := rdb.HMGet(ctx, redisstore.FullSweepKey(), kinds...).Result()
		if err != nil {
			return false, err
		}
		for _, c := range claimed {
			if c == nil {
				return false, nil
			}
		}
		for q := range worker.DefaultQueues() {
			info, err := insp.GetQueueInfo(q)
			if err != nil {
				continue // a queue never written to does not exist yet
			}
			if info.Pending+info.Active+info.Retry > 0 {
				return false, nil
			}
		}
		return true, nil
	})
}

// commandsPerSecond counts the commands the Redis servers process over window.
func commandsPerSecond(ctx context.Context, rdb redis.UniversalClient, window time.Duration) (float64, error) {
	before, err := totalCommands(ctx, rdb)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(window):
	}
	after, err := totalCommands(ctx, rdb)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / time.Since(start).Seconds(), nil
}

// totalCommands is total_commands_processed summed over the servers.
func totalCommands(ctx context.Context, rdb redis.UniversalClient) (int64, error) {
	return infoSum(ctx, rdb, "stats", "total_commands_processed")
}

// dropMany drops the tenants ids, all named prefix and more: one SCAN for all of their keys.
func dropMany(ctx context.Context, rdb redis.UniversalClient, prefix string, ids []string) {
	_ = eachServer(ctx, rdb, func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, "crm:{"+prefix+"*", 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			if batch = append(batch, iter.Val()); len(batch) == 1000 {
				_ = c.Unlink(ctx, batch...).Err()
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			_ = c.Unlink(ctx, batch...).Err()
		}
		return iter.Err()
	})
	for i := 0; i < len(ids); i += 1000 {
		_ = rdb.SRem(ctx, redisstore.TenantsKey(), strArgs(ids[i:min(i+1000, len(ids))])...).Err()
		_ = rdb.ZRem(ctx, redisstore.ActiveKey(), strArgs(ids[i:min(i+1000, len(ids))])...).Err()
	}
}

func strArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, v := range ss {
		out[i] = v
	}
	return out
}
