package workflows_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/workflows"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGoldenProblems pins the validation messages of the invalid workflows under
// testdata/invalid: each X.yaml has its expected output, with snippets, in X.golden. Refresh them
// with go test ./workflows -update, and review the diff.
func TestGoldenProblems(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(f)
			require.NoError(t, err)
			_, err = workflows.Parse(filepath.ToSlash(f), src, nil, nil)
			var ve *workflows.ValidationError
			require.ErrorAs(t, err, &ve)
			got := ve.Detailed() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./workflows -update to create it")
			require.Equal(t, string(want), got)
		})
	}
}
