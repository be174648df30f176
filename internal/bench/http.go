package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// BatchCreateHTTP creates n contacts (ten properties each) through POST
// /crm/v3/objects/contacts/batch/create, 100 per request, from `clients` concurrent clients, against
// the API served on loopback; beside it, the raw figure is pipelined HSETs of the same records, 100
// per round trip, from as many clients.
func BatchCreateHTTP(ctx context.Context, rdb redis.UniversalClient, n, clients int) (Result, error) {
	res := Result{Name: "batch-create", Records: n, Goal: 0.3}
	st, err := redisstore.New(rdb, storeConfig())
	if err != nil {
		return res, err
	}
	t, raw := randomTenant("bench-http"), randomTenant("bench-rawhttp")
	defer Drop(context.WithoutCancel(ctx), rdb, t)
	defer Drop(context.WithoutCancel(ctx), rdb, raw)
	if _, err := st.CreateTenant(ctx, t, crm.PlanEnterprise); err != nil {
		return res, err
	}
	if _, err := st.CreateUser(ctx, t, "bench@crmflow.example", crm.AllPermissions, "crmflow-bench"); err != nil {
		return res, err
	}
	token, err := st.CreateToken(ctx, t, "bench@crmflow.example", nil)
	if err != nil {
		return res, err
	}
	h, err := api.New(st, &api.Config{Logger: discardLogger()})
	if err != nil {
		return res, err
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}

	var next atomic.Int64
	run := func(work func(start, end int) error) (time.Duration, error) {
		next.Store(0)
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		begin := time.Now()
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					start := int(next.Add(100)) - 100
					if start >= n {
						return
					}
					if err := work(start, min(start+100, n)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return time.Since(begin), <-errs
	}

	d, err := run(func(start, end int) error {
		type input struct {
			Properties map[string]string `json:"properties"`
		}
		body := struct {
			Inputs []input `json:"inputs"`
		}{}
		for i := start; i < end; i++ {
			body.Inputs = append(body.Inputs, input{Properties: ContactProps(i)})
		}
		buf, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/crm/v3/objects/contacts/batch/create", bytes.NewReader(buf))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			return fmt.Errorf("batch create: %d %s", resp.StatusCode, msg)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	page, err := st.ListRecords(ctx, t, crm.Contacts, &crm.ListOpts{Limit: 1})
	if err != nil || len(page.Records) == 0 {
		return res, fmt.Errorf("no contacts after the run: %v", err)
	}

	rawD, err := run(func(start, end int) error {
		pipe := rdb.Pipeline()
		for i := start; i < end; i++ {
			id := strconv.Itoa(i + 1)
			pipe.HSet(ctx, redisstore.RecordKey(raw, crm.Contacts, crm.RecordID(id)), ContactProps(i))
		}
		_, err := pipe.Exec(ctx)
		return err
	})
	if err != nil {
		return res, err
	}
	finish(&res, d, rawD)
	return res, nil
}
