package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestActivateWaitInterrupted: Ctrl-C while `workflows activate --enroll-existing --wait` reads the
// progress says that the enrollment goes on and how to follow it again, not "context canceled".
// The API here answers the activation, then holds the reads of the progress until the client
// goes, so that the signal comes during one.
func TestActivateWaitInterrupted(t *testing.T) {
	t.Parallel()
	reading := make(chan struct{}, 1)
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		flow := map[string]any{"name": "mark", "objectType": "contacts", "state": "ACTIVE", "revision": 1, "activeRevision": 1}
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/automation/v4/flows/mark/activate":
			flow["backfill"] = map[string]any{"requested": true, "queued": true}
		case r.Method == http.MethodGet && r.URL.Path == "/automation/v4/flows/mark":
			if gets.Add(1) > 1 {
				select {
				case reading <- struct{}{}:
				default:
				}
				<-r.Context().Done()
				return
			}
		default:
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(flow)
	}))
	t.Cleanup(srv.Close)

	p := start(t, []string{"CRMFLOW_URL=" + srv.URL, "CRMFLOW_TOKEN=t"},
		"workflows", "activate", "mark", "--enroll-existing", "--wait", "--interval", "10ms", "--progress", "lines")
	select {
	case <-reading:
	case <-p.done:
		t.Fatalf("crmflow exited before reading the progress\nstderr:\n%s", p.stderr)
	}
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	require.Equal(t, 1, p.wait(t), "stderr:\n%s", p.stderr)
	require.Equal(t, "workflow mark: ACTIVE at revision 1\n", p.stdout.String())
	require.Contains(t, p.stderr.String(), "crmflow: stopped following the enrollment of workflow mark; the workers go on with it: "+
		"crmflow workflows activate mark --enroll-existing --wait follows it again")
	require.NotContains(t, p.stderr.String(), "context canceled")
}

// TestInterruptedRequest: Ctrl-C while a change awaits the API's answer says that the change may or
// may not have been made, not "context canceled".
func TestInterruptedRequest(t *testing.T) {
	t.Parallel()
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // read, so that the server notices the client going
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // before srv.Close, which waits for the handlers

	p := start(t, []string{"CRMFLOW_URL=" + srv.URL, "CRMFLOW_TOKEN=t"}, "delete", "--type", "contacts", "--ids", "1", "--confirm", "1")
	select {
	case <-arrived:
	case <-p.done:
		t.Fatalf("crmflow exited before its request arrived\nstderr:\n%s", p.stderr)
	}
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	require.Equal(t, 1, p.wait(t), "stderr:\n%s", p.stderr)
	require.Empty(t, p.stdout.String())
	require.Equal(t, "crmflow: interrupted before the answer came: what the command asked for may or may not have been done; "+
		"check (crmflow operations list, crmflow workflows list, crmflow bin list) before running it again\n", p.stderr.String())
}
