package worker

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// lockedBuffer is a bytes.Buffer safe for the logger's writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// panickingStep stands for a handler with a bug.
func panickingStep(context.Context, *asynq.Task) error {
	var counts map[string]int
	counts["steps"]++ // a nil map: panics
	return nil
}

// A task whose handler panics fails (asynq retries it) and its log line has the stack of the
// panic, so that whoever reads the log can find the bug.
func TestPanickingTaskIsLoggedWithItsStack(t *testing.T) {
	t.Parallel()
	st, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	opt, err := redis.ParseURL(redistest.URL(t))
	require.NoError(t, err)
	var logs lockedBuffer
	w, err := New(st, asynq.RedisClientOpt{Addr: opt.Addr, DB: opt.DB}, &Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })

	h := w.observe(asynq.HandlerFunc(panickingStep))
	err = h.ProcessTask(context.Background(), asynq.NewTask(TypeWorkflowSteps, []byte(`{"tenant_id":"t-panic"}`)))
	require.ErrorContains(t, err, "task workflow:steps panicked: assignment to entry in nil map")
	require.Contains(t, logs.String(), `"tenant_id":"t-panic"`)
	require.Contains(t, logs.String(), "worker.panickingStep", "the log has the stack of the panic")
}
