package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/workflows"
)

// e2eFlow deletes the contacts Seed makes whose last name ends in 0: one in ten. It measures
// throughput, so it lifts the blast-radius limit (1000 an hour by default), which would pause it.
const e2eFlow = `name: bench-e2e
object_type: contacts
trigger: hasSuffix(lastname, "0")
limits: {max_deletions: unlimited}
actions:
  - type: delete_contact
`

// naiveTask is the task type of the naive design: one task per contact.
const naiveTask = "bench:naive"

// WorkflowE2E measures a delete_contact workflow over n contacts from its activation with
// enroll-existing (POST .../activate) until every matching contact (one in ten) is in the bin, with
// the API and a worker serving the queue (backfill, enrollment, the steps that delete). Beside it,
// the raw figure is the naive design doing the same work: one asynq task per contact, each reading
// its contact, evaluating the trigger and deleting the contact if it matches, on an asynq server
// with the same concurrency. The ratio is crmflow's rate over the naive design's.
func WorkflowE2E(ctx context.Context, rdb redis.UniversalClient, queue asynq.RedisConnOpt, n int) (Result, error) {
	res := Result{Name: "workflow-e2e", Records: n, Goal: 25, Extra: map[string]float64{}}
	s, err := startStack(ctx, rdb, queue, "bench-e2e")
	if err != nil {
		return res, err
	}
	defer s.close(rdb, queue)
	if _, err := seedContacts(ctx, s.store, s.tenant, n); err != nil {
		return res, err
	}
	want := int64(0)
	for i := range n {
		if i%10 == 0 {
			want++
		}
	}
	if _, _, err := s.store.PutFlow(ctx, s.tenant, "bench-e2e", crm.Contacts, e2eFlow, benchUser); err != nil {
		return res, err
	}
	start := time.Now()
	if err := s.call(ctx, http.MethodPost, "/automation/v4/flows/bench-e2e/activate", map[string]any{"enrollExisting": true}, http.StatusOK, nil); err != nil {
		return res, err
	}
	if err := waitFor(ctx, 10*time.Minute, "workflow deletes", func() (bool, error) {
		if _, ok := res.Extra["backfill_seconds"]; !ok {
			if bf, ok, err := s.store.Backfill(ctx, s.tenant, "bench-e2e"); err == nil && ok && bf.State == "done" {
				res.Extra["backfill_seconds"] = time.Since(start).Seconds()
			}
		}
		k, err := s.store.BinSize(ctx, s.tenant, crm.Contacts)
		return k >= want, err
	}); err != nil {
		return res, err
	}
	d := time.Since(start)
	if k, err := s.store.BinSize(ctx, s.tenant, crm.Contacts); err != nil || k != want {
		return res, fmt.Errorf("the workflow deleted %d contacts, %d match (%v)", k, want, err)
	}
	res.Extra["deleted"] = float64(want)

	rawD, naiveDeleted, err := naiveWorkflow(ctx, rdb, queue, s.store, n)
	if err != nil {
		return res, err
	}
	if naiveDeleted != want {
		return res, fmt.Errorf("the naive design deleted %d contacts, %d match", naiveDeleted, want)
	}
	finish(&res, d, rawD)
	return res, nil
}

// naiveWorkflow runs e2eFlow over n new contacts as one asynq task per contact and returns how long
// it took until every task was handled, and how many contacts it deleted.
func naiveWorkflow(ctx context.Context, rdb redis.UniversalClient, queue asynq.RedisConnOpt, st *redisstore.Store, n int) (time.Duration, int64, error) {
	t := randomTenant("bench-naive")
	defer Drop(context.WithoutCancel(ctx), rdb, t)
	ids, err := Seed(ctx, st, t, n)
	if err != nil {
		return 0, 0, err
	}
	schema, _ := crm.StandardSchema(crm.Contacts)
	wf, err := workflows.Parse("naive.yaml", []byte(e2eFlow), workflows.Schemas{crm.Contacts: schema}, actions.Default())
	if err != nil {
		return 0, 0, err
	}
	var handled, deleted atomic.Int64
	var failed atomic.Value
	mux := asynq.NewServeMux()
	mux.HandleFunc(naiveTask, func(ctx context.Context, task *asynq.Task) error {
		defer handled.Add(1)
		id := crm.RecordID(task.Payload())
		rec, err := st.Record(ctx, t, crm.Contacts, id, nil)
		if err != nil {
			failed.Store(err)
			return nil
		}
		if ok, err := wf.Matches(rec, time.Now()); err != nil || !ok {
			return nil
		}
		r, err := st.ArchiveRecords(ctx, t, crm.Contacts, []crm.RecordID{id}, crm.Actor{User: benchUser, Via: crm.ViaWorkflow, Ref: wf.Name})
		if err != nil {
			failed.Store(err)
			return nil
		}
		deleted.Add(int64(len(r.Archived)))
		return nil
	})
	srv := asynq.NewServer(queue, asynq.Config{Concurrency: workerConcurrency, Queues: map[string]int{"bench-naive": 1},
		TaskCheckInterval: 100 * time.Millisecond, Logger: quietAsynq{}, LogLevel: asynq.FatalLevel})
	if err := srv.Start(mux); err != nil {
		return 0, 0, err
	}
	defer srv.Shutdown()
	client := asynq.NewClient(queue)
	defer client.Close()
	defer func() {
		insp := asynq.NewInspector(queue)
		_, _ = insp.DeleteAllPendingTasks("bench-naive")
		_ = insp.Close()
	}()

	start := time.Now()
	// The enqueues come from as many goroutines as the server has workers.
	var wg sync.WaitGroup
	errs := make(chan error, workerConcurrency)
	for g := range workerConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(ids); i += workerConcurrency {
				if _, err := client.EnqueueContext(ctx, asynq.NewTask(naiveTask, []byte(ids[i])), asynq.Queue("bench-naive")); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	if err := waitFor(ctx, 30*time.Minute, "naive tasks", func() (bool, error) { return handled.Load() >= int64(n), nil }); err != nil {
		return 0, 0, err
	}
	d := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		return 0, 0, err
	}
	return d, deleted.Load(), nil
}

// quietAsynq is an asynq logger that keeps nothing.
type quietAsynq struct{}

func (quietAsynq) Debug(...any) {}
func (quietAsynq) Info(...any)  {}
func (quietAsynq) Warn(...any)  {}
func (quietAsynq) Error(...any) {}
func (quietAsynq) Fatal(...any) {}

// lagFlow enrolls a contact when it becomes an evangelist, and then waits. No seeded contact is
// one (ContactProps), so each write of the scenario changes its contact and makes it match: a
// write that changes nothing is no event for the engine.
const lagFlow = `name: bench-lag
object_type: contacts
trigger: lifecyclestage == "evangelist"
events: [updated]
actions:
  - type: delay
    duration: 30d
`

// Lag is the time from an API write to the enrollment it causes.
type Lag struct {
	// Writes is how many updates were sent, at Rate per second.
	Writes int     `json:"writes"`
	Rate   float64 `json:"writes_per_second"`
	// P50 and P99 are percentiles of the lag, in milliseconds, from sending a PATCH that makes a
	// contact match an active workflow's trigger to the enrollment recorded in the store.
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// MeasureLag sends `writes` updates at `rate` per second through the API, each making one contact
// match an active workflow, while a worker serves the queue, and returns the distribution of the
// lag from each write to its enrollment.
func MeasureLag(ctx context.Context, rdb redis.UniversalClient, queue asynq.RedisConnOpt, writes int, rate float64) (Lag, error) {
	out := Lag{Writes: writes, Rate: rate}
	s, err := startStack(ctx, rdb, queue, "bench-lag")
	if err != nil {
		return out, err
	}
	defer s.close(rdb, queue)
	ids, err := seedContacts(ctx, s.store, s.tenant, writes)
	if err != nil {
		return out, err
	}
	if err := s.activateLagFlow(ctx); err != nil {
		return out, err
	}
	// Let the seed's changes drain first: they do not match (updated only), but they are work.
	time.Sleep(500 * time.Millisecond)

	sent, err := s.sendWrites(ctx, ids, rate, nil)
	if err != nil {
		return out, err
	}
	lags, err := s.enrollLags(ctx, s.tenant, "bench-lag", ids, sent)
	if err != nil {
		return out, err
	}
	out.P50, out.P99, out.Max = percentile(lags, 0.50), percentile(lags, 0.99), lags[len(lags)-1]
	return out, nil
}

// activateLagFlow stores lagFlow in the stack's tenant and activates it through the API.
func (s *stack) activateLagFlow(ctx context.Context) error {
	if _, _, err := s.store.PutFlow(ctx, s.tenant, "bench-lag", crm.Contacts, lagFlow, benchUser); err != nil {
		return err
	}
	return s.call(ctx, http.MethodPost, "/automation/v4/flows/bench-lag/activate", map[string]any{}, http.StatusOK, nil)
}

// sendWrites sends one PATCH per contact of ids through the API, at rate per second, each making
// its contact match lagFlow's trigger. Before each write it asks more (nil: always true) and stops
// when it says no. It returns when each write it sent was sent, once every answer is in.
func (s *stack) sendWrites(ctx context.Context, ids []crm.RecordID, rate float64, more func() bool) ([]time.Time, error) {
	sent := make([]time.Time, 0, len(ids))
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for _, id := range ids {
		<-tick.C
		if more != nil && !more() {
			break
		}
		sent = append(sent, time.Now())
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := map[string]any{"properties": map[string]string{"lifecyclestage": "evangelist"}}
			if err := s.call(ctx, http.MethodPatch, "/crm/v3/objects/contacts/"+string(id), body, http.StatusOK, nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return sent, err
	}
	return sent, nil
}

// enrollLags waits for the enrollment in workflow flow of tenant t of the first len(sent) contacts
// of ids, and returns each one's lag from its write (sent), in milliseconds, sorted.
func (s *stack) enrollLags(ctx context.Context, t crm.TenantID, flow string, ids []crm.RecordID, sent []time.Time) ([]float64, error) {
	lags := make([]float64, len(sent))
	for i, id := range ids[:len(sent)] {
		var at time.Time
		err := waitFor(ctx, 5*time.Minute, "enrollment of contact "+string(id), func() (bool, error) {
			h, err := s.store.History(ctx, t, flow, crm.Contacts, id)
			for _, e := range h {
				if e.Kind == "enrolled" {
					at = e.At
					return true, nil
				}
			}
			return false, err
		})
		if err != nil {
			return nil, err
		}
		lags[i] = float64(at.Sub(sent[i]).Microseconds()) / 1000
	}
	slices.Sort(lags)
	return lags, nil
}

// percentile returns the p-th percentile (0 to 1) of sorted, which must not be empty.
func percentile(sorted []float64, p float64) float64 {
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// String formats the lag as the bench prints it.
func (l Lag) String() string {
	raw, _ := json.Marshal(l)
	return string(raw)
}
