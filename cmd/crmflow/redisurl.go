package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// redisTarget is a parsed --redis or --queue-redis: one server, or a Redis Cluster.
type redisTarget struct {
	single  *redis.Options        // one server; nil for a cluster
	cluster *redis.ClusterOptions // a cluster's seed nodes; nil for one server
}

// clusterSchemes maps the schemes that name a cluster to the ones go-redis's ParseClusterURL reads.
var clusterSchemes = map[string]string{"redis+cluster": "redis", "rediss+cluster": "rediss"}

// redisURLHelp is what a valid --redis or --queue-redis looks like, for error messages.
const redisURLHelp = "want redis://[[USER]:PASSWORD@]HOST:PORT/DB, rediss://..., or a cluster: " +
	"redis+cluster://[[USER]:PASSWORD@]HOST:PORT?addr=HOST2:PORT2&addr=... (rediss+cluster:// with TLS)"

// parseRedisTarget parses the Redis URL raw given by flag: redis:// or rediss:// for one server,
// redis+cluster:// or rediss+cluster:// for a cluster, whose other seed nodes are given as
// ?addr=HOST:PORT. A cluster has only database 0: a path other than "" or "/0" is an error. It
// sets crmflow's timeouts where the URL left them unset (withRedisTimeouts).
func parseRedisTarget(raw, flag string) (redisTarget, error) {
	// Blank space around the URL (an environment file's trailing space) is no part of it.
	raw = strings.TrimSpace(raw)
	scheme, rest, _ := strings.Cut(raw, "://")
	plain, isCluster := clusterSchemes[strings.ToLower(scheme)]
	if !isCluster {
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return redisTarget{}, usageErrorf("%s is not a valid Redis URL (%s): %v", flag, redisURLHelp, redisURLError(err))
		}
		withRedisTimeouts(opt)
		return redisTarget{single: opt}, nil
	}
	u, err := url.Parse(plain + "://" + rest)
	if err != nil {
		return redisTarget{}, usageErrorf("%s is not a valid Redis Cluster URL (%s): %v", flag, redisURLHelp, redisURLError(err))
	}
	switch u.Path {
	case "", "/", "/0":
		u.Path = ""
	default:
		return redisTarget{}, usageErrorf("%s names database %s, but a Redis Cluster has only database 0: drop %q from the URL",
			flag, strings.TrimPrefix(u.Path, "/"), u.Path)
	}
	opt, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return redisTarget{}, usageErrorf("%s is not a valid Redis Cluster URL (%s): %v", flag, redisURLHelp, redisURLError(err))
	}
	withClusterTimeouts(opt)
	return redisTarget{cluster: opt}, nil
}

// clusterReload is how often a cluster client reads the cluster's slots again. go-redis reloads
// at once on MOVED, but not when a master dies: without this, a client would keep dialling a dead
// master for a minute (go-redis's default) after its replica took over.
const clusterReload = time.Second

// withClusterTimeouts is withRedisTimeouts for a cluster's options, plus clusterReload.
func withClusterTimeouts(opt *redis.ClusterOptions) {
	opt.ClusterStateReloadInterval = clusterReload
	one := &redis.Options{DialTimeout: opt.DialTimeout, ReadTimeout: opt.ReadTimeout, WriteTimeout: opt.WriteTimeout,
		PoolTimeout: opt.PoolTimeout, MaxRetries: opt.MaxRetries}
	withRedisTimeouts(one)
	opt.ContextTimeoutEnabled = true
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout, opt.MaxRetries =
		one.DialTimeout, one.ReadTimeout, one.WriteTimeout, one.PoolTimeout, one.MaxRetries
}

// where names the target for messages and logs: host:port, or "cluster h1:p1,h2:p2". Never a password.
func (r redisTarget) where() string {
	if r.cluster != nil {
		return "cluster " + strings.Join(r.cluster.Addrs, ",")
	}
	return r.single.Addr
}

// tls reports whether the target is reached over TLS (rediss:// or rediss+cluster://).
func (r redisTarget) tls() bool {
	if r.cluster != nil {
		return r.cluster.TLSConfig != nil
	}
	return r.single.TLSConfig != nil
}

// unreachableHint is what to check when the target does not answer.
func (r redisTarget) unreachableHint(flag string) string {
	if r.tls() {
		return fmt.Sprintf("check %s and that the server is up and speaks TLS (rediss://): for a server without TLS, write redis://", flag)
	}
	return fmt.Sprintf("check %s and that the server is up", flag)
}

// refusedHint says what to change in the URL of flag when the server answered but refused it: it
// wants a password the URL lacks, does not know the URL's user or password, or has no database of
// the URL's number. Such a URL can never work as given; ok is false for other errors, such as a
// server that is down or hung, which may pass by themselves.
func refusedHint(err error, flag string) (hint string, ok bool) {
	switch {
	case redis.HasErrorPrefix(err, "NOAUTH"):
		return fmt.Sprintf("the server wants a password: put it in %s, as redis://:PASSWORD@HOST:PORT/DB "+
			"(redis://USER:PASSWORD@HOST:PORT/DB for an ACL user)", flag), true
	case redis.HasErrorPrefix(err, "WRONGPASS"):
		return fmt.Sprintf("the server refused the user or password of %s: correct them "+
			"(redis://:PASSWORD@HOST:PORT/DB for the default user, redis://USER:PASSWORD@HOST:PORT/DB for an ACL user)", flag), true
	case redis.HasErrorPrefix(err, "DB index is out of range"): // "ERR DB index ...", without its ERR
		return fmt.Sprintf("the server has no database of the number %s names: name one it has, "+
			"from 0 to its 'databases' setting minus one (0 to 15 by default)", flag), true
	case redis.HasErrorPrefix(err, "This instance has cluster support disabled"):
		return fmt.Sprintf("the server is not a Redis Cluster: give %s the URL of one server, "+
			"redis://[[USER]:PASSWORD@]HOST:PORT/DB (rediss:// with TLS)", flag), true
	}
	return "", false
}

// clusterNodeHint says what to change in the URL of flag when a client of one server (redis://)
// reached a node of a Redis Cluster: such a client would reach only the slots of that node, so the
// tenants of the other slots would fail with MOVED, or the start with CLUSTERDOWN. ok is false
// for a server that is not a cluster node, or that does not say (INFO refused).
func clusterNodeHint(ctx context.Context, rdb redis.UniversalClient, flag string) (hint string, ok bool) {
	if _, cluster := rdb.(*redis.ClusterClient); cluster {
		return "", false
	}
	info, err := rdb.Info(ctx, "cluster").Result()
	if err != nil || !strings.Contains(info, "cluster_enabled:1") {
		return "", false
	}
	return fmt.Sprintf("the server is a node of a Redis Cluster, and a redis:// client reaches only that node's slots: "+
		"give %s the cluster's URL, redis+cluster://[[USER]:PASSWORD@]HOST:PORT?addr=HOST2:PORT2&addr=... "+
		"(rediss+cluster:// with TLS)", flag), true
}

// db is the target's database number (0 for a cluster).
func (r redisTarget) db() int {
	if r.single != nil {
		return r.single.DB
	}
	return 0
}

// client makes a client of the target. It leaves the target's options as they are: go-redis fills
// its defaults into the cluster options it is given, so the client gets a copy.
func (r redisTarget) client() redis.UniversalClient {
	if r.cluster != nil {
		o := *r.cluster
		return redis.NewClusterClient(&o)
	}
	return redis.NewClient(r.single) // which copies the options itself
}

// asynqOpt is the target as asynq's connection option: for a cluster, a clusterConn with the
// same options as the store's client (asynq.RedisClusterClientOpt cannot set the slot reload).
func (r redisTarget) asynqOpt() asynq.RedisConnOpt {
	if r.cluster != nil {
		return clusterConn{opt: r.cluster}
	}
	o := r.single
	return asynq.RedisClientOpt{Network: o.Network, Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		PoolSize: o.PoolSize, TLSConfig: o.TLSConfig}
}

// clusterConn is an asynq.RedisConnOpt of a Redis Cluster that makes its clients from go-redis
// cluster options.
type clusterConn struct{ opt *redis.ClusterOptions }

// MakeRedisClient implements asynq.RedisConnOpt: a new *redis.ClusterClient.
func (c clusterConn) MakeRedisClient() any {
	return redisTarget{cluster: c.opt}.client()
}

// pingAll pings the server of rdb or, on a cluster, every master: a cluster whose slots are not
// all reachable is not ready.
func pingAll(ctx context.Context, rdb redis.UniversalClient) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		if err := redisstore.EachServer(ctx, cc, func(ctx context.Context, m redis.UniversalClient) error {
			return m.Ping(ctx).Err()
		}); err != nil {
			return err
		}
		// Every slot must have a master that answered: CLUSTER INFO says whether the cluster is ok.
		info, err := cc.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("the cluster's state is not ok: some slots have no master")
		}
		return nil
	}
	return rdb.Ping(ctx).Err()
}
