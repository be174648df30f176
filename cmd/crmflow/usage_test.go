package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUsageErrorsNameTheFix: a subcommand typed without its group ("crmflow reindex"), or one
// expected in a group that lacks it ("crmflow jobs list"), a file without -f, a --limit out of
// range: each is a usage error, said before anything is called, that names what to run instead.
func TestUsageErrorsNameTheFix(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"reindex"}, `unknown command "reindex" for "crmflow"; did you mean "crmflow admin reindex"?`},
		{[]string{"watch", "17"}, `unknown command "watch" for "crmflow"; did you mean "crmflow jobs watch"?`},
		{[]string{"restore", "--type", "contacts", "1"}, `did you mean "crmflow bin restore"?`},
		{[]string{"tenant", "create", "acme"}, `did you mean "crmflow admin tenant"?`},
		{[]string{"jobs", "list"}, `unknown command "list" for "crmflow jobs": "crmflow operations list" lists the bulk and list delete jobs`},
		// A typo of the group's own subcommand still gets that one.
		{[]string{"workflows", "lst"}, `unknown command "lst" for "crmflow workflows"; did you mean list?`},
	} {
		stdout, stderr, code := crmflow(t, nil, c.args...)
		require.Equal(t, exitUsage, code, "crmflow %v\nstderr:\n%s", c.args, stderr)
		require.Empty(t, stdout)
		require.Contains(t, stderr, c.want, "crmflow %v", c.args)
	}
	// A file without -f: the command line with -f.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"apply", "a.yaml", "b.yaml"}, "crmflow apply takes a file after -f: give -f a.yaml -f b.yaml\n"},
		{[]string{"protect", "apply", "rules.yaml"}, "crmflow protect apply takes a file after -f: give -f rules.yaml\n"},
		{[]string{"protect", "apply", "a.yaml", "b.yaml"}, `crmflow protect apply takes one file, given with -f, got ["a.yaml" "b.yaml"]` + "\n"},
		{[]string{"version", "now"}, `crmflow version takes no arguments, got ["now"]` + "\n"},
		// Checked here, before the API is called, as the other commands' --limit are.
		{[]string{"operations", "list", "--limit", "0"}, "crmflow: --limit 0 is out of range: use 1 to 100\n"},
		{[]string{"operations", "list", "--limit", "101"}, "crmflow: --limit 101 is out of range: use 1 to 100\n"},
	} {
		stdout, stderr, code := crmflow(t, nil, c.args...)
		require.Equal(t, exitUsage, code, "crmflow %v\nstderr:\n%s", c.args, stderr)
		require.Empty(t, stdout)
		require.Contains(t, stderr, c.want, "crmflow %v", c.args)
	}

	// A directory where a file is wanted: its files, by a glob.
	dir := t.TempDir()
	for _, args := range [][]string{{"validate", dir}, {"apply", "-f", dir}, {"protect", "apply", "-f", dir}} {
		stdout, stderr, code := crmflow(t, []string{"CRMFLOW_TOKEN=t"}, args...)
		require.Equal(t, exitUsage, code, "crmflow %v\nstderr:\n%s", args, stderr)
		require.Empty(t, stdout)
		require.Contains(t, stderr, dir+" is a directory: give the files in it, e.g. "+filepath.Join(dir, "*.yaml")+"\n", "crmflow %v", args)
	}

	// "list" is in too many groups to name them all.
	_, stderr, code := crmflow(t, nil, "list")
	require.Equal(t, exitUsage, code)
	require.NotContains(t, stderr, "did you mean")
}

// TestCounted: a count in a message takes its noun in the singular for 1 and in the plural
// otherwise, never "record(s)".
func TestCounted(t *testing.T) {
	t.Parallel()
	require.Equal(t, "0 records", counted(0, "record"))
	require.Equal(t, "1 record", counted(1, "record"))
	require.Equal(t, "2 records", counted(2, "record"))
	require.Equal(t, "1 object type", counted(int64(1), "object type"))
	require.Equal(t, "1200 object types", counted(int64(1200), "object type"))
	require.Equal(t, "id", plural(1, "id"))
	require.Equal(t, "ids", plural(2, "id"))
}
