package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/worker"
)

// benchUser is the user every scenario acts as.
const benchUser = "bench@crmflow.example"

// stack is crmflow as it runs in production, in this process: the API on loopback, enqueuing to the
// queue on the Redis given, and a worker serving that queue.
type stack struct {
	store  *redisstore.Store
	tasks  *worker.Client
	srv    *httptest.Server
	hc     *http.Client
	stop   context.CancelFunc
	done   chan error
	tenant crm.TenantID
	token  string
}

// workerConcurrency is the bench worker's concurrency: the default of `crmflow worker`.
const workerConcurrency = 10

// startStack starts the API and a worker on rdb (queue is the same Redis as asynq sees it), and
// creates a tenant on the Enterprise plan with a user holding every permission.
func startStack(ctx context.Context, rdb redis.UniversalClient, queue asynq.RedisConnOpt, prefix string) (*stack, error) {
	return startStackOn(ctx, rdb, queue, prefix, crm.PlanEnterprise)
}

// startStackOn is startStack with the tenant on the given plan.
func startStackOn(ctx context.Context, rdb redis.UniversalClient, queue asynq.RedisConnOpt, prefix string, plan crm.Plan) (*stack, error) {
	st, err := redisstore.New(rdb, storeConfig())
	if err != nil {
		return nil, err
	}
	s := &stack{store: st, tasks: worker.NewClient(queue), tenant: randomTenant(prefix), done: make(chan error, 1)}
	if _, err := st.CreateTenant(ctx, s.tenant, plan); err != nil {
		return nil, err
	}
	if _, err := st.CreateUser(ctx, s.tenant, benchUser, crm.AllPermissions, "crmflow-bench"); err != nil {
		return nil, err
	}
	if s.token, err = st.CreateToken(ctx, s.tenant, benchUser, nil); err != nil {
		return nil, err
	}
	h, err := api.New(st, &api.Config{Logger: discardLogger(), Tasks: s.tasks})
	if err != nil {
		return nil, err
	}
	w, err := worker.New(st, queue, &worker.Config{Registerer: prometheus.NewRegistry(), Logger: discardLogger(),
		Concurrency: workerConcurrency, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	go func() { s.done <- w.Run(wctx) }()
	s.srv = httptest.NewServer(h)
	s.hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	return s, nil
}

// close stops the worker and the API, deletes what the run left in the queues and drops the tenant.
func (s *stack) close(rdb redis.UniversalClient, queue asynq.RedisConnOpt) {
	s.stop()
	<-s.done
	s.srv.Close()
	_ = s.tasks.Close()
	insp := asynq.NewInspector(queue)
	clearQueues(insp)
	_ = insp.Close()
	_ = Drop(context.Background(), rdb, s.tenant)
}

// call sends a JSON request to the API as the bench user and decodes a JSON answer into out (when
// not nil). A status other than want is an error.
func (s *stack) call(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.srv.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// waitFor polls cond every 5ms until it is true, or fails after limit.
func waitFor(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not done after %s", what, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
