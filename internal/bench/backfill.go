package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/worker"
)

// backfillFlow is a contact workflow whose trigger matches one contact in ten of Seed's.
const backfillFlow = `name: bench-backfill
object_type: contacts
trigger: hasSuffix(lastname, "0")
actions:
  - type: delete_contact
`

// Backfill measures enroll-existing: the activation of one contact workflow (about 10% of the n
// contacts match) and its backfill through the worker's workflow:backfill handler and its
// continuations, until every live contact was looked at. The steps the backfill enqueues are not
// run. Beside it, the raw figure is pipelined HGETALLs of the same n records, 500 per round trip.
// queue must be the Redis of rdb as asynq sees it; the run's tasks are deleted afterwards.
func Backfill(ctx context.Context, rdb redis.UniversalClient, queue asynq.RedisConnOpt, n int) (Result, error) {
	res := Result{Name: "backfill", Records: n, Goal: 0.8}
	st, err := redisstore.New(rdb, storeConfig())
	if err != nil {
		return res, err
	}
	t := randomTenant("bench-backfill")
	defer Drop(context.WithoutCancel(ctx), rdb, t)
	ids, err := Seed(ctx, st, t, n)
	if err != nil {
		return res, err
	}
	w, err := worker.New(st, queue, &worker.Config{Registerer: prometheus.NewRegistry(), Logger: discardLogger()})
	if err != nil {
		return res, err
	}
	defer w.Close()
	insp := asynq.NewInspector(queue)
	defer insp.Close()
	defer clearQueues(insp)

	// The workflow acts with its activator's authority: the worker checks that user's permissions.
	if _, err := st.CreateUser(ctx, t, "bench@crmflow.example", crm.AllPermissions, "crmflow-bench"); err != nil {
		return res, err
	}
	if _, _, err := st.PutFlow(ctx, t, "bench-backfill", crm.Contacts, backfillFlow, "bench@crmflow.example"); err != nil {
		return res, err
	}
	start := time.Now()
	f, err := st.ActivateFlow(ctx, t, "bench-backfill", crm.ActivateFlowParams{By: "bench@crmflow.example"})
	if err != nil {
		return res, err
	}
	task, err := worker.NewWorkflowBackfillTask(worker.WorkflowBackfillPayload{TenantID: t, Workflow: f.Name, Revision: f.ActiveRevision})
	if err != nil {
		return res, err
	}
	for task != nil {
		if err := w.ProcessTask(ctx, task); err != nil {
			return res, err
		}
		if task, err = nextTask(insp, worker.QueueBulk, worker.TypeWorkflowBackfill); err != nil {
			return res, err
		}
	}
	d := time.Since(start)
	bf, _, err := st.Backfill(ctx, t, f.Name)
	if err != nil {
		return res, err
	}
	if bf.State != "done" || bf.Done != int64(n) {
		return res, fmt.Errorf("backfill looked at %d of %d records (state %q)", bf.Done, n, bf.State)
	}
	res.Extra = map[string]float64{"enrolled": float64(bf.Enrolled)}

	start = time.Now()
	for s := 0; s < n; s += 500 {
		pipe := rdb.Pipeline()
		for _, id := range ids[s:min(s+500, n)] {
			pipe.HGetAll(ctx, redisstore.RecordKey(t, crm.Contacts, id))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return res, err
		}
	}
	finish(&res, d, time.Since(start))
	return res, nil
}

// nextTask takes the next pending task of a type off a queue (deleting it, as a worker's dequeue
// would), or nil when there is none.
// The queue may hold other tasks in front of it (the backfill's steps go to the same queue).
func nextTask(insp *asynq.Inspector, queue, typ string) (*asynq.Task, error) {
	for page := 1; ; page++ {
		pending, err := insp.ListPendingTasks(queue, asynq.PageSize(1000), asynq.Page(page))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, info := range pending {
			if info.Type != typ {
				continue
			}
			if err := insp.DeleteTask(queue, info.ID); err != nil {
				return nil, err
			}
			return asynq.NewTask(info.Type, info.Payload), nil
		}
		if len(pending) < 1000 {
			return nil, nil
		}
	}
}

// clearQueues deletes what a run left in the worker's queues.
func clearQueues(insp *asynq.Inspector) {
	for q := range worker.DefaultQueues() {
		_, _ = insp.DeleteAllPendingTasks(q)
		_, _ = insp.DeleteAllScheduledTasks(q)
	}
}
