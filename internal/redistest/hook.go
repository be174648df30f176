package redistest

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// EachCommand is a go-redis hook that calls itself with every command a client sends, alone or in
// a pipeline, just before it is sent: add it with AddHook to watch or count what a store asks of
// Redis. The function must be safe for concurrent use when the client is.
type EachCommand func(cmd redis.Cmder)

// DialHook implements redis.Hook: dials are left as they are.
func (f EachCommand) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (f EachCommand) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		f(cmd)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook: f sees each command of the pipeline.
func (f EachCommand) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			f(c)
		}
		return next(ctx, cmds)
	}
}
