package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// searchPage is the page size of the search scenario's queries.
const searchPage = 100

// searchDay is day d of the last_activity_date values ContactProps gives (700 days from 2024-01-01).
func searchDay(d int) time.Time {
	return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(d%700) * 24 * time.Hour)
}

// Search measures redisstore.Store.Search over n contacts, beside the raw Redis reads a client of
// the same indexes would make, in two shapes taken in turn, n/100 queries each, every query a page
// of 100 records:
//
//   - a week of last_activity_date (about 1% of the contacts), sorted by it: the raw side is
//     ZRANGEBYSCORE with LIMIT and ZCOUNT in one round trip, then the page's HGETALLs pipelined;
//   - the same week AND lifecyclestage customer (a value set of a quarter of the contacts), by
//     id: the raw side is the week's ZRANGEBYSCORE, SMISMEMBER of those ids in the value set,
//     sorting the members by id, then the page's HGETALLs.
//
// Records counts the records returned.
func Search(ctx context.Context, rdb redis.UniversalClient, n int) (Result, error) {
	res := Result{Name: "search", Goal: 0.5}
	st, err := redisstore.New(rdb, storeConfig())
	if err != nil {
		return res, err
	}
	t := randomTenant("bench-search")
	defer Drop(context.WithoutCancel(ctx), rdb, t)
	if _, err := Seed(ctx, st, t, n); err != nil {
		return res, err
	}
	queries := max(n/searchPage, 1)
	week := func(q int) (time.Time, time.Time) {
		from := searchDay(q * 7)
		return from, from.Add(6 * 24 * time.Hour)
	}
	params := func(q int) crm.SearchParams {
		from, to := week(q)
		f := crm.SearchFilter{PropertyName: "last_activity_date", Operator: crm.OpBetween,
			Value: crm.FormatDatetime(from), HasValue: true, HighValue: crm.FormatDatetime(to), HasHighValue: true}
		if q%2 == 0 {
			return crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{f}}, Limit: searchPage,
				Sorts: []crm.SearchSort{{PropertyName: "last_activity_date"}}}
		}
		stage := crm.SearchFilter{PropertyName: "lifecyclestage", Operator: crm.OpEQ, Value: "customer", HasValue: true}
		return crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{f, stage}}, Limit: searchPage}
	}

	var got int
	totals := make([]int, queries)
	var shape, rawShape [2]time.Duration // by shape: the week alone, the week and the stage
	for q := range queries {
		start := time.Now()
		r, err := st.Search(ctx, t, crm.Contacts, params(q))
		if err != nil {
			return res, err
		}
		shape[q%2] += time.Since(start)
		got += len(r.Records)
		totals[q] = r.Total
	}

	ix := redisstore.SearchIndexKey(t, crm.Contacts, "last_activity_date")
	customers := redisstore.SearchValueKey(t, crm.Contacts, "lifecyclestage", "customer")
	recPrefix := redisstore.RecordKey(t, crm.Contacts, "")
	var rawGot int
	for q := range queries {
		start := time.Now()
		from, to := week(q)
		lo, hi := strconv.FormatInt(from.UnixMilli(), 10), strconv.FormatInt(to.UnixMilli(), 10)
		var ids []string
		total := 0
		if q%2 == 0 {
			pipe := rdb.Pipeline()
			rng := pipe.ZRangeByScore(ctx, ix, &redis.ZRangeBy{Min: lo, Max: hi, Count: searchPage})
			cnt := pipe.ZCount(ctx, ix, lo, hi)
			if _, err := pipe.Exec(ctx); err != nil {
				return res, err
			}
			ids, total = rng.Val(), int(cnt.Val())
		} else {
			inWeek, err := rdb.ZRangeByScore(ctx, ix, &redis.ZRangeBy{Min: lo, Max: hi}).Result()
			if err != nil {
				return res, err
			}
			members := make([]any, len(inWeek))
			for i, id := range inWeek {
				members[i] = id
			}
			is, err := rdb.SMIsMember(ctx, customers, members...).Result()
			if err != nil {
				return res, err
			}
			var match []int
			for i, ok := range is {
				if ok {
					id, _ := strconv.Atoi(inWeek[i])
					match = append(match, id)
				}
			}
			slices.Sort(match)
			total = len(match)
			for _, id := range match[:min(searchPage, len(match))] {
				ids = append(ids, strconv.Itoa(id))
			}
		}
		pipe := rdb.Pipeline()
		for _, id := range ids {
			pipe.HGetAll(ctx, recPrefix+id)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return res, err
		}
		rawShape[q%2] += time.Since(start)
		if total != totals[q] {
			return res, fmt.Errorf("search query %d: crmflow found %d, the raw reads %d", q, totals[q], total)
		}
		rawGot += len(ids)
	}
	if rawGot != got {
		return res, fmt.Errorf("search returned %d records, the raw reads %d", got, rawGot)
	}
	res.Records = got
	finish(&res, shape[0]+shape[1], rawShape[0]+rawShape[1])
	res.Extra = map[string]float64{
		"range_ratio": rawShape[0].Seconds() / shape[0].Seconds(),
		"and_ratio":   rawShape[1].Seconds() / shape[1].Seconds(),
	}
	return res, nil
}
