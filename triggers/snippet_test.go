package triggers_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/triggers"
)

func TestClipLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 1000) + "X" + strings.Repeat("b", 1000) // X at column 1001
	for _, tc := range []struct {
		name string
		line string
		col  int
	}{
		{"Short", "lifecyclestage == nope", 19},
		{"Middle", long, 1001},
		{"Start", long, 1},
		{"End", long, 2001},
		{"PastTheEnd", long, 2002},
		{"Runes", strings.Repeat("é", 500) + "X" + strings.Repeat("ü", 500), 501},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, col := triggers.ClipLine(tc.line, tc.col)
			if utf8.RuneCountInString(tc.line) <= triggers.SnippetWidth {
				require.Equal(t, tc.line, got)
				require.Equal(t, tc.col, col)
				return
			}
			require.LessOrEqual(t, utf8.RuneCountInString(got), triggers.SnippetWidth+6, "the width and two marks")
			runes, orig := []rune(got), []rune(tc.line)
			if tc.col <= len(orig) {
				require.Equal(t, orig[tc.col-1], runes[col-1], "the column points at the same character")
			} else {
				require.Equal(t, len(runes)+1, col, "just past the end")
			}
			require.Equal(t, tc.col > triggers.SnippetWidth/2+1, strings.HasPrefix(got, "..."))
		})
	}
}

// The snippet of an error in a long expression shows the part around the error, not the whole line.
func TestCompileErrorSnippetIsCut(t *testing.T) {
	t.Parallel()
	src := `firstname == "` + strings.Repeat("a", 10000) + `" && nope == 1`
	_, err := triggers.Compile(src, contactsSchema(t))
	var te *triggers.Error
	require.ErrorAs(t, err, &te)
	require.Less(t, len(te.Snippet), 2*triggers.SnippetWidth+20, "snippet: %q", te.Snippet)
	require.Contains(t, te.Snippet, "nope")
	// The caret stays under the error's first character.
	lines := strings.Split(te.Snippet, "\n | ")
	require.Len(t, lines, 3)
	caret := strings.Index(lines[2], "^")
	require.Equal(t, "nope", string([]rune(lines[1])[caret:caret+4]))
}
