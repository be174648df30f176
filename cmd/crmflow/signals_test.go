package main

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRoleSignals: the signals an operator or a supervisor sends a long-running role besides the
// SIGTERM of a graceful stop.
func TestRoleSignals(t *testing.T) {
	t.Parallel()

	// SIGHUP (a closed terminal, a reload sent by habit) neither kills the process nor stops it:
	// crmflow reloads nothing, says so, and goes on serving. Killed by it, a role would skip its
	// graceful shutdown, and systemd, counting SIGHUP as a clean exit, would not restart it.
	t.Run("SIGHUPIsIgnored", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		addr := freeAddr(t)
		p := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL)
		waitReady(t, p, "http://"+addr)
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
		eventually(t, 10*time.Second, "the SIGHUP is logged as ignored", func() bool {
			select {
			case <-p.done:
				t.Fatalf("SIGHUP ended crmflow serve (exit %d)\nstderr:\n%s", p.cmd.ProcessState.ExitCode(), p.stderr)
			default:
			}
			return strings.Contains(p.stderr.String(), "SIGHUP ignored")
		})
		// Still serving: a refused connection fails get at once. The readiness probe's PING has a
		// one-second deadline that a machine loaded by -race tests can miss once, so it is asked
		// again as a supervisor's probe is.
		eventually(t, 10*time.Second, "ready after the SIGHUP", func() bool {
			code, _ := get(t, "http://"+addr+"/readyz")
			return code == 200
		})
		require.Equal(t, 0, p.stop(t), "stderr:\n%s", p.stderr)
		require.Contains(t, p.stderr.String(), "crmflow stopped")
	})

	// SIGTERM while the worker still waits for its Redis at start-up (systemctl stop of a unit
	// that is starting) stops it as asked: exit 0, not a failure, and no word of a request that
	// may have been carried out.
	t.Run("SIGTERMWhileStarting", func(t *testing.T) {
		t.Parallel()
		silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
		require.NoError(t, err)
		t.Cleanup(func() { _ = silent.Close() })
		accepted := make(chan net.Conn, 1)
		go func() {
			if c, err := silent.Accept(); err == nil {
				accepted <- c
			}
		}()
		p := start(t, nil, "worker", "--redis", "redis://"+silent.Addr().String()+"/0", "--admin-addr", freeAddr(t))
		select {
		case c := <-accepted:
			t.Cleanup(func() { _ = c.Close() })
		case <-p.done:
			t.Fatalf("crmflow worker exited before dialling Redis\nstderr:\n%s", p.stderr)
		case <-time.After(30 * time.Second):
			t.Fatalf("crmflow worker did not dial Redis\nstderr:\n%s", p.stderr)
		}
		require.Equal(t, 0, p.stop(t), "stderr:\n%s", p.stderr)
		require.Contains(t, p.stderr.String(), "SIGTERM received while crmflow worker was starting: stopped before it started")
		require.NotContains(t, p.stderr.String(), "may or may not have been done")
	})
}
