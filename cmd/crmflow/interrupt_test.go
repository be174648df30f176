package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"syscall"
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
	require.Equal(t, 130, p.wait(t), "interrupted: 128+SIGINT, as a shell reports it\nstderr:\n%s", p.stderr)
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
	require.Equal(t, 130, p.wait(t), "interrupted: 128+SIGINT, as a shell reports it\nstderr:\n%s", p.stderr)
	require.Empty(t, p.stdout.String())
	require.Equal(t, "crmflow: interrupted before the answer came: what the command asked for may or may not have been done; "+
		"check (crmflow operations list, crmflow workflows list, crmflow bin list) before running it again\n", p.stderr.String())
}

// TestUndoWaitInterrupted: Ctrl-C while `undo OP --wait` follows its job exits 130 (128+SIGINT) with
// the message that the job goes on, and SIGTERM exits 143 (128+SIGTERM): a script tells an
// interruption from a failure (exit 1) by it.
func TestUndoWaitInterrupted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sig  os.Signal
		code int
	}{
		{"SIGINT", os.Interrupt, 130},
		{"SIGTERM", syscall.SIGTERM, 143},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reading := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.Method == http.MethodPost && r.URL.Path == "/crm/v3/operations/job-7/undo":
					w.WriteHeader(http.StatusAccepted)
					_ = json.NewEncoder(w).Encode(map[string]any{"id": "8", "status": "PENDING", "total": 3})
				case r.Method == http.MethodGet && r.URL.Path == "/crm/v3/jobs/8":
					select {
					case reading <- struct{}{}:
					default:
					}
					_ = json.NewEncoder(w).Encode(map[string]any{"id": "8", "kind": "undo", "status": "PENDING", "objectType": "contacts", "total": 3})
				default:
					http.NotFound(w, r)
				}
			}))
			t.Cleanup(srv.Close)

			p := start(t, []string{"CRMFLOW_URL=" + srv.URL, "CRMFLOW_TOKEN=t"},
				"undo", "job-7", "--wait", "--interval", "10ms", "--progress", "lines")
			select {
			case <-reading:
			case <-p.done:
				t.Fatalf("crmflow exited before following the job\nstderr:\n%s", p.stderr)
			}
			require.NoError(t, p.cmd.Process.Signal(tc.sig))
			require.Equal(t, tc.code, p.wait(t), "stderr:\n%s", p.stderr)
			require.Equal(t, "8\n", p.stdout.String())
			require.Contains(t, p.stderr.String(), "crmflow: stopped following job 8; the workers go on with it: crmflow jobs watch 8\n")
		})
	}
}

// TestRunStopsCleanlyOnSIGINT: Ctrl-C is how `crmflow run` (like serve, worker and scheduler) is
// stopped, so a clean shutdown on SIGINT exits 0, not as an interrupted command.
func TestRunStopsCleanlyOnSIGINT(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	p := start(t, nil, "run", "--addr", addr)
	waitReady(t, p, "http://"+addr)
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	require.Equal(t, 0, p.wait(t), "stderr:\n%s", p.stderr)
	require.Contains(t, p.stderr.String(), "crmflow stopped")
}
