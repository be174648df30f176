package redisstore

import (
	"context"
	"fmt"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// reindexBatch is how many records one reindex step indexes.
const reindexBatch = 500

// reindexScript adds live records to the search indexes of their type, reading their values in the
// same step (an id that is no longer live is skipped).
// See lua/reindex.lua for its KEYS and ARGV.
var reindexScript = newScript[reindexCall]("helpers", "index", "reindex")

// reindexCall is a call of reindexScript (lua/reindex.lua).
type reindexCall struct {
	Live string
	// Records are the record keys of IDs.
	Records []string

	IndexSpec string
	IDs       []string
}

func (c reindexCall) keys() []string { return append([]string{c.Live}, c.Records...) }
func (c reindexCall) argv() []any    { return append([]any{c.IndexSpec}, strArgs(c.IDs)...) }

// ReindexSearch rebuilds the search indexes of a tenant's object type from its live records:
// it drops every index key of the type (its archived properties' too: see maintainedIndexes),
// then indexes the live records in steps of 500 (one
// round trip each), by ascending id. The write scripts keep the indexes of the records they
// change meanwhile, so a record written during the rebuild is indexed right; a search that runs
// before the rebuild is done may miss records not reached yet. Run it once for the records a
// tenant had before search indexes existed (crmflow admin reindex), or after an index was lost.
// It returns the number of records indexed; a *NotFoundError for an unknown type.
func (s *Store) ReindexSearch(ctx context.Context, t crm.TenantID, o crm.ObjectType) (int64, error) {
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return 0, err
	}
	var drop []string
	for _, ip := range maintainedIndexes(sch) {
		if ip.Kind == crm.IndexScore || ip.Kind == crm.IndexText {
			drop = append(drop, SearchIndexKey(t, o, ip.Name))
		}
	}
	iter := s.rdb.Scan(ctx, 0, searchValueKeyPrefix(t, o)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		drop = append(drop, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, fmt.Errorf("reindex %s: list value indexes: %w", o, err)
	}
	for i := 0; i < len(drop); i += reindexBatch {
		if err := s.rdb.Unlink(ctx, drop[i:min(i+reindexBatch, len(drop))]...).Err(); err != nil {
			return 0, fmt.Errorf("reindex %s: drop indexes: %w", o, err)
		}
	}
	spec := indexSpec(t, sch)
	minScore := "-inf"
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		ids, err := s.rdb.ZRangeByScore(ctx, LiveKey(t, o), &redis.ZRangeBy{Min: minScore, Max: "+inf", Count: reindexBatch}).Result()
		if err != nil {
			return total, fmt.Errorf("reindex %s: %w", o, err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		call := reindexCall{Live: LiveKey(t, o), IndexSpec: spec, IDs: ids}
		for _, id := range ids {
			call.Records = append(call.Records, RecordKey(t, o, crm.RecordID(id)))
		}
		n, err := reindexScript.run(ctx, s, call).Int64()
		if err != nil {
			return total, fmt.Errorf("reindex %s: %w", o, err)
		}
		total += n
		minScore = "(" + ids[len(ids)-1]
	}
}
