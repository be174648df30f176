package crm_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestModelLinksNoRedisClient keeps the model and the decisions apart from the store: only
// crm/redisstore, the worker's queue and cmd may link a Redis client.
func TestModelLinksNoRedisClient(t *testing.T) {
	t.Parallel()
	pkgs := []string{"crm", "triggers", "workflows", "actions", "engine", "api"}
	for _, p := range pkgs {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command("go", "list", "-deps", "github.com/crmflow/crmflow/"+p).CombinedOutput()
			require.NoError(t, err, "go list: %s", out)
			for _, dep := range strings.Fields(string(out)) {
				require.NotContains(t, dep, "github.com/redis/go-redis", "%s links %s", p, dep)
			}
			require.Contains(t, string(out), "github.com/crmflow/crmflow/"+p)
		})
	}
}
