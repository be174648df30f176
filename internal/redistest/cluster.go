package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// Cluster is a throwaway Redis Cluster: redis-server processes started from PATH on free loopback
// ports, each master serving an equal share of the slots, with replicas when asked for.
type Cluster struct {
	// URL is redis+cluster://127.0.0.1:P1?addr=127.0.0.1:P2&addr=..., the form crmflow's --redis takes.
	URL string
	// Addrs are the masters' host:port, as they were started.
	Addrs []string
	// Masters are the servers started as masters, in the order of Addrs.
	Masters []*Server
	// Replicas are the servers started as replicas: Replicas[i] replicate Masters[i].
	Replicas [][]*Server
	// buses are the masters' cluster bus ports (--cluster-port), in the same order.
	buses []int
}

var (
	clusterOnce sync.Once
	clusterURL  string
	clusterErr  error
)

// ClusterURL returns the URL of the shared test cluster: TEST_REDIS_CLUSTER_URL when set, else a
// cluster of three masters started on first use and kept for the whole test binary. It fails the
// test when no cluster can be had (redis-server missing, or a cluster that does not form).
func ClusterURL(t testing.TB) string {
	t.Helper()
	clusterOnce.Do(func() {
		if u := os.Getenv("TEST_REDIS_CLUSTER_URL"); u != "" {
			clusterURL = u
			return
		}
		var c *Cluster
		if c, clusterErr = StartCluster(3); clusterErr == nil {
			clusterURL = c.URL
		}
	})
	if clusterErr != nil {
		t.Fatalf("redistest: %v", clusterErr)
	}
	return clusterURL
}

// ClusterClient returns a cluster client of the shared test cluster, closed when the test ends.
func ClusterClient(t testing.TB) *redis.ClusterClient {
	t.Helper()
	opt, err := redis.ParseClusterURL(strings.Replace(ClusterURL(t), "redis+cluster://", "redis://", 1))
	if err != nil {
		t.Fatalf("redistest: parse cluster url: %v", err)
	}
	// Read the slots again every second, not every minute: a test that kills a master wants its
	// replica found at once (go-redis reloads at once on MOVED, not on a dead master).
	opt.ClusterStateReloadInterval = time.Second
	c := redis.NewClusterClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// StartCluster starts a cluster of masters redis-servers (3 at least, as Redis Cluster wants),
// assigns the slots in equal ranges, joins them, and returns once every node sees the cluster as
// ok. Stop it with Stop; its servers also stop when the current process exits.
func StartCluster(masters int) (*Cluster, error) { return StartClusterWithReplicas(masters, 0) }

// StartClusterWithReplicas is StartCluster with replicas replicas of each master (append-only
// persistence off, as every test server): when a master fails, the cluster promotes one of its
// replicas after the node timeout (2s here).
func StartClusterWithReplicas(masters, replicas int) (*Cluster, error) {
	if masters < 3 {
		return nil, fmt.Errorf("redistest: a cluster needs at least 3 masters, not %d", masters)
	}
	c := &Cluster{}
	node := func() (*Server, int, error) {
		bus, err := freePort()
		if err != nil {
			return nil, 0, err
		}
		s, err := StartServer("", "--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0")
		return s, bus, err
	}
	for range masters {
		s, bus, err := node()
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Masters, c.buses = append(c.Masters, s), append(c.buses, bus)
		c.Addrs = append(c.Addrs, "127.0.0.1:"+strconv.Itoa(s.Port))
	}
	if err := c.form(); err != nil {
		c.Stop()
		return nil, err
	}
	if replicas > 0 {
		c.Replicas = make([][]*Server, masters)
		for i := range masters {
			for range replicas {
				s, _, err := node()
				if err != nil {
					c.Stop()
					return nil, err
				}
				c.Replicas[i] = append(c.Replicas[i], s)
				if err := c.replicate(s, i); err != nil {
					c.Stop()
					return nil, err
				}
			}
		}
	}
	c.URL = "redis+cluster://" + c.Addrs[0]
	for i, a := range c.Addrs[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		c.URL += sep + "addr=" + a
	}
	return c, nil
}

// form gives each master its range of slots, introduces them to one another and waits until
// every node reports cluster_state:ok and sees every slot assigned.
func (c *Cluster) form() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clients := make([]*redis.Client, len(c.Addrs))
	for i, a := range c.Addrs {
		clients[i] = redis.NewClient(&redis.Options{Addr: a})
		defer clients[i].Close()
	}
	per := clusterSlots / len(clients)
	for i, cl := range clients {
		lo, hi := i*per, (i+1)*per-1
		if i == len(clients)-1 {
			hi = clusterSlots - 1
		}
		args := []any{"CLUSTER", "ADDSLOTS"}
		for s := lo; s <= hi; s++ {
			args = append(args, s)
		}
		if err := cl.Do(ctx, args...).Err(); err != nil {
			return fmt.Errorf("redistest: CLUSTER ADDSLOTS on %s: %w", c.Addrs[i], err)
		}
	}
	for i, cl := range clients[1:] {
		// The bus port is not the default (port + 10000): MEET must name it.
		if err := cl.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", c.Masters[0].Port, c.buses[0]).Err(); err != nil {
			return fmt.Errorf("redistest: CLUSTER MEET from %s: %w", c.Addrs[i+1], err)
		}
	}
	for {
		ok := true
		for _, cl := range clients {
			info, err := cl.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, "cluster_slots_assigned:"+strconv.Itoa(clusterSlots)) ||
				!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(clients))) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("redistest: the cluster did not form within 30s (log of the first node: " + tailLog(c.Masters[0].Dir) + ")")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// replicate joins s to the cluster as a replica of master i, and waits until it has synced.
func (c *Cluster) replicate(s *Server, i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := redis.NewClient(&redis.Options{Addr: c.Addrs[i]})
	defer m.Close()
	r := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(s.Port)})
	defer r.Close()
	id, err := m.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		return fmt.Errorf("redistest: CLUSTER MYID on %s: %w", c.Addrs[i], err)
	}
	if err := r.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", c.Masters[0].Port, c.buses[0]).Err(); err != nil {
		return fmt.Errorf("redistest: CLUSTER MEET from replica %d: %w", s.Port, err)
	}
	replicating := false
	for {
		var err error
		if !replicating {
			// REPLICATE needs the replica to know the master first: retry until the gossip has it.
			err = r.Do(ctx, "CLUSTER", "REPLICATE", id).Err()
			replicating = err == nil
		}
		if replicating {
			info, ierr := r.Info(ctx, "replication").Result()
			if ierr == nil && strings.Contains(info, "master_link_status:up") {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: replica on port %d of %s did not sync within 30s (last error: %v; log: %s)",
				s.Port, c.Addrs[i], err, tailLog(s.Dir))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop shuts every server of the cluster down.
func (c *Cluster) Stop() {
	for _, s := range c.Masters {
		s.Stop()
		_ = os.RemoveAll(s.Dir)
	}
	for _, rs := range c.Replicas {
		for _, s := range rs {
			s.Stop()
			_ = os.RemoveAll(s.Dir)
		}
	}
}
