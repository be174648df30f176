package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
)

// binLinksBatch is how many binned records one step of BackfillBinLinks looks at.
const binLinksBatch = 500

// backfillBinLinksScript adds binned records to the BinLinksKey of the records their bin
// association sets name. See lua/backfill_bin_links.lua for its KEYS and ARGV.
var backfillBinLinksScript = newScript[backfillBinLinksCall]("backfill_bin_links")

// backfillBinLinksCall is a call of backfillBinLinksScript (lua/backfill_bin_links.lua).
type backfillBinLinksCall struct {
	BinAssocIDs string

	Type              crm.ObjectType
	BinAssocPrefix    string
	BinLinksPrefix    string
	RecordPrefix      string
	BinRecordPrefix   string
	BinAssocIDsPrefix string
	IDs               []string
}

func (c backfillBinLinksCall) keys() []string { return []string{c.BinAssocIDs} }
func (c backfillBinLinksCall) argv() []any {
	return append([]any{string(c.Type), c.BinAssocPrefix, c.BinLinksPrefix, c.RecordPrefix, c.BinRecordPrefix,
		c.BinAssocIDsPrefix}, strArgs(c.IDs)...)
}

// BackfillBinLinks builds the bin links (BinLinksKey) of a tenant's records of type o in the bin
// that went there before the store kept them, so that a permanent delete finds a call binned while
// its contact was live (SPEC S9). It reads the type's bin by ascending id, 500 records a step (one
// round trip each), and adds each binned record with associations to the bin links of the records
// its bin association set names, as the archive does; a named record in the bin joins its type's
// BinAssocIDsKey, so that its purge drops its bin links, and one gone for good (purged or erased)
// gets none. It is idempotent and safe while the API serves: the scripts that move records keep the
// bin links from then on, and a step reads each record's bin association set in the same step as
// it writes; interrupted, it is completed by running it again. Run it once per tenant after
// upgrading (crmflow admin bin-links). It returns the number of links added (0 on a second run).
func (s *Store) BackfillBinLinks(ctx context.Context, t crm.TenantID, o crm.ObjectType) (int64, error) {
	minScore := "-inf"
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		ids, err := s.rdb.ZRangeByScore(ctx, BinIDsKey(t, o), &redis.ZRangeBy{Min: minScore, Max: "+inf", Count: binLinksBatch}).Result()
		if err != nil {
			return total, fmt.Errorf("bin links of %s: %w", o, err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		n, err := backfillBinLinksScript.run(ctx, s, backfillBinLinksCall{
			BinAssocIDs: BinAssocIDsKey(t, o), Type: o, BinAssocPrefix: binAssocKeyPrefix(t),
			BinLinksPrefix: binLinksKeyPrefix(t), RecordPrefix: recordKeyPrefix(t), BinRecordPrefix: binRecordKeyPrefix(t),
			BinAssocIDsPrefix: binAssocIDsKeyPrefix(t), IDs: ids,
		}).Int64()
		if err != nil {
			return total, fmt.Errorf("bin links of %s: %w", o, err)
		}
		total += n
		minScore = "(" + ids[len(ids)-1]
	}
}
