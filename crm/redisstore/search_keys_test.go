package redisstore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSearchPlanIndexKeysEachOnce(t *testing.T) {
	t.Parallel()
	p := searchPlan{
		Live: "live",
		Groups: []searchGroup{
			{Drivers: []searchDriver{{Parts: []searchPart{{C: "z", Key: "a"}, {C: "s", Key: "b"}}}},
				Checks: []searchCheck{{IX: "z", Key: "a"}, {IX: "s", Keys: []string{"c", "b"}}, {K: "s"}}},
			{Drivers: []searchDriver{{Parts: []searchPart{{C: "l", Key: "d"}}}}},
		},
		Sort: searchSort{C: "z", Key: "c"},
	}
	require.Equal(t, []string{"a", "b", "c", "d"}, p.indexKeys())
	require.Empty(t, searchPlan{Live: "live"}.indexKeys())
}
