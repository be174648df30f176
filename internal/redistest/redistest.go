// Package redistest gives tests a real Redis: the one named by TEST_REDIS_URL, or else a throwaway
// redis-server started from PATH on a free port in a temporary directory, shared by the whole test binary.
//
// With neither, the test FAILS with a message that says how to install Redis: a skipped suite looks green.
// Tests never FLUSHDB; each uses its own random tenant (see [Tenant]) so they can run in parallel.
package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EmailSalt is the email salt of every store and crmflow process the tests run on a test Redis:
// one fixed value, so that the salt fingerprint a store keeps in the Redis (crm.SaltFingerprintKey)
// matches whichever test binary wrote it first, even when several share TEST_REDIS_URL. It is a
// test value only: a deployment sets its own secret.
const EmailSalt = "crmflow-test-salt-not-a-secret"

var (
	once    sync.Once
	url     string
	initErr error
)

// URL returns the address of the shared test Redis, starting it on first use.
// It fails the test when no Redis can be had.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { url, initErr = start() })
	if initErr != nil {
		t.Fatalf("redistest: %v", initErr)
	}
	return url
}

// Client returns a client of the shared test Redis, closed when the test ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatalf("redistest: parse url: %v", err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Tenant returns a fresh random tenant id, so that tests never share data.
func Tenant(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("redistest: random tenant: %v", err)
	}
	return "t-" + hex.EncodeToString(b[:])
}

func start() (string, error) {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u, nil
	}
	srv, err := StartServer("")
	if err != nil {
		return "", err
	}
	// The process lives as long as the test binary; the OS reaps it with the binary's process group
	// only if we kill it, so register a best-effort shutdown through a finalizer-free approach:
	// redis-server is started with a parent-death watchdog below.
	return srv.URL, nil
}

// Server is a redis-server process owned by the caller.
type Server struct {
	// URL is redis://127.0.0.1:PORT/0.
	URL string
	// Dir is the server's working directory (for AOF or RDB files).
	Dir  string
	Port int
	cmd  *exec.Cmd
	args []string
	env  []string      // added to the server's environment
	pid  int           // the redis-server process, as the server reports it
	done chan struct{} // closed when the wrapper of the current run has exited
}

// StartServer starts redis-server from PATH on a free loopback port. dir is the working directory;
// empty means a new temporary directory. extra arguments are passed to redis-server
// (for example "--appendonly", "yes"). The server is stopped by Stop; it also stops by itself
// when the current process exits, because it watches its parent.
func StartServer(dir string, extra ...string) (*Server, error) {
	return StartServerEnv(dir, nil, extra...)
}

// StartServerEnv starts redis-server like StartServer, with env (KEY=value entries) added to its
// environment: for example a locale (see Locale), which Redis applies to its string collation.
func StartServerEnv(dir string, env []string, extra ...string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found on PATH and TEST_REDIS_URL is not set.\n" +
			"Install Redis (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis)\n" +
			"or point TEST_REDIS_URL at a Redis you own, e.g. TEST_REDIS_URL=redis://127.0.0.1:6379/15")
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "crmflow-redis-"); err != nil {
			return nil, fmt.Errorf("temp dir: %w", err)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Port: port, URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), env: env}
	s.args = append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction",
		"--logfile", filepath.Join(dir, "redis.log"),
	}, extra...)
	if err := s.Start(bin); err != nil {
		return nil, err
	}
	return s, nil
}

// Start (re)starts the server with the arguments it was created with, from the same directory.
func (s *Server) Start(bin string) error {
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			return fmt.Errorf("redis-server: %w", err)
		}
	}
	// A tiny shell wrapper kills redis-server when the parent (this test binary) goes away.
	script := fmt.Sprintf(`%s "$@" & rp=$!; while kill -0 %d 2>/dev/null && kill -0 $rp 2>/dev/null; do sleep 0.5; done; kill -9 $rp 2>/dev/null; wait $rp`, shellQuote(bin), os.Getpid())
	cmd := exec.Command("sh", append([]string{"-c", script, "redis-server"}, s.args...)...)
	cmd.Stdout, cmd.Stderr = nil, nil
	if len(s.env) > 0 {
		cmd.Env = append(os.Environ(), s.env...)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.cmd = cmd
	done := make(chan struct{})
	s.done = done
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	if err := s.waitReady(); err != nil {
		return err
	}
	pid, err := s.serverPID()
	if err != nil {
		return err
	}
	s.pid = pid
	return nil
}

// StartAOF starts redis-server like StartServer, with append-only persistence that syncs every
// write before it is acknowledged (appendonly yes, appendfsync always): a server killed with Kill
// and started again with Restart from the same directory has every write it acknowledged.
func StartAOF(dir string) (*Server, error) {
	return StartServer(dir, "--appendonly", "yes", "--appendfsync", "always")
}

// Restart starts the server again after Kill or Stop, on the same port and from the same directory.
func (s *Server) Restart() error { return s.Start("") }

// serverPID asks the server for its process id.
func (s *Server) serverPID() (int, error) {
	opt, _ := redis.ParseURL(s.URL)
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return 0, fmt.Errorf("redis-server on port %d: INFO server: %w", s.Port, err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("redis-server on port %d: INFO server has no process_id", s.Port)
}

func (s *Server) waitReady() error {
	opt, _ := redis.ParseURL(s.URL)
	c := redis.NewClient(opt)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on port %d did not answer within 10s: %w (log: %s)", s.Port, err, tailLog(s.Dir))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server at once with SIGKILL, as a crash would, and returns once it is gone (its
// port closed): it kills the redis-server process by the id the server reported at start, and
// waits for the wrapper, which exits once the server is gone.
func (s *Server) Kill() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	var err error
	select {
	case <-s.done:
		s.pid = 0 // gone already (SHUTDOWN): its process id may be another process's by now
	default:
	}
	if s.pid > 0 {
		if err = syscall.Kill(s.pid, syscall.SIGKILL); errors.Is(err, syscall.ESRCH) {
			err = nil // gone already
		}
		s.pid = 0
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	if err != nil {
		return fmt.Errorf("kill redis-server on port %d: %w", s.Port, err)
	}
	return nil
}

// Pause stops the server with SIGSTOP, as a hung Redis: its port stays open and accepts
// connections, but nothing is answered until Resume. Call Resume in t.Cleanup, or a stopped
// server outlives the test.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume continues a server stopped by Pause, with SIGCONT.
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	if s.pid <= 0 {
		return fmt.Errorf("redis-server on port %d is not running", s.Port)
	}
	if err := syscall.Kill(s.pid, sig); err != nil {
		return fmt.Errorf("signal %s to redis-server on port %d: %w", sig, s.Port, err)
	}
	return nil
}

// Stop shuts the server down and waits for the port to close.
func (s *Server) Stop() {
	opt, _ := redis.ParseURL(s.URL)
	c := redis.NewClient(opt)
	_ = c.Do(context.Background(), "SHUTDOWN", "NOSAVE").Err()
	_ = c.Close()
	_ = s.Kill()
}

// FreePort returns a loopback port that was free a moment ago and that this process has not
// handed out before: the kernel may give a port that was just closed to the next caller, and two
// servers of one test run must not both be told to listen on it.
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !portsGiven[port] {
			portsGiven[port] = true
			return port, nil
		}
	}
	return 0, errors.New("find a free port: every port the kernel offered was handed out already")
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

func freePort() (int, error) { return FreePort() }

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func tailLog(dir string) string {
	f, err := os.Open(filepath.Join(dir, "redis.log"))
	if err != nil {
		return "no log"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 5 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, " | ")
}
