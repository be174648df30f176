package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// troubleHook is the go-redis hook of a Store's client: it wraps the errors that mean the
// Redis is in trouble (see classifyTrouble) so that they match ErrStoreUnavailable or ErrStoreFull
// with errors.Is, keeping the original error in the chain.
type troubleHook struct{}

func (troubleHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if wrapped, ok := classifyTrouble(err); ok {
			return conn, wrapped
		}
		return conn, err
	}
}

func (troubleHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if wrapped, ok := classifyTrouble(err); ok {
			cmd.SetErr(wrapped)
			return wrapped
		}
		return err
	}
}

func (troubleHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if wrapped, ok := classifyTrouble(cmd.Err()); ok {
				cmd.SetErr(wrapped)
			}
		}
		if wrapped, ok := classifyTrouble(err); ok {
			return wrapped
		}
		return err
	}
}

// classifyTrouble returns err wrapped with ErrStoreFull (an OOM refusal) or ErrStoreUnavailable
// (a connection refused, reset or closed, an I/O timeout, no free connection in the pool, a
// server that is loading or refuses clients, a cluster that is down, a cluster slot on the move:
// TRYAGAIN, or a MOVED or ASK redirection that reached the caller, or a server busy running a
// script past its busy-reply-threshold: BUSY, until the script ends or is killed), and true; or
// false for any
// other error: nil, redis.Nil, a context's end (the caller's deadline, answered as such), a
// script's or a command's own error, a client closed by its owner (redis.ErrClosed: a bug or a
// shutdown, not a Redis in trouble), or an error wrapped already.
func classifyTrouble(err error) (error, bool) {
	if err == nil || errors.Is(err, crm.ErrStoreUnavailable) || errors.Is(err, crm.ErrStoreFull) ||
		errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err, false
	}
	if redis.IsOOMError(err) {
		return fmt.Errorf("%w: %w", crm.ErrStoreFull, err), true
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted),
		redis.IsLoadingError(err), redis.IsMaxClientsError(err),
		redis.IsMasterDownError(err), redis.IsClusterDownError(err), redis.IsTryAgainError(err), redirected(err),
		redis.HasErrorPrefix(err, "BUSY "):
		return fmt.Errorf("%w: %w", crm.ErrStoreUnavailable, err), true
	}
	return err, false
}

// redirected reports whether err is a Redis Cluster redirection (MOVED or ASK). The cluster client
// follows these itself, so one that reaches the caller means a slot is moving between masters (a
// reshard): the client ran out of redirections, or the call went to a master's own client, which
// follows none (Store.runAcked). A retry a moment later gets past it.
func redirected(err error) bool {
	_, moved := redis.IsMovedError(err)
	_, ask := redis.IsAskError(err)
	return moved || ask
}
