package triggers

import (
	"strings"
	"unicode/utf8"
)

// SnippetWidth is how many characters of a source line an error snippet shows at most: the part
// around the error's column, with "..." where the line was cut. A line of a megabyte is never
// echoed whole.
const SnippetWidth = 200

// ClipLine cuts line to at most SnippetWidth characters around col, the 1-based column (in
// characters) of an error, marking a cut with "..." at either end. It returns the text and the
// column of the same character in it. A line within the width is returned as is.
func ClipLine(line string, col int) (string, int) {
	if utf8.RuneCountInString(line) <= SnippetWidth {
		return line, col
	}
	runes := []rune(line)
	start := max(0, min(col-1-SnippetWidth/2, len(runes)-SnippetWidth))
	end := min(len(runes), start+SnippetWidth)
	var b strings.Builder
	if start > 0 {
		b.WriteString("...")
		col += len("...")
	}
	b.WriteString(string(runes[start:end]))
	if end < len(runes) {
		b.WriteString("...")
	}
	return b.String(), col - start
}

// clipSnippet cuts the source line of expr's snippet ("\n | LINE\n | ....^", the dots counting
// the characters before the column) with ClipLine, keeping its shape.
func clipSnippet(snippet string) string {
	const prefix = "\n | "
	parts := strings.Split(snippet, prefix)
	if len(parts) != 3 || parts[0] != "" || utf8.RuneCountInString(parts[1]) <= SnippetWidth {
		return snippet
	}
	line, col := ClipLine(parts[1], strings.Count(parts[2], ".")+1)
	return prefix + line + prefix + strings.Repeat(".", max(col-1, 0)) + "^"
}
