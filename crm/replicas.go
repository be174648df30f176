package crm

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated means a destructive change was made on its master, but fewer replicas than
// Config.WaitReplicas acknowledged it within Config.WaitReplicasTimeout: it stands, and may be lost
// if the master fails before its replicas catch up. Calls that return it may be retried: the
// changes they make are idempotent.
var ErrNotReplicated = errors.New("crm: change not acknowledged by enough replicas")

// runAcked runs a destructive script. With Config.WaitReplicas at 0 it is script.Run. Otherwise the
// script and a WAIT for that many replicas go, pipelined, over one connection to the master of the
// script's first key (WAIT counts the replicas that have the writes of its own connection), and a
// short count is ErrNotReplicated, wrapped with the counts. The script's reply is returned either way.
func (s *RedisStore) runAcked(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if s.cfg.WaitReplicas == 0 {
		return script.Run(ctx, s.rdb, keys, args...)
	}
	var node redis.Cmdable = s.rdb
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			cmd := redis.NewCmd(ctx)
			cmd.SetErr(fmt.Errorf("find the master of %s: %w", keys[0], err))
			return cmd
		}
		node = m
	}
	run := func(eval bool) (*redis.Cmd, *redis.IntCmd, error) {
		pipe := node.Pipeline()
		var cmd *redis.Cmd
		if eval {
			cmd = script.Eval(ctx, pipe, keys, args...)
		} else {
			cmd = script.EvalSha(ctx, pipe, keys, args...)
		}
		wait := pipe.Do(ctx, "WAIT", s.cfg.WaitReplicas, s.cfg.WaitReplicasTimeout.Milliseconds())
		_, err := pipe.Exec(ctx)
		n, _ := wait.Int64()
		return cmd, redis.NewIntResult(n, wait.Err()), err
	}
	cmd, wait, _ := run(false)
	if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmd, wait, _ = run(true) // the first run of this script on that server
	}
	if cmd.Err() != nil {
		return cmd
	}
	if err := wait.Err(); err != nil {
		cmd.SetErr(fmt.Errorf("wait for %d replicas: %w", s.cfg.WaitReplicas, err))
		return cmd
	}
	if got := wait.Val(); got < int64(s.cfg.WaitReplicas) {
		cmd.SetErr(fmt.Errorf("%w: %d of %d within %s", ErrNotReplicated, got, s.cfg.WaitReplicas, s.cfg.WaitReplicasTimeout))
	}
	return cmd
}
