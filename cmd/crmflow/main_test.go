package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/internal/redistest"
)

// The end-to-end tests build the binary once per test binary and run it as a user would.

const testVersion = "v0.0.0-e2e"

var (
	binDir    string // made by TestMain, removed after the tests
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crmflow-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// binary builds cmd/crmflow on first use, with the race detector when the tests have it, and
// returns its path.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		path := filepath.Join(binDir, "crmflow")
		args := []string{"build", "-o", path, "-ldflags", "-X main.version=" + testVersion}
		if raceEnabled {
			// The processes' races fail the tests too: a race makes the process exit with 66.
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, ".")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		binPath = path
	})
	require.NoError(t, buildErr)
	return binPath
}

// testEnv is the environment of a child process: ours without any crmflow, Redis or SMTP
// setting, so that a developer's shell cannot change what a test sees, plus the email salt of the
// test Redis (redistest.EmailSalt), which extra may override ("CRMFLOW_EMAIL_SALT=" unsets it),
// and the race detector's options of childRaceOptions.
func testEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REDIS_URL=") || strings.HasPrefix(kv, "QUEUE_REDIS_URL=") ||
			strings.HasPrefix(kv, "CRMFLOW_") || strings.HasPrefix(kv, "SMTP_") || strings.HasPrefix(kv, "GORACE=") {
			continue
		}
		env = append(env, kv)
	}
	// Any free port for the admin endpoints of serve (whose default would be one port for every
	// test): a test that reads them gives --admin-addr.
	env = append(env, "CRMFLOW_EMAIL_SALT="+redistest.EmailSalt, "CRMFLOW_ADMIN_ADDR=127.0.0.1:0",
		"GORACE="+childRaceOptions(os.Getenv("GORACE")))
	return append(env, extra...)
}

// childRaceOptions returns the GORACE options of a child process, given ours: the same, plus
// atexit_sleep_ms=0 unless they set it. A binary built with -race otherwise sleeps a second
// whenever it exits with status 0 (the default atexit_sleep_ms is 1000): over the hundreds of
// processes the tests start, minutes of the package's time under -race. Races are still
// reported, and still make the process exit with 66, up to the moment it exits; only a goroutine
// that would race in that extra second goes unseen. A binary built without -race ignores GORACE.
func childRaceOptions(ours string) string {
	for _, opt := range strings.Fields(ours) {
		if strings.HasPrefix(opt, "atexit_sleep_ms=") {
			return ours
		}
	}
	return strings.TrimSpace(ours + " atexit_sleep_ms=0")
}

// syncBuffer is a bytes.Buffer safe for a writer process and a reading test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a crmflow process started by a test.
type proc struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
}

// stdoutMatch returns the submatches of re in the process's stdout, waiting for them (see
// outputMatch).
func (p *proc) stdoutMatch(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	return outputMatch(t, "stdout", p.stdout, re)
}

// stderrMatch is stdoutMatch for stderr.
func (p *proc) stderrMatch(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	return outputMatch(t, "stderr", p.stderr, re)
}

// outputMatch returns the submatches of re in out, a process's output named name, waiting for
// them up to 10 s: what the process printed reaches the buffer through a pipe, so a line printed
// before the process answered its first request may still be on its way when the test looks.
func outputMatch(t *testing.T, name string, out *syncBuffer, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no match of %s in %s within 10s:\n%s", re, name, out)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// start starts crmflow with args and the extra environment; the process is killed when the test
// ends, if it still runs.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary(t), args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = testEnv(env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit (at most a minute) and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("crmflow %v did not exit within a minute\nstderr:\n%s", p.cmd.Args[1:], p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	return p.wait(t)
}

// crmflow runs crmflow to completion and returns its stdout, stderr and exit code.
func crmflow(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := start(t, env, args...)
	code = p.wait(t)
	return p.stdout.String(), p.stderr.String(), code
}

// freeAddr returns a loopback address with a port that was free a moment ago and that no other
// test of this run was given (redis-servers included).
func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := redistest.FreePort()
	require.NoError(t, err)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// waitReady polls GET /readyz until it answers 200. It fails at once if the process exits,
// and after 30 seconds of short attempts.
func waitReady(t *testing.T, p *proc, base string) {
	t.Helper()
	client := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 0; ; attempt++ {
		select {
		case <-p.done:
			t.Fatalf("crmflow exited with %d before it was ready\nstdout:\n%s\nstderr:\n%s",
				p.cmd.ProcessState.ExitCode(), p.stdout, p.stderr)
		default:
		}
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("crmflow not ready after %d attempts (last error %v)\nstderr:\n%s", attempt, err, p.stderr)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// call makes one API request and decodes the JSON answer (nil for an empty body).
func call(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), "body: %s", raw)
	}
	return resp.StatusCode, out
}

// requireErrorShape checks the API's error body.
func requireErrorShape(t *testing.T, body map[string]any, category string) {
	t.Helper()
	require.Equal(t, "error", body["status"], "body: %v", body)
	require.NotEmpty(t, body["message"], "body: %v", body)
	require.NotEmpty(t, body["correlationId"], "body: %v", body)
	require.Equal(t, category, body["category"], "body: %v", body)
}

// logMessages returns the msg of every JSON log line in stderr.
func logMessages(t *testing.T, stderr string) []string {
	t.Helper()
	var msgs []string
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		var line struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg != "" {
			msgs = append(msgs, line.Msg)
		}
	}
	return msgs
}

type testBundle struct {
	redisURL string
	tenant   string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return &testBundle{redisURL: redistest.URL(t), tenant: redistest.Tenant(t)}
}

// admin runs `crmflow admin ARGS --redis URL` and requires success.
func (b *testBundle) admin(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, code := crmflow(t, nil, append(append([]string{"admin"}, args...), "--redis", b.redisURL)...)
	require.Equal(t, 0, code, "crmflow admin %v\nstdout:\n%s\nstderr:\n%s", args, stdout, stderr)
	return stdout, stderr
}

var tokenRE = regexp.MustCompile(`^\S+\n$`)

func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// The operator's commands, as written in the README.
	stdout, stderr := b.admin(t, "tenant", "create", b.tenant, "--plan", "professional")
	require.Empty(t, stdout)
	require.Contains(t, stderr, "created tenant "+b.tenant)
	b.admin(t, "user", "create", b.tenant, "ops@example.com", "--perms", "read,write,delete")
	b.admin(t, "user", "create", b.tenant, "reader@example.com", "--perms", "read")
	token, stderr := b.admin(t, "token", "create", b.tenant, "ops@example.com")
	require.Regexp(t, tokenRE, token, "stdout must be the token alone")
	require.Contains(t, stderr, "shown only once")
	token = strings.TrimSpace(token)
	readerToken, _ := b.admin(t, "token", "create", b.tenant, "reader@example.com")
	readerToken = strings.TrimSpace(readerToken)

	addr, admin := freeAddr(t), freeAddr(t)
	base := "http://" + addr
	p := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL, "--log-format", "json", "--admin-addr", admin)
	waitReady(t, p, base)
	contacts := base + "/crm/v3/objects/contacts"

	// Stop the server once every subtest is done, and check it shut down cleanly.
	t.Cleanup(func() {
		require.Equal(t, 0, p.stop(t), "stderr:\n%s", p.stderr)
		msgs := logMessages(t, p.stderr.String())
		require.Contains(t, msgs, "crmflow starting")
		require.Contains(t, msgs, "shutting down")
		require.Contains(t, msgs, "crmflow stopped")
	})

	t.Run("CreateReadUpdatePage", func(t *testing.T) {
		t.Parallel()
		var ids []string
		for i := range 3 {
			code, body := call(t, http.MethodPost, contacts, token, map[string]any{
				"properties": map[string]string{"email": fmt.Sprintf("c%d@example.com", i), "firstname": fmt.Sprintf("C%d", i)},
			})
			require.Equal(t, http.StatusCreated, code, "body: %v", body)
			require.NotEmpty(t, body["id"])
			ids = append(ids, body["id"].(string))
		}

		code, body := call(t, http.MethodGet, contacts+"/"+ids[0], token, nil)
		require.Equal(t, http.StatusOK, code, "body: %v", body)
		require.Equal(t, "c0@example.com", body["properties"].(map[string]any)["email"])

		code, body = call(t, http.MethodPatch, contacts+"/"+ids[0], token, map[string]any{
			"properties": map[string]string{"firstname": "Ada"},
		})
		require.Equal(t, http.StatusOK, code, "body: %v", body)
		code, body = call(t, http.MethodGet, contacts+"/"+ids[0], token, nil)
		require.Equal(t, http.StatusOK, code, "body: %v", body)
		require.Equal(t, "Ada", body["properties"].(map[string]any)["firstname"])

		var seen []string
		after := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10, "paging does not end")
			url := contacts + "?limit=2"
			if after != "" {
				url += "&after=" + after
			}
			code, body := call(t, http.MethodGet, url, token, nil)
			require.Equal(t, http.StatusOK, code, "body: %v", body)
			results := body["results"].([]any)
			require.LessOrEqual(t, len(results), 2)
			for _, r := range results {
				seen = append(seen, r.(map[string]any)["id"].(string))
			}
			paging, _ := body["paging"].(map[string]any)
			next, _ := paging["next"].(map[string]any)
			if next == nil {
				break
			}
			after = next["after"].(string)
		}
		require.ElementsMatch(t, ids, seen)
	})

	t.Run("Unauthenticated", func(t *testing.T) {
		t.Parallel()
		code, body := call(t, http.MethodGet, contacts, "", nil)
		require.Equal(t, http.StatusUnauthorized, code)
		requireErrorShape(t, body, "INVALID_AUTHENTICATION")
		code, body = call(t, http.MethodGet, contacts, "not-a-token", nil)
		require.Equal(t, http.StatusUnauthorized, code)
		requireErrorShape(t, body, "INVALID_AUTHENTICATION")
	})

	t.Run("MissingPermission", func(t *testing.T) {
		t.Parallel()
		code, body := call(t, http.MethodPost, contacts, readerToken, map[string]any{
			"properties": map[string]string{"email": "nope@example.com"},
		})
		require.Equal(t, http.StatusForbidden, code)
		requireErrorShape(t, body, "MISSING_SCOPES")
		code, body = call(t, http.MethodGet, contacts+"?limit=100", readerToken, nil)
		require.Equal(t, http.StatusOK, code, "body: %v", body)
		for _, r := range body["results"].([]any) {
			require.NotEqual(t, "nope@example.com", r.(map[string]any)["properties"].(map[string]any)["email"])
		}
	})

	t.Run("Metrics", func(t *testing.T) {
		t.Parallel()
		// On the admin address only, with the probes: never on the API's, which anyone who
		// reaches the API can call.
		code, body := get(t, "http://"+admin+"/metrics")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "go_goroutines")
		require.Contains(t, body, "process_start_time_seconds")
		require.Contains(t, body, "crmflow_http_requests_total")
		for _, probe := range []string{"/healthz", "/readyz"} {
			code, _ = get(t, "http://"+admin+probe)
			require.Equal(t, http.StatusOK, code, probe)
			code, _ = get(t, base+probe)
			require.Equal(t, http.StatusOK, code, "the load balancer's probes stay on the API: %s", probe)
		}
		code, body = get(t, base+"/metrics")
		require.Equal(t, http.StatusNotFound, code, "no metrics on the API's address: %s", body)
		require.NotContains(t, body, "go_goroutines")
	})
}

func TestRequiresRedis(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"serve"},
		{"admin", "tenant", "create", "acme", "--plan", "free"},
		{"admin", "tenant", "list"},
		{"admin", "user", "create", "acme", "a@example.com", "--perms", "all"},
		{"admin", "token", "create", "acme", "a@example.com"},
		{"admin", "outbox", "list", "acme"},
		{"worker"},
		{"scheduler"},
		{"purge"},
	} {
		t.Run(strings.Join(args[:min(3, len(args))], "_"), func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := crmflow(t, []string{"REDIS_URL="}, args...)
			require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
			require.Empty(t, stdout)
			require.Contains(t, stderr, "pass --redis")
			require.Contains(t, stderr, "set REDIS_URL")
			require.Contains(t, stderr, "crmflow run")
			require.Contains(t, stderr, "serve --embedded")
		})
	}
}

func TestServeEvictionPolicy(t *testing.T) {
	t.Parallel()
	srv, err := redistest.StartServer("", "--maxmemory-policy", "allkeys-lru")
	require.NoError(t, err)
	t.Cleanup(srv.Stop)

	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		_, stderr, code := crmflow(t, nil, "serve", "--addr", freeAddr(t), "--redis", srv.URL)
		require.NotEqual(t, 0, code)
		require.Contains(t, stderr, "allkeys-lru")
		require.Contains(t, stderr, "noeviction")
		require.Contains(t, stderr, "--allow-eviction")
	})

	t.Run("AllowedWithFlag", func(t *testing.T) {
		t.Parallel()
		addr := freeAddr(t)
		p := start(t, nil, "serve", "--addr", addr, "--redis", srv.URL, "--allow-eviction")
		waitReady(t, p, "http://"+addr)
		require.Equal(t, 0, p.stop(t), "stderr:\n%s", p.stderr)
		require.Contains(t, p.stderr.String(), "allkeys-lru")
		require.Contains(t, p.stderr.String(), "level=WARN")
	})

	t.Run("QueueRefused", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{
			{"worker", "--redis", redistest.URL(t), "--queue-redis", srv.URL},
			{"scheduler", "--redis", srv.URL},
		} {
			_, stderr, code := crmflow(t, nil, append(args, "--admin-addr", freeAddr(t))...)
			require.Equal(t, 1, code, "crmflow %v\nstderr:\n%s", args, stderr)
			require.Contains(t, stderr, "refusing to start on the queue's Redis")
			require.Contains(t, stderr, "allkeys-lru")
			require.Contains(t, stderr, "--allow-eviction")
		}
	})

	t.Run("AllowedByEnvironment", func(t *testing.T) {
		t.Parallel()
		addr := freeAddr(t)
		p := start(t, []string{"REDIS_URL=" + srv.URL, "CRMFLOW_ADDR=" + addr, "CRMFLOW_ALLOW_EVICTION=true"}, "serve")
		waitReady(t, p, "http://"+addr)
		require.Equal(t, 0, p.stop(t), "stderr:\n%s", p.stderr)
	})
}

var exportTokenRE = regexp.MustCompile(`(?m)^\s*export CRMFLOW_TOKEN=(\S+)$`)

func TestEmbedded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"Run", []string{"run"}},
		{"ServeEmbedded", []string{"serve", "--embedded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := freeAddr(t)
			base := "http://" + addr
			// Without a salt: the embedded store draws its own.
			p := start(t, []string{"CRMFLOW_EMAIL_SALT="}, append(tc.args, "--addr", addr)...)
			waitReady(t, p, base)
			// The demo token is printed before the API serves.
			m := p.stdoutMatch(t, exportTokenRE)
			token := m[1]
			p.stdoutMatch(t, regexp.MustCompile(`curl`))
			p.stderrMatch(t, regexp.MustCompile(`NOT kept after exit`))

			contacts := base + "/crm/v3/objects/contacts"
			code, body := call(t, http.MethodPost, contacts, token, map[string]any{
				"properties": map[string]string{"email": "ada@example.com", "firstname": "Ada"},
			})
			require.Equal(t, http.StatusCreated, code, "body: %v", body)
			code, body = call(t, http.MethodGet, contacts, token, nil)
			require.Equal(t, http.StatusOK, code, "body: %v", body)
			require.Len(t, body["results"], 1)

			require.Equal(t, 0, p.stop(t), "stderr:\n%s", p.stderr)
			require.Contains(t, p.stderr.String(), `msg="crmflow stopped"`)
		})
	}
}

func TestRunOnRedisDoesNotSeed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	addr := freeAddr(t)
	p := start(t, nil, "run", "--addr", addr, "--redis", b.redisURL)
	waitReady(t, p, "http://"+addr)
	require.NotContains(t, p.stdout.String(), "CRMFLOW_TOKEN")
	require.NotContains(t, p.stderr.String(), "NOT kept after exit")
	require.Equal(t, 0, p.stop(t), "stderr:\n%s", p.stderr)
}

// TestRunSeedsOnce: run --seed on a real Redis issues the demo user's token once; a restart with
// --seed keeps the user and its token, prints none, and says how to issue one, so a service started
// with --seed does not gather tokens with every permission in its log.
func TestRunSeedsOnce(t *testing.T) {
	t.Parallel()
	srv, err := redistest.StartServer("") // the demo tenant is the same name in every store
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	b := &testBundle{redisURL: srv.URL, tenant: "demo"}
	tokens := make([]string, 2)
	for i := range tokens {
		addr := freeAddr(t)
		p := start(t, nil, "run", "--addr", addr, "--redis", srv.URL, "--seed")
		waitReady(t, p, "http://"+addr)
		if m := regexp.MustCompile(`export CRMFLOW_TOKEN=(\S+)`).FindStringSubmatch(p.stdout.String()); m != nil {
			tokens[i] = m[1]
		}
		require.Equal(t, 0, p.stop(t), "stderr:\n%s", p.stderr)
		if i == 1 {
			require.Contains(t, p.stdout.String(), "are from an earlier run, and their tokens are kept")
			require.Contains(t, p.stdout.String(), "crmflow admin token create demo admin@demo.example --ttl 90d")
		}
	}
	require.NotEmpty(t, tokens[0], "the first run issues a token")
	require.Empty(t, tokens[1], "a restart issues none")
	stdout, _ := b.admin(t, "token", "list", "demo")
	require.Len(t, strings.Split(strings.TrimSpace(stdout), "\n"), 2, "a header and one token: %s", stdout)
}

func TestAdmin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.admin(t, "tenant", "create", b.tenant, "--plan", "starter")

	t.Run("SetPlanAndList", func(t *testing.T) {
		t.Parallel()
		other := redistest.Tenant(t)
		b.admin(t, "tenant", "create", other, "--plan", "free")
		_, stderr := b.admin(t, "tenant", "set-plan", other, "enterprise")
		require.Contains(t, stderr, "free -> enterprise")
		stdout, _ := b.admin(t, "tenant", "list")
		require.Regexp(t, `(?m)^`+other+`\s+enterprise\s.*\s1000/1h$`, stdout)
	})

	t.Run("SetLimits", func(t *testing.T) {
		t.Parallel()
		other := redistest.Tenant(t)
		b.admin(t, "tenant", "create", other, "--plan", "professional")
		_, stderr := b.admin(t, "tenant", "set-limits", other, "--max-deletions", "25", "--per", "30m")
		require.Contains(t, stderr, "at most 25 records per 30m")
		stdout, _ := b.admin(t, "tenant", "list")
		require.Regexp(t, `(?m)^`+other+`\s+professional\s.*\s25/30m$`, stdout)
		b.admin(t, "tenant", "set-limits", other, "--max-deletions", "unlimited")
		stdout, _ = b.admin(t, "tenant", "list")
		require.Regexp(t, `(?m)^`+other+`\s+professional\s.*\sunlimited$`, stdout)
	})

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"UnknownPlan", []string{"tenant", "create", "x-" + b.tenant, "--plan", "gold"}, exitUsage,
			[]string{`plan "gold" is unknown`, "free, starter, professional, enterprise"}},
		{"MissingPlan", []string{"tenant", "create", "x-" + b.tenant}, exitUsage, []string{"--plan is required"}},
		{"BadTenantID", []string{"tenant", "create", "Not_A_Tenant", "--plan", "free"}, exitUsage, []string{"is invalid"}},
		{"TenantExists", []string{"tenant", "create", b.tenant, "--plan", "free"}, 1, []string{"already exists", "set-plan"}},
		{"SetPlanUnknownTenant", []string{"tenant", "set-plan", "x-" + b.tenant, "free"}, 1, []string{"does not exist", "admin tenant list", "admin tenant create"}},
		{"UnknownPermission", []string{"user", "create", b.tenant, "a@example.com", "--perms", "read,fly"}, exitUsage,
			[]string{`permission "fly" is unknown`, "bulk_delete"}},
		{"UserOfUnknownTenant", []string{"user", "create", "x-" + b.tenant, "a@example.com"}, 1, []string{"admin tenant create"}},
		{"TokenOfUnknownUser", []string{"token", "create", b.tenant, "nobody@example.com"}, 1, []string{"admin user create"}},
		{"MissingArgument", []string{"token", "create", b.tenant}, exitUsage, []string{"needs EMAIL"}},
		{"UnknownCommand", []string{"tenant", "delete", b.tenant}, exitUsage, []string{"unknown command"}},
		{"LimitMissing", []string{"tenant", "set-limits", b.tenant, "--per", "1h"}, exitUsage, []string{"--max-deletions is required"}},
		{"LimitZero", []string{"tenant", "set-limits", b.tenant, "--max-deletions", "0", "--per", "1h"}, exitUsage,
			[]string{`--max-deletions "0" is invalid`, "or unlimited"}},
		{"LimitNoWindow", []string{"tenant", "set-limits", b.tenant, "--max-deletions", "10"}, exitUsage, []string{"--per is required"}},
		{"LimitShortWindow", []string{"tenant", "set-limits", b.tenant, "--max-deletions", "10", "--per", "5s"}, exitUsage,
			[]string{"window 5s is out of range", "1m to 30d"}},
		{"LimitBadWindow", []string{"tenant", "set-limits", b.tenant, "--max-deletions", "10", "--per", "soon"}, exitUsage, []string{`--per "soon" is invalid`}},
		{"LimitUnlimitedWithWindow", []string{"tenant", "set-limits", b.tenant, "--max-deletions", "unlimited", "--per", "1h"}, exitUsage,
			[]string{"--per has no use"}},
		{"LimitUnknownTenant", []string{"tenant", "set-limits", "x-" + b.tenant, "--max-deletions", "10", "--per", "1h"}, 1,
			[]string{"does not exist", "admin tenant create"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := crmflow(t, nil, append(append([]string{"admin"}, tc.args...), "--redis", b.redisURL)...)
			require.Equal(t, tc.code, code, "stderr:\n%s", stderr)
			require.Empty(t, stdout, "errors go to stderr")
			for _, s := range tc.stderr {
				require.Contains(t, stderr, s)
			}
		})
	}

	t.Run("UserExists", func(t *testing.T) {
		t.Parallel()
		b.admin(t, "user", "create", b.tenant, "twice@example.com", "--perms", "all")
		_, stderr, code := crmflow(t, nil, "admin", "user", "create", b.tenant, "twice@example.com", "--redis", b.redisURL)
		require.Equal(t, 1, code, "stderr:\n%s", stderr)
		require.Contains(t, stderr, "admin token create")
	})
}

func TestVersion(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := crmflow(t, nil, "version")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Contains(t, stdout, "version  "+testVersion)
	require.Contains(t, stdout, "commit   ")
	require.Contains(t, stdout, runtime.Version())
}

func TestApplyEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"REDIS_URL": "redis://env:6379/0", "CRMFLOW_ADDR": ":9999", "CRMFLOW_RETENTION": "1h",
		"CRMFLOW_SHUTDOWN_TIMEOUT": "soon"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	t.Run("FlagWinsOverEnvironment", func(t *testing.T) {
		t.Parallel()
		a := &app{}
		cmd := newServeCmd(a)
		require.NoError(t, cmd.ParseFlags([]string{"--redis", "redis://flag:6379/0"}))
		fs := cmd.Flags()
		require.NoError(t, fs.Set("shutdown-timeout", "5s")) // so the bad variable is not read
		fromEnv, err := applyEnv(fs, lookup)
		require.NoError(t, err)
		require.Equal(t, "redis://flag:6379/0", a.cfg.RedisURL)
		require.Equal(t, ":9999", a.cfg.Addr)
		require.Equal(t, time.Hour, a.cfg.Retention)
		require.Equal(t, map[string]string{"addr": "CRMFLOW_ADDR", "retention": "CRMFLOW_RETENTION"}, fromEnv)
	})

	t.Run("BadValueNamesTheVariable", func(t *testing.T) {
		t.Parallel()
		cmd := newServeCmd(&app{})
		require.NoError(t, cmd.ParseFlags(nil))
		_, err := applyEnv(cmd.Flags(), lookup)
		require.ErrorContains(t, err, "CRMFLOW_SHUTDOWN_TIMEOUT")
		var ee *exitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, exitUsage, ee.code)
	})

	// A value that does not parse gets what the variable takes, beside the parser's own words.
	t.Run("BadValueSaysWhatItTakes", func(t *testing.T) {
		t.Parallel()
		bad := map[string]string{"CRMFLOW_SECURE_COOKIES": "yes please", "CRMFLOW_SHUTDOWN_TIMEOUT": "soon",
			"CRMFLOW_MAX_CONNECTIONS": "many"}
		cmd := newServeCmd(&app{})
		require.NoError(t, cmd.ParseFlags(nil))
		_, err := applyEnv(cmd.Flags(), func(k string) (string, bool) { v, ok := bad[k]; return v, ok })
		require.ErrorContains(t, err, "CRMFLOW_SECURE_COOKIES (for --secure-cookies) is invalid")
		require.ErrorContains(t, err, "use true or false")
		require.ErrorContains(t, err, "use a duration such as 30s")
		require.ErrorContains(t, err, "use a whole number")
	})

	t.Run("EveryServerFlagHasAVariable", func(t *testing.T) {
		t.Parallel()
		a := &app{}
		for _, cmd := range []*cobra.Command{newServeCmd(a), newWorkerCmd(a), newSchedulerCmd(a), newRunCmd(a)} {
			var missing []string
			cmd.Flags().VisitAll(func(f *pflag.Flag) {
				if f.Name != "embedded" && f.Name != "seed" && f.Name != "help" && len(f.Annotations[envAnnotation]) == 0 {
					missing = append(missing, f.Name)
				}
			})
			slices.Sort(missing)
			require.Empty(t, missing, cmd.Name())
		}
	})
}

func TestRedisURLErrorHidesPassword(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := crmflow(t, nil, "admin", "tenant", "list", "--redis", "redis://:hunter2@127.0.0.1:notaport/0")
	require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "not a valid Redis URL")
	require.NotContains(t, stderr, "hunter2")
}

// TestEachCommandKeepsItsDefaults runs the set-up of every command with no flag and no variable
// set, and checks that each flag holds its own command's default: serve listens on :8080 (not
// run's loopback address) and the worker's health endpoints on 127.0.0.1:9091 (not the
// scheduler's port, where the scheduler then failed to start beside it).
func TestEachCommandKeepsItsDefaults(t *testing.T) {
	t.Parallel()
	a := &app{stdout: io.Discard, stderr: io.Discard, lookupEnv: func(string) (string, bool) { return "", false }}
	root := newRootCmd(a)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() {
			return
		}
		require.NoError(t, c.ParseFlags(nil))
		require.NoError(t, root.PersistentPreRunE(c, nil), c.CommandPath())
		c.Flags().VisitAll(func(f *pflag.Flag) {
			require.Equal(t, f.DefValue, f.Value.String(), "%s --%s", c.CommandPath(), f.Name)
		})
		switch c.CommandPath() {
		case "crmflow serve":
			require.Equal(t, ":8080", a.cfg.Addr)
			require.Equal(t, "127.0.0.1:9090", a.cfg.AdminAddr)
		case "crmflow run":
			require.Equal(t, "127.0.0.1:8080", a.cfg.Addr)
			require.Empty(t, a.cfg.AdminAddr, "run serves no metrics unless asked")
		case "crmflow worker":
			require.Equal(t, "127.0.0.1:9091", a.cfg.AdminAddr)
		case "crmflow scheduler":
			require.Equal(t, "127.0.0.1:9092", a.cfg.AdminAddr)
		}
	}
	walk(root)
}

// TestRedisRefusesTheURL gives the processes the URL of a Redis that wants a password, without
// one, with a wrong one, and with a database it does not have: each exits 2, as a configuration
// that can never work (a supervisor does not restart it in a loop), saying what to change in which
// URL, and never shows a password.
func TestRedisRefusesTheURL(t *testing.T) {
	t.Parallel()
	srv, err := redistest.StartServer("")
	require.NoError(t, err)
	t.Cleanup(srv.Stop) // SHUTDOWN is refused without the password, then the server is killed
	host := fmt.Sprintf("127.0.0.1:%d", srv.Port)
	rdb := redis.NewClient(&redis.Options{Addr: host})
	require.NoError(t, rdb.ConfigSet(t.Context(), "requirepass", "pw-of-the-test").Err())
	require.NoError(t, rdb.Close())
	good := "redis://:pw-of-the-test@" + host + "/0"
	for _, tc := range []struct{ name, url, want string }{
		{"NoPassword", "redis://" + host + "/0", "the server wants a password: put it in"},
		{"WrongPassword", "redis://:hunter2@" + host + "/0", "the server refused the user or password of"},
		{"NoSuchDatabase", "redis://:pw-of-the-test@" + host + "/99", "the server has no database of the number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, run := range []struct {
				env  []string
				args []string
				flag string
			}{
				{[]string{"REDIS_URL=" + tc.url}, []string{"admin", "tenant", "list"}, "--redis/REDIS_URL"},
				{[]string{"REDIS_URL=" + tc.url}, []string{"worker", "--admin-addr", "127.0.0.1:0"}, "--redis/REDIS_URL"},
				{[]string{"QUEUE_REDIS_URL=" + tc.url}, []string{"scheduler", "--admin-addr", "127.0.0.1:0"}, "--queue-redis/QUEUE_REDIS_URL"},
				{[]string{"REDIS_URL=" + good, "QUEUE_REDIS_URL=" + tc.url}, []string{"serve", "--addr", "127.0.0.1:0"}, "--queue-redis/QUEUE_REDIS_URL"},
			} {
				stdout, stderr, code := crmflow(t, run.env, run.args...)
				require.Equal(t, exitUsage, code, "crmflow %v\nstderr:\n%s", run.args, stderr)
				require.Empty(t, stdout)
				require.Contains(t, stderr, tc.want+" "+run.flag, "crmflow %v", run.args)
				require.Contains(t, stderr, "refused the connection", "crmflow %v", run.args)
				require.NotContains(t, stderr, "hunter2")
				require.NotContains(t, stderr, "pw-of-the-test")
			}
		})
	}
}

// TestWarnsOfUnknownVariables sets a misspelt variable beside real ones: the command runs, and a
// warning names the one no command reads, which would otherwise be ignored without a word.
func TestWarnsOfUnknownVariables(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := crmflow(t, []string{"CRMFLOW_CONCURENCY=20", "SMTP_HOSTNAME=smtp.example.com",
		"CRMFLOW_JOB_LEASE=10s", "SMTP_PASSWORD=secret", "CRMFLOW_TOKEN=cft_x_0"}, "version")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	require.Contains(t, stdout, testVersion)
	require.Contains(t, stderr, "environment variable CRMFLOW_CONCURENCY is set but no crmflow command reads it: check its name")
	require.Contains(t, stderr, "environment variable SMTP_HOSTNAME is set but no crmflow command reads it")
	for _, known := range []string{"CRMFLOW_JOB_LEASE", "SMTP_PASSWORD", "CRMFLOW_TOKEN", "CRMFLOW_EMAIL_SALT"} {
		require.NotContains(t, stderr, known, "a variable crmflow reads")
	}
	require.NotContains(t, stderr, "smtp.example.com", "a value may be a secret")
}
