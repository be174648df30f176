package suggest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/internal/suggest"
)

func TestClosest(t *testing.T) {
	t.Parallel()
	words := []string{"delete_contact", "set_property", "add_to_list", "delay"}
	tests := []struct{ in, want string }{
		{"delete_contcat", "delete_contact"},
		{"set_proprety", "set_property"},
		{"dealy", "delay"},
		{"frobnicate", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, suggest.Closest(tt.in, words), tt.in)
	}
	require.Equal(t, 3, suggest.Distance("kitten", "sitting"))
	require.Equal(t, 0, suggest.Distance("", ""))
}

func TestOption(t *testing.T) {
	t.Parallel()
	values := []string{"basic", "pro", "salesqualifiedlead"}
	labels := map[string]string{"basic": "Basic plan", "salesqualifiedlead": "Sales Qualified Lead"}
	label := func(v string) string {
		if l, ok := labels[v]; ok {
			return l
		}
		return v
	}
	for in, want := range map[string]string{
		"Pro": "pro", " basic plan ": "basic", "Sales Qualified Lead": "salesqualifiedlead",
		"bsic": "basic", "salesqualifiedleed": "salesqualifiedlead", "enterprise": "",
	} {
		require.Equal(t, want, suggest.Option(in, values, label), in)
	}
}
