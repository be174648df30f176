package worker_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/worker"
)

// Routine sweeps that find nothing to do log at debug level only: at the default info level, an
// idle worker writes nothing for them (a changes sweep runs every 2 s).
func TestIdleSweepsLogAtDebug(t *testing.T) {
	t.Parallel()
	b := setup(t)
	info := &syncBuffer{}
	cfg := b.config()
	cfg.Logger = slog.New(slog.NewJSONHandler(info, &slog.HandlerOptions{Level: slog.LevelInfo}))
	w, err := worker.New(b.store, b.queue, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })

	for _, task := range []*asynq.Task{
		worker.NewChangesSweepTask(t0), worker.NewJobsSweepTask(t0), worker.NewMailSweepTask(t0), worker.NewWorkflowSweepTask(t0),
	} {
		require.NoError(t, w.ProcessTask(b.ctx, task), task.Type())
	}
	require.Empty(t, strings.TrimSpace(info.String()), "info lines of idle sweeps")
}
