package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/internal/redistest"
)

// systemdDir holds the example units and environment file.
var systemdDir = filepath.Join("..", "..", "examples", "systemd")

// readEnvFile reads an EnvironmentFile of the simple form the example uses: KEY=VALUE lines,
// comments and blank lines.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "line %q of %s", line, path)
		env[k] = strings.TrimSpace(v)
	}
	require.NoError(t, sc.Err())
	return env
}

// readUnit returns the [Service] settings of a unit file; settings given twice keep the last.
func readUnit(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string]string{}
	section := ""
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, _ := strings.Cut(line, "=")
			out[k] = v
		}
	}
	return out
}

// TestSystemdExample starts each example unit's command line with the example environment file
// (its Redis and listen addresses pointed at the test's) and stops it with SIGTERM, as systemd
// would; it also checks the settings an operator relies on.
func TestSystemdExample(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	env := readEnvFile(t, filepath.Join(systemdDir, "crmflow.env"))
	shutdown, err := time.ParseDuration(env["CRMFLOW_SHUTDOWN_TIMEOUT"])
	require.NoError(t, err)
	require.NotContains(t, env, "CRMFLOW_ADMIN_ADDR", "the worker and the scheduler would share it")
	require.Contains(t, env, "CRMFLOW_EMAIL_SALT", "every process on a real Redis needs the salt")

	for _, unit := range []string{"crmflow-api.service", "crmflow-worker.service", "crmflow-scheduler.service"} {
		t.Run(unit, func(t *testing.T) {
			t.Parallel()
			u := readUnit(t, filepath.Join(systemdDir, unit))
			require.Equal(t, "crmflow", u["User"])
			require.Equal(t, "/etc/crmflow/crmflow.env", u["EnvironmentFile"])
			require.Equal(t, "on-failure", u["Restart"])
			require.Equal(t, "SIGTERM", u["KillSignal"])
			require.Equal(t, "true", u["NoNewPrivileges"])
			require.Equal(t, "strict", u["ProtectSystem"])
			stop, err := time.ParseDuration(u["TimeoutStopSec"])
			require.NoError(t, err)
			require.Greater(t, stop, shutdown, "TimeoutStopSec must exceed CRMFLOW_SHUTDOWN_TIMEOUT")

			exec := strings.Fields(u["ExecStart"])
			require.Equal(t, "/usr/local/bin/crmflow", exec[0])
			listen := freeAddr(t)
			vars := []string{}
			for k, v := range env {
				switch k {
				case "REDIS_URL":
					v = b.redisURL
				case "CRMFLOW_EMAIL_SALT": // the test Redis's, whose fingerprint it holds
					v = redistest.EmailSalt
				case "CRMFLOW_ADDR":
					v = listen
				}
				vars = append(vars, k+"="+v)
			}
			if exec[1] != "serve" {
				vars = append(vars, "CRMFLOW_ADMIN_ADDR="+listen) // as a drop-in would
			}
			p := start(t, vars, exec[1:]...)
			waitReady(t, p, "http://"+listen)
			require.Equal(t, 0, p.stop(t), "stderr:\n%s", p.stderr)
			msgs := logMessages(t, p.stderr.String()) // CRMFLOW_LOG_FORMAT=json
			require.Contains(t, msgs, "crmflow starting")
			require.Contains(t, msgs, "crmflow stopped")
		})
	}
}
