package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
)

// redisLog is the logger go-redis writes through (see redisLogger): the logger of the command
// that runs, set once its flags are read. Before that, and in tests that never call main, nil.
var redisLog atomic.Pointer[slog.Logger]

// redisLogger adapts go-redis's logger to slog, so that its lines (a failed dial, a connection
// pool trouble) are structured like every other line: level warn, component "redis". main
// installs it with redis.SetLogger; the command's logger is read at each line, so the adapter is
// safe for concurrent use.
type redisLogger struct{}

// Printf logs one go-redis line at warn level, or drops it before a logger is set.
func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l := redisLog.Load()
	if l == nil {
		return
	}
	l.LogAttrs(ctx, slog.LevelWarn, strings.TrimSpace(fmt.Sprintf(format, v...)), slog.String("component", "redis"))
}
