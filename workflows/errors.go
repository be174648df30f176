package workflows

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a workflow file, at a position in it.
type Problem struct {
	// File is the file name given to Parse.
	File string
	// Line and Column are 1-based; Column counts characters (not bytes), as editors do.
	Line, Column int
	// Path names the field, as in trigger, suppression.lists[1] or actions[2].duration (indexes
	// start at 0). It is empty for a problem with the file as a whole, such as a YAML syntax error.
	Path string
	// Message says what is wrong and what to do.
	Message string
	// Unknown is the property or object type the schema lacks, when that is the problem: a tool
	// that checked against the standard properties only can say where the tenant's are.
	Unknown string
	// Snippet is the file's line with a caret under Column, for terminals; empty when the position
	// is past the end of the file.
	Snippet string
}

// String formats the problem as "file:line:col: path: message".
func (p Problem) String() string {
	if p.Path == "" {
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", p.File, p.Line, p.Column, p.Path, p.Message)
}

// ValidationError is a workflow file that is not valid: every problem found in it, sorted by
// position. It is the only kind of error Parse returns for bad input.
type ValidationError struct {
	Problems []Problem
}

// Error prints one "file:line:col: path: message" per line, in position order.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Detailed prints each problem as Error does, followed by its snippet: the file's line with a
// caret under the column.
func (e *ValidationError) Detailed() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
		if p.Snippet != "" {
			b.WriteByte('\n')
			b.WriteString(p.Snippet)
		}
	}
	return b.String()
}

func sortProblems(ps []Problem) []Problem {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Path, b.Path), cmp.Compare(a.Message, b.Message))
	})
	return slices.CompactFunc(ps, func(a, b Problem) bool { return a == b })
}
