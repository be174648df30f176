package engine

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/workflows"
)

// DefaultCacheSize is how many parsed revisions a Cache keeps by default.
const DefaultCacheSize = 1024

// Store is what a Cache reads: a revision's source when it is not given, and the tenant's live
// property schemas to parse it against. *redisstore.Store implements it.
type Store interface {
	// FlowRevision returns one stored revision of a workflow, or an error matching crm.ErrNotFound.
	FlowRevision(ctx context.Context, t crm.TenantID, name string, rev int64) (crm.FlowRevision, error)
	// Schema returns the properties of an object type, or an error matching crm.ErrNotFound.
	Schema(ctx context.Context, t crm.TenantID, o crm.ObjectType) (crm.Schema, error)
}

// CacheConfig configures a Cache. The zero value works.
type CacheConfig struct {
	// Registry is the action registry revisions are parsed with. Defaults to actions.Default().
	Registry *actions.Registry
	// Size is how many parsed revisions the cache keeps; the least recently used goes first.
	// Defaults to DefaultCacheSize.
	Size int
}

// Cache keeps parsed workflow revisions by (tenant, workflow, revision): each revision's YAML is
// parsed once (workflows.Parse, against the tenant's live schema), its triggers compiled once, and
// the result shared by every task that evaluates or runs it. A stored revision never changes, so an
// entry is never stale. It holds at most CacheConfig.Size entries (LRU). Concurrent requests for
// the same revision parse it once. A revision that does not validate is kept as its
// *workflows.ValidationError; other errors (reading the store) are not kept. Safe for concurrent
// use.
type Cache struct {
	reg  *actions.Registry
	size int

	mu      sync.Mutex
	entries map[cacheKey]*list.Element // of *cacheEntry
	lru     list.List                  // front: most recently used
}

type cacheKey struct {
	tenant   crm.TenantID
	workflow string
	revision int64
}

type cacheEntry struct {
	key  cacheKey
	done chan struct{} // closed once wf and err are set
	wf   *workflows.Workflow
	err  error
}

// NewCache returns an empty Cache. cfg may be nil for the defaults. It returns an error for a
// negative size.
func NewCache(cfg *CacheConfig) (*Cache, error) {
	var c CacheConfig
	if cfg != nil {
		c = *cfg
	}
	if c.Size < 0 {
		return nil, fmt.Errorf("engine: CacheConfig.Size must be positive, got %d", c.Size)
	}
	if c.Size == 0 {
		c.Size = DefaultCacheSize
	}
	if c.Registry == nil {
		c.Registry = actions.Default()
	}
	return &Cache{reg: c.Registry, size: c.Size, entries: map[cacheKey]*list.Element{}}, nil
}

// Len returns how many revisions the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Workflow returns revision rev.Revision of tenant t's workflow rev.Flow, parsed. On a miss it
// parses rev.Source, or the source read with st.FlowRevision when rev.Source is empty, against the
// tenant's live schemas (st.Schema). It returns a *workflows.ValidationError when the revision does
// not validate (any more), the store's error when it cannot be read, or ctx's error while waiting
// for another caller's parse.
func (c *Cache) Workflow(ctx context.Context, st Store, t crm.TenantID, rev crm.FlowRevision) (*workflows.Workflow, error) {
	key := cacheKey{tenant: t, workflow: rev.Flow, revision: rev.Revision}
	c.mu.Lock()
	for {
		el, ok := c.entries[key]
		if !ok {
			break
		}
		c.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err == nil || isValidation(e.err) {
			return e.wf, e.err
		}
		// Another caller's parse failed for its own reasons (its context, the store): try ours.
		c.mu.Lock()
		if el, ok := c.entries[key]; ok && el.Value.(*cacheEntry) == e {
			c.lru.Remove(el)
			delete(c.entries, key)
		}
	}
	e := &cacheEntry{key: key, done: make(chan struct{})}
	c.entries[key] = c.lru.PushFront(e)
	for c.lru.Len() > c.size {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).key)
	}
	c.mu.Unlock()

	e.wf, e.err = c.parse(ctx, st, t, rev)
	close(e.done)
	if e.err != nil && !isValidation(e.err) {
		c.mu.Lock()
		if el, ok := c.entries[key]; ok && el.Value.(*cacheEntry) == e {
			c.lru.Remove(el)
			delete(c.entries, key)
		}
		c.mu.Unlock()
	}
	return e.wf, e.err
}

func (c *Cache) parse(ctx context.Context, st Store, t crm.TenantID, rev crm.FlowRevision) (*workflows.Workflow, error) {
	src := rev.Source
	if src == "" {
		r, err := st.FlowRevision(ctx, t, rev.Flow, rev.Revision)
		if err != nil {
			return nil, err
		}
		src = r.Source
	}
	schemas := workflows.SchemaFunc(func(o crm.ObjectType) (crm.Schema, error) { return st.Schema(ctx, t, o) })
	name := rev.Flow + "@" + strconv.FormatInt(rev.Revision, 10) + ".yaml"
	wf, err := workflows.Parse(name, []byte(src), schemas, c.reg)
	if err != nil {
		return nil, fmt.Errorf("workflow %s revision %d: %w", rev.Flow, rev.Revision, err)
	}
	return wf, nil
}

func isValidation(err error) bool {
	var ve *workflows.ValidationError
	return errors.As(err, &ve)
}
