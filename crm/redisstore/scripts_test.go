package redisstore

import (
	"errors"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sharedLua are the files of lua/ that hold functions other scripts start with, not scripts.
var sharedLua = map[string]bool{
	"helpers.lua": true, "index.lua": true, "history.lua": true, "trigger_reads.lua": true, "mail_drop.lua": true,
	"schema_audit.lua": true, "undo_stops.lua": true,
}

var (
	// contractLine is a line of a header documenting KEYS[n] or ARGV[n], or from n on (KEYS[n..]).
	contractLine = regexp.MustCompile(`^-- (KEYS|ARGV)\[(\d+)(\.\.)?\] -> `)
	// bodyIndex is a use of KEYS[n] or ARGV[n] with a literal n.
	bodyIndex = regexp.MustCompile(`\b(KEYS|ARGV)\[(\d+)\]`)
	// fileNameLine is a line that opens with a file name.
	fileNameLine = regexp.MustCompile(`^-- [a-z_]+\.lua`)
	// goScriptName is a Go name of a script, which a contract has no use for.
	goScriptName = regexp.MustCompile(`\b[a-z][A-Za-z]*Script\b`)
)

// contractT is what parseContract reports to: a *testing.T, or a fakeT.
type contractT interface {
	require.TestingT
	Helper()
}

// fakeT records a failure and stops the check, as a *testing.T would, without failing the test.
type fakeT struct{ failed bool }

// errFakeFailNow is what fakeT.FailNow panics with.
var errFakeFailNow = errors.New("FailNow")

func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) FailNow()              { f.failed = true; panic(errFakeFailNow) }
func (f *fakeT) Helper()               {}

// luaContract is what a script's header documents.
type luaContract struct {
	last     map[string]int  // the highest index documented, by KEYS or ARGV
	variadic map[string]bool // whether the last one stands for it and all after
}

// parseContract reads the header of a script (its leading comment lines) and checks its layout: a
// first line saying what the script does, the KEYS lines numbered from 1 without a gap, then the
// ARGV lines likewise, then the Returns line.
func parseContract(t contractT, name, src string) luaContract {
	t.Helper()
	var header []string
	for _, line := range strings.Split(src, "\n") {
		if !strings.HasPrefix(line, "--") {
			break
		}
		header = append(header, line)
	}
	require.NotEmpty(t, header, "%s has no header", name)
	require.False(t, contractLine.MatchString(header[0]), "%s: the header's first line says what the script does", name)
	require.NotRegexp(t, fileNameLine, header[0], "%s: the header's first line says what the script does, not the file name", name)
	c := luaContract{last: map[string]int{}, variadic: map[string]bool{}}
	returns := false
	for i, line := range header {
		require.NotRegexp(t, goScriptName, line, "%s:%d: the contract names no Go script variable", name, i+1)
		if strings.HasPrefix(line, "-- Returns") {
			returns = true
			continue
		}
		m := contractLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		require.False(t, returns, "%s:%d: %s[%s] documented after Returns", name, i+1, m[1], m[2])
		kind := m[1]
		n, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		if kind == "KEYS" {
			require.Zero(t, c.last["ARGV"], "%s:%d: KEYS[%d] documented after ARGV", name, i+1, n)
		}
		require.False(t, c.variadic[kind], "%s:%d: %s[%d] documented after %s[%d..]", name, i+1, kind, n, kind, c.last[kind])
		require.Equal(t, c.last[kind]+1, n, "%s:%d: %s[%d] out of order (the one before is %d)", name, i+1, kind, n, c.last[kind])
		c.last[kind] = n
		c.variadic[kind] = m[3] != ""
	}
	require.True(t, returns, "%s: the header says what the script returns", name)
	return c
}

func TestLuaContracts(t *testing.T) {
	t.Parallel()
	files, err := fs.Glob(luaFiles, "lua/*.lua")
	require.NoError(t, err)
	var scripts []string
	for _, f := range files {
		if !sharedLua[path.Base(f)] {
			scripts = append(scripts, f)
		}
	}
	require.NotEmpty(t, scripts)
	for _, f := range scripts {
		t.Run(path.Base(f), func(t *testing.T) {
			t.Parallel()
			b, err := luaFiles.ReadFile(f)
			require.NoError(t, err)
			src := string(b)
			c := parseContract(t, path.Base(f), src)
			require.NotZero(t, c.last["KEYS"], "%s documents no KEYS", f)
			var body []string
			for _, line := range strings.Split(src, "\n") {
				if !strings.HasPrefix(line, "--") || len(body) > 0 {
					body = append(body, line)
				}
			}
			used := map[string]int{}
			for _, m := range bodyIndex.FindAllStringSubmatch(strings.Join(body, "\n"), -1) {
				n, err := strconv.Atoi(m[2])
				require.NoError(t, err)
				used[m[1]] = max(used[m[1]], n)
			}
			for _, kind := range []string{"KEYS", "ARGV"} {
				if c.variadic[kind] {
					continue // any index from the last documented on is documented
				}
				require.LessOrEqual(t, used[kind], c.last[kind], "%s uses %s[%d] but documents up to %s[%d]",
					f, kind, used[kind], kind, c.last[kind])
			}
		})
	}
}

// TestParseContract checks that the contract check refuses the headers it is there to refuse.
func TestParseContract(t *testing.T) {
	t.Parallel()
	good := "-- Does a thing.\n-- KEYS[1] -> a\n-- KEYS[2] -> b\n-- ARGV[1] -> c\n-- ARGV[2..] -> d\n-- Returns 1.\nreturn 1\n"
	c := parseContract(t, "good", good)
	require.Equal(t, map[string]int{"KEYS": 2, "ARGV": 2}, c.last)
	require.True(t, c.variadic["ARGV"])
	require.False(t, c.variadic["KEYS"])

	for name, src := range map[string]string{
		"gap":            "-- Does a thing.\n-- KEYS[1] -> a\n-- ARGV[1] -> c\n-- ARGV[3] -> d\n-- Returns 1.\n",
		"keys late":      "-- Does a thing.\n-- ARGV[1] -> c\n-- KEYS[1] -> a\n-- Returns 1.\n",
		"no returns":     "-- Does a thing.\n-- KEYS[1] -> a\n",
		"file name":      "-- thing.lua\n-- KEYS[1] -> a\n-- Returns 1.\n",
		"go name":        "-- thingScript does a thing.\n-- KEYS[1] -> a\n-- Returns 1.\n",
		"after variadic": "-- Does a thing.\n-- KEYS[1] -> a\n-- ARGV[1..] -> c\n-- ARGV[2] -> d\n-- Returns 1.\n",
	} {
		ft := &fakeT{}
		func() {
			defer func() {
				if r := recover(); r != nil && r != errFakeFailNow {
					panic(r)
				}
			}()
			parseContract(ft, name, src)
		}()
		require.True(t, ft.failed, "%s: accepted", name)
	}
}
