package redisstore

import (
	"context"
	"fmt"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// runAcked runs a destructive script and returns its reply, and, apart, whether it was
// acknowledged by enough replicas. With Config.WaitReplicas at 0 it is script.Run and acked is nil.
// Otherwise the script and a WAIT for that many replicas go, pipelined, over one connection to the
// master of the script's first key (WAIT counts the replicas that have the writes of its own
// connection); a short count is acked ErrNotReplicated, wrapped with the counts, while the reply
// stays whole: the change was made, and the caller returns what it did along with acked. That
// master's client is not the cluster client, whose hook tells a Redis in trouble: its errors are
// told here the same way (a master down, a slot on the move), or they would not be retryable.
func (s *Store) runAcked(ctx context.Context, script *redis.Script, call scriptCall) (reply *redis.Cmd, acked error) {
	keys, args := call.keys(), call.argv()
	if s.cfg.WaitReplicas == 0 {
		return script.Run(ctx, s.rdb, keys, args...), nil
	}
	var node redis.Cmdable = s.rdb
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			if wrapped, ok := classifyTrouble(err); ok {
				err = wrapped
			}
			cmd := redis.NewCmd(ctx)
			cmd.SetErr(fmt.Errorf("find the master of %s: %w", keys[0], err))
			return cmd, nil
		}
		node = m
	}
	run := func(eval bool) (*redis.Cmd, *redis.Cmd) {
		pipe := node.Pipeline()
		var cmd *redis.Cmd
		if eval {
			cmd = script.Eval(ctx, pipe, keys, args...)
		} else {
			cmd = script.EvalSha(ctx, pipe, keys, args...)
		}
		wait := pipe.Do(ctx, "WAIT", s.cfg.WaitReplicas, s.cfg.WaitReplicasTimeout.Milliseconds())
		_, _ = pipe.Exec(ctx) // each command keeps its own error
		return cmd, wait
	}
	cmd, wait := run(false)
	if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmd, wait = run(true) // the first run of this script on that server
	}
	if err := cmd.Err(); err != nil {
		if wrapped, ok := classifyTrouble(err); ok {
			cmd.SetErr(wrapped)
		}
		return cmd, nil
	}
	got, err := wait.Int64()
	switch {
	case err != nil:
		return cmd, fmt.Errorf("%w: waiting for %d replicas failed: %w", crm.ErrNotReplicated, s.cfg.WaitReplicas, err)
	case got < int64(s.cfg.WaitReplicas):
		return cmd, fmt.Errorf("%w: %d of %d within %s", crm.ErrNotReplicated, got, s.cfg.WaitReplicas, s.cfg.WaitReplicasTimeout)
	}
	return cmd, nil
}
