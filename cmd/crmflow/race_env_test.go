package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// goraceOf returns the GORACE setting of env, as exec uses it (the last one wins).
func goraceOf(env []string) (string, bool) {
	for _, kv := range slices.Backward(env) {
		if v, ok := strings.CutPrefix(kv, "GORACE="); ok {
			return v, true
		}
	}
	return "", false
}

// TestChildRaceOptions: a crmflow process a test starts is told not to sleep a second when it
// exits (the race detector's atexit_sleep_ms, 1000 by default), while the options of a GORACE
// the developer set, this one included, are kept.
func TestChildRaceOptions(t *testing.T) {
	for _, tc := range []struct {
		name, gorace string
		set          bool
		want         string
	}{
		{"Unset", "", false, "atexit_sleep_ms=0"},
		{"OtherOptions", "halt_on_error=1 log_path=/tmp/race", true, "halt_on_error=1 log_path=/tmp/race atexit_sleep_ms=0"},
		{"OwnSleep", "atexit_sleep_ms=500 halt_on_error=1", true, "atexit_sleep_ms=500 halt_on_error=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.set {
				t.Setenv("GORACE", tc.gorace)
			} else {
				t.Setenv("GORACE", "") // restored after the test
				require.NoError(t, os.Unsetenv("GORACE"))
			}
			got, ok := goraceOf(testEnv())
			require.True(t, ok, "GORACE is set for the child")
			require.Equal(t, tc.want, got)
		})
	}
}
